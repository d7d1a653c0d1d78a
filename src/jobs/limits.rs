//! How many jobs run and wait, and how much of them is kept: the defaults and the limits the
//! `-max-jobs`, `-max-queue`, `-job-history*` and `-max-output` flags set.

/// Commands running at once by default (`-max-jobs`). A running job costs hookrun about 15 KiB
/// plus its output, and the machine one process per program it runs at that moment: 2 for
/// `sh -c 'sleep 0.2; echo done'`, 2 to 4 for a deploy script and the CLI it waits on. 256 jobs
/// stay within 1,024 processes, the smallest process limit commonly set for a container or pod,
/// and answer a burst of 500 commands in two waves (README "Default limits").
pub const DEFAULT_MAX_JOBS: usize = 256;

/// Requests of one hook that may wait by default (`-max-queue`). A waiting job costs about
/// 2.4 KiB, so a full queue is about 24 MiB: five times the largest burst the reference is known
/// to take without a failure, and still a bound when a flood arrives.
pub const DEFAULT_MAX_QUEUE: usize = 10_000;

/// Limits and defaults for running jobs and keeping them (the `-max-jobs`, `-max-queue`,
/// `-job-history*` and `-max-output` flags).
#[derive(Debug, Clone)]
pub struct JobLimits {
    /// `-max-jobs`: commands running at once across all hooks.
    pub max_jobs: usize,
    /// Default `max-queue`: requests of one hook waiting to run.
    pub max_queue: usize,
    /// `-job-history`: finished jobs kept for the jobs endpoint.
    pub history: usize,
    /// `-max-output`: bytes kept of a command's output (stdout and stderr together).
    pub max_output: usize,
    /// `-job-history-size`: bytes of output kept across finished jobs.
    pub history_bytes: usize,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            max_jobs: DEFAULT_MAX_JOBS,
            max_queue: DEFAULT_MAX_QUEUE,
            history: 1000,
            max_output: 1024 * 1024,
            history_bytes: 64 * 1024 * 1024,
        }
    }
}
