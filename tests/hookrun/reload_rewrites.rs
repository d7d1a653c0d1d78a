//! Non-atomic rewrites of a hooks file while the server runs: the in-between states (empty,
//! whitespace, `null`, `[]`, `---`, a prefix) are refused by `-hotreload` and by SIGHUP and
//! logged at the default level, the file is read once it is complete, and no request ever sees
//! a hook missing. The races are repeated many times with random pauses.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixture::{eventually, sh_hook, write_json, Fixture};

/// What a rewrite leaves for a moment: each loads as zero hooks.
const IN_BETWEEN: &[&str] = &["", " \n\t\n", "null", "[]", "---\n"];

fn hooks(ids: &[&str]) -> Value {
    Value::Array(ids.iter().map(|id| sh_hook(id, "true", &[])).collect())
}

async fn status(f: &Fixture, hook: &str) -> u16 {
    f.post(&format!("/hooks/{hook}")).await.status().as_u16()
}

fn rejections(f: &Fixture) -> usize {
    f.log().matches("reload rejected").count()
}

/// Waits (up to `limit`) for one more rejection than `before`; returns how long it took.
async fn next_rejection(f: &Fixture, before: usize, limit: Duration) -> Duration {
    let start = Instant::now();
    eventually(limit, "a rejected reload in the log", || {
        rejections(f) > before
    })
    .await;
    start.elapsed()
}

