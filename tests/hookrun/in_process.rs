//! The server inside the test process (`harness::TestServer`): how answers and their headers are
//! built, the job manager's ids, registry deliveries read push by push, one output stream for
//! hook responses and the jobs endpoint, reloads through the live hook set, and the drain.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use hookrun::jobs::JobState;

use crate::fixture::{job_id, sh_hook, with};
use crate::harness::TestServer;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn mismatch_uses_configured_status_and_only_server_headers() {
    let hook = with(
        sh_hook("guarded", "true", &[]),
        json!({
            "trigger-rule": {"match": {"type": "value", "value": "go", "parameter": {"source": "url", "name": "t"}}},
            "trigger-rule-mismatch-http-response-code": 418,
            "response-headers": [{"name": "X-Hook", "value": "h"}]
        }),
    );
    let mut server = TestServer::builder()
        .hooks([hook])
        .settings(|s| {
            s.response_headers = vec![("x-global".parse().unwrap(), "g".parse().unwrap())]
        })
        .start()
        .await;
    let resp = server.post("/hooks/guarded?t=no").send().await.unwrap();
    assert_eq!(resp.status(), 418);
    assert_eq!(header(&resp, "x-global"), Some("g"));
    assert_eq!(
        header(&resp, "x-hook"),
        None,
        "hook headers only once triggered"
    );
    assert_eq!(header(&resp, "hookrun-job-id"), None);
    assert_eq!(resp.text().await.unwrap(), "Hook rules were not satisfied.");
    server.stop().await;
}

