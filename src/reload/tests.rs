//! Reloads of real files: the in-between states of a rewrite are refused, real changes applied.

use std::path::Path;

use super::refusal::Refusal;
use super::*;

fn hooks_json(ids: &[&str]) -> String {
    let hooks: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"id": "{id}", "execute-command": "/bin/true"}}"#))
        .collect();
    format!("[{}]", hooks.join(","))
}

/// A reloader over `sources` (relative to `dir`), serving what they hold now.
fn reloader(dir: &Path, sources: &[&str]) -> Arc<Reloader> {
    let sources: Vec<String> = sources
        .iter()
        .map(|s| dir.join(s).display().to_string())
        .collect();
    let loaded = config::load(&sources, &LoadOptions::default(), &SystemEnv);
    let set = loaded.set.expect("the initial hooks load");
    Reloader::new(
        sources,
        LoadOptions::default(),
        Arc::new(LiveHooks::new(set)),
    )
}

fn served(r: &Reloader) -> Vec<String> {
    let mut ids: Vec<String> = r.hooks.snapshot().ids().map(str::to_owned).collect();
    ids.sort();
    ids
}

#[test]
fn the_in_between_states_of_a_rewrite_are_refused_by_a_file_event_and_by_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hooks.yaml");
    std::fs::write(&file, hooks_json(&["a", "b"])).unwrap();
    let r = reloader(dir.path(), &["hooks.yaml"]);
    let states = [
        "",
        " \n\t\n",
        "null",
        "[]",
        "---",
        "---\n",
        "~",
        "# being rewritten\n",
    ];
    for state in states {
        for force in [false, true] {
            std::fs::write(&file, state).unwrap();
            assert_eq!(
                r.reload(force),
                Outcome::Rejected { errors: 1 },
                "{state:?} (forced: {force})"
            );
            assert_eq!(served(&r), ["a", "b"], "{state:?}");
            // The complete file comes back (as it was): served again, not skipped as unchanged.
            std::fs::write(&file, hooks_json(&["a", "b"])).unwrap();
            assert_eq!(r.reload(false), Outcome::Reloaded { hooks: 2 });
        }
    }
    std::fs::write(&file, hooks_json(&["c"])).unwrap();
    assert_eq!(r.reload(false), Outcome::Reloaded { hooks: 1 });
    assert_eq!(served(&r), ["c"]);
}

#[test]
fn one_emptied_file_in_a_folder_is_refused_but_a_removed_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("hooks");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a.json"), hooks_json(&["a"])).unwrap();
    std::fs::write(folder.join("b.json"), hooks_json(&["b1", "b2"])).unwrap();
    // A file that never had hooks may stay empty.
    std::fs::write(folder.join("spare.yaml"), "").unwrap();
    let r = reloader(dir.path(), &["hooks"]);
    assert_eq!(served(&r), ["a", "b1", "b2"]);

    std::fs::write(folder.join("b.json"), "").unwrap();
    assert_eq!(r.reload(false), Outcome::Rejected { errors: 1 });
    assert_eq!(served(&r), ["a", "b1", "b2"]);
    let refusals = refusals(
        &r.hooks.snapshot(),
        &config::load(&r.sources, &r.options, &SystemEnv)
            .set
            .unwrap(),
    );
    assert_eq!(
        refusals,
        [Refusal::Emptied {
            file: folder.join("b.json"),
            had: 2
        }]
    );
    assert!(refusals[0]
        .to_string()
        .contains("b.json: defines no hooks where it defined 2"));

    std::fs::remove_file(folder.join("b.json")).unwrap();
    assert_eq!(r.reload(false), Outcome::Reloaded { hooks: 1 });
    assert_eq!(served(&r), ["a"]);

    // Removing the last file would leave nothing: refused too.
    std::fs::remove_file(folder.join("a.json")).unwrap();
    assert_eq!(r.reload(true), Outcome::Rejected { errors: 1 });
    assert_eq!(served(&r), ["a"]);
}

#[test]
fn a_server_started_without_hooks_takes_its_first_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hooks.json");
    std::fs::write(&file, "[]").unwrap();
    let r = reloader(dir.path(), &["hooks.json"]);
    assert_eq!(r.reload(true), Outcome::Reloaded { hooks: 0 });
    std::fs::write(&file, hooks_json(&["first"])).unwrap();
    assert_eq!(r.reload(false), Outcome::Reloaded { hooks: 1 });
    assert_eq!(r.reload(false), Outcome::Unchanged);
}

#[test]
fn a_broken_file_is_rejected_once_and_then_skipped_until_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hooks.json");
    std::fs::write(&file, hooks_json(&["a"])).unwrap();
    let r = reloader(dir.path(), &["hooks.json"]);
    assert_eq!(r.reload(false), Outcome::Unchanged);
    std::fs::write(&file, r#"[{"id": "a", "#).unwrap();
    assert_eq!(r.reload(false), Outcome::Rejected { errors: 1 });
    assert_eq!(r.reload(false), Outcome::Unchanged);
    assert_eq!(r.reload(true), Outcome::Rejected { errors: 1 });
    assert_eq!(served(&r), ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_made_before_the_watch_began_is_served() {
    // The server reads its hooks, then starts watching their folder: a rewrite in between has
    // no event. The watcher compares the files once its watches are in place.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hooks.json");
    std::fs::write(&file, hooks_json(&["a"])).unwrap();
    let r = reloader(dir.path(), &["hooks.json"]);
    std::fs::write(&file, hooks_json(&["a", "b"])).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watching = tokio::spawn(r.clone().watch(async {
        let _ = stopped.await;
    }));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while served(&r) != ["a", "b"] {
        assert!(std::time::Instant::now() < end, "served {:?}", served(&r));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
    watching.await.unwrap().unwrap();
}
