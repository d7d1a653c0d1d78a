//! What the store keeps: jobs as the jobs endpoint shows them, the command of each job (for
//! reruns, never shown), deploy records, delivery ids and paused hooks. Plain data with serde;
//! no storage logic.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::exec::Invocation;
use crate::jobs::{JobState, JobView};

/// Milliseconds since the Unix epoch: how the store orders and expires records.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Parses the RFC 3339 timestamps of a [`JobView`] back into epoch milliseconds.
pub fn parse_ms(rfc3339: &str) -> Option<i64> {
    humantime::parse_rfc3339_weak(rfc3339).ok().map(epoch_ms)
}

/// A job as stored: its view without output, and the output apart (listings never load it).
/// The output is one stream in write order (stdout and stderr share one pipe); it is kept in
/// the `stdout` column, and `stderr` stays empty (the columns date from when they were apart).
#[derive(Debug, Clone)]
pub struct StoredJob {
    pub view: JobView,
    pub stdout: String,
    pub stderr: String,
}

impl StoredJob {
    /// Splits a full view (with output) into the stored parts.
    pub fn from_view(mut view: JobView) -> StoredJob {
        view.stdout = None;
        let stdout = view.output.take().unwrap_or_default();
        StoredJob {
            view,
            stdout,
            stderr: String::new(),
        }
    }

    /// The view as the jobs endpoint shows it; output only `with_output`.
    pub fn into_view(self, with_output: bool) -> JobView {
        let mut view = self.view;
        if with_output {
            view.output = Some(self.stdout.clone());
            view.stdout = Some(self.stdout);
        }
        view
    }

    pub fn queued_ms(&self) -> i64 {
        parse_ms(&self.view.queued_at).unwrap_or(0)
    }

    pub fn finished_ms(&self) -> Option<i64> {
        self.view.finished_at.as_deref().and_then(parse_ms)
    }

    /// Bytes this record takes, roughly: what retention by size counts.
    pub fn weight(&self) -> usize {
        self.stdout.len() + self.stderr.len() + 512
    }
}

/// The command of a job, kept so that it can be run again exactly (rerun, rollback): program,
/// arguments, environment and files as the original request produced them. It may hold
/// secrets: it is never shown in any answer, page or log line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunSpec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    /// (variable, contents) of `pass-file-to-command` files; contents base64 in JSON.
    #[serde(with = "files_base64")]
    pub files: Vec<(String, Vec<u8>)>,
    pub timeout_ms: u64,
    /// The grace between SIGTERM and SIGKILL the command had (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace_ms: Option<u64>,
}

