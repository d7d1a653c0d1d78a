//! Reloading hooks in a running server: `-hotreload` on file rewrites (in place and by rename),
//! Kubernetes ConfigMap `..data` symlink swaps (a file and a folder), a broken file that keeps
//! the old hooks serving, and SIGUSR1/SIGHUP.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixture::{eventually, sh_hook, write_json, Fixture};

async fn status(f: &Fixture, hook: &str) -> u16 {
    let resp = f.http.post(f.url(&format!("/hooks/{hook}"))).send().await;
    resp.expect("POST").status().as_u16()
}

/// Polls until `hook` answers `want`, for up to five seconds.
async fn wait_status(f: &Fixture, hook: &str, want: u16) {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let got = status(f, hook).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < end,
            "{hook}: {got}, not {want}: {}",
            f.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hooks(ids: &[&str]) -> Value {
    Value::Array(ids.iter().map(|id| sh_hook(id, "true", &[])).collect())
}

#[tokio::test]
async fn hotreload_picks_up_rewritten_files() {
    let f = Fixture::start(
        &[sh_hook("first", "true", &[])],
        &["-hotreload", "-verbose"],
    );
    assert_eq!(status(&f, "first").await, 200);
    // An in-place rewrite.
    write_json(&f.path("hooks.json"), &hooks(&["second"]));
    wait_status(&f, "second", 200).await;
    assert_eq!(status(&f, "first").await, 404);
    // An editor's save: a new file renamed over the old one.
    write_json(&f.path("hooks.json.tmp"), &hooks(&["third"]));
    std::fs::rename(f.path("hooks.json.tmp"), f.path("hooks.json")).expect("rename");
    wait_status(&f, "third", 200).await;
    assert_eq!(status(&f, "second").await, 404);
}

/// Lays out a ConfigMap volume the way the kubelet does: `..<timestamp>/` holds the keys,
/// `..data` points at it, each key is a symlink through `..data`.
fn configmap(dir: &Path, version: &str, keys: &[(&str, Value)]) {
    let data = dir.join(version);
    std::fs::create_dir_all(&data).expect("mkdir");
    for (key, value) in keys {
        write_json(&data.join(key), value);
    }
}

/// The kubelet's atomic update: a new `..data_tmp` symlink renamed over `..data`.
fn swap_data(dir: &Path, version: &str) {
    let tmp = dir.join("..data_tmp");
    symlink(version, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("rename over ..data");
}

#[tokio::test]
async fn hotreload_follows_a_configmap_data_swap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cm = dir.path().join("cm");
    configmap(&cm, "..2026_01", &[("hooks.json", hooks(&["v1"]))]);
    symlink("..2026_01", cm.join("..data")).expect("symlink");
    symlink("..data/hooks.json", cm.join("hooks.json")).expect("symlink");
    let f = Fixture::start_in(dir, &["-hooks", "cm/hooks.json", "-hotreload", "-verbose"]);
    assert_eq!(status(&f, "v1").await, 200);
    configmap(&cm, "..2026_02", &[("hooks.json", hooks(&["v2"]))]);
    swap_data(&cm, "..2026_02");
    std::fs::remove_dir_all(cm.join("..2026_01")).expect("removing the old version");
    wait_status(&f, "v2", 200).await;
    assert_eq!(status(&f, "v1").await, 404);
}

#[tokio::test]
async fn hotreload_follows_a_configmap_folder_with_several_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cm = dir.path().join("cm");
    configmap(
        &cm,
        "..2026_01",
        &[("a.json", hooks(&["a1"])), ("b.json", hooks(&["b1"]))],
    );
    symlink("..2026_01", cm.join("..data")).expect("symlink");
    for key in ["a.json", "b.json"] {
        symlink(format!("..data/{key}"), cm.join(key)).expect("symlink");
    }
    let f = Fixture::start_in(dir, &["-hooks", "cm", "-hotreload", "-verbose"]);
    assert_eq!(status(&f, "a1").await, 200);
    assert_eq!(status(&f, "b1").await, 200);
    // The update changes one key and adds another (whose symlink the kubelet adds after).
    configmap(
        &cm,
        "..2026_02",
        &[
            ("a.json", hooks(&["a1"])),
            ("b.json", hooks(&["b2"])),
            ("c.json", hooks(&["c1"])),
        ],
    );
    swap_data(&cm, "..2026_02");
    symlink("..data/c.json", cm.join("c.json")).expect("symlink");
    wait_status(&f, "c1", 200).await;
    wait_status(&f, "b2", 200).await;
    assert_eq!(status(&f, "b1").await, 404);
    assert_eq!(status(&f, "a1").await, 200);
}

#[tokio::test]
async fn broken_file_on_reload_keeps_the_old_hooks_and_says_why() {
    let f = Fixture::start(
        &[sh_hook("stays", "true", &[])],
        &["-hotreload", "-verbose"],
    );
    std::fs::write(f.path("hooks.json"), "[{\"id\": \"new\", ").expect("write");
    eventually(
        Duration::from_secs(5),
        "the rejected reload in the log",
        || f.log().contains("reload rejected"),
    )
    .await;
    let log = f.log();
    assert!(log.contains("hooks.json"), "{log}");
    assert_eq!(status(&f, "stays").await, 200);
    assert_eq!(status(&f, "new").await, 404);
    // Once fixed, the next save is picked up.
    write_json(&f.path("hooks.json"), &hooks(&["fixed"]));
    wait_status(&f, "fixed", 200).await;
}

#[tokio::test]
async fn sigusr1_and_sighup_reload() {
    let f = Fixture::start(&[sh_hook("before", "true", &[])], &["-verbose"]);
    write_json(&f.path("hooks.json"), &hooks(&["after-usr1"]));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        status(&f, "before").await,
        200,
        "reloaded without -hotreload"
    );
    f.signal("USR1");
    wait_status(&f, "after-usr1", 200).await;
    assert_eq!(status(&f, "before").await, 404);
    write_json(
        &f.path("hooks.json"),
        &json!([sh_hook("after-hup", "true", &[])]),
    );
    f.signal("HUP");
    wait_status(&f, "after-hup", 200).await;
    assert_eq!(status(&f, "after-usr1").await, 404);
}
