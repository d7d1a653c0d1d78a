//! The delivery engine: rate limits with a summary, targets chosen by status, shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use hookrun::notify::config::On;
use hookrun::notify::webhook::Format;
use hookrun::notify::{AttemptOutcome, Notifier, Settings, Status, Target};

use super::{collector, deploy_message, fast_settings, wait_attempts, webhook_target, Receiver};

fn limited(limit: u32, window: Duration) -> Settings {
    Settings {
        rate_limit: limit,
        rate_window: window,
        ..fast_settings()
    }
}

#[tokio::test]
async fn a_burst_of_failures_is_summarised_not_a_storm() {
    let receiver = Receiver::failing(0, "ok").await;
    let (report, attempts) = collector();
    let notifier = Notifier::start(limited(3, Duration::from_millis(1500)), report).unwrap();
    let target = webhook_target(Format::Json, &receiver.url("/hook"), None);
    let started = std::time::Instant::now();
    for i in 0..12 {
        notifier.job_finished(
            std::slice::from_ref(&target),
            deploy_message(&format!("job-{i}"), Status::Failure),
        );
    }
    let first = receiver.wait_for(3, Duration::from_secs(5)).await;
    assert!(first.iter().all(|r| r.json()["event"] == "job"));
    let count = |a: &[hookrun::notify::Attempt], o: AttemptOutcome| {
        a.iter().filter(|a| a.outcome == o).count()
    };
    wait_attempts(&attempts, Duration::from_secs(5), |a| {
        count(a, AttemptOutcome::Held) == 9 && count(a, AttemptOutcome::Delivered) == 3
    })
    .await;
    // Nothing more until the window has room: the summary comes a window after the first sends.
    let all = receiver.wait_for(4, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let summary = all[3].json();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["held"], 9);
    assert_eq!(summary["jobs"].as_array().unwrap().len(), 9);
    assert_eq!(summary["jobs"][0]["job_id"], "job-3");
    assert!(
        summary["subject"]
            .as_str()
            .unwrap()
            .contains("9 more notifications held back"),
        "{summary}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 4, "one summary, nothing else");
    notifier.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn limits_count_per_hook_and_target() {
    let (a, b) = (
        Receiver::failing(0, "ok").await,
        Receiver::failing(0, "ok").await,
    );
    let (report, _) = collector();
    let notifier = Notifier::start(limited(2, Duration::from_secs(60)), report).unwrap();
    let (ta, tb) = (
        webhook_target(Format::Json, &a.url("/a"), None),
        webhook_target(Format::Json, &b.url("/b"), None),
    );
    for i in 0..3 {
        notifier.job_finished(
            &[ta.clone(), tb.clone()],
            deploy_message(&format!("job-{i}"), Status::Success),
        );
        let mut other = deploy_message(&format!("other-{i}"), Status::Success);
        other.hook = "deploy-api".into();
        notifier.job_finished(std::slice::from_ref(&ta), other);
    }
    a.wait_for(4, Duration::from_secs(5)).await;
    b.wait_for(2, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((a.received().len(), b.received().len()), (4, 2));
    // Shutting down sends the held summaries at once.
    let report = notifier.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.abandoned, 0);
    assert_eq!((a.received().len(), b.received().len()), (6, 3));
    let events: Vec<_> = a
        .received()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events.iter().filter(|e| *e == "summary").count(), 2);
}

#[tokio::test]
async fn targets_are_chosen_by_status() {
    let receiver = Receiver::failing(0, "ok").await;
    let (report, _) = collector();
    let notifier = Notifier::start(fast_settings(), report).unwrap();
    let only = |on: On, path: &str| {
        let t = webhook_target(Format::Json, &receiver.url(path), None);
        Arc::new(Target { on, ..(*t).clone() })
    };
    let failures = only(
        On {
            success: false,
            failure: true,
            timeout: false,
        },
        "/failures",
    );
    let successes = only(
        On {
            success: true,
            failure: false,
            timeout: false,
        },
        "/successes",
    );
    let targets = [failures, successes];
    notifier.job_finished(&targets, deploy_message("ok", Status::Success));
    notifier.job_finished(&targets, deploy_message("bad", Status::Failure));
    notifier.job_finished(&targets, deploy_message("slow", Status::Timeout));
    let got = receiver.wait_for(3, Duration::from_secs(5)).await;
    notifier.shutdown(Duration::from_secs(1)).await;
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.json()["job_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("/failures".into(), "bad".into()),
            ("/failures".into(), "slow".into()),
            ("/successes".into(), "ok".into())
        ]
    );
}

#[tokio::test]
async fn shutdown_waits_a_bounded_time() {
    // A receiver that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        loop {
            let (mut c, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf).await;
            conns.push(c);
        }
    });
    let (report, attempts) = collector();
    let notifier = Notifier::start(
        Settings {
            http_timeout: Duration::from_secs(60),
            ..fast_settings()
        },
        report,
    )
    .unwrap();
    let target = webhook_target(Format::Json, &format!("http://{addr}/hook"), None);
    notifier.job_finished(&[target], deploy_message("stuck", Status::Failure));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let report = notifier.shutdown(Duration::from_millis(300)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.abandoned, 1);
    let attempts = attempts.lock().unwrap().clone();
    assert!(
        matches!(&attempts[0].outcome, AttemptOutcome::GaveUp { error } if error.contains("shutdown")),
        "{attempts:?}"
    );
    // After shutdown, new notifications are dropped, and reported.
    let (report2, attempts2) = collector();
    let n2 = Notifier::start(fast_settings(), report2).unwrap();
    n2.shutdown(Duration::from_millis(10)).await;
    n2.job_finished(
        &[webhook_target(
            Format::Json,
            &format!("http://{addr}/x"),
            None,
        )],
        deploy_message("late", Status::Success),
    );
    assert!(matches!(
        &attempts2.lock().unwrap()[0].outcome,
        AttemptOutcome::Dropped { .. }
    ));
    hold.abort();
}

#[tokio::test]
async fn retries_stop_at_the_last_attempt() {
    let receiver = Receiver::failing(100, "never").await;
    let (report, attempts) = collector();
    let notifier = Notifier::start(fast_settings(), report).unwrap();
    notifier.job_finished(
        &[webhook_target(Format::Json, &receiver.url("/hook"), None)],
        deploy_message("j", Status::Failure),
    );
    let attempts = wait_attempts(&attempts, Duration::from_secs(5), |a| {
        a.iter()
            .any(|a| matches!(a.outcome, AttemptOutcome::GaveUp { .. }))
    })
    .await;
    assert_eq!(attempts.len(), 5, "{attempts:#?}");
    assert_eq!(attempts[4].attempt, 5);
    assert_eq!(receiver.received().len(), 5);
    notifier.shutdown(Duration::from_secs(1)).await;
}
