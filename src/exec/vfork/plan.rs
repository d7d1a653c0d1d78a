//! What a child reads between its clone and exec, built before the clone in ordinary code:
//! the program's path, argv and envp as C strings (hookrun's environment read once, the job's
//! variables merged in, sorted by name), the folder and the descriptors.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::AtomicI32;
use std::sync::OnceLock;

use nix::libc;

use super::Spawn;

/// What the child reads, all of it made before the clone. The pointers point into the strings
/// held next to them.
pub(super) struct Plan {
    pub(super) path: CString,
    _args: Vec<CString>,
    pub(super) argv: Vec<*const libc::c_char>,
    _env: Vec<u8>,
    pub(super) envp: Vec<*const libc::c_char>,
    pub(super) dir: Option<CString>,
    pub(super) stdin: RawFd,
    pub(super) output: RawFd,
    /// The job cgroup's `cgroup.procs`, open for writing, when the child must move itself
    /// into the cgroup (it was not born there: no `clone3`).
    pub(super) procs: Option<RawFd>,
    /// The highest signal number, whose default the child may have to restore.
    pub(super) last_signal: libc::c_int,
    /// Whether the kernel has reset the child's caught signals to their defaults
    /// (`CLONE_CLEAR_SIGHAND`, with `clone3`): the child then only restores SIGPIPE.
    pub(super) handlers_cleared: bool,
    /// The write end of a close-on-exec pipe the child writes the errno of a step that failed
    /// to (an exec closes it unwritten), when it may not share hookrun's memory (no `clone3`);
    /// else it stores the errno in `failed`.
    pub(super) report: Option<RawFd>,
    /// The errno of the step that failed, stored by a child that shares hookrun's memory; 0
    /// while none did.
    pub(super) failed: AtomicI32,
}

// SAFETY: the pointers point into the strings the plan owns (on the heap: moving the plan
// does not move them), which nothing changes while the plan lives; the child only reads them.
#[allow(unsafe_code)]
unsafe impl Send for Plan {}

fn c_string(bytes: &[u8]) -> std::io::Result<CString> {
    CString::new(bytes).map_err(|_| nul_byte())
}

/// std's words for a string with a nul byte in it, so a job's error reads the same either way.
fn nul_byte() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "nul byte found in provided data",
    )
}

/// hookrun's environment as every command inherits it: each variable's name and its
/// `NAME=value` entry, sorted by name. Read at the first command's start: hookrun takes out of
/// its environment what commands must not see (its own secrets, systemd's variables) at start,
/// before any command runs, and does not change it afterwards.
fn inherited_env() -> &'static [(OsString, CString)] {
    static ENV: OnceLock<Vec<(OsString, CString)>> = OnceLock::new();
    ENV.get_or_init(|| {
        let vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        vars.into_iter()
            .filter_map(|(name, value)| {
                // An environment has no nul byte in it: nothing is dropped here.
                let entry = CString::new([name.as_bytes(), b"=", value.as_bytes()].concat());
                Some((name, entry.ok()?))
            })
            .collect()
    })
}

/// The job's variables as the child reads them: in name order, a later value of a name
/// replacing an earlier one (as std's `Command::env`), each a nul-terminated `NAME=value` in
/// one buffer. One allocation for them all, where a C string each took two (the entry, then
/// its nul) behind a map's nodes.
struct JobEnv<'a> {
    vars: Vec<(&'a OsStr, &'a OsStr)>,
    /// The entries, one after the other, in `vars`' order.
    entries: Vec<u8>,
}

impl<'a> JobEnv<'a> {
    /// Refuses a name or value with a nul byte in it, as std does.
    fn new(vars: &[(&'a OsStr, &'a OsStr)]) -> std::io::Result<JobEnv<'a>> {
        let mut vars = vars.to_vec();
        // Stable: of one name's values the last stays last, and is the one kept.
        vars.sort_by(|a, b| a.0.cmp(b.0));
        vars.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                *earlier = *later;
            }
            same
        });
        let len = vars.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
        let mut entries = Vec::with_capacity(len);
        for (name, value) in &vars {
            let (name, value) = (name.as_bytes(), value.as_bytes());
            if name.contains(&0) || value.contains(&0) {
                return Err(nul_byte());
            }
            entries.extend_from_slice(name);
            entries.push(b'=');
            entries.extend_from_slice(value);
            entries.push(0);
        }
        Ok(JobEnv { vars, entries })
    }

    /// Each variable's name and its entry, in name order.
    fn entries(&self) -> impl Iterator<Item = (&OsStr, *const libc::c_char)> {
        self.vars.iter().scan(0, |start, (name, value)| {
            let entry = self.entries[*start..].as_ptr().cast();
            *start += name.len() + value.len() + 2;
            Some((*name, entry))
        })
    }
}

