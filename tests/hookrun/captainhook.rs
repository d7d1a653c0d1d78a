//! `-captainhook DIR`: a bketelsen/captainhook config folder served as captainhook serves it,
//! with the run books of seed 003 (an `endpoint.json` echoing hello; a deploy run book like its
//! `update.json`), answers byte for byte as captainhook's handler writes them.

use std::time::{Duration, Instant};

use crate::fixture::{client, Fixture};

/// Seed 003's first run book, as the article writes it.
const ENDPOINT: &str = r#"{
    "scripts": [
        {
            "command": "echo",
            "args": [
               "hello"
            ]
        }
    ]
}"#;

/// A folder with seed 003's `endpoint.json`, a run book whose first script fails and whose
/// second echoes the body, one that records the order its scripts ran in, and a file that is
/// not a run book.
fn folder(order_file: &std::path::Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("captainhook");
    std::fs::create_dir(&books).unwrap();
    std::fs::write(books.join("endpoint.json"), ENDPOINT).unwrap();
    std::fs::write(
        books.join("post.json"),
        r#"{"scripts":[{"command":"false"},{"command":"echo","args":["{{POST}}"]},
            {"command":"/nonexistent/script"}]}"#,
    )
    .unwrap();
    let order = order_file.display().to_string();
    let book = serde_json::json!({"scripts": [
        {"command": "sh", "args": ["-c", "sleep 0.2; echo first >> \"$0\"", order]},
        {"command": "sh", "args": ["-c", "echo second >> \"$0\"; echo done >&2", order]},
    ]});
    std::fs::write(books.join("update.json"), book.to_string()).unwrap();
    std::fs::write(books.join("README.txt"), "not a run book").unwrap();
    dir
}

fn start(dir: tempfile::TempDir, extra: &[&str]) -> Fixture {
    let mut args = vec!["-captainhook", "captainhook"];
    args.extend_from_slice(extra);
    Fixture::start_in(dir, &args)
}

#[tokio::test]
async fn echo_answers_as_captainhook_does() {
    let scratch = tempfile::tempdir().unwrap();
    let order = scratch.path().join("order");
    let fx = start(folder(&order), &["-echo"]);
    let http = client();

    let resp = http.post(fx.url("/endpoint")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; charset=utf-8",
        "Go sniffs the JSON text"
    );
    assert_eq!(
        resp.text().await.unwrap(),
        "{\n  \"results\": [\n    {\n      \"stdout\": \"hello\\n\",\n      \"stderr\": \"\",\n      \"status_code\": 0\n    }\n  ]\n}"
    );

    // A failing script does not stop the next; {{POST}} is the body; a script that cannot
    // start is -1 with no output; still 200.
    let resp = http
        .post(fx.url("/post"))
        .body(r#"{"test": "<&>"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        "{\n  \"results\": [\n    {\n      \"stdout\": \"\",\n      \"stderr\": \"\",\n      \"status_code\": -1\n    },\n    {\n      \"stdout\": \"{\\\"test\\\": \\\"\\u003c\\u0026\\u003e\\\"}\\n\",\n      \"stderr\": \"\",\n      \"status_code\": 0\n    },\n    {\n      \"stdout\": \"\",\n      \"stderr\": \"\",\n      \"status_code\": -1\n    }\n  ]\n}"
    );
    // Without a body the mark stays, as captainhook leaves it.
    let text = http
        .post(fx.url("/post"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"stdout\": \"{{POST}}\\n\""), "{text}");

    // Scripts run one after the other, stderr apart from stdout.
    let text = http
        .post(fx.url("/update"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"stderr\": \"done\\n\""), "{text}");
    assert_eq!(std::fs::read_to_string(&order).unwrap(), "first\nsecond\n");
}

