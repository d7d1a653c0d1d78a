use std::time::Duration;

use super::*;
use crate::exec::Invocation;
use crate::jobs::{Job, JobState};

fn settings(dir: &Path) -> StoreSettings {
    StoreSettings {
        location: Location::Sqlite(dir.to_path_buf()),
        ..StoreSettings::default()
    }
}

fn invocation() -> Invocation {
    Invocation {
        program: "/bin/echo".into(),
        args: vec!["a b".into()],
        env: vec![("SECRET".into(), "s3cret".into())],
        working_dir: None,
        files: vec![("F".into(), vec![0, 1, 2, 255])],
        timeout: Duration::from_secs(7),
        kill_grace: Duration::from_secs(1),
        start: crate::exec::Start::AtExec,
    }
}

fn job(id: &str, hook: &str) -> Job {
    Job::new(id.into(), hook.into(), "req".into(), invocation(), 1024)
}

/// Pauses `hook` (no reason given).
fn pause(hook: &str) -> Write {
    Write::Pause(
        hook.into(),
        Some(PauseRecord {
            hook: hook.into(),
            paused_at: "2026-01-01T00:00:00Z".into(),
            reason: None,
        }),
    )
}

fn record(view: JobView) -> Write {
    Write::job(view, None)
}

#[test]
fn run_specs_round_trip_through_json() {
    let spec = RunSpec::of(&invocation());
    let text = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<RunSpec>(&text).unwrap(), spec);
    assert_eq!(
        spec.invocation(Duration::from_secs(1)).timeout,
        Duration::from_secs(7)
    );
}

#[tokio::test]
async fn jobs_survive_a_reopen_and_unfinished_ones_become_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(settings(dir.path())).await.unwrap();
    let done = job(&"a".repeat(32), "h");
    let running = job(&"b".repeat(32), "h");
    running.start();
    let queued = job(&"c".repeat(32), "h2");
    let mut view = done.view(true);
    view.state = JobState::Succeeded;
    view.finished_at = Some(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
    view.output = Some("hello\n".into());
    store.write(Write::job(view, Some(RunSpec::of(&invocation()))));
    store.write(record(running.view(true)));
    store.write(record(queued.view(true)));
    store.write(pause("h"));
    store.record_delivery("h", "delivery-1", vec!["a".repeat(32)]);
    store.flush().await;
    store.close();
    drop(store);

    let store = Store::open(settings(dir.path())).await.unwrap();
    let got = store.job(&"a".repeat(32)).await.expect("the finished job");
    assert_eq!(got.view.state, JobState::Succeeded);
    assert_eq!(got.stdout, "hello\n");
    assert_eq!(
        store.run_spec(&"a".repeat(32)).await,
        Some(RunSpec::of(&invocation()))
    );
    for id in ["b", "c"] {
        let j = store.job(&id.repeat(32)).await.unwrap();
        assert_eq!(j.view.state, JobState::Interrupted, "{id}");
        assert!(j.view.finished_at.is_some());
        assert!(
            j.view.error.as_deref().unwrap().contains("hookrun stopped"),
            "{:?}",
            j.view.error
        );
    }
    assert!(store.pause("h").is_some(), "pauses are loaded at open");
    assert_eq!(
        store.seen_delivery("h", "delivery-1"),
        Some(vec!["a".repeat(32)])
    );
    let listed = store
        .jobs(&JobFilter {
            hook: Some("h".into()),
            limit: 10,
            ..JobFilter::default()
        })
        .await;
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|v| v.output.is_none() && v.stdout.is_none()),
        "listings carry no output"
    );
    store.close();
}

#[tokio::test]
async fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Store::open(settings(&state)).await.unwrap();
    store.close();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&database_path(&state)), 0o600);
}

#[tokio::test]
async fn an_unusable_folder_degrades_to_memory_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "x").unwrap();
    let store = Store::open(settings(&not_a_folder)).await.unwrap();
    assert!(store.health().degraded());
    store.write(pause("h"));
    let started = std::time::Instant::now();
    store.flush().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a flush does not hang"
    );
    assert!(store.pause("h").is_some(), "memory still answers");
    let report = store.health().report();
    assert!(report.degraded && report.write_failures >= 1, "{report:?}");
    assert!(report.last_error.is_some());
    store.close();
}

