//! Orphaned grandchildren in a container: hookrun run as PID 1 of a new PID namespace
//! (`unshare --pid --fork`), with and without tini in front of it. Skipped where PID
//! namespaces or tini are unavailable.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::common::{hookrun_bin, start, Server};
use crate::fixture::{client, descendants, sh_hook, write_json};

/// Leaves an orphan: the subshell exits, its `sleep` is re-parented to the namespace's PID 1.
const ORPHAN: &str = "(sleep 0.1 &); echo started";

fn usable(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && std::process::Command::new("unshare")
            .args(["--pid", "--fork", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Starts hookrun as PID 1 of a new PID namespace, behind `init` (`tini --`) if given.
fn start_in_namespace(dir: &Path, init: &[&str]) -> Server {
    write_json(
        &dir.join("hooks.json"),
        &json!([sh_hook("orphan", ORPHAN, &[])]),
    );
    let bin = hookrun_bin();
    let mut args = vec!["--pid", "--fork", "--kill-child"];
    args.extend_from_slice(init);
    args.extend([
        bin.to_str().expect("UTF-8 path"),
        "-hooks",
        "hooks.json",
        "-verbose",
    ]);
    start(Path::new("/usr/bin/unshare"), &args, dir, &[])
}

/// Triggers three orphans and returns the zombies left under the namespace after they end.
async fn zombies_after_orphans(server: &Server) -> usize {
    let http = client();
    for _ in 0..3 {
        let resp = http.post(server.url("/hooks/orphan")).send().await;
        assert_eq!(resp.expect("POST").status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let root = i32::try_from(server.child.id()).expect("pid");
    descendants(root).iter().filter(|p| p.state == 'Z').count()
}

#[tokio::test]
async fn tini_as_pid_1_reaps_orphaned_grandchildren() {
    if !usable("tini") {
        eprintln!("skipped: needs tini and unshare --pid");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_in_namespace(dir.path(), &["/usr/bin/tini", "--"]);
    let zombies = zombies_after_orphans(&server).await;
    assert_eq!(zombies, 0, "{}", server.log_text());
    assert!(!server.log_text().contains("running as PID 1"));
}

#[tokio::test]
async fn hookrun_as_pid_1_warns_that_it_does_not_reap() {
    if !usable("unshare") {
        eprintln!("skipped: needs unshare --pid");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_in_namespace(dir.path(), &[]);
    let zombies = zombies_after_orphans(&server).await;
    eprintln!("hookrun as PID 1 without an init: {zombies} zombie(s) after 3 orphans");
    let log = server.log_text();
    assert!(log.contains("running as PID 1"), "{log}");
}
