//! Concurrency modes with real commands: serial never overlaps, latest supersedes, queues bound.

use std::time::Duration;

use super::*;
use crate::config::hook::{Execution, HookCommand};
use crate::config::Concurrency;
use crate::exec::Invocation;

fn hook(id: &str, mode: Concurrency, max_queue: Option<usize>) -> Hook {
    Hook {
        id: id.into(),
        file: std::path::Path::new("test.json").into(),
        command: HookCommand {
            program: "/bin/sh".into(),
            working_dir: None,
        },
        response_message: String::new(),
        response_headers: Vec::new(),
        capture_output: false,
        capture_output_on_error: false,
        env: Vec::new(),
        args: Vec::new(),
        files: Vec::new(),
        json_parameters: Vec::new(),
        rule: None,
        mismatch_status: None,
        success_status: None,
        soft_signature_failures: false,
        content_type: None,
        methods: None,
        execution: Execution {
            timeout: None,
            concurrency: mode,
            max_queue,
            stream_output: false,
            delivery_id_header: None,
        },
        registry_event: None,
        notify: Vec::new(),
        reads_payload: false,
    }
}

fn sh(script: &str) -> Invocation {
    Invocation {
        kill_grace: Duration::from_millis(200),
        ..Invocation::command("/bin/sh", &["-c", script], Duration::from_secs(20))
    }
}

/// Submits without awaiting: without a shared store a job is filed at once (the request
/// path never waits for a database).
fn submit(m: &Arc<JobManager>, h: &Hook, script: &str) -> Result<Arc<Job>, SubmitError> {
    use futures_util::FutureExt;
    m.submit(h, "req", sh(script))
        .now_or_never()
        .expect("a job is filed without waiting")
}

#[tokio::test]
async fn serial_never_overlaps() {
    let m = JobManager::new(JobLimits::default());
    let h = hook("s", Concurrency::Serial, None);
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock");
    let script = format!(
        "if ! mkdir {l} 2>/dev/null; then echo OVERLAP; exit 1; fi; sleep 0.1; rmdir {l}",
        l = lock.display()
    );
    let jobs: Vec<_> = (0..5).map(|_| submit(&m, &h, &script).unwrap()).collect();
    for j in &jobs {
        j.wait().await;
        assert_eq!(j.state(), JobState::Succeeded, "{:?}", j.view(true));
    }
}

#[tokio::test]
async fn latest_runs_at_most_two_and_the_last_wins() {
    let m = JobManager::new(JobLimits::default());
    let h = hook("l", Concurrency::Latest, None);
    let jobs: Vec<_> = (0..10)
        .map(|i| submit(&m, &h, &format!("sleep 0.3; echo {i}")).unwrap())
        .collect();
    for j in &jobs {
        j.wait().await;
    }
    let states: Vec<_> = jobs.iter().map(|j| j.state()).collect();
    let ran = states.iter().filter(|s| **s == JobState::Succeeded).count();
    assert_eq!(ran, 2, "{states:?}");
    assert_eq!(states[0], JobState::Succeeded);
    assert_eq!(states[9], JobState::Succeeded);
    assert!(states[1..9].iter().all(|s| *s == JobState::Superseded));
    assert_eq!(jobs[9].view(true).output.as_deref(), Some("9\n"));
}

#[tokio::test]
async fn serial_queue_overflow_is_refused() {
    let m = JobManager::new(JobLimits::default());
    let h = hook("q", Concurrency::Serial, Some(2));
    let first = submit(&m, &h, "sleep 0.5").unwrap();
    submit(&m, &h, "true").unwrap();
    submit(&m, &h, "true").unwrap();
    let err = submit(&m, &h, "true").unwrap_err();
    assert!(
        matches!(err, SubmitError::QueueFull { waiting: 2, .. }),
        "{err:?}"
    );
    first.wait().await;
}

#[tokio::test]
async fn max_jobs_bounds_parallel_runs() {
    let m = JobManager::new(JobLimits {
        max_jobs: 1,
        ..JobLimits::default()
    });
    let h = hook("p", Concurrency::Parallel, None);
    let a = submit(&m, &h, "sleep 0.3").unwrap();
    let b = submit(&m, &h, "true").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a.state(), JobState::Running);
    assert_eq!(b.state(), JobState::Queued);
    b.wait().await;
    assert_eq!(b.state(), JobState::Succeeded);
}

