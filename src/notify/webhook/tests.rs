use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::*;
use crate::notify::config::Secret;
use crate::notify::message::{Message, Notice, Status};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_603)
}

fn message(status: Status) -> Message {
    let result: BTreeMap<String, String> = [
        ("target", "swarm:web"),
        ("image_before", "nginx:1.26"),
        ("image_after", "nginx:1.27"),
        (
            "message",
            "updated [click](http://evil) <font color=\"red\">x</font>",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Message {
        hook: "deploy-web".into(),
        job_id: "0123456789abcdef0123456789abcdef".into(),
        request_id: String::new(),
        status,
        exit_code: Some(0),
        detail: None,
        started_at: now(),
        finished_at: now() + Duration::from_secs(12),
        result,
        output_tail: "line 1\nline 2".into(),
        host: "node-1".into(),
    }
}

fn target(format: Format, url: &str, secret: Option<&str>) -> WebhookTarget {
    WebhookTarget {
        url: Url::parse(url).unwrap(),
        format,
        secret: secret.map(Secret::new),
        chat_id: Some("-100200".into()),
    }
}

fn body(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap()
}

#[test]
fn signatures_match_the_documented_algorithms() {
    // Values computed with Python's hmac module, as in the services' documentation.
    assert_eq!(
        dingtalk_sign("SECtest", "1714557603000"),
        "91BzNTfHzTmso6iUq1MOivc7QI985W3kfocc9AvFt98="
    );
    assert_eq!(
        feishu_sign("SECtest", "1714557603"),
        "LLc7Cvo5EfhW4OZ1ABU7hHYUg1o7c+hG0bnHH48roLg="
    );
}

#[test]
fn json_is_signed_over_the_raw_body() {
    let t = target(Format::Json, "https://example.com/hook", Some("s3cret"));
    let req = build(&t, &Notice::job(message(Status::Success)), now(), "d1");
    let sig = req
        .headers
        .iter()
        .find(|(n, _)| *n == SIGNATURE_HEADER)
        .unwrap()
        .1
        .clone();
    let want = hex::encode(hmac(b"s3cret", &req.body));
    assert_eq!(sig, format!("sha256={want}"));
    let b = body(&req);
    assert_eq!(b["version"], 1);
    assert_eq!(b["event"], "job");
    assert_eq!(b["delivery"], "d1");
    assert_eq!(b["timestamp"], "2024-05-01T10:00:03Z");
    assert_eq!(b["hook"], "deploy-web");
    assert_eq!(b["status"], "success");
    assert_eq!(b["exit_code"], 0);
    assert_eq!(b["result"]["image_after"], "nginx:1.27");
    assert_eq!(
        b["subject"],
        "[hookrun] deploy-web succeeded: swarm:web nginx:1.26 → nginx:1.27"
    );
    // No secret, no signature.
    let t = target(Format::Json, "https://example.com/hook", None);
    let req = build(&t, &Notice::job(message(Status::Success)), now(), "d1");
    assert!(req.headers.iter().all(|(n, _)| *n != SIGNATURE_HEADER));
}

#[test]
fn dingtalk_markdown_with_signed_url() {
    let t = target(
        Format::Dingtalk,
        "https://oapi.dingtalk.com/robot/send?access_token=tok",
        Some("SECtest"),
    );
    let req = build(&t, &Notice::job(message(Status::Failure)), now(), "d");
    let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
    assert_eq!(query["access_token"], "tok");
    assert_eq!(query["timestamp"], "1714557603000");
    assert_eq!(
        query["sign"],
        "91BzNTfHzTmso6iUq1MOivc7QI985W3kfocc9AvFt98="
    );
    let b = body(&req);
    assert_eq!(b["msgtype"], "markdown");
    assert!(b["markdown"]["title"]
        .as_str()
        .unwrap()
        .starts_with("deploy-web failed"));
    let text = b["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("nginx:1.26 → nginx:1.27"), "{text}");
    assert!(text.contains("**Image before**: nginx:1.26"), "{text}");
    // A command's output cannot become a link or a tag.
    assert!(
        !text.contains("[click](") && !text.contains("<font color=\"red\">"),
        "{text}"
    );
}

#[test]
fn wecom_markdown_fits_its_limit() {
    let mut m = message(Status::Success);
    m.result.insert("message".into(), "很长的消息".repeat(2000));
    let req = build(
        &target(
            Format::Wecom,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            None,
        ),
        &Notice::job(m),
        now(),
        "d",
    );
    let b = body(&req);
    assert_eq!(b["msgtype"], "markdown");
    let content = b["markdown"]["content"].as_str().unwrap();
    assert!(content.len() <= 4096, "{}", content.len());
    assert!(content.starts_with("### <font color=\"info\">✅ deploy-web succeeded"));
}

#[test]
fn feishu_card_with_signature_in_the_body() {
    let req = build(
        &target(
            Format::Feishu,
            "https://open.feishu.cn/open-apis/bot/v2/hook/x",
            Some("SECtest"),
        ),
        &Notice::job(message(Status::Timeout)),
        now(),
        "d",
    );
    let b = body(&req);
    assert_eq!(b["timestamp"], "1714557603");
    assert_eq!(b["sign"], "LLc7Cvo5EfhW4OZ1ABU7hHYUg1o7c+hG0bnHH48roLg=");
    assert_eq!(b["msg_type"], "interactive");
    assert_eq!(b["card"]["header"]["template"], "orange");
    assert!(b["card"]["header"]["title"]["content"]
        .as_str()
        .unwrap()
        .contains("deploy-web timed out"));
    assert_eq!(b["card"]["elements"][0]["tag"], "div");
}

#[test]
fn slack_teams_and_telegram_shapes() {
    let n = Notice::job(message(Status::Success));
    let s = body(&build(
        &target(
            Format::Slack,
            "https://hooks.slack.com/services/T/B/X",
            None,
        ),
        &n,
        now(),
        "d",
    ));
    assert!(s["text"].as_str().unwrap().contains("deploy-web succeeded"));
    assert_eq!(s["blocks"][0]["type"], "header");
    assert_eq!(s["blocks"][1]["fields"][0]["type"], "mrkdwn");
    assert!(s.to_string().contains("&lt;font"));

    let t = body(&build(
        &target(Format::Teams, "https://example.com/workflows/x", None),
        &n,
        now(),
        "d",
    ));
    assert_eq!(t["type"], "message");
    let card = &t["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["body"][1]["type"], "FactSet");

    let req = build(
        &target(Format::Telegram, "http://127.0.0.1:9/", Some("123:abc")),
        &n,
        now(),
        "d",
    );
    assert_eq!(
        req.url.as_str(),
        "http://127.0.0.1:9/bot123:abc/sendMessage"
    );
    let tg = body(&req);
    assert_eq!(tg["chat_id"], "-100200");
    assert_eq!(tg["parse_mode"], "HTML");
    let text = tg["text"].as_str().unwrap();
    assert!(text.starts_with("<b>✅ deploy-web succeeded"));
    assert!(
        text.contains("&lt;font") && text.contains("<pre>line 1\nline 2</pre>"),
        "{text}"
    );
}

#[test]
fn telegram_stays_under_its_limit() {
    let mut m = message(Status::Failure);
    m.output_tail = "<&>".repeat(3000);
    let tg = body(&build(
        &target(Format::Telegram, "https://api.telegram.org", Some("1:a")),
        &Notice::job(m),
        now(),
        "d",
    ));
    let text = tg["text"].as_str().unwrap();
    assert!(text.chars().count() <= 4096, "{}", text.chars().count());
    assert!(text.ends_with("&gt;</pre>"));
}

#[test]
fn formats_parse_by_name() {
    for f in [
        Format::Json,
        Format::Slack,
        Format::Dingtalk,
        Format::Wecom,
        Format::Feishu,
        Format::Teams,
        Format::Telegram,
    ] {
        assert_eq!(Format::parse(f.name()), Some(f));
    }
    assert_eq!(Format::parse("Lark"), Some(Format::Feishu));
    assert_eq!(Format::parse("discord"), None);
}
