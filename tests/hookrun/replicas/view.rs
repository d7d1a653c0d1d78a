//! One view from any replica (a job's record and its live output, job listings, deploys,
//! pauses), delivery dedup across replicas, and the connection itself: TLS checked, the
//! password from a file and never logged, refusals reported at once.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::StreamExt;
use serde_json::json;

use super::{lines, pg, start_replica, wait_lines, Replicas};
use crate::fixture::{job_id, sh_hook, state, with};
use crate::history::TOKEN;

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn any_replica_shows_jobs_their_live_output_deploys_and_pauses() {
    let r = Replicas::start(
        3,
        |_| {
            vec![
                with(
                    sh_hook(
                        "deploy",
                        "echo one; sleep 1.5; echo two; printf 'target=swarm:web\\nimage_after=web:v7\\n' >> \"$HOOKRUN_RESULT\"",
                        &[],
                    ),
                    json!({"concurrency": "serial"}),
                ),
                sh_hook("other", "echo other", &[]),
            ]
        },
        &[],
    )
    .await;
    let id = r.trigger(0, "deploy").await;
    // Replica 1 follows the output of the job replica 0 runs: "one" arrives before the end.
    let resp = r
        .http
        .get(r.replica(1).url(&format!("/jobs/{id}/output")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("following the output");
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    let mut one_at = None;
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("a chunk")));
        if one_at.is_none() && seen.contains("data: one") {
            one_at = Some(Instant::now());
            let job = r.job(2, &id).await;
            assert_eq!(
                state(&job),
                "running",
                "output arrived while it ran: {job:#}"
            );
        }
    }
    assert!(one_at.is_some(), "{seen}");
    assert!(seen.contains("data: two"), "{seen}");
    assert!(
        seen.ends_with("event: end\ndata: \"succeeded\"\n\n"),
        "{seen}"
    );
    // The record, from every replica.
    for i in 0..3 {
        let job = r.wait_done(i, &id, Duration::from_secs(10)).await;
        assert_eq!(state(&job), "succeeded");
        assert_eq!(job["stdout"], "one\ntwo\n");
        assert_eq!(job["replica"], r.replica_id(0).as_str());
    }
    // Listings and deploys.
    let listed = r.admin_get(2, "/jobs?hook=deploy").await;
    assert_eq!(listed["jobs"][0]["id"], id.as_str());
    let deploys = r.admin_get(1, "/deploys/swarm:web").await;
    assert_eq!(deploys["deploys"][0]["job_id"], id.as_str());
    assert_eq!(deploys["deploys"][0]["image_after"], "web:v7");
    let page = r
        .http
        .get(r.replica(2).url("/ui"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .expect("the dashboard");
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("swarm:web"),
        "the dashboard of replica 2 shows the deploy"
    );
    // A pause on one replica holds on the others, and so does the resume.
    let paused = r
        .http
        .post(r.replica(0).url("/admin/hooks/other/pause"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .expect("pausing");
    assert_eq!(paused.status(), 200);
    for i in 1..3 {
        wait_status(&r, i, "other", 423).await;
    }
    let resumed = r
        .http
        .post(r.replica(2).url("/admin/hooks/other/resume"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .expect("resuming");
    assert_eq!(resumed.status(), 200);
    wait_status(&r, 0, "other", 200).await;
}

/// Waits until `POST /hooks/{hook}` on replica `i` answers `status` (a change made on another
/// replica reaches this one through a notification: well within a second).
async fn wait_status(r: &Replicas, i: usize, hook: &str, status: u16) {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        let got = r.post(i, hook).await.status().as_u16();
        if got == status {
            return;
        }
        assert!(
            Instant::now() < end,
            "replica {i}: {hook} answers {got}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn one_delivery_sent_to_two_replicas_at_once_runs_once() {
    let r = Replicas::start(
        2,
        |dir| {
            ["parallel", "serial"]
                .iter()
                .map(|mode| {
                    with(
                        sh_hook(
                            mode,
                            &format!("echo \"$1\" >> {}", dir.join(mode).display()),
                            &[json!({"source": "header", "name": "X-Delivery"})],
                        ),
                        json!({"delivery-id-header": "X-Delivery", "concurrency": mode}),
                    )
                })
                .collect()
        },
        &[],
    )
    .await;
    let rounds = 100;
    for mode in ["parallel", "serial"] {
        for round in 0..rounds {
            let delivery = format!("{mode}-{round}");
            let copies = (0..2).map(|i| {
                r.http
                    .post(r.replica(i).url(&format!("/hooks/{mode}")))
                    .header("x-delivery", &delivery)
                    .send()
            });
            let ids: Vec<String> = join_all(copies)
                .await
                .iter()
                .map(|resp| {
                    let resp = resp.as_ref().expect("a copy");
                    assert_eq!(resp.status(), 200, "{delivery}");
                    job_id(resp)
                })
                .collect();
            assert_eq!(
                ids[0], ids[1],
                "{delivery}: both copies answered with one job"
            );
        }
        let runs = wait_lines(&r.path(mode), rounds, Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let runs = lines(&r.path(mode)).len().max(runs.len());
        assert_eq!(runs, rounds, "{mode}: each delivery ran once");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test starts one and runs these"]
async fn refusals_are_reported_at_once_and_the_password_never_shown() {
    let r = Replicas::start(1, |_| vec![sh_hook("h", "true", &[])], &[]).await;
    let pg = pg();
    // The server's certificate does not chain to the system's roots.
    let untrusted = r.url.replace(
        &format!("sslrootcert={}", pg.ca.display()),
        "sslrootcert=system",
    );
    // A wrong password: a refusal, reported at once rather than retried for 30 s.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    for (url, password_file, expect) in [
        (untrusted.as_str(), pg.password_file.clone(), "certificate"),
        (r.url.as_str(), wrong, "password authentication failed"),
    ] {
        let hooks = tempfile::tempdir().unwrap();
        crate::fixture::write_json(
            &hooks.path().join("hooks.json"),
            &json!([{"id": "h", "execute-command": "true"}]),
        );
        let started = Instant::now();
        let out = std::process::Command::new(crate::common::hookrun_bin())
            .current_dir(hooks.path())
            .args([
                "-hooks",
                "hooks.json",
                "-ip",
                "127.0.0.1",
                "-port",
                "0",
                "-state",
                url,
            ])
            .arg("-state-password-file")
            .arg(&password_file)
            .output()
            .expect("running hookrun");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(expect), "{text}");
        assert!(!text.contains(&pg.password), "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }
    // The password in the URL itself is taken, never shown.
    let with_password = r
        .url
        .replace("postgres@", &format!("postgres:{}@", pg.password));
    let replica = start_replica(&pg, &with_password, &[sh_hook("h", "echo hi", &[])], &[]);
    let resp = replica.post("/hooks/h").await;
    assert_eq!(resp.status(), 200);
    let log = replica.log();
    assert!(log.contains("postgres:***@"), "{log}");
    assert!(!log.contains(&pg.password), "{log}");
}
