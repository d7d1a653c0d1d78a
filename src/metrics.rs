//! Prometheus metrics (`GET /metrics`, OpenMetrics text): what the server counts and how it is
//! named. Every label value comes from the configuration or from a fixed list, never from a
//! request: a hook label names a configured hook, and a request for a hook that does not
//! exist is counted under [`UNKNOWN_HOOK`], so no client can grow the number of series.
//!
//! Who counts what: the hook handler counts requests by [`RequestOutcome`], the job manager
//! counts ended jobs (and their duration), the reloader counts reloads, the notifier's report
//! counts notification attempts. Jobs running and waiting are read from the job manager at
//! each scrape (`set_queues`), so they can never drift from the truth.

use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::jobs::JobState;
use crate::store::StoreHealth;

/// The hook label of requests for a hook that is not configured.
pub const UNKNOWN_HOOK: &str = "(unknown)";

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the job duration buckets, in seconds: from a quick script to a slow rollout
/// (the default command timeout is 30 minutes).
const DURATION_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// How a request to a hook URL ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The rules held and jobs were started (or the delivery had been seen and answered before).
    Matched,
    /// No trigger rule held.
    RulesNotSatisfied,
    /// A registry delivery that carried no image push.
    NothingToDeploy,
    /// The hook is paused.
    Paused,
    /// No hook has this id.
    NotFound,
    /// The hook does not accept the request's method.
    MethodNotAllowed,
    /// The hook's queue was full (429).
    QueueFull,
    /// Any other answer in the 4xx range (body too large or too slow, bad event...).
    ClientError,
    /// Any other answer in the 5xx range (rules that cannot be evaluated, a failed command
    /// whose output is the answer, shutting down...).
    ServerError,
}

