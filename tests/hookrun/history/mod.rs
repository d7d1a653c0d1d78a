//! Job history, deploys, rerun/rollback/pause, delivery dedup and the admin side: in-process
//! servers (`admin`, `deploys`, `dedup`) and the built binary (`restart`: the store across
//! restarts and `kill -9`).

mod admin;
mod dedup;
mod deploys;
mod restart;

use serde_json::{json, Value};

use crate::harness::TestServer;

/// The admin token the tests configure.
pub const TOKEN: &str = "test-admin-token-0123456789";

/// A `Bearer` header value for [`TOKEN`].
pub fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// `GET path` as the admin, as JSON.
pub async fn admin_get(server: &TestServer, path: &str) -> Value {
    let resp = server
        .get(path)
        .header("authorization", bearer())
        .send()
        .await
        .expect("admin GET");
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json().await.expect("admin JSON")
}

/// `POST path` as the admin with a JSON body; the response.
pub async fn admin_post(server: &TestServer, path: &str, body: Value) -> reqwest::Response {
    server
        .post(path)
        .header("authorization", bearer())
        .json(&body)
        .send()
        .await
        .expect("admin POST")
}

/// Waits until job `id` has ended (read through the server's job manager or store).
pub async fn wait_ended(server: &TestServer, id: &str) -> Value {
    for _ in 0..400 {
        let resp = server.get(&format!("/jobs/{id}")).send().await.unwrap();
        if resp.status() == 200 {
            let job: Value = resp.json().await.unwrap();
            if !matches!(job["state"].as_str(), Some("queued" | "running")) {
                return job;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("job {id} did not end");
}

/// An empty JSON object.
pub fn empty() -> Value {
    json!({})
}