#[tokio::test]
async fn the_job_manager_mints_the_id_the_command_and_the_client_see() {
    let hook = with(
        sh_hook(
            "who",
            "echo \"$HOOKRUN_HOOK_ID $HOOKRUN_JOB_ID $HOOKRUN_REQUEST_ID\"",
            &[],
        ),
        json!({"include-command-output-in-response": true,
               "response-headers": [{"name": "X-Hook", "value": "h"}]}),
    );
    let mut server = TestServer::builder().hooks([hook]).start().await;
    let resp = server
        .post("/hooks/who")
        .header("x-request-id", "ignored-without-the-flag")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-hook"), Some("h"));
    let id = job_id(&resp);
    let text = resp.text().await.unwrap();
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words[..2], ["who", id.as_str()], "{text:?}");
    let job = server.job(&id);
    assert_eq!(job.state(), JobState::Succeeded);
    assert_eq!(words[2], job.request_id);
    // A random request id: twelve lowercase hex digits.
    assert!(
        words[2].len() == 12
            && words[2]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{text:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failed_captured_run_keeps_the_hook_headers_and_the_job_id() {
    let hook = with(
        sh_hook("fails", "echo partial; exit 3", &[]),
        json!({"include-command-output-in-response": true,
               "include-command-output-in-response-on-error": true,
               "response-headers": [{"name": "Content-Type", "value": "application/x-log"}]}),
    );
    let mut server = TestServer::builder().hooks([hook]).start().await;
    let resp = server.post("/hooks/fails").send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(header(&resp, "content-type"), Some("application/x-log"));
    let id = job_id(&resp);
    assert_eq!(resp.text().await.unwrap(), "partial\n");
    let ending = server.job(&id).ending().expect("ended");
    assert_eq!(
        (ending.state, ending.exit_code),
        (JobState::Failed, Some(3))
    );
    server.stop().await;
}

#[tokio::test]
async fn hook_stream_and_jobs_endpoint_follow_the_same_output() {
    let script = "echo one; sleep 0.3; echo two; exit 4";
    let hook = with(
        sh_hook("stream", script, &[]),
        json!({"stream-command-output": true}),
    );
    let mut server = TestServer::builder().hooks([hook]).start().await;
    let resp = server.post("/hooks/stream").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let follower = server
        .get(&format!("/jobs/{id}/output"))
        .send()
        .await
        .unwrap();
    let (streamed, followed) = (resp.text().await.unwrap(), follower.text().await.unwrap());
    assert_eq!(followed, "one\ntwo\n");
    assert_eq!(
        streamed,
        format!("one\ntwo\n\nhookrun: job {id} failed with exit code 4\n")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_delivery_is_read_push_by_push_without_touching_the_request() {
    let events: Vec<Value> = ["v1", "v2", "v1-rc"]
        .iter()
        .map(|tag| {
            json!({"action": "push", "id": format!("ev-{tag}"),
                   "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                              "repository": "team/web", "tag": tag, "digest": DIGEST},
                   "request": {"host": "registry.test:5000"}})
        })
        .collect();
    let hook = with(
        sh_hook(
            "deploy",
            "echo \"$1 $HOOKRUN_TAG\"",
            &[json!({"source": "header", "name": "X-Env"})],
        ),
        json!({
            "registry-event": "distribution",
            "trigger-rule": {"and": [
                {"match": {"type": "regex", "regex": "^v[0-9]+$", "parameter": {"source": "event", "name": "tag"}}},
                {"match": {"type": "value", "value": "prod", "parameter": {"source": "header", "name": "X-Env"}}}
            ]}
        }),
    );
    let mut server = TestServer::builder().hooks([hook]).start().await;
    let resp = server
        .post("/hooks/deploy")
        .header("x-env", "prod")
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ids: Vec<String> = header(&resp, "hookrun-job-id")
        .expect("job ids")
        .split(", ")
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 2, "v1-rc fails the event rule: {ids:?}");
    let mut outputs = Vec::new();
    for id in &ids {
        let job = server.job(id);
        job.wait().await;
        outputs.push(String::from_utf8(job.output.snapshot().combined).unwrap());
    }
    assert_eq!(outputs, ["prod v1\n", "prod v2\n"]);
    // A delivery with nothing to deploy is a 2xx with the reason, so the sender does not retry.
    let resp = server
        .post("/hooks/deploy")
        .header("x-env", "prod")
        .json(&json!({"events": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "hookrun-job-id"), None);
    server.stop().await;
}

#[tokio::test]
async fn errors_go_through_one_map_with_fixed_texts() {
    let mut server = TestServer::builder()
        .hooks([sh_hook("a", "true", &[])])
        .settings(|s| s.job_output = false)
        .start()
        .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let job_path = "/jobs/0123456789abcdef0123456789abcdef";
    let cases: [(&str, &str, u16, &str); 6] = [
        ("GET", "/elsewhere", 404, "404 page not found\n"),
        ("POST", "/hooks/missing", 404, "Hook not found."),
        ("GET", job_path, 404, "Job not found.\n"),
        ("GET", "/hooks/%zz", 400, "400 Bad Request"),
        ("GET", "/hooks//a?x=1", 301, ""),
        ("GET", "/", 200, "OK"),
    ];
    for (method, path, status, text) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = no_redirects
            .request(method, server.url(path))
            .send()
            .await
            .unwrap();
        let location = resp.headers().get("location").cloned();
        assert_eq!(resp.status(), status, "{path}");
        assert_eq!(resp.text().await.unwrap(), text, "{path}");
        if status == 301 {
            assert_eq!(location.unwrap(), "/hooks/a?x=1");
        }
    }
    let id = job_id(&server.post("/hooks/a").send().await.unwrap());
    let hidden = server
        .get(&format!("/jobs/{id}/output"))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 403);
    server.stop().await;
}

#[tokio::test]
async fn reload_swaps_the_live_hook_set() {
    let mut server = TestServer::builder()
        .hooks([sh_hook("old", "true", &[])])
        .start()
        .await;
    let before = server.state.hooks.snapshot();
    let outcome = server.reload_with([sh_hook("new", "true", &[])]);
    assert_eq!(outcome, hookrun::reload::Outcome::Reloaded { hooks: 1 });
    assert!(before.get("old").is_some(), "a snapshot never changes");
    assert_eq!(
        server.post("/hooks/old").send().await.unwrap().status(),
        404
    );
    assert_eq!(
        server.post("/hooks/new").send().await.unwrap().status(),
        200
    );
    server.stop().await;
}

/// `-lenient`: a reload serves a hook with a broken rule as the reference does (500 once the rule
/// is reached, the other hooks unharmed), but a file that cannot be read keeps the old set.
#[tokio::test]
async fn lenient_reload_serves_broken_hooks_and_keeps_the_set_for_an_unreadable_file() {
    use hookrun::reload::Outcome;
    let mut server = TestServer::builder()
        .hooks([sh_hook("old", "true", &[])])
        .load_options(|o| o.lenient = true)
        .start()
        .await;
    let broken = with(
        sh_hook("broken", "echo ran", &[]),
        json!({"include-command-output-in-response": true,
               "trigger-rule": {"match": {"type": "regex", "regex": "(", "parameter": {"source": "url", "name": "x"}}}}),
    );
    let outcome = server.reload_with([sh_hook("good", "true", &[]), broken]);
    assert_eq!(outcome, Outcome::Reloaded { hooks: 2 });
    let status = |path: &'static str| {
        let req = server.post(path).send();
        async move { req.await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/hooks/good").await, 200);
    assert_eq!(
        status("/hooks/broken").await,
        200,
        "rule not reached: not satisfied"
    );
    let reached = server.post("/hooks/broken?x=1").send().await.unwrap();
    assert_eq!(reached.status(), 500);
    assert_eq!(
        reached.text().await.unwrap(),
        "Error occurred while evaluating hook rules."
    );
    std::fs::write(server.path("hooks.json"), "[{").unwrap();
    let reloader = hookrun::reload::Reloader::new(
        vec![server.path("hooks.json").display().to_string()],
        hookrun::config::LoadOptions {
            template: false,
            lenient: true,
            mail_server: false,
            captainhook: None,
        },
        server.state.hooks.clone(),
    );
    assert!(matches!(reloader.reload(true), Outcome::Rejected { .. }));
    assert_eq!(status("/hooks/good").await, 200, "the old set stays");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_refuses_new_work_and_returns_once_the_job_is_done() {
    let builder = TestServer::builder();
    let finished = builder.path("finished");
    let script = format!("sleep 0.5; echo done > '{}'", finished.display());
    let mut server = builder.hooks([sh_hook("slow", &script, &[])]).start().await;
    let id = job_id(&server.post("/hooks/slow").send().await.unwrap());
    let job = server.job(&id);
    let t0 = Instant::now();
    server.trigger_shutdown();
    // The listener closes at once: new connections are refused while the job finishes.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(server.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections were still accepted");
    server.stop_within(Duration::from_secs(5)).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(job.state(), JobState::Succeeded);
    assert!(finished.exists(), "the job ran to its end");
}

#[tokio::test]
async fn shutdown_closes_idle_connections_at_once_and_answers_the_request_in_progress() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answer = with(
        sh_hook("answer", "sleep 0.5; echo answered", &[]),
        json!({"include-command-output-in-response": true}),
    );
    let mut server = TestServer::builder()
        .hooks([sh_hook("slow", "sleep 1.5", &[]), answer])
        .start()
        .await;
    // A job that keeps the server draining for 1.5 s.
    server.post("/hooks/slow").send().await.unwrap();
    let host = server.addr;
    let mut idle = tokio::net::TcpStream::connect(host).await.unwrap();
    idle.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answered = Vec::new();
    while !answered.ends_with(b"OK") {
        let mut buf = [0; 512];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        answered.extend_from_slice(&buf[..n]);
    }
    let mut busy = tokio::net::TcpStream::connect(host).await.unwrap();
    busy.write_all(
        format!("POST /hooks/answer HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    server.trigger_shutdown();
    // The idle keep-alive connection is closed at once, long before the jobs end.
    let mut buf = [0; 512];
    let read = tokio::time::timeout(Duration::from_millis(400), idle.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "idle connection still open after {:?}: {read:?}",
        t0.elapsed()
    );
    // The request in progress gets its whole answer, then the connection closes.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), busy.read_to_end(&mut rest))
        .await
        .expect("the answer and the close come before the jobs' deadline")
        .unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.contains("answered\n"), "{rest}");
    server.stop_within(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn dispatch_answers_without_a_socket() {
    use http_body_util::BodyExt;
    let mut server = TestServer::builder()
        .hooks([with(
            sh_hook("echo", "true", &[]),
            json!({"response-message": "queued"}),
        )])
        .start()
        .await;
    let req = http::Request::post("/hooks/echo")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
        .unwrap();
    let resp = hookrun::server::dispatch(server.state.clone(), None, req).await;
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "queued");
    server.stop().await;
}

#[tokio::test]
async fn the_jobs_endpoint_shows_what_the_command_wrote_to_its_result_file() {
    let script = r#"printf 'target=swarm:web\nimage_before=nginx:1.26\nimage_after=nginx:1.27\nrolled_back=false\n' >> "$HOOKRUN_RESULT""#;
    let hook = with(
        sh_hook("deploy", script, &[]),
        json!({"include-command-output-in-response": true}),
    );
    let mut server = TestServer::builder().hooks([hook]).start().await;
    let resp = server.post("/hooks/deploy").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let view: Value = server
        .get(&format!("/jobs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["result"],
        json!({"target": "swarm:web", "image_before": "nginx:1.26",
               "image_after": "nginx:1.27", "rolled_back": "false"})
    );
    server.stop().await;
}