#[tokio::test]
async fn parallel_burst_counts_jobs_waiting_for_a_permit() {
    // Submitted back to back, before any job task has run: the queue bound must still hold.
    let m = JobManager::new(JobLimits {
        max_jobs: 1,
        ..JobLimits::default()
    });
    let h = hook("burst", Concurrency::Parallel, Some(1));
    let running = submit(&m, &h, "sleep 0.2").unwrap();
    let parked = submit(&m, &h, "true").unwrap();
    let err = submit(&m, &h, "true").unwrap_err();
    assert!(
        matches!(err, SubmitError::QueueFull { waiting: 1, .. }),
        "{err:?}"
    );
    parked.wait().await;
    assert_eq!(running.state(), JobState::Succeeded);
    // Once the parked job has its permit, the queue has room again.
    submit(&m, &h, "true").unwrap().wait().await;
}

#[tokio::test]
async fn history_is_bounded() {
    let m = JobManager::new(JobLimits {
        history: 2,
        ..JobLimits::default()
    });
    let h = hook("h", Concurrency::Serial, None);
    let jobs: Vec<_> = (0..4).map(|_| submit(&m, &h, "true").unwrap()).collect();
    for j in &jobs {
        j.wait().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(m.get(&jobs[0].id).is_none());
    assert!(m.get(&jobs[3].id).is_some());
}

#[tokio::test]
async fn shutdown_waits_then_kills() {
    let m = JobManager::new(JobLimits::default());
    let h = hook("x", Concurrency::Parallel, None);
    let quick = submit(&m, &h, "sleep 0.2").unwrap();
    let slow = submit(&m, &h, "trap '' TERM; sleep 30").unwrap();
    let stopped = m
        .shutdown(tokio::time::sleep(Duration::from_millis(800)))
        .await;
    assert_eq!(quick.state(), JobState::Succeeded);
    assert_eq!(slow.state(), JobState::Canceled);
    assert_eq!(stopped.len(), 1);
    assert!(matches!(
        submit(&m, &h, "true"),
        Err(SubmitError::ShuttingDown)
    ));
}

#[tokio::test]
async fn a_hook_switched_to_serial_by_reload_still_runs_its_queue() {
    let m = JobManager::new(JobLimits::default());
    let parallel = hook("r", Concurrency::Parallel, None);
    let serial = hook("r", Concurrency::Serial, None);
    let first = submit(&m, &parallel, "sleep 0.3").unwrap();
    let queued = submit(&m, &serial, "true").unwrap();
    assert_eq!(queued.state(), JobState::Queued);
    first.wait().await;
    tokio::time::timeout(Duration::from_secs(5), queued.wait())
        .await
        .expect("the queued job started after the parallel one ended");
    assert_eq!(queued.state(), JobState::Succeeded);
}

#[tokio::test]
async fn superseded_jobs_count_against_the_history() {
    let m = JobManager::new(JobLimits {
        history: 3,
        ..JobLimits::default()
    });
    let h = hook("l", Concurrency::Latest, None);
    let running = submit(&m, &h, "sleep 0.3").unwrap();
    let pending: Vec<_> = (0..20).map(|_| submit(&m, &h, "true").unwrap()).collect();
    running.wait().await;
    pending[19].wait().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let kept = pending.iter().filter(|j| m.get(&j.id).is_some()).count();
    assert!(
        kept <= 3,
        "{kept} of 20 superseded/finished jobs still kept"
    );
    assert!(m.get(&pending[19].id).is_some());
}

#[tokio::test]
async fn history_is_bounded_by_output_bytes() {
    let m = JobManager::new(JobLimits {
        history_bytes: 300 * 1024,
        ..JobLimits::default()
    });
    let h = hook("b", Concurrency::Serial, None);
    let jobs: Vec<_> = (0..5)
        .map(|_| submit(&m, &h, "head -c 102400 /dev/zero").unwrap())
        .collect();
    for j in &jobs {
        j.wait().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let kept = jobs.iter().filter(|j| m.get(&j.id).is_some()).count();
    assert!(
        (1..=3).contains(&kept),
        "kept {kept} jobs of 100 KiB under a 300 KiB budget"
    );
    assert!(m.get(&jobs[4].id).is_some(), "the newest job is kept");
}

#[test]
fn job_ids_are_32_lower_case_hex_digits_and_distinct() {
    let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_job_id()).collect();
    assert_eq!(ids.len(), 1000);
    for id in &ids {
        assert!(is_job_id(id), "{id}");
    }
    // Every digit appears somewhere: high and low halves of a byte both written.
    let digits: std::collections::HashSet<char> = ids.iter().flat_map(|id| id.chars()).collect();
    assert_eq!(digits.len(), 16);
}
