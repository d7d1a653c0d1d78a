//! Deploy records from `HOOKRUN_RESULT`, `GET /deploys`, rerun, rollback to the previous good
//! image or to a chosen deploy, and pausing a hook so the next push does not undo it.

use serde_json::{json, Value};

use super::{admin_get, admin_post, empty, wait_ended, TOKEN};
use crate::fixture::{job_id, sh_hook, with};
use crate::harness::TestServer;

/// A deploy script: records the image it replaces and deploys `$1`; with `$2 = bad` the new
/// image "does not come up" and the script rolls back by itself (exit 1, `rolled_back`).
const DEPLOY: &str = r#"
state="$3"; img="$1"
before=$(cat "$state" 2>/dev/null || echo none)
echo "deploying $img over $before"
printf 'target=swarm:web\nimage_before=%s\nimage_after=%s\n' "$before" "$img" >> "$HOOKRUN_RESULT"
if [ "$2" = bad ]; then
  printf 'rolled_back=true\nstatus=rolled_back\nmessage=%s did not converge\n' "$img" >> "$HOOKRUN_RESULT"
  exit 1
fi
printf 'status=deployed\n' >> "$HOOKRUN_RESULT"
echo "$img" > "$state"
"#;

fn deploy_hook(server_dir: &std::path::Path) -> Value {
    let state = server_dir.join("running-image");
    with(
        sh_hook(
            "deploy",
            DEPLOY,
            &[
                json!({"source": "payload", "name": "image"}),
                json!({"source": "payload", "name": "mode"}),
                json!({"source": "string", "name": state.display().to_string()}),
            ],
        ),
        json!({"concurrency": "serial"}),
    )
}

async fn deploy(server: &TestServer, image: &str, mode: &str) -> Value {
    let resp = server
        .trigger("deploy", json!({"image": image, "mode": mode}))
        .await;
    assert_eq!(resp.status(), 200);
    wait_ended(server, &job_id(&resp)).await
}

