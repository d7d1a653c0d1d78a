//! Retried deliveries run once: copies of one delivery id (sequential or simultaneous) are
//! answered with the first copy's `Hookrun-Job-Id` and start nothing.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::fixture::{job_id, sh_hook, with};
use crate::harness::TestServer;

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn simultaneous_copies_of_a_delivery_run_once() {
    let builder = TestServer::builder();
    let log = builder.path("runs");
    let hook = with(
        sh_hook(
            "ci",
            &format!("echo \"$1\" >> {}", log.display()),
            &[json!({"source": "header", "name": "X-Delivery"})],
        ),
        json!({"delivery-id-header": "X-Delivery"}),
    );
    let mut server = builder.hooks([hook]).start().await;
    let rounds = 200;
    for round in 0..rounds {
        let delivery = format!("d-{round}");
        let copies = (0..5).map(|_| {
            server
                .post("/hooks/ci")
                .header("x-delivery", &delivery)
                .send()
        });
        let answers = join_all(copies).await;
        let ids: Vec<String> = answers
            .iter()
            .map(|r| {
                let r = r.as_ref().expect("request");
                assert_eq!(r.status(), 200);
                job_id(r)
            })
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "round {round}: {ids:?}");
    }
    // Requests without the header are not deliveries: each runs.
    for _ in 0..3 {
        assert_eq!(server.post("/hooks/ci").send().await.unwrap().status(), 200);
    }
    crate::fixture::eventually(
        std::time::Duration::from_secs(20),
        "all runs logged",
        || lines(&log).len() >= rounds + 3,
    )
    .await;
    server.stop().await;
    let mut got = lines(&log);
    assert_eq!(got.len(), rounds + 3, "each delivery ran once");
    got.retain(|l| !l.is_empty());
    got.sort();
    got.dedup();
    assert_eq!(got.len(), rounds, "every delivery ran");
}

/// A distribution registry notification (the envelope `registry:2` sends), with event id `id`.
fn envelope(id: &str, tag: &str) -> Value {
    json!({"events": [{
        "id": id,
        "timestamp": "2026-03-01T10:00:00Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "repository": "shop/web",
            "tag": tag,
            "digest": format!("sha256:{}", "ab".repeat(32)),
        },
        "request": {"host": "registry.test:5000"}
    }]})
}

#[tokio::test]
async fn registry_retries_are_answered_with_the_first_job() {
    let builder = TestServer::builder();
    let log = builder.path("deploys");
    let hook = with(
        sh_hook(
            "registry",
            &format!("echo \"$1\" >> {}", log.display()),
            &[json!({"source": "event", "name": "image"})],
        ),
        json!({"registry-event": "distribution"}),
    );
    let mut server = builder.hooks([hook]).start().await;
    let mut first_ids = Vec::new();
    for round in 0..50 {
        let body = envelope(&format!("ev-{round}"), &format!("v{round}"));
        let copies = (0..3).map(|_| server.post("/hooks/registry").json(&body).send());
        let ids: Vec<String> = join_all(copies)
            .await
            .iter()
            .map(|r| job_id(r.as_ref().expect("request")))
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        first_ids.push(ids[0].clone());
    }
    // A retry long after (sequential) gets the same job too.
    let resp = server
        .post("/hooks/registry")
        .json(&envelope("ev-7", "v7"))
        .send()
        .await
        .unwrap();
    assert_eq!(job_id(&resp), first_ids[7]);
    crate::fixture::eventually(
        std::time::Duration::from_secs(20),
        "all deploys logged",
        || lines(&log).len() >= 50,
    )
    .await;
    server.stop().await;
    assert_eq!(lines(&log).len(), 50, "each pushed image deployed once");
}