/// The child's `envp`: `inherited` and `job` (both sorted by name) merged in name order, a
/// job variable replacing an inherited one of the same name; null-terminated.
fn merged_env(inherited: &'static [(OsString, CString)], job: &JobEnv) -> Vec<*const libc::c_char> {
    let mut envp = Vec::with_capacity(inherited.len() + job.vars.len() + 1);
    let mut job = job.entries().peekable();
    for (name, entry) in inherited {
        while let Some((_, own)) = job.next_if(|(own, _)| *own < name.as_os_str()) {
            envp.push(own);
        }
        // Replaced: the job's own entry comes next.
        if job.peek().is_none_or(|(own, _)| *own != name.as_os_str()) {
            envp.push(entry.as_ptr());
        }
    }
    envp.extend(job.map(|(_, own)| own));
    envp.push(std::ptr::null());
    envp
}

impl Plan {
    pub(super) fn new(spawn: &Spawn) -> std::io::Result<Plan> {
        let mut args = vec![c_string(spawn.arg0.as_bytes())?];
        for arg in spawn.args {
            args.push(c_string(arg.as_bytes())?);
        }
        // The job's variables merged, in name order, with hookrun's, which they override.
        let env = JobEnv::new(&spawn.env)?;
        let envp = merged_env(inherited_env(), &env);
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        Ok(Plan {
            path: c_string(spawn.path.as_os_str().as_bytes())?,
            argv,
            _args: args,
            envp,
            _env: env.entries,
            dir: spawn
                .dir
                .map(|d| c_string(d.as_os_str().as_bytes()))
                .transpose()?,
            stdin: spawn.stdin.as_raw_fd(),
            output: spawn.output.as_raw_fd(),
            procs: None,
            last_signal: libc::SIGRTMAX(),
            handlers_cleared: false,
            report: None,
            failed: AtomicI32::new(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(envp: &[*const libc::c_char]) -> Vec<String> {
        let (end, entries) = envp.split_last().expect("a terminated list");
        assert!(end.is_null());
        entries
            .iter()
            // SAFETY: each pointer points into a C string (a CString, a JobEnv's entries) that
            // outlives this call.
            .map(|&p| {
                #[allow(unsafe_code)]
                let entry = unsafe { std::ffi::CStr::from_ptr(p) };
                entry.to_string_lossy().into_owned()
            })
            .collect()
    }

    #[test]
    fn the_job_environment_is_merged_in_name_order_replacing_inherited_names() {
        let inherited: &'static [(OsString, CString)] = Box::leak(
            ["B=1", "D=2", "F=3"]
                .iter()
                .map(|e| (OsString::from(&e[..1]), CString::new(*e).unwrap()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let job = |vars: &[&'static str]| -> Vec<(&'static OsStr, &'static OsStr)> {
            vars.iter()
                .map(|e| (OsStr::new(&e[..1]), OsStr::new(&e[2..])))
                .collect()
        };
        for (own, want) in [
            (vec![], vec!["B=1", "D=2", "F=3"]),
            (
                vec!["G=z", "D=y", "A=x"],
                vec!["A=x", "B=1", "D=y", "F=3", "G=z"],
            ),
            (vec!["B=x", "C=y", "F=z"], vec!["B=x", "C=y", "D=2", "F=z"]),
            (vec!["E=x"], vec!["B=1", "D=2", "E=x", "F=3"]),
            // A later value of a name replaces an earlier one, wherever it comes.
            (
                vec!["E=1", "A=1", "E=2", "D=1", "A=2", "E=3"],
                vec!["A=2", "B=1", "D=1", "E=3", "F=3"],
            ),
        ] {
            let own = JobEnv::new(&job(&own)).unwrap();
            assert_eq!(entries(&merged_env(inherited, &own)), want);
        }
        let own = JobEnv::new(&job(&["A=x", "A=", "C=y"])).unwrap();
        assert_eq!(entries(&merged_env(&[], &own)), ["A=", "C=y"]);
    }

    #[test]
    fn a_job_variable_with_a_nul_byte_is_refused() {
        for var in [("A\0B", "x"), ("A", "x\0y")] {
            let var = [(OsStr::new(var.0), OsStr::new(var.1))];
            let error = JobEnv::new(&var).err().expect("refused");
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(error.to_string(), "nul byte found in provided data");
        }
    }
}
