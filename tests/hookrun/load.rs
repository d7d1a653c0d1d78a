//! Under load, with the default limits (the flags' defaults), in-process: the output of 500
//! runs is always in write order (response, job record, `/jobs/{id}/output`, streaming); a
//! burst of 500 clients waiting for a 0.2 s command and one of 2,000 fire-and-forget requests
//! over 16 keep-alive connections are all served; a flood beyond `-max-jobs` plus
//! `-max-queue` is refused with 429 and `Retry-After`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use hookrun::jobs::JobLimits;

use crate::fixture::{job_id, sh_hook, with};
use crate::harness::TestServer;

const OUT_THEN_ERR: &str = "echo out-line; echo err-line >&2";
const WRITE_ORDER: &str = "out-line\nerr-line\n";

/// Enough open files for hundreds of connections on both ends plus the commands' pipes, as
/// the binary arranges for itself (`main`'s soft-to-hard raise).
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    }
}

/// Runs `count` copies of `request(i)` with at most `in_flight` at once; returns their results.
async fn in_parallel<T, F>(count: usize, in_flight: usize, request: impl Fn(usize) -> F) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut running = JoinSet::new();
    let mut done = Vec::with_capacity(count);
    for i in 0..count {
        if running.len() >= in_flight {
            done.push(
                running
                    .join_next()
                    .await
                    .expect("a task")
                    .expect("no panic"),
            );
        }
        running.spawn(request(i));
    }
    while let Some(r) = running.join_next().await {
        done.push(r.expect("no panic"));
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_in_write_order_in_every_view_500_times() {
    let captured = with(
        sh_hook("captured", OUT_THEN_ERR, &[]),
        json!({"include-command-output-in-response": true}),
    );
    let streamed = with(
        sh_hook("streamed", OUT_THEN_ERR, &[]),
        json!({"stream-command-output": true}),
    );
    let mut server = TestServer::builder()
        .hooks([captured, streamed])
        .start()
        .await;
    let started = Instant::now();
    let server_ref = Arc::new((server.http.clone(), server.url("")));
    let answers = in_parallel(500, 25, |_| {
        let s = server_ref.clone();
        async move {
            let (http, base) = &*s;
            let resp = http
                .post(format!("{base}/hooks/captured"))
                .send()
                .await
                .expect("captured request");
            let id = job_id(&resp);
            let body = resp.text().await.expect("captured body");
            let followed = http
                .get(format!("{base}/jobs/{id}/output"))
                .send()
                .await
                .expect("jobs output")
                .text()
                .await
                .expect("jobs output body");
            let record: serde_json::Value = http
                .get(format!("{base}/jobs/{id}"))
                .send()
                .await
                .expect("job record")
                .json()
                .await
                .expect("job JSON");
            let stream = http
                .post(format!("{base}/hooks/streamed"))
                .send()
                .await
                .expect("streamed request")
                .text()
                .await
                .expect("streamed body");
            [
                body,
                followed,
                record["output"].as_str().unwrap_or("").to_string(),
                stream,
            ]
        }
    })
    .await;
    let views = [
        "response",
        "/jobs/{id}/output",
        "job record",
        "streamed response",
    ];
    for (view, name) in views.iter().enumerate() {
        let swapped = answers.iter().filter(|a| a[view] != WRITE_ORDER).count();
        assert_eq!(
            swapped,
            0,
            "{name}: {swapped} of 500 not in write order, e.g. {:?}",
            answers.iter().find(|a| a[view] != WRITE_ORDER)
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

/// The reference answers this burst in about 0.8 s with no failure; the default limits must
/// not refuse any of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_at_once_are_all_answered_with_default_limits() {
    raise_open_file_limit();
    let hook = with(
        sh_hook("slow", "sleep 0.2; echo done", &[]),
        json!({"include-command-output-in-response": true}),
    );
    let mut server = TestServer::builder().hooks([hook]).start().await;
    let url = server.url("/hooks/slow");
    let started = Instant::now();
    let answers = in_parallel(500, 500, |_| {
        // 500 requests in flight on one client are 500 connections, as from 500 senders.
        let (http, url) = (server.http.clone(), url.clone());
        async move {
            match http.post(&url).send().await {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(e) => (0, e.to_string()),
            }
        }
    })
    .await;
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, body)| *status != 200 || body != "done\n")
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 500 failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

/// The reference accepts all of these; so must the default limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_fire_and_forget_requests_over_16_connections_are_all_accepted() {
    raise_open_file_limit();
    let hook = json!({"id": "true", "execute-command": "/bin/true", "response-message": "ok"});
    let mut server = TestServer::builder().hooks([hook]).start().await;
    let url = server.url("/hooks/true");
    let statuses = in_parallel(16, 16, |_| {
        // 16 senders, each sending its 125 requests one after another: at most 16 requests are
        // in flight, so the client keeps at most 16 connections alive and reuses them.
        let (http, url) = (server.http.clone(), url.clone());
        async move {
            let mut statuses = Vec::with_capacity(125);
            for _ in 0..125 {
                let status = match http.post(&url).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                statuses.push(status);
            }
            statuses
        }
    })
    .await;
    let statuses: Vec<u16> = statuses.into_iter().flatten().collect();
    assert_eq!(statuses.len(), 2000);
    let refused = statuses.iter().filter(|s| **s != 200).count();
    assert_eq!(refused, 0, "{refused} of 2,000 were not 200");
    server.stop().await;
}

/// Beyond `-max-jobs` running plus `-max-queue` waiting, a hook's requests get 429 with
/// `Retry-After` at once: memory stays bounded however many arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_beyond_the_default_queue_is_refused_with_429() {
    raise_open_file_limit();
    let limits = JobLimits::default();
    let admitted = limits.max_jobs + limits.max_queue;
    let hook = json!({"id": "long", "execute-command": "/bin/sleep", "response-message": "ok",
                      "pass-arguments-to-command": [{"source": "string", "name": "60"}]});
    let mut server = TestServer::builder().hooks([hook]).start().await;
    let url = server.url("/hooks/long");
    let extra = 200;
    let started = Instant::now();
    let per_client = (admitted + extra).div_ceil(16);
    let answers = in_parallel(16, 16, |_| {
        let (http, url) = (server.http.clone(), url.clone());
        async move {
            let mut answers = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let r = http.post(&url).send().await.expect("request");
                let retry_after = r.headers().contains_key("retry-after");
                answers.push((r.status().as_u16(), retry_after));
            }
            answers
        }
    })
    .await;
    let answers: Vec<(u16, bool)> = answers.into_iter().flatten().collect();
    let accepted = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused = answers.iter().filter(|(s, r)| *s == 429 && *r).count();
    assert_eq!(accepted, admitted, "accepted");
    assert_eq!(
        refused,
        answers.len() - admitted,
        "refused with Retry-After"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    // A forced shutdown kills the running commands and cancels the waiting ones.
    server.trigger_shutdown();
    server.trigger_shutdown();
    server.stop().await;
}
