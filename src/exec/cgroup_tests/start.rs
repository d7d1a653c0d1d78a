//! How commands start in their job cgroups: as std would start them (argv, environment,
//! folder, fds, signals, errors), born there or moved there before their exec, and many at once.

use super::*;

/// A command started in its cgroup sees what std would have given it: the same argv, the same
/// environment in the same order, the same folder, fds 0-2 only, an empty signal mask and no
/// ignored SIGPIPE (hookrun ignores it), and the same errors.
#[tokio::test]
async fn a_command_in_a_cgroup_starts_as_std_starts_one() {
    let Some(cgroups) = cgroups() else { return };
    let process_groups = || Isolation::ProcessGroups {
        reason: "test".into(),
    };
    // What differs by design: the temporary files' random names; and glibc's own signals
    // (32 and up), which its posix_spawn ignores in the command and this leaves as they are:
    // only signals below 32 are compared.
    let comparable = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with("HOOKRUN_RESULT=") && !l.starts_with("HOOKRUN_FILE="))
            .map(|l| match l.strip_prefix("SigIgn:\t") {
                Some(mask) => {
                    let mask = u64::from_str_radix(mask, 16).expect("a hex mask");
                    format!("SigIgn below 32: {:x}", mask & 0x7fff_ffff)
                }
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
    };
    let script = "env; pwd; ls /proc/self/fd; grep -E '^(SigBlk|SigIgn)' /proc/self/status; echo \"$0|$1|$2\"";
    let inv = || plain("/bin/sh", &["-c", script, "a b", "*"]);
    let (exit, std) = output_with(inv(), process_groups()).await;
    assert_eq!(exit, Exit::Code(0), "{std}");
    let (exit, cloned) = output_with(inv(), Isolation::Cgroups(cgroups.clone())).await;
    assert_eq!(exit, Exit::Code(0), "{cloned}");
    let cloned = comparable(&cloned);
    assert_eq!(cloned, comparable(&std));
    // A command ignores what the process that started hookrun had it ignore (`nohup`, a shell's
    // background job), as with std, but not the SIGPIPE that Rust's runtime ignores in hookrun.
    let ignored = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t").map(str::to_string))
        .expect("SigIgn in /proc/self/status");
    let ignored = u64::from_str_radix(&ignored, 16).expect("a hex mask");
    let inherited = ignored & 0x7fff_ffff & !(1 << (nix::libc::SIGPIPE - 1));
    let inherited = format!("SigIgn below 32: {inherited:x}");
    for line in [
        "HOOKRUN_A=replaced",
        "SigBlk:\t0000000000000000",
        inherited.as_str(),
        "a b|*|",
    ] {
        assert!(cloned.iter().any(|l| l == line), "{line} in {cloned:?}");
    }

    // Starts that fail: a missing program, a nul byte in an argument or in the environment,
    // and a step of the child's before its exec (its `chdir`), which a start by `clone3` learns
    // of when the clone returns (waiting for the exec) or once the child is reaped (not
    // waiting).
    let failing: [fn(Start) -> Invocation; 4] = [
        |start| Invocation {
            program: "/no/such/program".into(),
            env: Vec::new(),
            start,
            ..plain("/bin/true", &[])
        },
        |start| Invocation {
            program: "/bin/echo".into(),
            args: vec!["a\0b".to_string()],
            env: Vec::new(),
            start,
            ..plain("/bin/true", &[])
        },
        |start| Invocation {
            program: "/bin/echo".into(),
            env: vec![("HOOKRUN_NUL".to_string(), "a\0b".to_string())],
            start,
            ..plain("/bin/true", &[])
        },
        |start| Invocation {
            working_dir: Some(PathBuf::from("/no/such/folder")),
            files: Vec::new(),
            start,
            ..plain("/bin/true", &[])
        },
    ];
    for failing in failing {
        for start in [Start::AtExec, Start::AtClone] {
            let (std_exit, _) = output_with(failing(start), process_groups()).await;
            let cloned = Isolation::Cgroups(cgroups.clone());
            let (cloned_exit, _) = output_with(failing(start), cloned).await;
            assert!(matches!(std_exit, Exit::SpawnFailed(_)), "{std_exit:?}");
            assert_eq!(cloned_exit, std_exit, "{start:?}");
        }
    }
}