#[tokio::test]
async fn delivery_ids_expire_after_the_window() {
    let store = Store::in_memory(StoreSettings {
        delivery_window: Duration::from_millis(200),
        ..StoreSettings::default()
    });
    store.record_delivery("h", "k", vec!["j".into()]);
    assert_eq!(store.seen_delivery("h", "k"), Some(vec!["j".into()]));
    assert_eq!(store.seen_delivery("other", "k"), None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.seen_delivery("h", "k"), None);
}

/// 10,000 jobs with 4 KiB of output each (40 MiB) into a store limited to 4 MiB: the file and
/// its log stay within the limit, the newest jobs are kept, and good deploys are kept.
#[tokio::test]
async fn retention_keeps_ten_thousand_jobs_within_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let max = 4 * 1024 * 1024;
    let store = Store::open(StoreSettings {
        max_bytes: max,
        ..settings(dir.path())
    })
    .await
    .unwrap();
    let output = "x".repeat(4096);
    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let mut peak = 0;
    for i in 0..10_000u32 {
        let id = format!("{i:032x}");
        let mut view = job(&id, "h").view(true);
        view.state = JobState::Succeeded;
        view.finished_at = Some(now.clone());
        view.output = Some(output.clone());
        if i == 5 {
            view.result.insert("target".into(), "swarm:web".into());
            view.result.insert("image_after".into(), "web:v1".into());
            let deploy = DeployRecord::of(&view, None).unwrap();
            store.write(Write::Deploy(deploy));
        }
        store.write(Write::job(view, Some(RunSpec::of(&invocation()))));
        if i % 500 == 499 {
            store.flush().await;
            peak = peak.max(store.health().report().disk_bytes);
        }
    }
    store.flush().await;
    store.close();
    let db = database_path(dir.path());
    let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let on_disk = size(db.clone()) + size(PathBuf::from(format!("{}-wal", db.display())));
    assert!(on_disk <= max, "{on_disk} bytes on disk, limit {max}");
    assert!(peak <= max, "peak {peak} bytes, limit {max}");
    let store = Store::open(settings(dir.path())).await.unwrap();
    assert!(
        store.job(&format!("{:032x}", 9_999)).await.is_some(),
        "the newest job is kept"
    );
    assert!(
        store.job(&format!("{:032x}", 10)).await.is_none(),
        "old jobs are deleted"
    );
    assert!(
        store.run_spec(&format!("{:032x}", 5)).await.is_some(),
        "the command of a good deploy is kept for rollbacks"
    );
    store.close();
}

type KeepSpec = dyn Fn(&Store, &str, RunSpec);

#[tokio::test]
async fn commands_kept_in_memory_are_bounded_by_their_weight() {
    // Kept from a job's first record, or handed over alone (a job manager without `-state`).
    let by_record: &KeepSpec = &|store, id, spec| {
        store.write(Write::job(job(id, "h").view(true), Some(spec)));
    };
    let alone: &KeepSpec = &|store, id, spec| store.keep_spec(id, spec);
    for keep in [by_record, alone] {
        let store = Store::memory();
        let mut large = invocation();
        large.args = vec!["x".repeat(SPEC_MEMORY / 3)];
        let ids: Vec<String> = (0..6).map(|i| format!("{i:032}")).collect();
        for id in &ids {
            keep(&store, id, RunSpec::of(&large));
        }
        let kept = lock(&store.memory).spec_bytes;
        assert!(kept <= SPEC_MEMORY, "{kept} bytes of commands kept");
        assert!(
            store.run_spec(&ids[0]).await.is_none(),
            "the oldest is let go"
        );
        assert_eq!(store.run_spec(&ids[5]).await, Some(RunSpec::of(&large)));
        // One heavier than all of them together is not kept in memory at all.
        large.args = vec!["x".repeat(SPEC_MEMORY + 1)];
        let heavy = format!("{:032}", 6);
        keep(&store, &heavy, RunSpec::of(&large));
        assert!(store.run_spec(&heavy).await.is_none());
        assert!(store.run_spec(&ids[5]).await.is_some());
    }
}
