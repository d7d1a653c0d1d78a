//! Notifications of real jobs through the real server (in process): a command writes its result
//! file, the job ends, and the loopback SMTP server or HTTP receivers get the message; every
//! attempt shows in `GET /jobs/{id}`; timeouts, rate limits with their summary, and shutdown
//! waiting for what is still being sent.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use hookrun::notify::email::{SmtpFlags, SmtpSettings};

use super::email::{Pki, SmtpServer};
use super::{fast_settings, Receiver};
use crate::fixture::{job_id, sh_hook, with};
use crate::harness::TestServer;

/// A deploy script as the bundled scripts report one: result file written, exit code 3.
const FAILED_DEPLOY: &str = r#"{
  echo target=swarm:web
  echo image_before=nginx:1.26
  echo image_after=nginx:1.27
  echo rolled_back=true
  echo "message<<EOF"
  echo "service web rolled back to nginx:1.26"
  echo EOF
} >> "$HOOKRUN_RESULT"
echo "converging web"
exit 3"#;

const DINGTALK_OK: &str = r#"{"errcode":0,"errmsg":"ok"}"#;

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn deploy_hook(script: &str, notify: Value) -> Value {
    with(
        sh_hook("deploy-web", script, &[]),
        json!({ "notify": notify }),
    )
}

