//! `/jobs/{id}`: every state a job can be in, ids on every triggered response, 404 for unknown
//! and expired ids, and no collision with hooks under `-urlprefix ""` or `jobs`.

use std::time::Duration;

use serde_json::json;

use crate::fixture::{job_id, sh_hook, state, with, Fixture};

#[tokio::test]
async fn jobs_endpoint_shows_every_state() {
    let exit_arg = json!({"source": "payload", "name": "code"});
    let latest = with(
        sh_hook(
            "lat",
            "echo out; echo err >&2; sleep 0.6; exit \"$1\"",
            &[exit_arg],
        ),
        json!({"concurrency": "latest"}),
    );
    let slow = with(
        sh_hook("slow", "sleep 5", &[]),
        json!({"command-timeout": "300ms"}),
    );
    let f = Fixture::start(&[latest, slow], &["-kill-grace", "200ms"]);
    let a = f.trigger_job("lat", json!({"code": 0})).await;
    let b = f.trigger_job("lat", json!({"code": 0})).await;
    let timed = f.trigger_job("slow", json!({})).await;
    f.wait_job(&a, Duration::from_secs(2), |j| state(j) == "running")
        .await;
    let queued = f.job(&b).await;
    assert_eq!(state(&queued), "queued", "{queued:#}");
    assert_eq!(queued["started_at"], serde_json::Value::Null);
    let c = f.trigger_job("lat", json!({"code": 3})).await;
    let superseded = f.job(&b).await;
    assert_eq!(state(&superseded), "superseded", "{superseded:#}");
    assert_eq!(superseded["error"], "superseded by a newer request");
    assert_eq!(state(&f.job(&c).await), "queued");

    let ok = f.wait_done(&a, Duration::from_secs(3)).await;
    assert_eq!(state(&ok), "succeeded", "{ok:#}");
    assert_eq!(ok["exit_code"], 0);
    assert_eq!(ok["output"], "out\nerr\n");
    assert_eq!(ok["stdout"], ok["output"], "the name earlier versions read");
    assert_eq!(ok["hook"], "lat");
    for key in ["queued_at", "started_at", "finished_at"] {
        assert!(ok[key].is_string(), "{key} in {ok:#}");
    }
    assert!(ok["duration_ms"].as_u64().expect("duration") >= 500);
    let failed = f.wait_done(&c, Duration::from_secs(3)).await;
    assert_eq!(state(&failed), "failed", "{failed:#}");
    assert_eq!(failed["exit_code"], 3);
    let t = f.wait_done(&timed, Duration::from_secs(3)).await;
    assert_eq!(state(&t), "timed_out", "{t:#}");
}

#[tokio::test]
async fn every_triggered_response_carries_the_job_id() {
    let hooks = [
        sh_hook("forget", "true", &[]),
        with(
            sh_hook("wait", "echo hi", &[]),
            json!({"include-command-output-in-response": true}),
        ),
        with(
            sh_hook("fails", "exit 1", &[]),
            json!({"include-command-output-in-response": true}),
        ),
        with(
            sh_hook("stream", "echo hi", &[]),
            json!({"stream-command-output": true}),
        ),
        with(
            sh_hook("guarded", "true", &[]),
            json!({"trigger-rule": {"match": {"type": "value", "value": "x",
                "parameter": {"source": "payload", "name": "k"}}}}),
        ),
    ];
    let f = Fixture::start(&hooks, &[]);
    for (hook, status) in [
        ("forget", 200),
        ("wait", 200),
        ("fails", 500),
        ("stream", 200),
    ] {
        let resp = f.trigger(hook, json!({})).await;
        assert_eq!(resp.status(), status, "{hook}");
        let id = job_id(&resp);
        let _ = resp.bytes().await;
        assert_eq!(f.job(&id).await["hook"], hook);
    }
    let resp = f.trigger("guarded", json!({"k": "x"})).await;
    job_id(&resp);
    let resp = f.trigger("guarded", json!({"k": "no"})).await;
    assert!(resp.headers().get("hookrun-job-id").is_none());
}

#[tokio::test]
async fn unknown_and_expired_job_ids_are_404() {
    let f = Fixture::start(&[sh_hook("quick", "true", &[])], &["-job-history", "1"]);
    let first = f.trigger_job("quick", json!({})).await;
    f.wait_done(&first, Duration::from_secs(3)).await;
    let second = f.trigger_job("quick", json!({})).await;
    f.wait_done(&second, Duration::from_secs(3)).await;
    let unknown = "0123456789abcdef0123456789abcdef".to_string();
    for id in [first, unknown] {
        for path in [format!("/jobs/{id}"), format!("/jobs/{id}/output")] {
            let resp = f.http.get(f.url(&path)).send().await.expect("GET");
            assert_eq!(resp.status(), 404, "{path}");
            assert_eq!(resp.text().await.expect("body"), "Job not found.\n");
        }
    }
    assert_eq!(state(&f.job(&second).await), "succeeded");
}

#[tokio::test]
async fn jobs_paths_do_not_collide_with_hooks_without_a_prefix() {
    let hooks = [
        sh_hook("jobs", "true", &[]),
        sh_hook("deploy", "true", &[]),
        sh_hook("jobs/deploy", "true", &[]),
    ];
    let f = Fixture::start(&hooks, &["-urlprefix", ""]);
    let mut ids = Vec::new();
    for path in ["/jobs", "/deploy", "/jobs/deploy"] {
        let resp = f.http.post(f.url(path)).send().await.expect("POST");
        assert_eq!(resp.status(), 200, "{path}");
        ids.push((path, job_id(&resp)));
    }
    for (path, id) in ids {
        let job = f.wait_done(&id, Duration::from_secs(3)).await;
        assert_eq!(format!("/{}", job["hook"].as_str().expect("hook")), path);
    }
}

#[tokio::test]
async fn jobs_paths_do_not_collide_with_hooks_under_the_jobs_prefix() {
    let hooks = [sh_hook("deploy", "echo deployed", &[])];
    let f = Fixture::start(&hooks, &["-urlprefix", "jobs"]);
    let resp = f.post("/jobs/deploy").await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let job = f.wait_done(&id, Duration::from_secs(3)).await;
    assert_eq!(job["hook"], "deploy");
    let out = f
        .http
        .get(f.url(&format!("/jobs/{id}/output")))
        .send()
        .await;
    assert_eq!(out.expect("GET").text().await.expect("body"), "deployed\n");
    let missing = f.post("/hooks/deploy").await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn job_output_can_be_hidden_from_the_jobs_endpoints() {
    let hook = sh_hook("secretive", "echo DB_PASSWORD=hunter2", &[]);
    let f = Fixture::start(&[hook], &["-job-output=false"]);
    let id = f.trigger_job("secretive", json!({})).await;
    let done = f.wait_done(&id, Duration::from_secs(5)).await;
    assert_eq!(state(&done), "succeeded", "{done:#}");
    assert!(
        done.get("output").is_none() && done.get("stdout").is_none(),
        "{done:#}"
    );
    let resp = reqwest::get(f.url(&format!("/jobs/{id}/output")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(!resp.text().await.unwrap().contains("hunter2"));
}
