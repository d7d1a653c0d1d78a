//! Notifications through the built binary: the `-smtp*` and `-dockerhub-callback-allow` flags,
//! Docker Hub callbacks to an HTTPS receiver on 127.0.0.1 (trusted through `SSL_CERT_FILE`),
//! start-up and `validate` errors for e-mail without a mail server, and no secret in the log, the
//! job record or the commands' environment.

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::email::{Pki, SmtpServer};
use super::Receiver;
use crate::common::{hookrun_bin, start, Server};
use crate::fixture::{client, job_id, sh_hook, with, write_json};

/// An HTTPS server on 127.0.0.1 with the test CA's certificate, recording (path, JSON body).
struct TlsReceiver {
    port: u16,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsReceiver {
    async fn start(pki: &Pki) -> TlsReceiver {
        let certs = rustls_pemfile::certs(&mut &std::fs::read(pki.path("server.pem")).unwrap()[..])
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key =
            rustls_pemfile::private_key(&mut &std::fs::read(pki.path("server.key")).unwrap()[..])
                .unwrap()
                .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, sink) = (acceptor.clone(), sink.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let sink = sink.clone();
                            async move {
                                let path = req.uri().path().to_string();
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                                sink.lock().unwrap().push((path, value));
                                Ok::<_, Infallible>(hyper::Response::new(String::from("ok")))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        TlsReceiver { port, seen, task }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<(String, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

/// Starts the binary over `hooks` with `args` and `envs`.
fn serve(dir: &Path, hooks: &[Value], args: &[&str], envs: &[(&str, &str)]) -> Server {
    write_json(&dir.join("hooks.json"), &Value::Array(hooks.to_vec()));
    let mut all = vec!["-hooks", "hooks.json", "-verbose"];
    all.extend_from_slice(args);
    start(&hookrun_bin(), &all, dir, envs)
}

async fn trigger(server: &Server, id: &str, body: Value) -> String {
    let resp = client()
        .post(server.url(&format!("/hooks/{id}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    job_id(&resp)
}

/// Polls `GET /jobs/{id}` until `pred` holds (panics after 20 s).
async fn wait_job(server: &Server, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let job: Value = client()
            .get(server.url(&format!("/jobs/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if pred(&job) {
            return job;
        }
        assert!(
            Instant::now() < end,
            "job never got there: {job:#}\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn outcomes(job: &Value) -> Vec<String> {
    job["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["outcome"].as_str().unwrap().to_string())
        .collect()
}

fn docker_hub_push(callback_url: &str, tag: &str) -> Value {
    json!({
        "callback_url": callback_url,
        "push_data": { "pushed_at": 1417566161, "pusher": "ann", "tag": tag },
        "repository": { "name": "web", "namespace": "ann", "repo_name": "ann/web" },
    })
}

fn hub_hooks() -> Vec<Value> {
    let hook = |id: &str, script: &str| {
        with(
            sh_hook(id, script, &[]),
            json!({ "registry-event": "dockerhub" }),
        )
    };
    vec![
        hook(
            "hub-ok",
            "echo image_after=ann/web:v2 >> \"$HOOKRUN_RESULT\"",
        ),
        hook(
            "hub-bad",
            "echo rolled_back=true >> \"$HOOKRUN_RESULT\"; exit 4",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_callbacks_are_refused_by_default() {
    let pki = Pki::new();
    let receiver = TlsReceiver::start(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.path("ca.pem").display().to_string();
    let server = serve(dir.path(), &hub_hooks(), &[], &[("SSL_CERT_FILE", &ca)]);
    let id = trigger(
        &server,
        "hub-ok",
        docker_hub_push(&receiver.url("/cb/0123456789abcdef0123/"), "v2"),
    )
    .await;
    let job = wait_job(&server, &id, |j| {
        !j["notifications"].as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(outcomes(&job), ["refused"]);
    let n = &job["notifications"][0];
    assert_eq!(n["ok"], false);
    assert!(
        n["error"].as_str().unwrap().contains("not Docker Hub's"),
        "{n}"
    );
    assert!(
        !job.to_string().contains("0123456789abcdef0123"),
        "the hook id is masked: {job}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received().is_empty(), "nothing is sent");
    let log = server.log_text();
    assert!(log.contains("Docker Hub callback refused"), "{log}");
    assert!(!log.contains("0123456789abcdef0123"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_callbacks_go_to_a_widened_allow_list() {
    let pki = Pki::new();
    let receiver = TlsReceiver::start(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.path("ca.pem").display().to_string();
    let allow = receiver.url("/cb/");
    let server = serve(
        dir.path(),
        &hub_hooks(),
        &["-dockerhub-callback-allow", &allow],
        &[("SSL_CERT_FILE", &ca)],
    );
    let ok = trigger(
        &server,
        "hub-ok",
        docker_hub_push(&receiver.url("/cb/ok"), "v2"),
    )
    .await;
    let bad = trigger(
        &server,
        "hub-bad",
        docker_hub_push(&receiver.url("/cb/bad"), "v3"),
    )
    .await;
    for id in [&ok, &bad] {
        let job = wait_job(&server, id, |j| outcomes(j) == ["delivered"]).await;
        assert!(job["notifications"][0]["target"]
            .as_str()
            .unwrap()
            .starts_with("docker hub callback https://127.0.0.1:"));
    }
    let got = receiver.received();
    let body = |path: &str| &got.iter().find(|(p, _)| p == path).unwrap().1;
    let ok = body("/cb/ok");
    assert_eq!(ok["state"], "success");
    assert!(ok["context"].as_str().unwrap().starts_with("hookrun on "));
    assert!(
        ok["description"]
            .as_str()
            .unwrap()
            .starts_with("hub-ok succeeded"),
        "{ok}"
    );
    let bad = body("/cb/bad");
    assert_eq!(bad["state"], "failure");
    assert!(
        bad["description"]
            .as_str()
            .unwrap()
            .starts_with("hub-bad failed"),
        "{bad}"
    );
}

#[tokio::test]
async fn email_without_a_mail_server_is_a_start_up_and_validate_error() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = [with(
        sh_hook("deploy", "true", &[]),
        json!({ "notify": [{ "email": { "to": ["ops@example.com"] } }] }),
    )];
    let file = dir.path().join("hooks.json");
    write_json(&file, &Value::Array(hooks.to_vec()));
    let run = |args: &[&str]| {
        std::process::Command::new(hookrun_bin())
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["-hooks", "hooks.json", "-port", "0", "-ip", "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(r#"hook "deploy": notify[0].email: e-mail needs a mail server: start hookrun with -smtp URL"#),
        "{text}"
    );
    // validate exits as the server would start: 1.
    let out = run(&["validate", "hooks.json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("notify[0].email: e-mail needs a mail server"),
        "{text}"
    );
    let out = run(&[
        "validate",
        "-smtp",
        "smtp://127.0.0.1",
        "-smtp-from",
        "hookrun@example.com",
        "hooks.json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["validate", "--smtp=smtps://a:pw@127.0.0.1", "hooks.json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("a password in the URL"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_log_the_job_record_or_commands() {
    const PASSWORD: &str = "smtp-Pa55word-xyz";
    const TOKEN: &str = "dingtalkTOKEN0123456789";
    const DING_SECRET: &str = "SECdingtalk-signing-0123";
    const JSON_SECRET: &str = "json-signing-secret-0123";
    let pki = Pki::new();
    let password_file = pki.path("smtp-password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let smtp = SmtpServer::start(
        Some("implicit"),
        &pki,
        Some(("mailer@example.com", &password_file)),
    );
    // One failure: the server's first retry comes after 10 s.
    let dingtalk = Receiver::failing(1, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let json_receiver = Receiver::failing(0, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ding-secret"), format!("{DING_SECRET}\n")).unwrap();
    let hooks = [with(
        sh_hook(
            "deploy-web",
            "env; echo image_after=nginx:1.27 >> \"$HOOKRUN_RESULT\"; exit 1",
            &[],
        ),
        json!({ "notify": [
            { "email": { "to": ["ops@example.com"] } },
            { "webhook": {
                "url": dingtalk.url(&format!("/robot/send?access_token={TOKEN}")),
                "format": "dingtalk", "secret-file": "ding-secret" } },
            { "webhook": { "url": json_receiver.url("/hook"), "secret": JSON_SECRET } },
        ] }),
    )];
    let smtp_url = format!("smtps://mailer%40example.com@127.0.0.1:{}", smtp.port);
    let ca = pki.path("ca.pem").display().to_string();
    let server = serve(
        dir.path(),
        &hooks,
        &["-debug", "-smtp", &smtp_url, "-smtp-ca", &ca],
        &[
            ("HOOKRUN_SMTP_PASSWORD", PASSWORD),
            ("HOOKRUN_LOG", "trace"),
        ],
    );
    let id = trigger(&server, "deploy-web", json!({})).await;
    let job = wait_job(&server, &id, |j| {
        j["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["outcome"] == "delivered")
            .count()
            == 3
    })
    .await;
    let mail = &smtp.wait_messages(1, Duration::from_secs(5))[0];
    assert_eq!(
        mail["authenticated"], true,
        "the password from the environment was used"
    );
    assert!(outcomes(&job).contains(&"failed".to_string()), "{job:#}");
    let stdout = job["stdout"].as_str().unwrap();
    assert!(
        stdout.contains("HOOKRUN_JOB_ID="),
        "the command's env is in its output: {stdout}"
    );
    assert!(!stdout.contains("HOOKRUN_SMTP_PASSWORD"), "{stdout}");
    let record = job.to_string();
    let log = server.log_text();
    assert!(log.contains("notification delivered"), "{log}");
    assert!(log.contains("access_token=***"), "{log}");
    for secret in [PASSWORD, TOKEN, DING_SECRET, JSON_SECRET] {
        assert!(
            !record.contains(secret),
            "{secret} in the job record: {record}"
        );
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}