async fn job_json(server: &TestServer, id: &str) -> Value {
    server
        .get(&format!("/jobs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `GET /jobs/{id}` until `pred` holds on its `notifications` (panics after 20 s).
async fn wait_notifications(
    server: &TestServer,
    id: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Value {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let job = job_json(server, id).await;
        if pred(job["notifications"].as_array().unwrap()) {
            return job;
        }
        assert!(
            std::time::Instant::now() < end,
            "notifications never got there: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn outcomes(job: &Value, target_prefix: &str) -> Vec<String> {
    job["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["target"].as_str().unwrap().starts_with(target_prefix))
        .map(|n| format!("{}:{}", n["attempt"], n["outcome"].as_str().unwrap()))
        .collect()
}

fn delivered(n: &[Value]) -> usize {
    n.iter().filter(|n| n["outcome"] == "delivered").count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deploy_is_mailed_with_its_result() {
    let pki = Pki::new();
    let smtp = SmtpServer::start(None, &pki, None);
    let settings = SmtpSettings::from_flags(&SmtpFlags {
        url: &format!("smtp://127.0.0.1:{}", smtp.port),
        from: Some("hookrun <hookrun@example.com>"),
        ..SmtpFlags::default()
    })
    .unwrap();
    let subject = "{{ .hook }} {{ .status }}: {{ .result.image_before }} → {{ .result.image_after }} (exit {{ .exit_code }})";
    let mut server = TestServer::builder()
        .hooks([deploy_hook(
            FAILED_DEPLOY,
            json!([
                { "on": ["failure"], "email": { "to": ["ops@example.com"] } },
                { "on": "failure", "email": { "to": ["运维 <dev@example.com>"], "subject": subject } },
                { "on": ["success"], "email": { "to": ["nobody@example.com"] } },
            ]),
        )])
        .settings(|s| {
            s.notify = hookrun::notify::Settings {
                smtp: Some(settings),
                ..fast_settings()
            }
        })
        .start()
        .await;
    let resp = server.trigger("deploy-web", json!({})).await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let job = wait_notifications(&server, &id, |n| delivered(n) == 2).await;
    assert_eq!(job["exit_code"], 3);
    assert_eq!(job["result"]["image_after"], "nginx:1.27");
    let mails = smtp.wait_messages(2, Duration::from_secs(5));
    let to = |addr: &str| {
        mails
            .iter()
            .find(|m| m["rcpt_tos"][0] == addr)
            .unwrap_or_else(|| panic!("no mail to {addr}: {mails:#?}"))
    };
    let built_in = to("ops@example.com");
    assert_eq!(
        built_in["subject"],
        "[hookrun] deploy-web failed (rolled back): swarm:web nginx:1.26 → nginx:1.27"
    );
    let text = built_in["text"].as_str().unwrap();
    for want in [
        "deploy-web",
        "failed",
        "exit code 3",
        "nginx:1.26",
        "nginx:1.27",
        "service web rolled back to nginx:1.26",
        "converging web",
        &id,
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert_eq!(
        to("dev@example.com")["subject"],
        "deploy-web failure: nginx:1.26 → nginx:1.27 (exit 3)"
    );
    assert!(!mails
        .iter()
        .any(|m| m["rcpt_tos"][0] == "nobody@example.com"));
    for n in job["notifications"].as_array().unwrap() {
        assert_eq!(
            (n["ok"].as_bool(), n["attempt"].as_u64()),
            (Some(true), Some(1)),
            "{n}"
        );
        assert!(n["target"].as_str().unwrap().starts_with("email "), "{n}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_and_json_receivers_get_signed_messages_and_retries_show_in_the_job() {
    let dingtalk = Receiver::failing(0, DINGTALK_OK).await;
    let json_receiver = Receiver::failing(2, "ok").await;
    let ding_url = dingtalk.url("/robot/send?access_token=tok0123456789abcdef");
    let mut server = TestServer::builder()
        .hooks([deploy_hook(
            FAILED_DEPLOY,
            json!([
                { "webhook": { "url": ding_url, "format": "dingtalk", "secret": "SECding-signing-secret" } },
                { "on": ["failure"], "webhook": { "url": json_receiver.url("/hook"), "secret": "json-signing-secret" } },
            ]),
        )])
        .settings(|s| s.notify = fast_settings())
        .start()
        .await;
    let id = job_id(&server.trigger("deploy-web", json!({})).await);
    let job = wait_notifications(&server, &id, |n| delivered(n) == 2).await;

    let ding = &dingtalk.received()[0];
    let ts = &ding.query["timestamp"];
    let want = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        b"SECding-signing-secret",
        format!("{ts}\nSECding-signing-secret").as_bytes(),
    ));
    assert_eq!(ding.query["sign"], want, "DingTalk's signature verifies");
    let text = ding.json()["markdown"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("nginx:1.26 → nginx:1.27"), "{text}");
    assert!(text.contains("deploy-web failed (rolled back)"), "{text}");

    let got = json_receiver.received();
    assert_eq!(got.len(), 3, "two failures, then delivered");
    let last = got.last().unwrap();
    let want = format!(
        "sha256={}",
        hex::encode(hmac_sha256(b"json-signing-secret", &last.body))
    );
    assert_eq!(last.header("x-hookrun-signature-256"), Some(want.as_str()));
    let body = last.json();
    assert_eq!(
        (
            &body["hook"],
            &body["job_id"],
            &body["status"],
            &body["exit_code"]
        ),
        (
            &json!("deploy-web"),
            &json!(id),
            &json!("failure"),
            &json!(3)
        )
    );
    assert_eq!(body["result"]["image_before"], "nginx:1.26");
    assert!(body["output_tail"]
        .as_str()
        .unwrap()
        .contains("converging web"));

    assert_eq!(
        outcomes(&job, "json "),
        ["1:failed", "2:failed", "3:delivered"]
    );
    assert_eq!(outcomes(&job, "dingtalk "), ["1:delivered"]);
    let failed = &job["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["outcome"] == "failed")
        .unwrap();
    assert_eq!(failed["ok"], false);
    assert!(
        failed["error"].as_str().unwrap().contains("500"),
        "{failed}"
    );
    assert!(failed["retry_in_ms"].as_u64().is_some());
    let record = job.to_string();
    for secret in [
        "tok0123456789abcdef",
        "SECding-signing-secret",
        "json-signing-secret",
    ] {
        assert!(
            !record.contains(secret),
            "{secret} in the job record: {record}"
        );
    }
    assert!(record.contains("access_token=***"), "{record}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_goes_to_the_targets_that_want_it() {
    let pager = Receiver::failing(0, "ok").await;
    let failures = Receiver::failing(0, "ok").await;
    let mut server = TestServer::builder()
        .hooks([with(
            deploy_hook(
                "echo started; sleep 30",
                json!([
                    { "on": ["timeout"], "webhook": { "url": pager.url("/pager") } },
                    { "on": ["failure"], "webhook": { "url": failures.url("/failures") } },
                ]),
            ),
            json!({ "command-timeout": "1s" }),
        )])
        .settings(|s| {
            s.notify = fast_settings();
            s.kill_grace = Duration::from_secs(1);
        })
        .start()
        .await;
    let id = job_id(&server.trigger("deploy-web", json!({})).await);
    let job = wait_notifications(&server, &id, |n| delivered(n) == 1).await;
    assert_eq!(job["state"], "timed_out");
    let body = pager.received()[0].json();
    assert_eq!(
        (&body["status"], &body["exit_code"]),
        (&json!("timeout"), &Value::Null)
    );
    assert!(
        body["subject"]
            .as_str()
            .unwrap()
            .contains("deploy-web timed out"),
        "{body}"
    );
    assert!(body["output_tail"].as_str().unwrap().contains("started"));
    server.stop().await;
    assert!(
        failures.received().is_empty(),
        "a target listing timeout takes timeouts away from failure"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_failures_is_rate_limited_and_summarised() {
    let receiver = Receiver::failing(0, "ok").await;
    let mut server = TestServer::builder()
        .hooks([deploy_hook(
            "echo target=swarm:web >> \"$HOOKRUN_RESULT\"; exit 1",
            json!([{ "on": ["failure"], "webhook": { "url": receiver.url("/ops") } }]),
        )])
        .settings(|s| {
            s.notify = hookrun::notify::Settings {
                rate_limit: 2,
                rate_window: Duration::from_secs(2),
                ..fast_settings()
            }
        })
        .start()
        .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let id = job_id(&server.trigger("deploy-web", json!({})).await);
        // One after the other, so which are held is known.
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while job_json(&server, &id).await["notifications"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            assert!(std::time::Instant::now() < end, "job {id} never notified");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ids.push(id);
    }
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    let events: Vec<Value> = got.iter().map(|r| r.json()["event"].clone()).collect();
    assert_eq!(events, ["job", "job", "summary"]);
    let summary = got[2].json();
    assert_eq!(
        (&summary["held"], &summary["limit_per_minute"]),
        (&json!(3), &json!(2))
    );
    let listed: Vec<&str> = summary["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ids[2..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    for (i, id) in ids.iter().enumerate() {
        let want: &[&str] = if i < 2 {
            &["1:delivered"]
        } else {
            &["0:held", "1:delivered"]
        };
        let job = wait_notifications(&server, id, |n| n.len() == want.len()).await;
        assert_eq!(outcomes(&job, "json "), want, "job {i}");
        let summary = job["notifications"].as_array().unwrap().last().unwrap()["summary"] == true;
        assert_eq!(summary, i >= 2, "job {i}: {job:#}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3, "nothing more is sent");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_waits_for_a_pending_notification() {
    let receiver = Receiver::failing(1, "ok").await;
    let mut server = TestServer::builder()
        .hooks([deploy_hook(
            "sleep 0.3; exit 2",
            json!([{ "webhook": { "url": receiver.url("/ops") } }]),
        )])
        .settings(|s| {
            // The retry is due long after the shutdown deadline: it is made at once instead.
            s.notify = hookrun::notify::Settings {
                retry_delays: vec![Duration::from_secs(600)],
                ..fast_settings()
            };
            s.shutdown_timeout = Duration::from_secs(5);
        })
        .start()
        .await;
    let id = job_id(&server.trigger("deploy-web", json!({})).await);
    let job = server.job(&id);
    server.stop_within(Duration::from_secs(10)).await;
    let got = receiver.received();
    assert_eq!(
        got.len(),
        2,
        "the first attempt failed, the last one was made at shutdown"
    );
    assert_eq!(got[1].json()["job_id"], json!(id));
    let outcomes: Vec<String> = job
        .notifications()
        .iter()
        .map(|n| format!("{}:{}", n.attempt, n.outcome))
        .collect();
    assert_eq!(outcomes, ["1:failed", "2:delivered"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn superseded_jobs_notify_nobody_and_templates_fall_back_when_they_fail() {
    let receiver = Receiver::failing(0, "ok").await;
    let mut server = TestServer::builder()
        .hooks([with(
            deploy_hook(
                "sleep 0.5",
                // `len` of a number fails at render time: the built-in subject is used.
                json!([{ "webhook": { "url": receiver.url("/ops"), "subject": "{{ len .exit_code }}" } }]),
            ),
            json!({ "concurrency": "latest" }),
        )])
        .settings(|s| s.notify = fast_settings())
        .start()
        .await;
    let first = job_id(&server.trigger("deploy-web", json!({})).await);
    let superseded = job_id(&server.trigger("deploy-web", json!({})).await);
    let last = job_id(&server.trigger("deploy-web", json!({})).await);
    for id in [&first, &last] {
        wait_notifications(&server, id, |n| delivered(n) == 1).await;
    }
    server.stop().await;
    assert_eq!(
        server.job(&superseded).state(),
        hookrun::jobs::JobState::Superseded
    );
    assert!(server.job(&superseded).notifications().is_empty());
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert!(got[0].json()["subject"]
        .as_str()
        .unwrap()
        .starts_with("[hookrun] deploy-web succeeded"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_output_stays_out_of_messages() {
    let receiver = Receiver::failing(0, "ok").await;
    let mut server = TestServer::builder()
        .hooks([deploy_hook(
            "echo 'db password: hunter2'; exit 1",
            json!([{ "webhook": { "url": receiver.url("/ops") } }]),
        )])
        .settings(|s| {
            s.notify = fast_settings();
            s.job_output = false;
        })
        .start()
        .await;
    let id = job_id(&server.trigger("deploy-web", json!({})).await);
    wait_notifications(&server, &id, |n| delivered(n) == 1).await;
    server.stop().await;
    let got = receiver.received();
    let body = got[0].json();
    assert_eq!(body["output_tail"], "", "-job-output=false: {body}");
    assert!(!String::from_utf8_lossy(&got[0].body).contains("hunter2"));
}
