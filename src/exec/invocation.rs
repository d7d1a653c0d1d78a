//! What a command is: the program, its arguments, environment, files and limits, and what its
//! start waits for.

use std::path::PathBuf;
use std::time::Duration;

/// Everything needed to run one command.
#[derive(Debug)]
pub struct Invocation {
    /// `execute-command` as written; argv[0].
    pub program: String,
    pub args: Vec<String>,
    /// Added to the inherited environment.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    /// Files to create before the command starts: (variable, contents).
    pub files: Vec<(String, Vec<u8>)>,
    pub timeout: Duration,
    pub kill_grace: Duration,
    /// What its start waits for: the request's handler knows whether anyone waits for the
    /// command's end.
    pub start: Start,
}

#[cfg(test)]
impl Invocation {
    /// For tests: `program` with `args`, nothing added to the environment, no files, run where
    /// hookrun runs, 300 ms between SIGTERM and SIGKILL, and a start that waits for the exec.
    pub(crate) fn command(program: &str, args: &[&str], timeout: Duration) -> Self {
        Invocation {
            program: program.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            working_dir: None,
            files: Vec::new(),
            timeout,
            kill_grace: Duration::from_millis(300),
            start: Start::AtExec,
        }
    }
}

/// What a command's start waits for, where its child is born in a job cgroup by `clone3`
/// (elsewhere every start waits for the exec). See README "Execution control".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Start {
    /// The child's exec (`CLONE_VFORK`, as `posix_spawn`): the starting thread sleeps until
    /// then and is woken by the exec, so a burst's children finish their own start-up (the
    /// dynamic loader) once the server is idle rather than beside the requests still to be
    /// answered. For commands whose answer goes out before they end.
    #[default]
    AtExec,
    /// Only the child's birth: it runs on to its exec beside hookrun's threads, sparing a
    /// context switch each way and the start's hold on its thread. For commands whose answer
    /// waits for their end anyway (their output in the response, or streamed).
    AtClone,
}
