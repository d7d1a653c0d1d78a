//! Notifications against real receivers on 127.0.0.1: HTTP servers that check each format's
//! documented body and signature (and fail a few times first), a real SMTP server (Debian's
//! aiosmtpd, `smtp_server.py`) in plain, STARTTLS and SMTPS modes with a CA made by the test,
//! Docker Hub callbacks, and `hookrun notify`.

mod callbacks;
mod cli;
mod delivery;
mod email;
mod jobs;
mod process;
mod webhooks;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use hookrun::notify::config::{Channel, On, Secret, Target, WebhookTarget};
use hookrun::notify::delivery::AttemptReport;
use hookrun::notify::webhook::Format;
use hookrun::notify::{Attempt, Message, Settings, Status};

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a receiver answers to its n-th request (0-based).
pub type Answer = Arc<dyn Fn(usize) -> Response + Send + Sync>;

#[derive(Clone)]
struct ReceiverState {
    seen: Arc<Mutex<Vec<Received>>>,
    count: Arc<AtomicUsize>,
    answer: Answer,
}

/// An HTTP server on 127.0.0.1 that records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(answer: Answer) -> Receiver {
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let state = ReceiverState {
            seen: seen.clone(),
            count: Arc::default(),
            answer,
        };
        let app = axum::Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, seen, task }
    }

    /// Fails with 500 `failures` times, then answers 200 with `reply`.
    pub async fn failing(failures: usize, reply: &'static str) -> Receiver {
        Receiver::start(Arc::new(move |n| {
            if n < failures {
                (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response()
            } else {
                (StatusCode::OK, reply).into_response()
            }
        }))
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < end,
                "expected {n} requests, got {}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn record(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    state.seen.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        query,
        headers,
        body,
    });
    let n = state.count.fetch_add(1, Ordering::SeqCst);
    (state.answer)(n)
}

/// Collects reported attempts.
pub fn collector() -> (AttemptReport, Arc<Mutex<Vec<Attempt>>>) {
    let seen: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let sink = seen.clone();
    (
        Arc::new(move |a: &Attempt| sink.lock().unwrap().push(a.clone())),
        seen,
    )
}

/// Waits until `pred` holds for the attempts.
pub async fn wait_attempts(
    seen: &Arc<Mutex<Vec<Attempt>>>,
    timeout: Duration,
    pred: impl Fn(&[Attempt]) -> bool,
) -> Vec<Attempt> {
    let end = Instant::now() + timeout;
    loop {
        let got = seen.lock().unwrap().clone();
        if pred(&got) {
            return got;
        }
        assert!(Instant::now() < end, "attempts did not arrive: {got:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Settings with a fast retry schedule (tests inject it; the product waits minutes).
pub fn fast_settings() -> Settings {
    Settings {
        retry_delays: vec![
            Duration::from_millis(50),
            Duration::from_millis(100),
            Duration::from_millis(150),
            Duration::from_millis(200),
        ],
        http_timeout: Duration::from_secs(5),
        host: "test-host".into(),
        ..Settings::default()
    }
}

pub fn webhook_target(format: Format, url: &str, secret: Option<&str>) -> Arc<Target> {
    let target = WebhookTarget {
        url: url::Url::parse(url).unwrap(),
        format,
        secret: secret.map(Secret::new),
        chat_id: Some("-1001".into()),
    };
    Arc::new(Target {
        on: On::ALL,
        label: format!(
            "{} {}",
            format.name(),
            hookrun::notify::redact::url_str(url)
        ),
        channel: Channel::Webhook(target),
        subject: None,
        body: None,
    })
}

/// A deploy job as the bundled scripts report it.
pub fn deploy_message(job: &str, status: Status) -> Message {
    let now = SystemTime::now();
    let rolled_back = if status == Status::Success {
        "false"
    } else {
        "true"
    };
    Message {
        hook: "deploy-web".into(),
        job_id: job.into(),
        request_id: "req-1".into(),
        status,
        exit_code: match status {
            Status::Success => Some(0),
            Status::Failure => Some(3),
            Status::Timeout => None,
        },
        detail: None,
        started_at: now - Duration::from_secs(42),
        finished_at: now,
        result: [
            ("target", "swarm:web"),
            ("image_before", "nginx:1.26"),
            ("image_after", "nginx:1.27"),
            (
                "digest",
                "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            ("rolled_back", rolled_back),
            ("message", "服务 web 已更新 / service web updated"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        output_tail: "pulling nginx:1.27\nconverged".into(),
        host: "test-host".into(),
    }
}
