//! Sending the message of `hookrun notify` through the notifier, with the command line's
//! retries, printing each attempt on standard error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::delivery::{Attempt, AttemptOutcome, Notifier, Settings};
use super::super::message::{Notice, Status};
use super::prepare::Prepared;
use super::NotifyArgs;

/// Waits between the attempts of `hookrun notify`: a person or a script is waiting.
const CLI_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Sends the message; whether an attempt delivered it.
pub(super) async fn deliver(
    prepared: Prepared,
    args: &NotifyArgs,
    body: String,
) -> Result<bool, String> {
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let seen = attempts.clone();
    let report = Arc::new(move |a: &Attempt| {
        print_attempt(a);
        seen.lock()
            .expect("attempt list lock is never poisoned")
            .push(a.clone());
    });
    let settings = Settings {
        retry_delays: CLI_RETRY_DELAYS.to_vec(),
        smtp: prepared.smtp,
        ..Settings::default()
    };
    let host = settings.host.clone();
    let notifier = Notifier::start(settings, report).map_err(|e| e.to_string())?;
    let status = args.status.as_deref().and_then(|s| match s {
        "success" => Some(Status::Success),
        "failure" => Some(Status::Failure),
        "timeout" => Some(Status::Timeout),
        _ => None,
    });
    let subject = args
        .subject
        .clone()
        .unwrap_or_else(|| format!("[hookrun] message from {host}"));
    notifier.send(
        "notify",
        prepared.target,
        Notice::text(subject, body, status, host),
    );
    let report = notifier.shutdown(prepared.timeout).await;
    if report.abandoned > 0 {
        eprintln!("hookrun notify: gave up after --timeout {}", args.timeout);
    }
    let delivered = attempts
        .lock()
        .expect("attempt list lock is never poisoned")
        .iter()
        .any(|a| a.outcome == AttemptOutcome::Delivered);
    Ok(delivered)
}

/// One attempt, as a line on standard error.
fn print_attempt(a: &Attempt) {
    match &a.outcome {
        AttemptOutcome::Delivered => eprintln!(
            "hookrun notify: delivered to {} (attempt {})",
            a.target, a.attempt
        ),
        AttemptOutcome::Failed { error, retry_in_ms } => eprintln!(
            "hookrun notify: attempt {} to {} failed: {error}; retrying in {:.0}s",
            a.attempt,
            a.target,
            Duration::from_millis(*retry_in_ms).as_secs_f64()
        ),
        AttemptOutcome::GaveUp { error } => eprintln!(
            "hookrun notify: attempt {} to {} failed: {error}; giving up",
            a.attempt, a.target
        ),
        other => eprintln!("hookrun notify: {} {other:?}", a.target),
    }
}