fn running(server: &TestServer) -> String {
    std::fs::read_to_string(server.path("running-image"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::test]
async fn deploys_are_recorded_and_a_target_rolls_back_to_its_previous_good_image() {
    let builder = TestServer::builder().admin_token(TOKEN);
    let hook = deploy_hook(&builder.path(""));
    let mut server = builder.hooks([hook]).start().await;

    let v1 = deploy(&server, "web:v1", "good").await;
    deploy(&server, "web:v2", "good").await;
    let v3 = deploy(&server, "web:v3", "bad").await;
    assert_eq!(v3["state"], "failed");
    assert_eq!(running(&server), "web:v2");

    let list = admin_get(&server, "/deploys/swarm:web").await;
    let deploys = list["deploys"].as_array().unwrap();
    assert_eq!(deploys.len(), 3);
    assert_eq!(deploys[0]["image_after"], "web:v3");
    assert_eq!(deploys[0]["rolled_back"], true);
    assert_eq!(deploys[0]["message"], "web:v3 did not converge");
    assert_eq!(deploys[1]["image_before"], "web:v1");
    assert_eq!(deploys[1]["image_after"], "web:v2");
    let targets = admin_get(&server, "/deploys").await;
    assert_eq!(targets["targets"][0]["target"], "swarm:web");
    assert_eq!(targets["targets"][0]["current_image"], "web:v2");

    // "Roll back" without a choice: the newest good deploy of another image than v2's.
    let resp = admin_post(&server, "/deploys/swarm:web/rollback", empty()).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    let rollback = body["job"].as_str().unwrap().to_string();
    let job = wait_ended(&server, &rollback).await;
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["trigger"]["kind"], "rollback");
    assert_eq!(job["trigger"]["of"], v1["id"]);
    assert_eq!(running(&server), "web:v1");
    let list = admin_get(&server, "/deploys/swarm:web").await;
    assert_eq!(list["deploys"][0]["job_id"], rollback.as_str());
    assert_eq!(list["deploys"][0]["rollback_of"], v1["id"]);
    assert_eq!(list["deploys"][0]["image_after"], "web:v1");

    // Roll back to a chosen deploy; a failed one cannot be chosen.
    let resp = admin_post(
        &server,
        "/deploys/swarm:web/rollback",
        json!({"to": v3["id"]}),
    )
    .await;
    assert_eq!(resp.status(), 409);
    let resp = admin_post(&server, "/deploys/swarm:nothing/rollback", empty()).await;
    assert_eq!(resp.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_rerun_runs_the_same_command_with_the_same_environment_and_files() {
    let hook = with(
        sh_hook(
            "env",
            r#"printf '%s|%s|%s|' "$1" "$SECRET_ENV" "$(cat "$PAYLOAD_FILE")"; echo "$HOOKRUN_JOB_ID""#,
            &[json!({"source": "payload", "name": "arg"})],
        ),
        json!({
            "pass-environment-to-command": [{"source": "payload", "name": "secret", "envname": "SECRET_ENV"}],
            "pass-file-to-command": [{"source": "payload", "name": "file", "envname": "PAYLOAD_FILE"}],
            "include-command-output-in-response": true
        }),
    );
    let mut server = TestServer::builder()
        .admin_token(TOKEN)
        .hooks([hook])
        .start()
        .await;
    let resp = server
        .trigger(
            "env",
            json!({"arg": "a b", "secret": "hunter2", "file": "contents"}),
        )
        .await;
    let first = job_id(&resp);
    assert_eq!(
        resp.text().await.unwrap(),
        format!("a b|hunter2|contents|{first}\n")
    );

    let resp = admin_post(&server, &format!("/jobs/{first}/rerun"), empty()).await;
    assert_eq!(resp.status(), 202);
    let again = resp.headers()["hookrun-job-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(again, first);
    let job = wait_ended(&server, &again).await;
    assert_eq!(job["stdout"], format!("a b|hunter2|contents|{again}\n"));
    assert_eq!(job["trigger"], json!({"kind": "rerun", "of": first}));
    // The kept command is never shown: not in the job, not in listings.
    for text in [
        server
            .get(&format!("/jobs/{first}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        admin_get(&server, "/jobs").await.to_string(),
    ] {
        assert!(
            !text.contains("SECRET_ENV") && !text.contains("PAYLOAD_FILE"),
            "{text}"
        );
    }
    let resp = admin_post(
        &server,
        "/jobs/ffffffffffffffffffffffffffffffff/rerun",
        empty(),
    )
    .await;
    assert_eq!(resp.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_paused_hook_runs_nothing_until_resumed() {
    let builder = TestServer::builder().admin_token(TOKEN);
    let marker = builder.path("ran");
    let hook = with(
        sh_hook("push", &format!("echo run >> {}", marker.display()), &[]),
        json!({"trigger-rule": {"match": {"type": "value", "value": "s3cret", "parameter": {"source": "url", "name": "token"}}}}),
    );
    let mut server = builder.hooks([hook]).start().await;
    let resp = admin_post(
        &server,
        "/admin/hooks/push/pause",
        json!({"reason": "rolled back"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let hooks = admin_get(&server, "/admin/hooks").await;
    assert_eq!(hooks["hooks"][0]["paused"]["reason"], "rolled back");

    for _ in 0..20 {
        let resp = server
            .post("/hooks/push?token=s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 423);
        assert_eq!(resp.headers()["hookrun-paused"], "true");
        assert!(resp.headers().get("hookrun-job-id").is_none());
        assert!(resp.text().await.unwrap().contains("paused"));
    }
    // Without the hook's secret nothing tells that the hook is paused.
    let resp = server.post("/hooks/push?token=wrong").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "Hook rules were not satisfied.");
    assert!(!marker.exists(), "a paused hook ran");

    let resp = admin_post(&server, "/admin/hooks/push/resume", empty()).await;
    assert_eq!(resp.status(), 200);
    let resp = server
        .post("/hooks/push?token=s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_ended(&server, &job_id(&resp)).await;
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "run\n");
    let resp = admin_post(&server, "/admin/hooks/nope/pause", empty()).await;
    assert_eq!(resp.status(), 404);
    server.stop().await;
}