/// A child the kernel starts in its cgroup (`clone3`, where it can), with its start waiting
/// for the exec or not, and one that moves itself there (where it cannot) all run the command
/// in the job cgroup, and all report a failed start: at once where the start waited for the
/// exec, else once the child is reaped.
#[tokio::test]
async fn children_born_in_the_cgroup_and_children_that_move_there_both_run_in_it() {
    let Some(cgroups) = cgroups() else { return };
    type StartFn = fn(&vfork::Spawn) -> std::io::Result<vfork::Child>;
    // How it starts, whether it asks to wait for the exec, whether it returns before.
    let variants: [(StartFn, bool, bool); 3] = [
        (vfork::spawn, true, false),
        (vfork::spawn, false, vfork::returns_at_clone()),
        (vfork::spawn_moving, false, false),
    ];
    for (spawn, wait_for_exec, returns_at_clone) in variants {
        let job = cgroups.job().expect("a job cgroup");
        let (output, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let start = |path: &Path| {
            spawn(&vfork::Spawn {
                path,
                arg0: path.as_os_str(),
                args: &["-c".to_string(), "cat /proc/self/cgroup".to_string()],
                env: Vec::new(),
                dir: None,
                stdin: null.as_fd(),
                output: write.as_fd(),
                cgroup: job.dir(),
                wait_for_exec,
            })
        };
        let missing = match start(Path::new("/no/such/program")) {
            Ok(mut child) => {
                assert!(
                    returns_at_clone,
                    "a start that waited for the exec succeeded"
                );
                let status = child.wait().await.expect("reaped");
                assert_eq!(status.code(), Some(127));
                child.start_error().expect("the failed step")
            }
            Err(e) => {
                assert!(!returns_at_clone, "a start that did not wait failed: {e}");
                e
            }
        };
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound, "{missing}");
        let mut child = start(Path::new("/bin/sh")).expect("started");
        drop(write);
        let status = child.wait().await.expect("reaped");
        assert!(status.success(), "{status:?}");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(output), &mut text).unwrap();
        let instance = cgroups.instance().file_name().unwrap().to_string_lossy();
        let name = job.path().file_name().unwrap().to_string_lossy();
        let want = format!("/{instance}/{name}");
        let cgroup = text
            .lines()
            .find(|l| l.starts_with("0::"))
            .expect("its cgroup v2");
        assert!(cgroup.ends_with(&want), "{cgroup} is not {want}");
        assert!(!job.populated());
    }
}

/// Many commands started at once in their cgroups, from several threads: each runs once, in
/// a job cgroup.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_started_together_in_cgroups_each_run_and_are_reaped() {
    let Some(cgroups) = cgroups() else { return };
    let runs = (0..200).map(|i| {
        let isolation = Isolation::Cgroups(cgroups.clone());
        tokio::spawn(async move {
            let inv = plain(
                "/bin/sh",
                &["-c", "echo $0; cat /proc/self/cgroup", &i.to_string()],
            );
            output_with(inv, isolation).await
        })
    });
    let mut seen = std::collections::BTreeSet::new();
    for run in futures_util::future::join_all(runs).await {
        let (exit, text) = run.expect("the run");
        assert_eq!(exit, Exit::Code(0), "{text}");
        let mut lines = text.lines();
        seen.insert(lines.next().expect("its number").to_string());
        let cgroup = lines.find(|l| l.starts_with("0::")).expect("its cgroup v2");
        let instance = cgroups.instance().file_name().unwrap().to_string_lossy();
        let (_, job) = cgroup
            .split_once(&format!("{instance}/"))
            .unwrap_or_else(|| panic!("{cgroup} is not a job cgroup"));
        assert!(job.starts_with("job-"), "{cgroup}");
    }
    assert_eq!(seen.len(), 200);
}
