//! Docker Hub callbacks: the default allow-list refuses anything but Docker Hub; a widened one
//! delivers the documented body; redirects never leave the allow-list.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;

use hookrun::notify::{AttemptOutcome, Notifier, Settings, Status};

use super::{collector, deploy_message, fast_settings, wait_attempts, Receiver};

#[tokio::test]
async fn default_allow_list_refuses_loopback_and_sends_nothing() {
    let receiver = Receiver::failing(0, "ok").await;
    let (report, attempts) = collector();
    let notifier = Notifier::start(fast_settings(), report).unwrap();
    let url = receiver.url("/u/ns/repo/hook/0123456789abcdef0123/");
    let err = notifier
        .docker_hub_callback(&url, &deploy_message("j1", Status::Success), None)
        .unwrap_err();
    assert!(err.contains("not Docker Hub's"), "{err}");
    assert!(
        !err.contains("0123456789abcdef0123"),
        "the hook id is masked: {err}"
    );
    let attempts = attempts.lock().unwrap().clone();
    assert!(
        matches!(&attempts[0].outcome, AttemptOutcome::Refused { .. }),
        "{attempts:?}"
    );
    notifier.shutdown(Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn widened_allow_list_delivers_the_documented_body() {
    let receiver = Receiver::failing(1, "").await;
    let (report, attempts) = collector();
    let settings = Settings {
        callback_allow: vec![receiver.url("/callbacks/")],
        ..fast_settings()
    };
    let notifier = Notifier::start(settings, report).unwrap();
    notifier
        .docker_hub_callback(
            &receiver.url("/callbacks/ok"),
            &deploy_message("j-ok", Status::Success),
            Some("https://hooks.example.com/jobs/j-ok".into()),
        )
        .unwrap();
    notifier
        .docker_hub_callback(
            &receiver.url("/callbacks/bad"),
            &deploy_message("j-bad", Status::Failure),
            None,
        )
        .unwrap();
    wait_attempts(&attempts, Duration::from_secs(5), |a| {
        a.iter()
            .filter(|a| a.outcome == AttemptOutcome::Delivered)
            .count()
            == 2
    })
    .await;
    let got = receiver.received();
    let find = |p: &str| got.iter().rev().find(|r| r.path == p).unwrap().json();
    let ok = find("/callbacks/ok");
    assert_eq!(ok["state"], "success");
    assert_eq!(ok["context"], "hookrun on test-host");
    assert_eq!(ok["target_url"], "https://hooks.example.com/jobs/j-ok");
    assert!(ok["description"]
        .as_str()
        .unwrap()
        .starts_with("deploy-web succeeded: swarm:web nginx:1.26 → nginx:1.27"));
    let bad = find("/callbacks/bad");
    assert_eq!(bad["state"], "failure");
    assert!(bad.get("target_url").is_none());
    assert!(bad["description"]
        .as_str()
        .unwrap()
        .contains("failed (rolled back)"));
    // A timeout could not run to an end: `error`.
    notifier
        .docker_hub_callback(
            &receiver.url("/callbacks/slow"),
            &deploy_message("j-slow", Status::Timeout),
            None,
        )
        .unwrap();
    let got = receiver.wait_for(4, Duration::from_secs(5)).await;
    assert_eq!(got[3].json()["state"], "error");
    notifier.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn redirects_never_leave_the_allow_list() {
    let elsewhere = Receiver::failing(0, "").await;
    let target = elsewhere.url("/stolen");
    let allowed = Receiver::start(Arc::new(move |_| {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", target.clone())],
        )
            .into_response()
    }))
    .await;
    let (report, attempts) = collector();
    let settings = Settings {
        callback_allow: vec![allowed.url("/")],
        ..fast_settings()
    };
    let notifier = Notifier::start(settings, report).unwrap();
    notifier
        .docker_hub_callback(
            &allowed.url("/cb"),
            &deploy_message("j", Status::Success),
            None,
        )
        .unwrap();
    let attempts = wait_attempts(&attempts, Duration::from_secs(5), |a| !a.is_empty()).await;
    match &attempts[0].outcome {
        AttemptOutcome::GaveUp { error } => {
            assert!(error.contains("not an allowed callback URL"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(allowed.received().len(), 1);
    assert!(elsewhere.received().is_empty());
    notifier.shutdown(Duration::from_secs(1)).await;
}
