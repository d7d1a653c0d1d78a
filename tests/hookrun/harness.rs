//! An in-process server: the real `hookrun::server::run` on 127.0.0.1:0 inside the test
//! process, its hooks written to a temporary folder and loaded by the real loader, an HTTP
//! client, and the server's state (hooks, settings, job manager) at hand.
//!
//! ```ignore
//! let server = TestServer::builder()
//!     .hooks([sh_hook("hi", "echo hi", &[])])
//!     .settings(|s| s.command_timeout = Duration::from_secs(5))
//!     .start()
//!     .await;
//! let resp = server.post("/hooks/hi").send().await.unwrap();
//! server.stop().await;
//! ```
//! Use the binary (`fixture::Fixture`) for what needs a process: flags, signals, exit codes.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use hookrun::config::{self, template::SystemEnv, LoadOptions};
use hookrun::jobs::{self, Job, JobManager};
use hookrun::reload::{self, Reloader};
use hookrun::server::{self, AdminAuth, AppState, Listener, Shutdown};
use hookrun::store::{Store, StoreSettings};

use crate::fixture::{client, write_json};

/// Builds a [`TestServer`]: hooks, settings, extra files.
pub struct Builder {
    dir: tempfile::TempDir,
    hooks_file: PathBuf,
    settings: server::Settings,
    jobs: jobs::JobLimits,
    load: LoadOptions,
    store: StoreSettings,
    admin: AdminAuth,
}

impl Builder {
    /// The store's settings (default: memory only).
    pub fn store(mut self, change: impl FnOnce(&mut StoreSettings)) -> Self {
        change(&mut self.store);
        self
    }

    /// An admin token (default: none configured).
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin = AdminAuth::from_token(token);
        self
    }

    /// The hooks as JSON values, written to `hooks.json`.
    pub fn hooks(self, hooks: impl IntoIterator<Item = Value>) -> Self {
        let path = self.dir.path().join("hooks.json");
        write_json(&path, &Value::Array(hooks.into_iter().collect()));
        self.hooks_at(path)
    }

    /// A hooks file written as JSON text.
    pub fn hooks_json(self, text: &str) -> Self {
        self.file("hooks.json", text).hooks_at_name("hooks.json")
    }

    /// A hooks file written as YAML text.
    pub fn hooks_yaml(self, text: &str) -> Self {
        self.file("hooks.yaml", text).hooks_at_name("hooks.yaml")
    }

    /// Changes the server's settings (defaults: the flags' defaults).
    pub fn settings(mut self, change: impl FnOnce(&mut server::Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Changes the job manager's limits.
    pub fn jobs(mut self, change: impl FnOnce(&mut jobs::JobLimits)) -> Self {
        change(&mut self.jobs);
        self
    }

    /// Loads the hooks file the way `-template` / `-lenient` do.
    pub fn load_options(mut self, change: impl FnOnce(&mut LoadOptions)) -> Self {
        change(&mut self.load);
        self
    }

    /// A path in the server's folder, for commands to write to. Commands run in the test
    /// process's working directory unless a hook sets `command-working-directory`: give them
    /// absolute paths.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file into the server's folder (scripts, payloads...).
    pub fn file(self, name: &str, contents: &str) -> Self {
        std::fs::write(self.dir.path().join(name), contents).expect("writing a test file");
        self
    }

    fn hooks_at_name(self, name: &str) -> Self {
        let path = self.dir.path().join(name);
        self.hooks_at(path)
    }

    fn hooks_at(mut self, path: PathBuf) -> Self {
        self.hooks_file = path;
        self
    }

    /// Loads the hooks (panicking on any error, with every problem) and starts serving.
    pub async fn start(mut self) -> TestServer {
        let sources = vec![self.hooks_file.display().to_string()];
        self.load.mail_server = self.settings.notify.smtp.is_some();
        let loaded = config::load(&sources, &self.load, &SystemEnv);
        let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        let hooks = loaded
            .set
            .unwrap_or_else(|| panic!("the test hooks do not load:\n{}", problems.join("\n")));
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let addr = tcp.local_addr().expect("local address");
        let store = Store::open(self.store).await.expect("opening the store");
        let state = AppState::with_store(hooks, self.settings, self.jobs, store, self.admin)
            .expect("starting the notifier");
        let shutdown = Shutdown::new();
        let task = tokio::spawn(server::run(
            Listener::Tcp(tcp),
            state.clone(),
            shutdown.clone(),
        ));
        TestServer {
            addr,
            state,
            http: client(),
            sources,
            load: self.load,
            dir: self.dir,
            shutdown,
            task: Some(task),
        }
    }
}

/// A server running inside the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    sources: Vec<String>,
    load: LoadOptions,
    dir: tempfile::TempDir,
    shutdown: Shutdown,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn builder() -> Builder {
        let dir = tempfile::tempdir().expect("creating a temporary folder");
        let hooks_file = dir.path().join("hooks.json");
        Builder {
            dir,
            hooks_file,
            settings: server::Settings::default(),
            jobs: jobs::JobLimits::default(),
            load: LoadOptions::default(),
            store: StoreSettings::default(),
            admin: AdminAuth::none(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path))
    }

    /// `POST /hooks/{id}` with a JSON body.
    pub async fn trigger(&self, id: &str, body: Value) -> reqwest::Response {
        self.post(&format!("/hooks/{id}"))
            .json(&body)
            .send()
            .await
            .expect("sending the hook request")
    }

    /// A file in the server's folder (hook commands can write there).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn jobs(&self) -> &JobManager {
        &self.state.jobs
    }

    /// The job `id` from the job manager.
    pub fn job(&self, id: &str) -> Arc<Job> {
        self.state
            .jobs
            .get(id)
            .unwrap_or_else(|| panic!("no job {id}"))
    }

    /// Rewrites the hooks file with `hooks` and reloads it as SIGHUP would.
    pub fn reload_with(&self, hooks: impl IntoIterator<Item = Value>) -> reload::Outcome {
        write_json(
            std::path::Path::new(&self.sources[0]),
            &Value::Array(hooks.into_iter().collect()),
        );
        Reloader::new(
            self.sources.clone(),
            self.load.clone(),
            self.state.hooks.clone(),
        )
        .reload(true)
    }

    /// Triggers the shutdown (a second call forces it), without waiting.
    pub fn trigger_shutdown(&self) -> server::ShutdownStage {
        self.shutdown.trigger()
    }

    /// Shuts down gracefully (unless already triggered) and waits until `server::run` has
    /// returned; panics if it takes longer than `limit`.
    pub async fn stop_within(&mut self, limit: Duration) {
        if !self.shutdown.is_requested() {
            self.shutdown.trigger();
        }
        let task = self.task.take().expect("the server task");
        tokio::time::timeout(limit, task)
            .await
            .expect("the server did not stop in time")
            .expect("the server task")
            .expect("serving");
    }

    /// Shuts down gracefully and waits (up to 30 s) until `server::run` has returned.
    pub async fn stop(&mut self) {
        self.stop_within(Duration::from_secs(30)).await;
    }
}

impl Drop for TestServer {
    /// A test that did not stop its server (it failed) forces the shutdown, so the job
    /// manager kills whatever commands are still running while the runtime lasts.
    fn drop(&mut self) {
        if self.task.is_some() {
            self.shutdown.trigger();
            self.shutdown.trigger();
        }
    }
}
