//! The store across restarts of the real binary: finished jobs and deploys are still there
//! after a graceful restart; a job running when hookrun is killed with SIGKILL is
//! `interrupted` (when and why) after the next start; paused hooks stay paused.

use std::time::Duration;

use serde_json::{json, Value};

use super::TOKEN;
use crate::fixture::{job_id, read_pid, sh_hook, state, with, Fixture};

const ARGS: &[&str] = &[
    "-state",
    "state",
    "-admin-token-file",
    "admin-token",
    "-verbose",
];

fn start(hooks: &[Value]) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::write(dir.path().join("admin-token"), format!("{TOKEN}\n")).unwrap();
    crate::fixture::write_json(
        &dir.path().join("hooks.json"),
        &Value::Array(hooks.to_vec()),
    );
    let mut args = vec!["-hooks", "hooks.json"];
    args.extend_from_slice(ARGS);
    Fixture::start_in(dir, &args)
}

/// Stops the server (SIGTERM, or SIGKILL) and starts it again in the same folder.
async fn restart(mut fixture: Fixture, signal: &str) -> Fixture {
    fixture.signal(signal);
    assert!(
        fixture
            .exited_within(Duration::from_secs(20))
            .await
            .is_some(),
        "server did not exit"
    );
    let mut args = vec!["-hooks", "hooks.json"];
    args.extend_from_slice(ARGS);
    fixture.restart_in_place(&args);
    fixture
}

async fn admin_get(f: &Fixture, path: &str) -> Value {
    let resp = f
        .http
        .get(f.url(path))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn jobs_deploys_and_pauses_survive_a_restart() {
    let hook = sh_hook(
        "deploy",
        "echo deployed; printf 'target=container:web\\nimage_after=web:v1\\n' >> \"$HOOKRUN_RESULT\"",
        &[],
    );
    let f = start(&[hook, sh_hook("other", "true", &[])]);
    let id = f.trigger_job("deploy", json!({})).await;
    let before = f.wait_done(&id, Duration::from_secs(10)).await;
    assert_eq!(state(&before), "succeeded");
    let resp = f
        .http
        .post(f.url("/admin/hooks/other/pause"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(f.path("state/hookrun.db").exists());

    let f = restart(f, "TERM").await;
    let after = f.job(&id).await;
    assert_eq!(after["state"], "succeeded");
    assert_eq!(after["stdout"], "deployed\n");
    assert_eq!(after["result"]["target"], "container:web");
    assert_eq!(after["finished_at"], before["finished_at"]);
    let deploys = admin_get(&f, "/deploys/container:web").await;
    assert_eq!(deploys["deploys"][0]["job_id"], id.as_str());
    let listed = admin_get(&f, "/jobs").await;
    assert_eq!(listed["jobs"][0]["id"], id.as_str());
    let resp = f.post("/hooks/other").await;
    assert_eq!(resp.status(), 423, "the pause survived the restart");
    // The stored output streams too (ended at once).
    let out = f
        .get(&format!("/jobs/{id}/output"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(out, "deployed\n");
}

#[tokio::test]
async fn a_job_running_at_kill_9_is_interrupted_after_the_next_start() {
    let f = start(&[sh_hook(
        "slow",
        "echo $$ > pid; echo started; sleep 60",
        &[],
    )]);
    let resp = f.trigger("slow", json!({})).await;
    let id = job_id(&resp);
    let pgid = read_pid(&f.path("pid")).await;
    f.wait_job(&id, Duration::from_secs(10), |j| state(j) == "running")
        .await;
    // The "running" record is written in the background: give the writer a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let f = restart(f, "KILL").await;
    // The orphaned command is not hookrun's any more: end it.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let job = f.job(&id).await;
    assert_eq!(job["state"], "interrupted", "{job:#}");
    assert!(job["finished_at"].is_string(), "{job:#}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("while the job was running"),
        "{job:#}"
    );
    assert!(f.log().contains("interrupted"), "{}", f.log());
}

#[tokio::test]
async fn a_finished_job_is_committed_before_it_is_reported() {
    // Poll until the job is reported finished, then kill -9 at once: it must still be there.
    for _ in 0..5 {
        let f = start(&[with(sh_hook("quick", "echo hi", &[]), json!({}))]);
        let id = f.trigger_job("quick", json!({})).await;
        f.wait_done(&id, Duration::from_secs(10)).await;
        let f = restart(f, "KILL").await;
        assert_eq!(f.job(&id).await["state"], "succeeded");
    }
}

#[tokio::test]
async fn without_state_no_files_are_created() {
    let f = Fixture::start(&[sh_hook("h", "echo hi", &[])], &[]);
    let id = f.trigger_job("h", json!({})).await;
    f.wait_done(&id, Duration::from_secs(10)).await;
    let mut names: Vec<String> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("server-")) // the test's own log of the server
        .collect();
    names.sort();
    assert_eq!(names, ["hooks.json"]);
}