#[tokio::test]
async fn other_requests_get_captainhooks_answers() {
    let scratch = tempfile::tempdir().unwrap();
    let fx = start(folder(&scratch.path().join("order")), &[]);
    let http = client();

    // Without -echo: 200 and nothing else.
    let resp = http.post(fx.url("/endpoint")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "");

    let resp = http.get(fx.url("/endpoint")).send().await.unwrap();
    assert_eq!(resp.status(), 405, "POST only");
    assert_eq!(resp.text().await.unwrap(), "");

    let resp = http.post(fx.url("/missing")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        resp.text().await.unwrap(),
        "cannot read run book captainhook/missing.json: open captainhook/missing.json: no such file or directory\n"
    );
    // README.txt is not a run book.
    let resp = http.post(fx.url("/README.txt")).send().await.unwrap();
    assert_eq!(resp.status(), 500);

    for path in ["/", "/a/b"] {
        let resp = http.post(fx.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(resp.text().await.unwrap(), "404 page not found\n");
    }
    // The hooks prefix is not captainhook's.
    let resp = http.post(fx.url("/hooks/endpoint")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

/// A run book added to the folder is served after the reload, like any hooks file; a broken
/// one keeps what is served.
#[tokio::test]
async fn run_books_reload_like_hooks() {
    let scratch = tempfile::tempdir().unwrap();
    let fx = start(
        folder(&scratch.path().join("order")),
        &["-hotreload", "-echo"],
    );
    let http = client();
    let books = fx.path("captainhook");
    std::fs::write(books.join("broken.json"), "{\"scripts\": [").unwrap();
    std::fs::write(
        books.join("later.json"),
        r#"{"scripts":[{"command":"echo","args":["later"]}]}"#,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resp = http.post(fx.url("/later")).send().await.unwrap();
    assert_eq!(resp.status(), 500, "served despite a broken run book");
    std::fs::remove_file(books.join("broken.json")).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = http.post(fx.url("/later")).send().await.unwrap();
        if resp.status() == 200 {
            assert!(resp
                .text()
                .await
                .unwrap()
                .contains("\"stdout\": \"later\\n\""));
            break;
        }
        assert!(Instant::now() < end, "the new run book was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fx.log().contains("broken.json"), "{}", fx.log());
}

/// The job of a run book is an ordinary job: it has a record with the answer as its output,
/// and the command timeout stops every script.
#[tokio::test]
async fn run_books_are_jobs_with_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("captainhook");
    std::fs::create_dir(&books).unwrap();
    std::fs::write(
        books.join("slow.json"),
        r#"{"scripts":[{"command":"sleep","args":["30"]},{"command":"echo","args":["never"]}]}"#,
    )
    .unwrap();
    let fx = Fixture::start_in(
        dir,
        &["-captainhook", "captainhook", "-command-timeout", "1s"],
    );
    let started = Instant::now();
    let resp = client().post(fx.url("/slow")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let job = crate::fixture::job_id(&resp);
    let record = fx.wait_done(&job, Duration::from_secs(10)).await;
    assert_eq!(record["state"], "timed_out", "{record:#}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// `allowedNetworks`: a request from elsewhere gets captainhook's 401 and runs nothing.
#[tokio::test]
async fn allowed_networks_limit_who_may_call() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("captainhook");
    std::fs::create_dir(&books).unwrap();
    let book = |net: &str| {
        format!(
            r#"{{"scripts":[{{"command":"echo","args":["ran"]}}],"allowedNetworks":["{net}"]}}"#
        )
    };
    std::fs::write(books.join("elsewhere.json"), book("10.0.0.0/8")).unwrap();
    std::fs::write(books.join("local.json"), book("127.0.0.1/32")).unwrap();
    let fx = Fixture::start_in(dir, &["-captainhook", "captainhook", "-echo"]);
    let http = client();
    let resp = http.post(fx.url("/elsewhere")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("hookrun-job-id").is_none());
    let resp = http.post(fx.url("/local")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("\"stdout\": \"ran\\n\""));
}
