//! Under load, in-process: the output of 500 runs is always in write order (response, job
//! record, `/jobs/{id}/output`, streaming).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::fixture::{job_id, sh_hook, with};
use crate::harness::TestServer;

const OUT_THEN_ERR: &str = "echo out-line; echo err-line >&2";
const WRITE_ORDER: &str = "out-line\nerr-line\n";

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
