//! URLs as they may be shown: in logs, errors and attempt records. Chat services put their
//! credentials in the URL (DingTalk's `access_token`, WeCom's `key`, Feishu's and Slack's path
//! tokens, Telegram's `bot<token>`, Teams' `sig`, Docker Hub's hook id), so every query value,
//! every password and every long or token-like path segment is masked.

use url::Url;

const MASK: &str = "***";

/// Path segments at least this long are taken for tokens.
const TOKEN_LEN: usize = 16;

/// The URL with its secrets masked: `https://oapi.dingtalk.com/robot/send?access_token=***`.
pub fn url(u: &Url) -> String {
    let mut shown = format!("{}://", u.scheme());
    if !u.username().is_empty() {
        shown.push_str(u.username());
        if u.password().is_some() {
            shown.push(':');
            shown.push_str(MASK);
        }
        shown.push('@');
    }
    shown.push_str(u.host_str().unwrap_or(""));
    if let Some(port) = u.port() {
        shown.push_str(&format!(":{port}"));
    }
    let path: Vec<&str> = u
        .path()
        .split('/')
        .map(|seg| if looks_secret(seg) { MASK } else { seg })
        .collect();
    shown.push_str(&path.join("/"));
    if u.query().is_some() {
        let query: Vec<String> = u
            .query_pairs()
            .map(|(k, _)| format!("{k}={MASK}"))
            .collect();
        shown.push('?');
        shown.push_str(&query.join("&"));
    }
    shown
}

/// The URL masked, or a fixed text when it does not even parse (it may hold a secret anyway).
pub fn url_str(s: &str) -> String {
    Url::parse(s).map_or_else(|_| "<invalid URL>".to_string(), |u| url(&u))
}

fn looks_secret(segment: &str) -> bool {
    segment.len() >= TOKEN_LEN
        // Telegram: /bot123456:ABC-DEF/sendMessage
        || (segment.starts_with("bot") && segment.contains(':'))
}

/// Replaces every occurrence of each secret in `text` (e.g. a server's error message echoing
/// the URL back).
pub fn secrets(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_tokens_of_every_service() {
        for (raw, want) in [
            (
                "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789",
                "https://oapi.dingtalk.com/robot/send?access_token=***",
            ),
            (
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx",
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***",
            ),
            (
                "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-4e5f-6a7b-8c9d",
                "https://open.feishu.cn/open-apis/bot/v2/hook/***",
            ),
            (
                "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
                "https://hooks.slack.com/services/T00000000/B00000000/***",
            ),
            (
                "https://api.telegram.org/bot123456:ABC-DEF1234ghIkl/sendMessage",
                "https://api.telegram.org/***/sendMessage",
            ),
            (
                "https://prod.westus.logic.azure.com:443/workflows/0123456789abcdef0123/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s3cr3t",
                "https://prod.westus.logic.azure.com/workflows/***/triggers/manual/paths/invoke?api-version=***&sig=***",
            ),
            (
                "http://user:pw@127.0.0.1:8080/x?token=t",
                "http://user:***@127.0.0.1:8080/x?token=***",
            ),
        ] {
            assert_eq!(url_str(raw), want, "{raw}");
        }
        assert_eq!(url_str("not a url ?key=secret"), "<invalid URL>");
    }

    #[test]
    fn masks_secrets_in_text() {
        assert_eq!(
            secrets("bad token abcd1234 in abcd1234", &["abcd1234", ""]),
            "bad token *** in ***"
        );
    }
}