impl RunSpec {
    /// The spec of `inv` as the request built it.
    pub fn of(inv: &Invocation) -> RunSpec {
        RunSpec {
            program: inv.program.clone(),
            args: inv.args.clone(),
            env: inv.env.clone(),
            working_dir: inv.working_dir.clone(),
            files: inv.files.clone(),
            timeout_ms: u64::try_from(inv.timeout.as_millis()).unwrap_or(u64::MAX),
            kill_grace_ms: Some(u64::try_from(inv.kill_grace.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// Bytes this spec takes, roughly: what the memory cache of specs counts.
    pub fn weight(&self) -> usize {
        let pairs = |v: &[(String, String)]| v.iter().map(|(k, v)| k.len() + v.len() + 48).sum();
        let env: usize = pairs(&self.env);
        let args: usize = self.args.iter().map(|a| a.len() + 24).sum();
        let files: usize = self.files.iter().map(|(k, v)| k.len() + v.len() + 48).sum();
        self.program.len() + args + env + files + 256
    }

    /// The same invocation (another replica runs a job this one queued), with its own grace.
    pub fn original(&self, default_kill_grace: Duration) -> Invocation {
        let grace = self
            .kill_grace_ms
            .map_or(default_kill_grace, Duration::from_millis);
        self.invocation(grace)
    }

    /// A new invocation of the same command.
    pub fn invocation(&self, kill_grace: Duration) -> Invocation {
        Invocation {
            program: self.program.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            working_dir: self.working_dir.clone(),
            files: self.files.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            kill_grace,
            start: crate::exec::Start::AtExec,
        }
    }
}

mod files_base64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    type Files = Vec<(String, Vec<u8>)>;

    pub fn serialize<S: Serializer>(files: &Files, s: S) -> Result<S::Ok, S::Error> {
        let engine = base64::engine::general_purpose::STANDARD;
        let encoded: Vec<(&str, String)> = files
            .iter()
            .map(|(name, data)| (name.as_str(), engine.encode(data)))
            .collect();
        encoded.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Files, D::Error> {
        let engine = base64::engine::general_purpose::STANDARD;
        let encoded = Vec::<(String, String)>::deserialize(d)?;
        encoded
            .into_iter()
            .map(|(name, data)| {
                engine
                    .decode(data)
                    .map(|bytes| (name, bytes))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// A deploy: a job whose `HOOKRUN_RESULT` named a `target`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeployRecord {
    pub job_id: String,
    pub hook: String,
    /// `swarm:web`, `container:web`, `kubernetes:ns/deployment/web/app`...
    pub target: String,
    /// The job's state: a deploy counts as good when it `succeeded` and was not rolled back.
    pub state: JobState,
    pub image_before: Option<String>,
    pub image_after: Option<String>,
    pub digest: Option<String>,
    /// The command rolled the target back by itself (the new image did not come up).
    pub rolled_back: bool,
    /// The command's own words: `status` and `message` of its result file.
    pub status: Option<String>,
    pub message: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: String,
    /// Set when an admin started this job to roll the target back (the job it reran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
}

impl DeployRecord {
    /// The target a job's result names, if it names one: its job describes a deploy.
    pub fn target(result: &BTreeMap<String, String>) -> Option<&String> {
        result.get("target").filter(|t| !t.trim().is_empty())
    }

    /// The deploy a finished job describes, if its result names a target.
    pub fn of(view: &JobView, rollback_of: Option<String>) -> Option<DeployRecord> {
        let result = &view.result;
        let target = DeployRecord::target(result)?;
        let value = |key: &str| result.get(key).filter(|v| !v.is_empty()).cloned();
        Some(DeployRecord {
            job_id: view.id.clone(),
            hook: view.hook.clone(),
            target: target.trim().to_string(),
            state: view.state,
            image_before: value("image_before"),
            image_after: value("image_after"),
            digest: value("digest"),
            rolled_back: result.get("rolled_back").is_some_and(|v| truthy(v.trim())),
            status: value("status"),
            message: value("message"),
            started_at: view.started_at.clone(),
            finished_at: view.finished_at.clone().unwrap_or_default(),
            rollback_of,
        })
    }

    /// A deploy that left the target on its new image.
    pub fn is_good(&self) -> bool {
        self.state == JobState::Succeeded && !self.rolled_back
    }

    pub fn finished_ms(&self) -> i64 {
        parse_ms(&self.finished_at).unwrap_or(0)
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on")
}

/// A paused hook: it answers without running anything until resumed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PauseRecord {
    pub hook: String,
    pub paused_at: String,
    /// Why, in the admin's words (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A delivery id seen for a hook and the jobs it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub hook: String,
    pub key: String,
    pub job_ids: Vec<String>,
    pub seen_ms: i64,
}

/// Which jobs a listing wants.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub hook: Option<String>,
    pub state: Option<JobState>,
    /// Jobs queued before this (epoch ms), for paging.
    pub before_ms: Option<i64>,
    pub limit: usize,
}

impl JobFilter {
    pub fn matches(&self, view: &JobView) -> bool {
        self.hook.as_ref().is_none_or(|h| *h == view.hook)
            && self.state.is_none_or(|s| s == view.state)
            && self
                .before_ms
                .is_none_or(|b| parse_ms(&view.queued_at).unwrap_or(0) < b)
    }
}

/// The latest state of each target: its newest deploy and how many are kept.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSummary {
    pub target: String,
    pub latest: DeployRecord,
    /// The image the target runs, as far as the history knows: the newest good deploy's.
    pub current_image: Option<String>,
    pub deploys: usize,
}

/// Summaries per target, newest activity first, from deploys in any order.
pub fn summarize_targets(deploys: &[DeployRecord]) -> Vec<TargetSummary> {
    let mut by_target: BTreeMap<&str, Vec<&DeployRecord>> = BTreeMap::new();
    for d in deploys {
        by_target.entry(d.target.as_str()).or_default().push(d);
    }
    let mut out: Vec<TargetSummary> = by_target
        .into_iter()
        .filter_map(|(target, mut list)| {
            list.sort_by_key(|d| std::cmp::Reverse(d.finished_ms()));
            let latest = (*list.first()?).clone();
            let current_image = list
                .iter()
                .find(|d| d.is_good())
                .and_then(|d| d.image_after.clone());
            Some(TargetSummary {
                target: target.to_string(),
                latest,
                current_image,
                deploys: list.len(),
            })
        })
        .collect();
    out.sort_by_key(|t| std::cmp::Reverse(t.latest.finished_ms()));
    out
}
