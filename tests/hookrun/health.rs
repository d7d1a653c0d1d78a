//! `/healthz`, `/readyz` and `/metrics`: exact counts after a known sequence of requests, the
//! queue gauges, reload counts, readiness while hooks are not loaded and while the server
//! drains, and `-health-address`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::free_port;
use crate::fixture::{client, sh_hook, with, Fixture};
use crate::harness::TestServer;

/// The samples of a metrics text: `name{labels}` → value (comments left out).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("a sample line");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

async fn scrape(http: &reqwest::Client, url: &str) -> BTreeMap<String, f64> {
    let resp = http.get(url).send().await.expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    samples(&text)
}

/// Scrapes until `done` holds on the samples, for up to 10 s.
async fn scrape_until(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let s = scrape(http, url).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < end, "never got {what}: {s:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn get(s: &BTreeMap<String, f64>, key: &str) -> f64 {
    s.get(key).copied().unwrap_or(0.0)
}

fn jobs_ended(s: &BTreeMap<String, f64>) -> f64 {
    s.iter()
        .filter(|(k, _)| k.starts_with("hookrun_jobs_total{"))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_count_a_known_sequence_exactly() {
    let token = json!({"match": {"type": "value", "value": "good",
        "parameter": {"source": "url", "name": "token"}}});
    let server = TestServer::builder()
        .hooks([
            sh_hook("ok", "exit 0", &[]),
            sh_hook("fail", "exit 3", &[]),
            with(
                sh_hook("guarded", "exit 0", &[]),
                json!({"trigger-rule": token}),
            ),
            with(
                sh_hook("get-only", "exit 0", &[]),
                json!({"http-methods": ["GET"]}),
            ),
        ])
        .start()
        .await;
    for _ in 0..3 {
        assert_eq!(server.post("/hooks/ok").send().await.unwrap().status(), 200);
    }
    for _ in 0..2 {
        server.post("/hooks/fail").send().await.unwrap();
    }
    for _ in 0..4 {
        server
            .post("/hooks/guarded?token=bad")
            .send()
            .await
            .unwrap();
    }
    server
        .post("/hooks/guarded?token=good")
        .send()
        .await
        .unwrap();
    for i in 0..5 {
        let resp = server
            .post(&format!("/hooks/nope-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
    }
    let resp = server.post("/hooks/get-only").send().await.unwrap();
    assert_eq!(resp.status(), 405);
    // Not hook URLs: not counted.
    server.get("/").send().await.unwrap();
    server.get("/nowhere").send().await.unwrap();

    let url = server.url("/metrics");
    let s = scrape_until(&server.http, &url, "6 ended jobs", |s| jobs_ended(s) == 6.0).await;
    let want = [
        (
            "hookrun_http_requests_total{hook=\"ok\",outcome=\"matched\"}",
            3.0,
        ),
        (
            "hookrun_http_requests_total{hook=\"fail\",outcome=\"matched\"}",
            2.0,
        ),
        (
            "hookrun_http_requests_total{hook=\"guarded\",outcome=\"rules_not_satisfied\"}",
            4.0,
        ),
        (
            "hookrun_http_requests_total{hook=\"guarded\",outcome=\"matched\"}",
            1.0,
        ),
        (
            "hookrun_http_requests_total{hook=\"(unknown)\",outcome=\"not_found\"}",
            5.0,
        ),
        (
            "hookrun_http_requests_total{hook=\"get-only\",outcome=\"method_not_allowed\"}",
            1.0,
        ),
        ("hookrun_jobs_total{hook=\"ok\",state=\"succeeded\"}", 3.0),
        ("hookrun_jobs_total{hook=\"fail\",state=\"failed\"}", 2.0),
        (
            "hookrun_jobs_total{hook=\"guarded\",state=\"succeeded\"}",
            1.0,
        ),
        ("hookrun_job_duration_seconds_count{hook=\"ok\"}", 3.0),
        ("hookrun_job_duration_seconds_count{hook=\"fail\"}", 2.0),
        (
            "hookrun_job_duration_seconds_bucket{le=\"+Inf\",hook=\"ok\"}",
            3.0,
        ),
    ];
    for (key, value) in want {
        assert_eq!(get(&s, key), value, "{key} in {s:#?}");
    }
    let requests: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("hookrun_http_requests_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(requests, 16.0, "{s:#?}");
    assert!(
        !s.keys().any(|k| k.contains("nope")),
        "a requested id became a label: {s:#?}"
    );
    let version = format!(
        "hookrun_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(get(&s, &version), 1.0, "{s:#?}");
}

#[tokio::test]
async fn running_and_waiting_jobs_are_gauges_of_the_moment() {
    let gate = tempfile::tempdir().unwrap();
    let gate_file = gate.path().join("open");
    let script = format!(
        "while [ ! -e '{}' ]; do sleep 0.02; done",
        gate_file.display()
    );
    let server = TestServer::builder()
        .hooks([with(
            sh_hook("slow", &script, &[]),
            json!({"concurrency": "serial"}),
        )])
        .start()
        .await;
    for _ in 0..3 {
        assert_eq!(
            server.post("/hooks/slow").send().await.unwrap().status(),
            200
        );
    }
    let url = server.url("/metrics");
    let s = scrape_until(&server.http, &url, "1 running, 2 waiting", |s| {
        get(s, "hookrun_jobs_running{hook=\"slow\"}") == 1.0
    })
    .await;
    assert_eq!(
        get(&s, "hookrun_jobs_waiting{hook=\"slow\"}"),
        2.0,
        "{s:#?}"
    );
    std::fs::write(&gate_file, "").unwrap();
    let s = scrape_until(&server.http, &url, "3 ended jobs", |s| jobs_ended(s) == 3.0).await;
    assert!(
        !s.keys().any(|k| k.starts_with("hookrun_jobs_running")),
        "an idle hook keeps a gauge: {s:#?}"
    );
    assert_eq!(
        get(&s, "hookrun_jobs_total{hook=\"slow\",state=\"succeeded\"}"),
        3.0
    );
}

#[tokio::test]
async fn healthz_and_readyz_answer_next_to_the_hooks() {
    let server = TestServer::builder()
        .hooks([sh_hook("ok", "exit 0", &[])])
        .start()
        .await;
    let resp = server.get("/healthz").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok\n");
    let resp = server.get("/readyz").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ready\n");
    // Only GET and HEAD: a POST is not a health check.
    let resp = server.post("/healthz").send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

/// Reloads by SIGHUP are counted, and with `-nopanic` the server is not ready until hooks load.
#[tokio::test]
async fn reloads_and_readiness_follow_the_hooks_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hooks.json"), "[{\"id\": ").unwrap();
    let fx = Fixture::start_in(dir, &["-hooks", "hooks.json", "-nopanic"]);
    let http = client();
    let resp = http.get(fx.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.text().await.unwrap(),
        "not ready: the hooks could not be loaded\n"
    );
    fx.signal("HUP");
    let url = fx.url("/metrics");
    scrape_until(&http, &url, "a failed reload", |s| {
        get(s, "hookrun_reloads_total{result=\"failed\"}") == 1.0
    })
    .await;
    crate::fixture::write_json(
        &fx.path("hooks.json"),
        &json!([sh_hook("ok", "exit 0", &[])]),
    );
    fx.signal("HUP");
    let s = scrape_until(&http, &url, "a reload", |s| {
        get(s, "hookrun_reloads_total{result=\"ok\"}") == 1.0
    })
    .await;
    assert_eq!(get(&s, "hookrun_reloads_total{result=\"failed\"}"), 1.0);
    let resp = http.get(fx.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// With `-health-address` the health URLs leave the hooks listener, and `/readyz` answers 503
/// while running jobs drain after SIGTERM.
#[tokio::test]
async fn health_address_reports_draining() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let gate = tempfile::tempdir().unwrap();
    let gate_file = gate.path().join("open");
    let script = format!(
        "while [ ! -e '{}' ]; do sleep 0.02; done",
        gate_file.display()
    );
    let mut fx = Fixture::start(
        &[sh_hook("slow", &script, &[])],
        &["-health-address", &addr],
    );
    let http = client();
    let health = |path: &str| format!("http://{addr}{path}");
    let resp = http.get(fx.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 404, "metrics still next to the hooks");
    assert_eq!(
        http.get(health("/readyz")).send().await.unwrap().status(),
        200
    );
    let resp = http.post(health("/hooks/slow")).send().await.unwrap();
    assert_eq!(resp.status(), 404, "hooks on the health address");
    let s = scrape(&http, &health("/metrics")).await;
    assert!(s.contains_key(&format!(
        "hookrun_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    )));

    let job = fx.trigger_job("slow", json!({})).await;
    fx.wait_job(&job, Duration::from_secs(5), |j| j["state"] == "running")
        .await;
    fx.signal("TERM");
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = http.get(health("/readyz")).send().await.unwrap();
        if resp.status() == 503 {
            assert_eq!(resp.text().await.unwrap(), "not ready: shutting down\n");
            break;
        }
        assert!(Instant::now() < end, "/readyz never failed while draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resp = http.get(health("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "alive while draining");
    std::fs::write(&gate_file, "").unwrap();
    let status = fx.exited_within(Duration::from_secs(10)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        fx.log()
    );
}
