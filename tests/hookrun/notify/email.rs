//! Mail through a real SMTP server on 127.0.0.1 (aiosmtpd, `smtp_server.py`): plain, STARTTLS
//! and SMTPS with a CA made by the test, AUTH with a password from a file, a wrong CA.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookrun::notify::config::{Channel, On, Target};
use hookrun::notify::email::{SmtpFlags, SmtpSettings};
use hookrun::notify::{AttemptOutcome, Notifier, Settings, Status};

use super::{collector, deploy_message, fast_settings, wait_attempts};

/// Debian's Python, which has aiosmtpd (the first `python3` on PATH may be another).
const PYTHON: &str = "/usr/bin/python3";

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("running openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let (key, pem, subj) = (
                format!("{ca}.key"),
                format!("{ca}.pem"),
                format!("/CN=hookrun test {ca}"),
            );
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            args.extend([
                "-keyout",
                &key,
                "-out",
                &pem,
                "-days",
                "2",
                "-subj",
                &subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            run(&args);
        }
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        run(&args);
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A running `smtp_server.py`, killed on drop.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub out: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// `tls`: None, "starttls" or "implicit"; `auth`: user and password file.
    pub fn start(tls: Option<&str>, pki: &Pki, auth: Option<(&str, &Path)>) -> SmtpServer {
        let out = tempfile::tempdir().unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hookrun/notify/smtp_server.py");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script).arg("--dir").arg(out.path());
        if let Some(mode) = tls {
            cmd.args(["--tls", mode])
                .arg("--cert")
                .arg(pki.path("server.pem"))
                .arg("--key")
                .arg(pki.path("server.key"));
        }
        if let Some((user, file)) = auth {
            cmd.args(["--user", user]).arg("--password-file").arg(file);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting smtp_server.py (python3-aiosmtpd)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("smtp_server.py said {line:?}"));
        SmtpServer { child, port, out }
    }

    /// The messages received so far (their decoded JSON records).
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<_> = std::fs::read_dir(self.out.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
            .collect()
    }

    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < end, "expected {n} messages, got {got:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn email_target(to: &[&str]) -> Arc<Target> {
    Arc::new(Target {
        on: On::ALL,
        channel: Channel::Email {
            to: to
                .iter()
                .map(|a| lettre::message::Mailbox::from_str(a).unwrap())
                .collect(),
        },
        subject: None,
        body: None,
        label: format!("email {}", to.join(", ")),
    })
}

fn smtp(url: &str, ca: Option<&Path>, password_file: Option<&Path>) -> SmtpSettings {
    SmtpSettings::from_flags(&SmtpFlags {
        url,
        from: Some("hookrun <hookrun@example.com>"),
        ca_file: ca,
        password_file,
        ..SmtpFlags::default()
    })
    .unwrap()
}

