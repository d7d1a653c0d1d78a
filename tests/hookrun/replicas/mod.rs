//! Several replicas of the built binary sharing one PostgreSQL: `serial` and `latest` across
//! replicas (`ordering`), a replica killed with SIGKILL, a graceful hand-over and PostgreSQL
//! restarted under load (`failover`), one view of jobs, deploys and pauses from any replica,
//! delivery dedup across replicas, TLS and the password (`view`), clients that leave while
//! their job is queued (`departed`), answers lost with a connection (`lost_answers`, through
//! the proxy of `cut`).
//!
//! They need a PostgreSQL server: `scripts/test` starts one (`tests/replicas/postgres.sh`) and
//! runs them with `--ignored`; by hand:
//! `tests/replicas/postgres.sh start /tmp/pg && set -a && . /tmp/pg/env && set +a &&
//! cargo test --test hookrun replicas:: -- --ignored`. One runs at a time (one of them
//! restarts the server).

mod cut;
mod departed;
mod failover;
mod lost_answers;
mod ordering;
mod view;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixture::{client, job_id, state, Fixture};
use crate::history::TOKEN;

/// One replica test at a time: one restarts the server the others use.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The PostgreSQL server of the tests (from the environment `postgres.sh` wrote).
#[derive(Clone)]
pub struct Pg {
    port: u16,
    pub password_file: PathBuf,
    pub password: String,
    pub ca: PathBuf,
    dir: PathBuf,
}

pub fn pg() -> Pg {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: start PostgreSQL with tests/replicas/postgres.sh and load its env file (scripts/test does)")
        })
    };
    let url = var("HOOKRUN_TEST_POSTGRES");
    let port = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("HOOKRUN_TEST_POSTGRES names a port");
    let password_file = PathBuf::from(var("HOOKRUN_TEST_POSTGRES_PASSWORD_FILE"));
    let password = std::fs::read_to_string(&password_file)
        .expect("reading the password file")
        .trim()
        .to_string();
    Pg {
        port,
        password_file,
        password,
        ca: PathBuf::from(var("HOOKRUN_TEST_POSTGRES_CA")),
        dir: PathBuf::from(var("HOOKRUN_TEST_POSTGRES_DIR")),
    }
}

impl Pg {
    /// A connection to the server's `postgres` database, for the tests' own statements.
    pub async fn admin(&self) -> tokio_postgres::Client {
        self.connect("postgres").await
    }

    /// A new, empty database; its URL (TLS, the server's certificate checked, no password).
    pub async fn database(&self) -> String {
        let name = format!("hookrun_{}", hex::encode(rand::random::<[u8; 6]>()));
        self.admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        format!(
            "postgres://postgres@127.0.0.1:{}/{name}?sslmode=verify-full&sslrootcert={}",
            self.port,
            self.ca.display()
        )
    }

    /// A connection to database `name` (the tests' own statements on the replicas' data).
    pub async fn connect(&self, name: &str) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .password(&self.password)
            .dbname(name);
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connecting to the test PostgreSQL");
        tokio::spawn(conn);
        client
    }

    /// Restarts the server (fast shutdown, then start on the same port).
    pub fn restart(&self) {
        let status = std::process::Command::new(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/replicas/postgres.sh"),
        )
        .arg("restart")
        .arg(&self.dir)
        .status()
        .expect("running postgres.sh");
        assert!(status.success(), "restarting PostgreSQL");
    }
}

/// Replicas of hookrun sharing one fresh database, and a folder their commands write to.
pub struct Replicas {
    pub replicas: Vec<Option<Fixture>>,
    pub pg: Pg,
    pub url: String,
    pub http: reqwest::Client,
    /// Where the hooks' commands write (shared by the replicas).
    pub dir: tempfile::TempDir,
    _one: tokio::sync::MutexGuard<'static, ()>,
}

impl Replicas {
    /// Starts `n` replicas serving `hooks` (built by `hooks(dir)`, `dir` being the shared
    /// folder) with `-state` on a new database and `extra` flags.
    pub async fn start(
        n: usize,
        hooks: impl Fn(&std::path::Path) -> Vec<Value>,
        extra: &[&str],
    ) -> Replicas {
        let one = ONE_AT_A_TIME.lock().await;
        let pg = pg();
        let url = pg.database().await;
        let dir = tempfile::tempdir().expect("a shared folder");
        let hooks = hooks(dir.path());
        let mut replicas = Vec::new();
        for _ in 0..n {
            replicas.push(Some(start_replica(&pg, &url, &hooks, extra)));
        }
        Replicas {
            replicas,
            pg,
            url,
            http: client(),
            dir,
            _one: one,
        }
    }