impl RequestOutcome {
    /// Every outcome, in declaration order (`outcome as usize` indexes it).
    pub const ALL: [RequestOutcome; 9] = [
        RequestOutcome::Matched,
        RequestOutcome::RulesNotSatisfied,
        RequestOutcome::NothingToDeploy,
        RequestOutcome::Paused,
        RequestOutcome::NotFound,
        RequestOutcome::MethodNotAllowed,
        RequestOutcome::QueueFull,
        RequestOutcome::ClientError,
        RequestOutcome::ServerError,
    ];
    const COUNT: usize = RequestOutcome::ALL.len();

    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Matched => "matched",
            RequestOutcome::RulesNotSatisfied => "rules_not_satisfied",
            RequestOutcome::NothingToDeploy => "nothing_to_deploy",
            RequestOutcome::Paused => "paused",
            RequestOutcome::NotFound => "not_found",
            RequestOutcome::MethodNotAllowed => "method_not_allowed",
            RequestOutcome::QueueFull => "queue_full",
            RequestOutcome::ClientError => "client_error",
            RequestOutcome::ServerError => "server_error",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    hook: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    hook: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabel {
    hook: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// One hook's request counters, one per outcome, each taken from the family the first time
/// it counts: counting a request is then an atomic add, without building its labels (an
/// allocated hook id) and hashing them into the family every time.
#[derive(Default)]
struct HookRequests([OnceLock<Counter>; RequestOutcome::COUNT]);

/// One hook's ended-job counters, one per state, and its job duration histogram, each taken
/// from its family the first time it counts, as [`HookRequests`]: a job's end then builds no
/// labels (two allocated hook ids) and hashes nothing into a family.
#[derive(Default)]
struct HookJobs {
    ended: [OnceLock<Counter>; JobState::ALL.len()],
    duration: OnceLock<Histogram>,
}

/// The server's metrics; cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// The counters of `requests` by hook id (configured ids and [`UNKNOWN_HOOK`] only).
    /// foldhash, not SipHash: the keys come from the hooks file, never from a request, and
    /// hashing one is on every request's path.
    requests_by_hook: RwLock<foldhash::HashMap<String, HookRequests>>,
    jobs: Family<JobLabels, Counter>,
    /// The counters of `jobs` and `job_duration` by hook id (configured ids only), found with
    /// foldhash as `requests_by_hook`.
    jobs_by_hook: RwLock<foldhash::HashMap<String, HookJobs>>,
    job_duration: Family<HookLabel, Histogram, fn() -> Histogram>,
    running: Family<HookLabel, Gauge>,
    waiting: Family<HookLabel, Gauge>,
    reloads: Family<ResultLabel, Counter>,
    notifications: Family<ResultLabel, Counter>,
    store_degraded: Gauge,
    store_write_failures: Counter,
    store_dropped_writes: Counter,
    /// Held while a scrape sets the queue gauges and encodes, so two scrapes do not interleave.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hookrun");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests to hook URLs, by hook and outcome",
            requests.clone(),
        );
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "jobs",
            "Jobs that ended, by hook and final state",
            jobs.clone(),
        );
        let job_duration = Family::<HookLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register_with_unit(
            "job_duration",
            "Run time of jobs that ran a command, from start to end",
            Unit::Seconds,
            job_duration.clone(),
        );
        let running = Family::<HookLabel, Gauge>::default();
        registry.register("jobs_running", "Jobs running now, by hook", running.clone());
        let waiting = Family::<HookLabel, Gauge>::default();
        registry.register(
            "jobs_waiting",
            "Jobs waiting in their hook's queue or for a -max-jobs slot, by hook",
            waiting.clone(),
        );
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reloads",
            "Reloads of the hooks files, by result (ok, failed)",
            reloads.clone(),
        );
        let notifications = Family::<ResultLabel, Counter>::default();
        registry.register(
            "notifications",
            "Notification attempts, by result (delivered, failed, gave_up, held, refused, dropped)",
            notifications.clone(),
        );
        let store_degraded = Gauge::default();
        registry.register(
            "store_degraded",
            "1 while writes to the -state store fail and history is kept in memory only",
            store_degraded.clone(),
        );
        let store_write_failures = Counter::default();
        registry.register(
            "store_write_failures",
            "Failed commits to the -state store",
            store_write_failures.clone(),
        );
        let store_dropped_writes = Counter::default();
        registry.register(
            "store_dropped_writes",
            "Writes to the -state store given up from a full backlog while it failed",
            store_dropped_writes.clone(),
        );
        registry.register(
            "build",
            "The running hookrun's version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Metrics {
            registry,
            requests,
            requests_by_hook: RwLock::default(),
            jobs,
            jobs_by_hook: RwLock::default(),
            job_duration,
            running,
            waiting,
            reloads,
            notifications,
            store_degraded,
            store_write_failures,
            store_dropped_writes,
            scrape: Mutex::new(()),
        }
    }

    /// Counts a request to a hook URL; `hook` is a configured hook's id, or `None` when no hook
    /// has the requested id.
    pub fn request(&self, hook: Option<&str>, outcome: RequestOutcome) {
        let hook = hook.unwrap_or(UNKNOWN_HOOK);
        let counter = |counters: &HookRequests| {
            counters.0[outcome as usize]
                .get_or_init(|| {
                    let labels = RequestLabels {
                        hook: hook.to_string(),
                        outcome: outcome.as_str(),
                    };
                    self.requests.get_or_create(&labels).clone()
                })
                .inc();
        };
        let known = self
            .requests_by_hook
            .read()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(counters) = known.get(hook) {
            counter(counters);
            return;
        }
        drop(known);
        let mut known = self
            .requests_by_hook
            .write()
            .unwrap_or_else(|e| e.into_inner());
        counter(known.entry(hook.to_string()).or_default());
    }

    /// Counts a job of `hook` that ended in `state`, and how long its command ran, if it ran.
    pub fn job_ended(&self, hook: &str, state: JobState, ran_for: Option<Duration>) {
        // The declaration's order, which `JobState::ALL` lists too.
        let index = state as usize;
        let count = |jobs: &HookJobs| {
            jobs.ended[index]
                .get_or_init(|| {
                    let labels = JobLabels {
                        hook: hook.to_string(),
                        state: state.as_str(),
                    };
                    self.jobs.get_or_create(&labels).clone()
                })
                .inc();
            if let Some(ran_for) = ran_for {
                jobs.duration
                    .get_or_init(|| {
                        let label = HookLabel {
                            hook: hook.to_string(),
                        };
                        self.job_duration.get_or_create(&label).clone()
                    })
                    .observe(ran_for.as_secs_f64());
            }
        };
        let known = self.jobs_by_hook.read().unwrap_or_else(|e| e.into_inner());
        if let Some(jobs) = known.get(hook) {
            count(jobs);
            return;
        }
        drop(known);
        let mut known = self.jobs_by_hook.write().unwrap_or_else(|e| e.into_inner());
        count(known.entry(hook.to_string()).or_default());
    }

    /// Counts a reload that swapped in a new hook set (`ok`) or kept the old one.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    /// Counts a notification attempt; `result` is one of a fixed list of words.
    pub fn notification(&self, result: &'static str) {
        self.notifications
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// The metrics as OpenMetrics text, with the running and waiting jobs set from `queues`
    /// (hook, running, waiting) and the store's figures from `store` just before.
    pub fn render(&self, queues: &[(String, usize, usize)], store: &StoreHealth) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.store_degraded.set(i64::from(store.degraded()));
        // The store's counters only grow: each scrape adds what they grew by since the last.
        for (counter, now) in [
            (&self.store_write_failures, store.write_failures()),
            (&self.store_dropped_writes, store.dropped_writes()),
        ] {
            counter.inc_by(now.saturating_sub(counter.get()));
        }
        // Hooks whose queues have gone are dropped, not left at their last value.
        self.running.clear();
        self.waiting.clear();
        for (hook, running, waiting) in queues {
            let label = HookLabel { hook: hook.clone() };
            self.running
                .get_or_create(&label)
                .set(i64::try_from(*running).unwrap_or(i64::MAX));
            self.waiting
                .get_or_create(&label)
                .set(i64::try_from(*waiting).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_units_follow_the_conventions() {
        let m = Metrics::new();
        m.request(Some("deploy"), RequestOutcome::Matched);
        m.request(None, RequestOutcome::NotFound);
        m.job_ended(
            "deploy",
            JobState::Succeeded,
            Some(Duration::from_millis(300)),
        );
        m.reload(true);
        m.notification("delivered");
        let text = m.render(&[("deploy".into(), 1, 2)], &StoreHealth::default());
        for line in [
            "# TYPE hookrun_http_requests counter",
            "hookrun_http_requests_total{hook=\"deploy\",outcome=\"matched\"} 1",
            "hookrun_http_requests_total{hook=\"(unknown)\",outcome=\"not_found\"} 1",
            "hookrun_jobs_total{hook=\"deploy\",state=\"succeeded\"} 1",
            "# UNIT hookrun_job_duration_seconds seconds",
            "hookrun_job_duration_seconds_bucket{le=\"0.5\",hook=\"deploy\"} 1",
            "hookrun_job_duration_seconds_bucket{le=\"0.25\",hook=\"deploy\"} 0",
            "hookrun_job_duration_seconds_count{hook=\"deploy\"} 1",
            "hookrun_jobs_running{hook=\"deploy\"} 1",
            "hookrun_jobs_waiting{hook=\"deploy\"} 2",
            "hookrun_reloads_total{result=\"ok\"} 1",
            "hookrun_notifications_total{result=\"delivered\"} 1",
            "hookrun_store_degraded 0",
            "hookrun_store_write_failures_total 0",
            concat!(
                "hookrun_build_info{version=\"",
                env!("CARGO_PKG_VERSION"),
                "\"} 1"
            ),
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }

    #[test]
    fn each_outcome_of_each_hook_is_its_own_series() {
        let m = Metrics::new();
        for (i, outcome) in RequestOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome as usize, i, "{outcome:?}");
            for _ in 0..=i {
                m.request(Some("a"), outcome);
            }
            m.request(None, outcome);
        }
        let text = m.render(&[], &StoreHealth::default());
        for (i, outcome) in RequestOutcome::ALL.into_iter().enumerate() {
            let outcome = outcome.as_str();
            for line in [
                format!(
                    "hookrun_http_requests_total{{hook=\"a\",outcome=\"{outcome}\"}} {}",
                    i + 1
                ),
                format!(
                    "hookrun_http_requests_total{{hook=\"(unknown)\",outcome=\"{outcome}\"}} 1"
                ),
            ] {
                assert!(
                    text.lines().any(|l| l == line),
                    "{line} missing in:\n{text}"
                );
            }
        }
    }

    #[test]
    fn each_state_of_each_hook_is_its_own_series() {
        let m = Metrics::new();
        for (i, state) in JobState::ALL.into_iter().enumerate() {
            for hook in ["a", "b"] {
                for _ in 0..=i {
                    m.job_ended(hook, state, Some(Duration::from_millis(70)));
                }
            }
        }
        let text = m.render(&[], &StoreHealth::default());
        let runs: usize = (1..=JobState::ALL.len()).sum();
        let mut lines: Vec<String> = ["a", "b"]
            .into_iter()
            .flat_map(|hook| {
                JobState::ALL
                    .into_iter()
                    .enumerate()
                    .map(move |(i, state)| {
                        format!(
                            "hookrun_jobs_total{{hook=\"{hook}\",state=\"{}\"}} {}",
                            state.as_str(),
                            i + 1
                        )
                    })
            })
            .collect();
        lines.extend([
            format!("hookrun_job_duration_seconds_count{{hook=\"a\"}} {runs}"),
            format!("hookrun_job_duration_seconds_count{{hook=\"b\"}} {runs}"),
            format!("hookrun_job_duration_seconds_bucket{{le=\"0.1\",hook=\"a\"}} {runs}"),
            format!("hookrun_job_duration_seconds_bucket{{le=\"2.5\",hook=\"b\"}} {runs}"),
        ]);
        for line in lines {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }

    #[test]
    fn queues_that_are_gone_are_dropped() {
        let m = Metrics::new();
        m.render(&[("old".into(), 1, 0)], &StoreHealth::default());
        let text = m.render(&[], &StoreHealth::default());
        assert!(!text.contains("hook=\"old\""), "{text}");
    }
}
