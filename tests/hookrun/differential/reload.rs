//! Reloading: `-hotreload` picking up a rewritten file, and SIGUSR1/SIGHUP reloading every file;
//! a broken file or a duplicate id keeps the hooks that were loaded. After each reload both
//! servers answer the same cases.

use std::time::Duration;

use super::case::Case;
use super::http::RawRequest;
use super::pair::{Group, Pair};

/// A hooks file with one hook `id`, triggered by `?token=go`.
fn hooks(ids: &[&str]) -> String {
    let hooks: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(
                r#"{{"id": "{id}", "execute-command": "@RECORDER@", "response-message": "{id} ran",
  "pass-arguments-to-command": [{{"source": "string", "name": "{id}"}}],
  "trigger-rule": {{"match": {{"type": "value", "value": "go", "parameter": {{"source": "url", "name": "token"}}}}}}}}"#
            )
        })
        .collect();
    format!("[\n{}\n]", hooks.join(",\n"))
}

/// Waits until hook `id` is loaded (`loaded`) or gone (`!loaded`) on both servers.
fn wait_loaded(pair: &Pair, id: &str, loaded: bool) {
    let probe = RawRequest {
        method: "POST".into(),
        target: format!("/hooks/{id}"),
        ..Default::default()
    };
    let pending = pair.wait_until(&probe, Duration::from_secs(10), |r| {
        (r.status == 200) == loaded
    });
    assert!(
        pending.is_empty(),
        "{pending:?} did not {} hook {id:?}\nhookrun log:\n{}\nreference log:\n{}",
        if loaded { "load" } else { "drop" },
        pair.hookrun.log_text(),
        pair.reference.log_text()
    );
}

fn runs(id: &str) -> Case {
    Case::post(&format!("{id} runs"), &format!("/hooks/{id}?token=go")).runs()
}

fn absent(id: &str) -> Case {
    Case::post(
        &format!("{id} is not loaded"),
        &format!("/hooks/{id}?token=go"),
    )
}

#[test]
fn hot_reload_picks_up_a_rewritten_file_like_the_reference() {
    let Some(pair) = Group::new("hotreload")
        .file("hooks.json", &hooks(&["v1"]))
        .flags(&["-hotreload"])
        .start()
    else {
        return;
    };
    pair.run(&[runs("v1"), absent("v2")]);
    pair.write("hooks.json", &hooks(&["v2", "v3"]));
    wait_loaded(&pair, "v3", true);
    wait_loaded(&pair, "v1", false);
    pair.run(&[runs("v2"), runs("v3"), absent("v1")]);
    pair.write("hooks.json", &hooks(&["v1"]));
    wait_loaded(&pair, "v1", true);
    wait_loaded(&pair, "v3", false);
    pair.run(&[runs("v1"), absent("v2"), absent("v3")]);
}

#[test]
fn reload_signals_reread_every_file_like_the_reference() {
    let Some(pair) = Group::new("signal-reload")
        .file("a.json", &hooks(&["a1"]))
        .file("b.json", &hooks(&["b1"]))
        .start()
    else {
        return;
    };
    pair.run(&[runs("a1"), runs("b1"), absent("a2")]);

    pair.write("a.json", &hooks(&["a2"]));
    pair.signal("USR1");
    wait_loaded(&pair, "a2", true);
    pair.run(&[runs("a2"), absent("a1"), runs("b1")]);

    pair.write("b.json", &hooks(&["b2"]));
    pair.signal("HUP");
    wait_loaded(&pair, "b2", true);
    pair.run(&[runs("a2"), runs("b2"), absent("b1")]);

    // A broken file keeps what was loaded from it.
    pair.write("b.json", "[{\"id\": \"b3\", ");
    pair.signal("USR1");
    std::thread::sleep(Duration::from_millis(700));
    pair.run(&[runs("a2"), runs("b2"), absent("b3")]);

    // An id already loaded from another file keeps the previous configuration.
    pair.write("b.json", &hooks(&["b4", "a2"]));
    pair.signal("HUP");
    std::thread::sleep(Duration::from_millis(700));
    pair.run(&[runs("a2"), runs("b2"), absent("b4")]);
}