    pub fn replica(&self, i: usize) -> &Fixture {
        self.replicas[i].as_ref().expect("a running replica")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A connection to the replicas' database.
    pub async fn database(&self) -> tokio_postgres::Client {
        let name = self
            .url
            .split('?')
            .next()
            .and_then(|url| url.rsplit('/').next())
            .expect("the database's name");
        self.pg.connect(name).await
    }

    /// `POST /hooks/{hook}{query}` on replica `i`.
    pub async fn post(&self, i: usize, hook_and_query: &str) -> reqwest::Response {
        self.http
            .post(self.replica(i).url(&format!("/hooks/{hook_and_query}")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST to replica {i}: {e}"))
    }

    /// Triggers a hook on replica `i`, expecting 200; the job id.
    pub async fn trigger(&self, i: usize, hook_and_query: &str) -> String {
        let resp = self.post(i, hook_and_query).await;
        assert_eq!(resp.status(), 200, "{hook_and_query} on replica {i}");
        job_id(&resp)
    }

    /// `GET /jobs/{id}` on replica `i`.
    pub async fn job(&self, i: usize, id: &str) -> Value {
        self.replica(i).job(id).await
    }

    /// Waits until job `id`, read from replica `i`, satisfies `pred`.
    pub async fn wait_job(
        &self,
        i: usize,
        id: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        self.replica(i).wait_job(id, limit, pred).await
    }

    pub async fn wait_done(&self, i: usize, id: &str, limit: Duration) -> Value {
        self.wait_job(i, id, limit, |j| !matches!(state(j), "queued" | "running"))
            .await
    }

    /// `GET path` on replica `i` with the admin token, as JSON.
    pub async fn admin_get(&self, i: usize, path: &str) -> Value {
        let resp = self
            .http
            .get(self.replica(i).url(path))
            .header("authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .expect("admin GET");
        assert_eq!(resp.status(), 200, "GET {path} on replica {i}");
        resp.json().await.expect("admin JSON")
    }

    /// The replica id replica `i` gives its jobs (from one of its jobs' records).
    pub fn replica_id(&self, i: usize) -> String {
        let log = self.replica(i).log();
        let at = log
            .find("replica=")
            .unwrap_or_else(|| panic!("replica {i} logs no replica id: {log}"));
        log[at + "replica=".len()..]
            .split_whitespace()
            .next()
            .expect("a replica id")
            .to_string()
    }

    /// Every replica's log, checked for the database password.
    pub fn assert_no_password_logged(&self) {
        for (i, r) in self.replicas.iter().enumerate() {
            if let Some(r) = r {
                assert!(
                    !r.log().contains(&self.pg.password),
                    "replica {i} logged the database password"
                );
            }
        }
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_password_logged();
        }
    }
}

/// Starts one replica of `hooks` against `url`.
pub fn start_replica(pg: &Pg, url: &str, hooks: &[Value], extra: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("a replica's folder");
    std::fs::write(dir.path().join("admin-token"), format!("{TOKEN}\n")).expect("admin token");
    crate::fixture::write_json(
        &dir.path().join("hooks.json"),
        &Value::Array(hooks.to_vec()),
    );
    let pw = pg.password_file.display().to_string();
    let mut args = vec![
        "-hooks",
        "hooks.json",
        "-state",
        url,
        "-state-password-file",
        &pw,
        "-admin-token-file",
        "admin-token",
        "-verbose",
    ];
    args.extend_from_slice(extra);
    let replica = Fixture::start_in(dir, &args);
    // It listens before its store is open (requests wait): a test starts once it is.
    let end = Instant::now() + Duration::from_secs(40);
    while !replica.log().contains("job store opened") {
        assert!(
            Instant::now() < end,
            "the store did not open: {}",
            replica.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    replica
}

/// Lines of a file the commands append to.
pub fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until `path` has at least `n` lines.
pub async fn wait_lines(path: &std::path::Path, n: usize, limit: Duration) -> Vec<String> {
    let end = Instant::now() + limit;
    loop {
        let got = lines(path);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < end,
            "{} has {} lines, not {n}",
            path.display(),
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Answers a client was told to retry: `503` and `429`, each with `Retry-After`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Retried {
    pub unavailable: u32,
    pub busy: u32,
}

impl std::ops::AddAssign for Retried {
    fn add_assign(&mut self, other: Retried) {
        self.unavailable += other.unavailable;
        self.busy += other.busy;
    }
}

/// Posts until the answer is not "retry later" (429 or 503, each with `Retry-After`, which
/// is what a client may retry); any other 5xx fails the test. Returns the final answer and
/// the answers it retried.
pub async fn post_retrying(http: &reqwest::Client, url: &str) -> (reqwest::Response, Retried) {
    let mut retried = Retried::default();
    loop {
        let resp = http
            .post(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status().as_u16();
        if status == 429 || status == 503 {
            assert!(
                resp.headers().contains_key("retry-after"),
                "{status} without Retry-After"
            );
            if status == 503 {
                retried.unavailable += 1;
            } else {
                retried.busy += 1;
            }
            let retries = retried.unavailable + retried.busy;
            assert!(retries < 400, "{url} refused {retries} times");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert!(
            status < 500,
            "{url}: {status} {}",
            resp.text().await.unwrap_or_default()
        );
        return (resp, retried);
    }
}

/// Makes the COMMIT of every transaction that inserts into `table` wait for the advisory lock
/// `key`: a test that holds the lock holds those commits (a deferred constraint trigger runs
/// at COMMIT), and releases them by unlocking.
pub async fn hold_commits_on(db: &tokio_postgres::Client, table: &str, key: i64) {
    db.batch_execute(&format!(
        "CREATE FUNCTION hold_commit_{table}() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_advisory_xact_lock({key}); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON {table} \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit_{table}()"
    ))
    .await
    .expect("a trigger that holds commits");
}
