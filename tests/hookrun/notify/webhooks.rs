//! Each webhook format arrives in the shape its service documents, signed as it documents,
//! after the receiver failed twice.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use hookrun::notify::webhook::Format;
use hookrun::notify::{AttemptOutcome, Notifier, Status};

use super::{collector, deploy_message, fast_settings, wait_attempts, webhook_target, Receiver};

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Sends one failed deploy to `format` through a receiver that fails twice; returns the
/// request that succeeded.
async fn deliver(
    format: Format,
    path: &str,
    secret: Option<&str>,
    reply: &'static str,
) -> super::Received {
    let receiver = Receiver::failing(2, reply).await;
    let (report, attempts) = collector();
    let notifier = Notifier::start(fast_settings(), report).unwrap();
    let target = webhook_target(format, &receiver.url(path), secret);
    notifier.job_finished(&[target], deploy_message("job-1", Status::Failure));
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    let attempts = wait_attempts(&attempts, Duration::from_secs(5), |a| a.len() >= 3).await;
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt, matches!(a.outcome, AttemptOutcome::Delivered)))
        .collect();
    assert_eq!(
        outcomes,
        [(1, false), (2, false), (3, true)],
        "{attempts:#?}"
    );
    match &attempts[0].outcome {
        AttemptOutcome::Failed { error, retry_in_ms } => {
            assert!(error.contains("500"), "{error}");
            assert_eq!(*retry_in_ms, 50);
        }
        other => panic!("expected a failure first: {other:?}"),
    }
    let record = serde_json::to_string(&attempts).unwrap();
    assert!(
        !record.contains("tok-secret") && !record.contains("SEC-signing"),
        "{record}"
    );
    assert_eq!(attempts[0].job_id.as_deref(), Some("job-1"));
    notifier.shutdown(Duration::from_secs(1)).await;
    got[2].clone()
}

#[tokio::test]
async fn json_is_signed_with_hmac_sha256() {
    let r = deliver(Format::Json, "/hook", Some("SEC-signing"), "ok").await;
    let sig = r.header("x-hookrun-signature-256").unwrap();
    assert_eq!(
        sig,
        format!(
            "sha256={}",
            hex::encode(hmac_sha256(b"SEC-signing", &r.body))
        )
    );
    assert_eq!(r.header("x-hookrun-event"), Some("job"));
    let b = r.json();
    assert_eq!(b["delivery"].as_str(), r.header("x-hookrun-delivery"));
    assert_eq!(b["status"], "failure");
    assert_eq!(b["exit_code"], 3);
    assert_eq!(b["result"]["rolled_back"], "true");
    let ts = humantime::parse_rfc3339(b["timestamp"].as_str().unwrap()).unwrap();
    let age = std::time::SystemTime::now()
        .duration_since(ts)
        .unwrap_or_default();
    assert!(age < Duration::from_secs(60), "timestamp is fresh: {age:?}");
    assert!(b["text"].as_str().unwrap().contains("Image before:"));
}

#[tokio::test]
async fn dingtalk_markdown_signed_in_the_query() {
    let r = deliver(
        Format::Dingtalk,
        "/robot/send?access_token=tok-secret",
        Some("SEC-signing"),
        r#"{"errcode":0,"errmsg":"ok"}"#,
    )
    .await;
    assert_eq!(r.query["access_token"], "tok-secret");
    let ts = &r.query["timestamp"];
    let want = b64(&hmac_sha256(
        b"SEC-signing",
        format!("{ts}\nSEC-signing").as_bytes(),
    ));
    assert_eq!(r.query["sign"], want);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(now_ms - ts.parse::<u128>().unwrap() < 60_000);
    let b = r.json();
    assert_eq!(b["msgtype"], "markdown");
    let text = b["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("deploy-web failed (rolled back)"), "{text}");
    assert!(text.contains("nginx:1.26 → nginx:1.27"), "{text}");
    assert!(text.contains("服务 web 已更新"), "{text}");
}

#[tokio::test]
async fn wecom_markdown() {
    let r = deliver(
        Format::Wecom,
        "/cgi-bin/webhook/send?key=tok-secret",
        None,
        r#"{"errcode":0,"errmsg":"ok"}"#,
    )
    .await;
    let b = r.json();
    assert_eq!(b["msgtype"], "markdown");
    let content = b["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("<font color=\"warning\">"), "{content}");
    assert!(
        content.contains("**Exit code**") || content.contains("exit code 3"),
        "{content}"
    );
}

#[tokio::test]
async fn feishu_card_signed_in_the_body() {
    let r = deliver(
        Format::Feishu,
        "/open-apis/bot/v2/hook/tok-secret-0123456789",
        Some("SEC-signing"),
        r#"{"code":0,"msg":"success","data":{}}"#,
    )
    .await;
    let b = r.json();
    let ts = b["timestamp"].as_str().unwrap();
    let want = b64(&hmac_sha256(format!("{ts}\nSEC-signing").as_bytes(), b""));
    assert_eq!(b["sign"], want);
    assert_eq!(b["msg_type"], "interactive");
    assert_eq!(b["card"]["header"]["template"], "red");
    assert!(b["card"]["header"]["title"]["content"]
        .as_str()
        .unwrap()
        .contains("deploy-web failed"));
}

#[tokio::test]
async fn slack_teams_telegram() {
    let r = deliver(
        Format::Slack,
        "/services/T0/B0/tok-secret-0123456789",
        None,
        "ok",
    )
    .await;
    let b = r.json();
    assert!(b["text"].as_str().unwrap().contains("deploy-web failed"));
    assert_eq!(b["blocks"][0]["type"], "header");

    let r = deliver(
        Format::Teams,
        "/workflows/tok-secret-0123456789/invoke",
        None,
        "",
    )
    .await;
    let b = r.json();
    assert_eq!(
        b["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        b["attachments"][0]["content"]["body"][0]["color"],
        "Attention"
    );

    let r = deliver(
        Format::Telegram,
        "/",
        Some("123:tok-secret"),
        r#"{"ok":true,"result":{}}"#,
    )
    .await;
    assert_eq!(r.path, "/bot123:tok-secret/sendMessage");
    let b = r.json();
    assert_eq!(b["chat_id"], "-1001");
    assert_eq!(b["parse_mode"], "HTML");
}

#[tokio::test]
async fn service_errors_in_a_2xx_reply_are_not_retried() {
    let receiver = Receiver::failing(0, r#"{"errcode":310000,"errmsg":"sign not match"}"#).await;
    let (report, attempts) = collector();
    let notifier = Notifier::start(fast_settings(), report).unwrap();
    let target = webhook_target(
        Format::Dingtalk,
        &receiver.url("/robot/send?access_token=tok-secret"),
        Some("SEC-signing"),
    );
    notifier.job_finished(&[target], deploy_message("job-2", Status::Success));
    let attempts = wait_attempts(&attempts, Duration::from_secs(5), |a| !a.is_empty()).await;
    match &attempts[0].outcome {
        AttemptOutcome::GaveUp { error } => assert!(error.contains("sign not match"), "{error}"),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(
        attempts[0].target,
        "dingtalk http://127.0.0.1:".to_string()
            + &receiver.addr.port().to_string()
            + "/robot/send?access_token=***"
    );
}