fn check_deploy_mail(m: &serde_json::Value, to: &str) {
    assert_eq!(m["rcpt_tos"][0], to);
    assert_eq!(
        m["subject"],
        "[hookrun] deploy-web failed (rolled back): swarm:web nginx:1.26 → nginx:1.27"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    assert_eq!(m["auto_submitted"], "auto-generated");
    let text = m["text"].as_str().unwrap();
    for want in [
        "deploy-web failed",
        "Hook:",
        "deploy-web",
        "nginx:1.26",
        "nginx:1.27",
        "exit code 3",
        "Rolled back:",
        "服务 web 已更新",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains("Image before")
            && html.contains("nginx:1.27")
            && html.contains("charset=\"utf-8\"")
    );
}

async fn send_one(settings: SmtpSettings, to: &str) -> Vec<hookrun::notify::Attempt> {
    let (report, attempts) = collector();
    let notifier = Notifier::start(
        Settings {
            smtp: Some(settings),
            ..fast_settings()
        },
        report,
    )
    .unwrap();
    notifier.job_finished(
        &[email_target(&[to])],
        deploy_message("mail-job", Status::Failure),
    );
    let done = wait_attempts(&attempts, Duration::from_secs(20), |a| {
        a.iter().any(|a| {
            matches!(
                a.outcome,
                AttemptOutcome::Delivered | AttemptOutcome::GaveUp { .. }
            )
        })
    })
    .await;
    notifier.shutdown(Duration::from_secs(1)).await;
    done
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_smtp() {
    let pki = Pki::new();
    let server = SmtpServer::start(None, &pki, None);
    let attempts = send_one(
        smtp(&format!("smtp://127.0.0.1:{}", server.port), None, None),
        "ops@example.com",
    )
    .await;
    assert_eq!(
        attempts.last().unwrap().outcome,
        AttemptOutcome::Delivered,
        "{attempts:#?}"
    );
    let m = &server.wait_messages(1, Duration::from_secs(5))[0];
    check_deploy_mail(m, "ops@example.com");
    assert_eq!(m["tls"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_with_the_tests_ca_and_a_password_file() {
    let pki = Pki::new();
    let pw = pki.path("password");
    std::fs::write(&pw, "s3cret pass\n").unwrap();
    let server = SmtpServer::start(Some("starttls"), &pki, Some(("mailer@example.com", &pw)));
    let url = format!(
        "smtp+starttls://mailer%40example.com@127.0.0.1:{}",
        server.port
    );
    let attempts = send_one(
        smtp(&url, Some(&pki.path("ca.pem")), Some(&pw)),
        "运维 <ops@example.com>",
    )
    .await;
    assert_eq!(
        attempts.last().unwrap().outcome,
        AttemptOutcome::Delivered,
        "{attempts:#?}"
    );
    let m = &server.wait_messages(1, Duration::from_secs(5))[0];
    check_deploy_mail(m, "ops@example.com");
    assert_eq!(
        (m["tls"].as_bool(), m["authenticated"].as_bool()),
        (Some(true), Some(true))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn smtps_with_the_tests_ca() {
    let pki = Pki::new();
    let pw = pki.path("password");
    std::fs::write(&pw, "pw").unwrap();
    let server = SmtpServer::start(Some("implicit"), &pki, Some(("mailer", &pw)));
    let url = format!("smtps://mailer@127.0.0.1:{}", server.port);
    let attempts = send_one(
        smtp(&url, Some(&pki.path("ca.pem")), Some(&pw)),
        "ops@example.com",
    )
    .await;
    assert_eq!(
        attempts.last().unwrap().outcome,
        AttemptOutcome::Delivered,
        "{attempts:#?}"
    );
    let m = &server.wait_messages(1, Duration::from_secs(5))[0];
    check_deploy_mail(m, "ops@example.com");
    assert_eq!(m["tls"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_ca_fails_the_handshake_and_is_retried() {
    let pki = Pki::new();
    let server = SmtpServer::start(Some("implicit"), &pki, None);
    let url = format!("smtps://127.0.0.1:{}", server.port);
    let attempts = send_one(
        smtp(&url, Some(&pki.path("other-ca.pem")), None),
        "ops@example.com",
    )
    .await;
    assert_eq!(attempts.len(), 5, "{attempts:#?}");
    for a in &attempts[..4] {
        match &a.outcome {
            AttemptOutcome::Failed { error, .. } => assert!(
                error.to_lowercase().contains("certificate") || error.contains("UnknownIssuer"),
                "{error}"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(attempts[4].outcome, AttemptOutcome::GaveUp { .. }));
    assert!(server.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_not_retried() {
    let pki = Pki::new();
    let pw = pki.path("password");
    std::fs::write(&pw, "right").unwrap();
    let wrong = pki.path("wrong");
    std::fs::write(&wrong, "wrong").unwrap();
    let server = SmtpServer::start(Some("implicit"), &pki, Some(("mailer", &pw)));
    let url = format!("smtps://mailer@127.0.0.1:{}", server.port);
    let attempts = send_one(
        smtp(&url, Some(&pki.path("ca.pem")), Some(&wrong)),
        "ops@example.com",
    )
    .await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    match &attempts[0].outcome {
        AttemptOutcome::GaveUp { error } => {
            assert!(error.contains("535") && !error.contains("wrong"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}
