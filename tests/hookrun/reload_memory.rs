//! What a reload leaves mapped: the hooks file's reader runs again on each reload (SIGHUP or a
//! `-hotreload` rewrite, applied or refused), and the reloader lets go of its code once done
//! (`hookrun::clean_pages`, `hookrun::reload`); a server reloading under request load keeps
//! answering every request.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::clean_pages::resident_function_pages;
use crate::common::{start, Server};
use crate::fixture::{client, eventually, write_json};

/// Functions that read and compile a hooks file: at start-up and on each reload, never while
/// serving.
const READER: &[&str] = &[
    "6config10hooks_file10load_bytes17h",
    "6config10hooks_file14load_json_list17h",
    "6config7loading4load17h",
];

const REJECTED: &str = "Hook rules were not satisfied.";

/// A hook whose rule refuses `?t=no`, and one more hook named `extra`.
fn hooks(extra: &str) -> Value {
    json!([
        {"id": "gated", "execute-command": "/bin/true",
         "trigger-rule": {"match": {"type": "value", "value": "go",
             "parameter": {"source": "url", "name": "t"}}}},
        {"id": extra, "execute-command": "/bin/true"},
    ])
}

/// Log lines of finished reloads, applied or refused.
fn reloads_done(server: &Server) -> usize {
    let log = server.log_text();
    log.matches("hooks reloaded").count() + log.matches("reload rejected").count()
}

fn releases_logged(server: &Server) -> usize {
    let log = server.log_text();
    log.matches("released the reload's file pages").count()
}

/// Waits for the `n`th reload to finish, then for the reader's code to leave the page tables
/// (the reload ran it, so it was mapped again).
async fn reader_released_after(server: &Server, n: usize, what: &str) {
    eventually(Duration::from_secs(10), what, || reloads_done(server) >= n).await;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_hookrun"));
    let pid = server.child.id();
    let mut last = (0, 0);
    let released = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            last = resident_function_pages(pid, &binary, READER);
            // Most, not all: a page the reader shares with code that serves is mapped back.
            if last.0 * 2 < last.1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        released.is_ok(),
        "after {what}, {} of the {} pages of {READER:?} stay resident: {}",
        last.0,
        last.1,
        server.log_text()
    );
}

async fn answers_rejected(server: &Server) {
    let resp = client()
        .get(server.url("/hooks/gated?t=no"))
        .send()
        .await
        .expect("a request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), REJECTED);
}

#[tokio::test]
async fn reloads_release_the_readers_code_again() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("hooks.json");
    write_json(&file, &hooks("one"));
    let server = start(
        &PathBuf::from(env!("CARGO_BIN_EXE_hookrun")),
        &["-hooks", "hooks.json", "-debug"],
        dir.path(),
        &[],
    );
    reader_released_after(&server, 0, "start-up").await;
    write_json(&file, &hooks("two"));
    server.signal("HUP");
    reader_released_after(&server, 1, "an applied reload").await;
    // A broken file keeps the old hooks, but the reader ran on it.
    std::fs::write(&file, "[{\"id\": \"three\", ").expect("writing");
    server.signal("HUP");
    reader_released_after(&server, 2, "a refused reload").await;
    answers_rejected(&server).await;
    let log = server.log_text();
    assert_eq!(log.matches("reload rejected").count(), 1, "{log}");
    // The debug line follows the release.
    eventually(Duration::from_secs(5), "a debug line per release", || {
        releases_logged(&server) == 2
    })
    .await;

    // -hotreload: a rewrite (an editor's save, by rename) reloads on the watcher's side.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("hooks.json");
    write_json(&file, &hooks("one"));
    let server = start(
        &PathBuf::from(env!("CARGO_BIN_EXE_hookrun")),
        &["-hooks", "hooks.json", "-hotreload", "-debug"],
        dir.path(),
        &[],
    );
    reader_released_after(&server, 0, "start-up").await;
    // Setting the watch up ends with a look at the files, and a release.
    eventually(
        Duration::from_secs(5),
        "the watcher's first release",
        || releases_logged(&server) == 1,
    )
    .await;
    write_json(&dir.path().join("hooks.json.tmp"), &hooks("two"));
    std::fs::rename(dir.path().join("hooks.json.tmp"), &file).expect("rename");
    reader_released_after(&server, 1, "a file rewrite").await;
    answers_rejected(&server).await;
    eventually(
        Duration::from_secs(5),
        "a release after the rewrite",
        || releases_logged(&server) == 2,
    )
    .await;
}

/// Requests a reload has to wait for between two reloads, from each of the clients.
const REQUESTS_PER_RELOAD: usize = 10;
const RELOADS: usize = 30;
const CLIENTS: usize = 4;

#[tokio::test]
async fn a_server_reloading_under_load_answers_every_request() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("hooks.json");
    write_json(&file, &hooks("v0"));
    let server = Arc::new(start(
        &PathBuf::from(env!("CARGO_BIN_EXE_hookrun")),
        &["-hooks", "hooks.json", "-debug"],
        dir.path(),
        &[],
    ));
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (server, answered, stop) = (server.clone(), answered.clone(), stop.clone());
            tokio::spawn(async move {
                let http = client();
                while !stop.load(Ordering::SeqCst) {
                    let resp = http
                        .get(server.url("/hooks/gated?t=no"))
                        .send()
                        .await
                        .expect("an answer during reloads");
                    assert_eq!(resp.status(), 200);
                    assert_eq!(resp.text().await.expect("body"), REJECTED);
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    for n in 1..=RELOADS {
        let before = answered.load(Ordering::SeqCst);
        eventually(Duration::from_secs(10), "requests between reloads", || {
            answered.load(Ordering::SeqCst) >= before + REQUESTS_PER_RELOAD
        })
        .await;
        // Every third file is broken: the old hooks keep answering.
        match n % 3 {
            0 => std::fs::write(&file, "[{\"id\": ").expect("writing"),
            _ => write_json(&file, &hooks(&format!("v{n}"))),
        }
        server.signal("HUP");
        eventually(Duration::from_secs(10), "the reload", || {
            reloads_done(&server) >= n
        })
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("a client that got every answer");
    }

    let total = answered.load(Ordering::SeqCst);
    assert!(total >= RELOADS * REQUESTS_PER_RELOAD, "{total} answers");
    let log = server.log_text();
    assert_eq!(log.matches("reload rejected").count(), RELOADS / 3, "{log}");
    eventually(
        Duration::from_secs(5),
        "a release after each reload",
        || releases_logged(&server) == RELOADS,
    )
    .await;
    let last = format!("/hooks/v{}", RELOADS - 1);
    let resp = client().post(server.url(&last)).send().await.expect("POST");
    assert_eq!(resp.status(), 200, "{last}");
    answers_rejected(&server).await;
}
