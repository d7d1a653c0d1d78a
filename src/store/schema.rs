//! The store's schema as numbered migrations, applied in order at start and recorded in
//! `schema_migrations` (SQLite: each in its own transaction; PostgreSQL: all in one, under an
//! advisory lock). The SQL keeps to what SQLite and PostgreSQL both accept (TEXT, BIGINT,
//! plain indexes, ADD COLUMN; no AUTOINCREMENT, no pragmas), so both backends run the same
//! list. A migration is never edited once released: a change is a new entry.
//!
//! How a backend migrates, the same for both: create the ledger ([`CREATE_LEDGER`]), read the
//! version it records ([`RECORDED_VERSION`]), take what [`pending`] returns (it refuses a
//! database written by a newer hookrun), and for each migration run its statements, record
//! its version and name in the ledger, and report it with [`applied`]. Each backend keeps only
//! what differs: its transaction API, its placeholders and clock in the ledger's `INSERT`.

use super::StoreError;

/// A migration: (version, name, SQL statements).
pub type Migration = (i64, &'static str, &'static [&'static str]);

/// The ledger of applied migrations.
pub const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// The newest version the ledger records (0 for a new database).
pub const RECORDED_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    (
        1,
        "jobs, runs, deploys, deliveries, pauses",
        &[
            "CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            hook TEXT NOT NULL,
            state TEXT NOT NULL,
            queued_at BIGINT NOT NULL,
            finished_at BIGINT,
            summary TEXT NOT NULL,
            stdout TEXT NOT NULL,
            stderr TEXT NOT NULL,
            weight BIGINT NOT NULL
        )",
            "CREATE INDEX jobs_queued_at ON jobs (queued_at)",
            "CREATE INDEX jobs_hook_queued_at ON jobs (hook, queued_at)",
            "CREATE INDEX jobs_state ON jobs (state)",
            "CREATE TABLE job_runs (
            job_id TEXT PRIMARY KEY,
            spec TEXT NOT NULL
        )",
            "CREATE TABLE deploys (
            job_id TEXT PRIMARY KEY,
            target TEXT NOT NULL,
            hook TEXT NOT NULL,
            good BIGINT NOT NULL,
            finished_at BIGINT NOT NULL,
            record TEXT NOT NULL
        )",
            "CREATE INDEX deploys_target_finished_at ON deploys (target, finished_at)",
            "CREATE TABLE deliveries (
            hook TEXT NOT NULL,
            delivery TEXT NOT NULL,
            job_ids TEXT NOT NULL,
            seen_at BIGINT NOT NULL,
            PRIMARY KEY (hook, delivery)
        )",
            "CREATE INDEX deliveries_seen_at ON deliveries (seen_at)",
            "CREATE TABLE hook_pauses (
            hook TEXT PRIMARY KEY,
            paused_at BIGINT NOT NULL,
            record TEXT NOT NULL
        )",
        ],
    ),
    (
        2,
        "replicas sharing one database: who records a job, leases, the shared queue",
        &[
            // The replica that recorded the job last (PostgreSQL; empty with SQLite).
            "ALTER TABLE jobs ADD COLUMN replica TEXT",
            // Every hookrun process sharing the database; alive while seen_at + lease_ms is in
            // the future of the database's clock.
            "CREATE TABLE replicas (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            seen_at BIGINT NOT NULL,
            lease_ms BIGINT NOT NULL
        )",
            // The jobs of `serial` and `latest` hooks that wait or run, in order per hook: the
            // one row with a runner holds the hook. `origin` received the job (NULL once handed
            // over); `client_waits` is 1 when a client waits for its output.
            "CREATE TABLE job_queue (
            job_id TEXT PRIMARY KEY,
            hook TEXT NOT NULL,
            seq BIGINT NOT NULL,
            origin TEXT,
            runner TEXT,
            client_waits BIGINT NOT NULL,
            queued_at BIGINT NOT NULL,
            started_at BIGINT
        )",
            "CREATE INDEX job_queue_hook_seq ON job_queue (hook, seq)",
        ],
    ),
    (
        3,
        "the shared queue: claims a replica can find again, holds renewed while a job runs",
        &[
            // The ticket of the claim that made `runner` run the job: a replica whose answer
            // to a claim was lost retries with the same ticket and finds its claim again.
            "ALTER TABLE job_queue ADD COLUMN claim TEXT",
            // When the runner last said it runs the job (its lease renewals): a row held by a
            // live replica that no longer runs it is freed once this is older than the lease.
            // NULL (rows written before this migration) falls back to the runner's lease.
            "ALTER TABLE job_queue ADD COLUMN held_at BIGINT",
        ],
    ),
];

/// The newest schema this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The migrations a database at `recorded` lacks, oldest first; an error for a database
/// newer than this build.
pub fn pending(recorded: i64) -> Result<impl Iterator<Item = &'static Migration>, StoreError> {
    if recorded > latest() {
        return Err(StoreError::TooNew {
            found: recorded,
            known: latest(),
        });
    }
    Ok(MIGRATIONS.iter().filter(move |m| m.0 > recorded))
}

/// Reports a migration the backend has applied.
pub fn applied(version: i64, name: &str) {
    tracing::info!(version, name, "store migrated");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_by_one() {
        for (i, (version, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1);
        }
    }

    #[test]
    fn pending_is_what_the_database_lacks() {
        let versions = |recorded| {
            pending(recorded)
                .expect("known")
                .map(|m| m.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(0), (1..=latest()).collect::<Vec<_>>());
        assert_eq!(versions(1), (2..=latest()).collect::<Vec<_>>());
        assert!(versions(latest()).is_empty());
        let Err(StoreError::TooNew { found, known }) = pending(latest() + 1) else {
            panic!("a newer database must be refused");
        };
        assert_eq!((found, known), (latest() + 1, latest()));
    }
}