async fn wait_status(f: &Fixture, hook: &str, want: u16) {
    let end = Instant::now() + Duration::from_secs(5);
    while status(f, hook).await != want {
        assert!(
            Instant::now() < end,
            "{hook} never answered {want}: {}",
            f.log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asserts the log explains the refusal of `hooks.json` with its two hooks, at ERROR.
fn assert_refusal_logged(f: &Fixture) {
    let log = f.log();
    let line = log
        .lines()
        .find(|l| l.contains("defines no hooks where it defined 2"))
        .unwrap_or_else(|| panic!("no refusal line: {log}"));
    assert!(
        line.contains("ERROR") && line.contains("hooks.json"),
        "{line}"
    );
}

#[tokio::test]
async fn hotreload_refuses_each_in_between_state_at_the_default_log_level() {
    // No -verbose: the refusal must show at the default level.
    let f = Fixture::start(&[sh_hook("stays", "true", &[])], &["-hotreload"]);
    write_json(&f.path("hooks.json"), &hooks(&["stays", "second"]));
    wait_status(&f, "second", 200).await;
    for round in 0..3 {
        for (i, state) in IN_BETWEEN.iter().enumerate() {
            let before = rejections(&f);
            std::fs::write(f.path("hooks.json"), state).expect("write");
            let took = next_rejection(&f, before, Duration::from_secs(5)).await;
            // The debounce: 250 ms of quiet, then a reload (polling adds up to 20 ms).
            assert!(
                took < Duration::from_secs(2),
                "{state:?}: refused after {took:?}"
            );
            assert_eq!(status(&f, "stays").await, 200, "{state:?}: {}", f.log());
            let fresh = format!("fresh-{round}-{i}");
            write_json(&f.path("hooks.json"), &hooks(&["stays", &fresh]));
            wait_status(&f, &fresh, 200).await;
        }
    }
    assert_refusal_logged(&f);
}

#[tokio::test]
async fn sighup_refuses_each_in_between_state() {
    let f = Fixture::start(&[sh_hook("stays", "true", &[])], &[]);
    write_json(&f.path("hooks.json"), &hooks(&["stays", "second"]));
    f.signal("HUP");
    wait_status(&f, "second", 200).await;
    for round in 0..3 {
        for (i, state) in IN_BETWEEN.iter().enumerate() {
            let before = rejections(&f);
            std::fs::write(f.path("hooks.json"), state).expect("write");
            f.signal("HUP");
            let took = next_rejection(&f, before, Duration::from_secs(5)).await;
            assert!(
                took < Duration::from_secs(1),
                "{state:?}: refused after {took:?}"
            );
            assert_eq!(status(&f, "stays").await, 200, "{state:?}: {}", f.log());
            let fresh = format!("fresh-{round}-{i}");
            write_json(&f.path("hooks.json"), &hooks(&["stays", &fresh]));
            f.signal("HUP");
            wait_status(&f, &fresh, 200).await;
        }
    }
    assert_refusal_logged(&f);
}

/// Requests `hooks` in a loop until `stop`, counting answers other than 200.
fn hammer(
    f: &Fixture,
    hooks: &[&str],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    let http = f.http.clone();
    let urls: Vec<(String, String)> = hooks
        .iter()
        .map(|h| (h.to_string(), f.url(&format!("/hooks/{h}"))))
        .collect();
    tokio::spawn(async move {
        let mut wrong = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            for (hook, url) in &urls {
                let code = http.post(url).send().await.map(|r| r.status().as_u16());
                if !matches!(code, Ok(200)) {
                    wrong.push(format!("{hook}: {code:?}"));
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        wrong
    })
}

/// The YAML of hooks `ids`, split after the first hook: the first part alone is a valid file
/// with one hook.
fn yaml_in_two(ids: &[&str]) -> (String, String) {
    let hook = |id: &str| format!("- id: {id}\n  execute-command: /bin/true\n");
    let head = hook(ids[0]);
    let tail: String = ids[1..].iter().map(|id| hook(id)).collect();
    (head, tail)
}

#[tokio::test]
async fn hotreload_reads_a_file_written_in_pauses_only_once_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (head, tail) = yaml_in_two(&["head", "tail"]);
    std::fs::write(dir.path().join("hooks.yaml"), format!("{head}{tail}")).expect("write");
    let f = Fixture::start_in(dir, &["-hooks", "hooks.yaml", "-hotreload", "-verbose"]);
    let stop = Arc::new(AtomicBool::new(false));
    let checker = hammer(&f, &["head", "tail"], stop.clone());
    let rewrites = 40;
    let applied_before = f.log().matches("hooks reloaded").count();
    for n in 0..rewrites {
        let extra = format!("extra-{n}");
        let (head, tail) = yaml_in_two(&["head", "tail", &extra]);
        // One open: truncate, write a valid prefix, pause (often past the 250 ms of quiet
        // and the 1 s cap), write the rest, close.
        let mut file = std::fs::File::create(f.path("hooks.yaml")).expect("create");
        file.write_all(head.as_bytes()).expect("write");
        file.flush().expect("flush");
        let pause = rand::random_range(0..if n % 4 == 0 { 1300 } else { 400 });
        tokio::time::sleep(Duration::from_millis(pause)).await;
        file.write_all(tail.as_bytes()).expect("write");
        drop(file);
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..50))).await;
    }
    wait_status(&f, &format!("extra-{}", rewrites - 1), 200).await;
    stop.store(true, Ordering::Relaxed);
    let wrong = checker.await.expect("checker");
    let log = f.log();
    assert!(
        wrong.is_empty(),
        "{} wrong answers: {:?}\n{log}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert!(
        !log.contains("reload rejected"),
        "a prefix or an empty file was read: {log}"
    );
    let applied = log.matches("hooks reloaded").count() - applied_before;
    assert!(
        applied <= rewrites,
        "{applied} reloads for {rewrites} rewrites: {log}"
    );
}

#[tokio::test]
async fn racing_rewrites_never_leave_a_hook_missing() {
    // Every file event and every signal lands wherever it lands: on an empty file, a prefix,
    // a complete file. Not one request may see a hook missing, and the last content wins.
    let f = Fixture::start(
        &[sh_hook("stays", "true", &[]), sh_hook("tail", "true", &[])],
        &["-hotreload"],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let checker = hammer(&f, &["stays", "tail"], stop.clone());
    let signals = Arc::new(AtomicUsize::new(0));
    let rewrites = 150;
    for n in 0..rewrites {
        let text =
            serde_json::to_vec_pretty(&hooks(&["stays", &format!("n{n}"), "tail"])).expect("JSON");
        let (a, b) = text.split_at(rand::random_range(0..text.len()));
        let mut file = std::fs::File::create(f.path("hooks.json")).expect("create");
        if rand::random_range(0..3) == 0 {
            f.signal("HUP");
            signals.fetch_add(1, Ordering::Relaxed);
        }
        file.write_all(a).expect("write");
        file.flush().expect("flush");
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..30))).await;
        if rand::random_range(0..3) == 0 {
            f.signal("HUP");
            signals.fetch_add(1, Ordering::Relaxed);
        }
        file.write_all(b).expect("write");
        drop(file);
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..80))).await;
    }
    wait_status(&f, &format!("n{}", rewrites - 1), 200).await;
    stop.store(true, Ordering::Relaxed);
    let wrong = checker.await.expect("checker");
    assert!(
        wrong.is_empty(),
        "{} wrong answers after {} signals: {:?}",
        wrong.len(),
        signals.load(Ordering::Relaxed),
        &wrong[..wrong.len().min(10)]
    );
    // A signal between truncation and the first write is refused, never applied.
    assert!(signals.load(Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn a_rewrite_right_after_start_is_served_by_signal_and_by_hotreload() {
    // The port listens before start-up is over (state store, reload machinery): a rewrite
    // and a SIGHUP sent the moment it listens must neither be lost nor, for SIGHUP, kill the
    // server; a rewrite made before the watcher's watches exist must still be read.
    for round in 0..10 {
        for flags in [&[][..], &["-hotreload"][..]] {
            let f = Fixture::start(&[sh_hook("stays", "true", &[])], flags);
            write_json(&f.path("hooks.json"), &hooks(&["stays", "second"]));
            if flags.is_empty() {
                f.signal("HUP");
            }
            let end = Instant::now() + Duration::from_secs(10);
            while status(&f, "second").await != 200 {
                assert!(
                    Instant::now() < end,
                    "round {round} {flags:?}: second never served: {}",
                    f.log()
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
}
