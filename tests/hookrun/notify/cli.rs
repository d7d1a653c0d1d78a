//! `hookrun notify`: a webhook with a secret file, mail with seed 001's base64 `MAIL_*`
//! variables, and usage errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::email::{Pki, SmtpServer};
use super::Receiver;
use crate::common::hookrun_bin;

fn notify(args: &[&str], envs: &[(&str, String)], stdin: &str) -> Output {
    let mut cmd = Command::new(hookrun_bin());
    cmd.arg("notify")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "MAIL_SMTP_SERVER",
        "MAIL_FROM",
        "MAIL_PASSWORD",
        "MAIL_CACERT",
        "MAIL_SMTP_PORT",
        "MAIL_TLS_CHECK",
        "MAIL_TO",
        "HOOKRUN_SMTP_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("running hookrun notify");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn notify_async(
    args: Vec<String>,
    envs: Vec<(&'static str, String)>,
    stdin: &'static str,
) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        notify(&args, &envs, stdin)
    })
    .await
    .unwrap()
}

/// `echo VALUE | base64`, as seed 001's users encode their settings.
fn echo_base64(value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{value}\n"))
}

/// `cat ca.pem | base64`: wrapped at 76 columns.
fn cat_base64(bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    b64.as_bytes()
        .chunks(76)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dingtalk_with_a_secret_file() {
    let receiver = Receiver::failing(1, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ding");
    std::fs::write(&secret, "SEC-cli-secret\n").unwrap();
    let url = receiver.url("/robot/send?access_token=tok-cli-secret");
    let args = vec![
        "--webhook".into(),
        url,
        "--format".into(),
        "dingtalk".into(),
        "--secret-file".into(),
        secret.display().to_string(),
        "-subject".into(),
        "备份完成".into(),
    ];
    let out = notify_async(args, vec![], "nightly backup: 12 GiB\nall good").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("delivered") && stderr.contains("attempt 1 to dingtalk"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("tok-cli-secret") && !stderr.contains("SEC-cli-secret"),
        "{stderr}"
    );
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    let r = &got[1];
    let ts = &r.query["timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(b"SEC-cli-secret").unwrap();
    mac.update(format!("{ts}\nSEC-cli-secret").as_bytes());
    assert_eq!(
        r.query["sign"],
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let b = r.json();
    assert_eq!(b["markdown"]["title"], "备份完成");
    assert!(b["markdown"]["text"]
        .as_str()
        .unwrap()
        .contains("nightly backup: 12 GiB"));
}

#[tokio::test(flavor = "multi_thread")]
async fn seed001_mail_variables_deliver() {
    let pki = Pki::new();
    let pw = pki.path("password");
    std::fs::write(&pw, "邮箱密码 pw").unwrap();
    let server = SmtpServer::start(Some("implicit"), &pki, Some(("webhook@example.com", &pw)));
    let ca = std::fs::read(pki.path("ca.pem")).unwrap();
    let vars = vec![
        ("MAIL_SMTP_SERVER", echo_base64("127.0.0.1")),
        ("MAIL_SMTP_PORT", server.port.to_string()),
        ("MAIL_FROM", echo_base64("webhook@example.com")),
        ("MAIL_PASSWORD", echo_base64("邮箱密码 pw")),
        ("MAIL_CACERT", cat_base64(&ca)),
        ("MAIL_TO", "dev@example.com".to_string()),
    ];
    let out = notify_async(
        vec![
            "--subject".into(),
            "Webhooks通知: default-web 更新结果".into(),
        ],
        vars.clone(),
        "升级前镜像: nginx:1.26\n升级后镜像: nginx:1.27",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &server.wait_messages(1, Duration::from_secs(5))[0];
    assert_eq!(m["rcpt_tos"][0], "dev@example.com");
    assert_eq!(m["mail_from"], "webhook@example.com");
    assert_eq!(m["subject"], "Webhooks通知: default-web 更新结果");
    assert!(m["text"]
        .as_str()
        .unwrap()
        .contains("升级后镜像: nginx:1.27"));
    assert_eq!(
        (m["tls"].as_bool(), m["authenticated"].as_bool()),
        (Some(true), Some(true))
    );

    // Without the CA the certificate is unknown: not delivered...
    let no_ca: Vec<_> = vars
        .iter()
        .filter(|(k, _)| *k != "MAIL_CACERT")
        .cloned()
        .collect();
    let mut strict = no_ca.clone();
    strict.push(("MAIL_TLS_CHECK", "true".into()));
    let out = notify_async(vec!["--timeout".into(), "3s".into()], strict, "x").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert!(!stderr.contains("邮箱密码"), "{stderr}");
    // ... unless MAIL_TLS_CHECK=false, as that image's users turn the check off.
    let mut lax = no_ca;
    lax.push(("MAIL_TLS_CHECK", "false".into()));
    let out = notify_async(vec![], lax, "tls check off").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = server.wait_messages(2, Duration::from_secs(5));
    let text = got[1]["text"].as_str().unwrap();
    assert!(text.starts_with("tls check off"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    for (args, want) in [
        (
            vec!["--email", "a@b.c", "--webhook", "http://127.0.0.1:9/"],
            "not both",
        ),
        (vec!["--email", "a@b.c"], "no mail server"),
        (
            vec!["--webhook", "http://127.0.0.1:9/", "--format", "dingding"],
            "--format: unknown format",
        ),
        (
            vec![
                "--webhook",
                "http://127.0.0.1:9/",
                "--secret-file",
                "/nonexistent/x",
            ],
            "--secret-file: cannot read",
        ),
        (
            vec!["--email", "a@b.c", "--smtp", "smtps://u:pw@127.0.0.1"],
            "process list",
        ),
    ] {
        let out = notify(&args, &[], "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
