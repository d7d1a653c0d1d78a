//! Job cgroups used again: never by two commands at once, only when emptied and unchanged, never
//! once killed; and the result file a command left empty, kept with its cgroup for the next job.

use super::*;

/// Commands that run at the same time never share a cgroup, also when emptied cgroups are used
/// again: each of these says it started, waits until all have, then says which cgroup it is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_running_at_once_never_share_a_cgroup() {
    let Some(cgroups) = cgroups() else { return };
    const AT_ONCE: usize = 16;
    for round in 0..3 {
        let dir = ::tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        std::fs::create_dir(&started).unwrap();
        let go = dir.path().join("go");
        let script = "touch \"$1/started/$0\"; n=0; while [ ! -e \"$1/go\" ]; do \
                      n=$((n + 1)); [ $n -lt 200 ] || exit 3; sleep 0.05; done; cat /proc/self/cgroup";
        let runs = (0..AT_ONCE).map(|i| {
            let isolation = Isolation::Cgroups(cgroups.clone());
            let inv = plain(
                "/bin/sh",
                &["-c", script, &i.to_string(), &dir.path().to_string_lossy()],
            );
            tokio::spawn(async move { output_with(inv, isolation).await })
        });
        let runs = tokio::spawn(futures_util::future::join_all(runs));
        let end = Instant::now() + Duration::from_secs(10);
        while std::fs::read_dir(&started).unwrap().count() < AT_ONCE {
            assert!(
                Instant::now() < end,
                "round {round}: not all started within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        std::fs::write(&go, b"").unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for run in runs.await.unwrap() {
            let (exit, text) = run.expect("the run");
            assert_eq!(exit, Exit::Code(0), "round {round}: {text}");
            let cgroup = text
                .lines()
                .find(|l| l.starts_with("0::"))
                .expect("its cgroup v2");
            assert!(
                seen.insert(cgroup.to_string()),
                "round {round}: {cgroup} shared"
            );
        }
    }
}

/// An emptied job cgroup is kept for a later job; one that was killed, or that a command froze
/// or made cgroups in, is not; a process left in one is moved out first.
#[tokio::test]
async fn only_an_empty_unchanged_job_cgroup_is_used_again() {
    let Some(shared) = cgroups() else { return };
    let cgroups = shared.separate(&format!("test-reuse-{}", std::process::id()));
    let kept = cgroups.job().expect("a job cgroup");
    let kept_path = kept.path().to_path_buf();
    cgroups.finish(kept, true, None);
    assert!(
        cgroups.is_idle(&kept_path),
        "an emptied cgroup was not kept"
    );
    let again = cgroups.job().expect("a job cgroup");
    assert_eq!(again.path(), kept_path);

    again.kill();
    cgroups.finish(again, true, None);
    assert!(!kept_path.exists(), "a killed cgroup was kept");

    let again = cgroups.job().expect("a job cgroup");
    let kept_path = again.path().to_path_buf();
    cgroup::write_file(&again.path().join("cgroup.freeze"), b"1").expect("freezing it");
    cgroups.finish(again, true, None);
    assert!(!kept_path.exists(), "a frozen cgroup was kept");

    let parent = cgroups.job().expect("a job cgroup");
    let parent_path = parent.path().to_path_buf();
    std::fs::create_dir(parent_path.join("sub")).expect("a cgroup below the job's");
    cgroups.finish(parent, true, None);
    assert!(
        !cgroups.is_idle(&parent_path),
        "a cgroup with a child was kept"
    );
    std::fs::remove_dir(parent_path.join("sub")).unwrap();
    std::fs::remove_dir(&parent_path).unwrap();

    let left = cgroups.job().expect("a job cgroup");
    let left_path = left.path().to_path_buf();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let sleeper_pid = i32::try_from(sleeper.id()).unwrap();
    let _reap = Reap(sleeper_pid);
    cgroup::write_file(
        &left_path.join("cgroup.procs"),
        sleeper.id().to_string().as_bytes(),
    )
    .expect("moving the sleeper into the job cgroup");
    cgroups.finish(left, true, None);
    assert!(
        cgroups.is_idle(&left_path),
        "an emptied cgroup was not kept"
    );
    assert_eq!(
        cgroup_of(sleeper_pid).as_deref(),
        Some(cgroups.own_dir()),
        "the leftover was not moved out"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    cgroups.remove();
    assert!(
        !cgroups.instance().exists(),
        "the idle cgroups were not removed at exit"
    );
}

/// A command that kills its own cgroup (`cgroup.kill`, which hookrun does not see) leaves a
/// cgroup that is not used again: the next command runs, in another cgroup.
#[tokio::test]
async fn a_cgroup_its_command_killed_is_not_used_again() {
    let Some(shared) = cgroups() else { return };
    let cgroups = Arc::new(shared.separate(&format!("test-self-kill-{}", std::process::id())));
    let instance = cgroups.instance().to_string_lossy().into_owned();
    let self_kill = plain(
        "/bin/sh",
        &[
            "-c",
            "cat /proc/self/cgroup; for f in \"$0\"/job-*/cgroup.kill; do echo 1 > \"$f\"; done; sleep 5",
            &instance,
        ],
    );
    let (exit, text) = output_with(self_kill, Isolation::Cgroups(cgroups.clone())).await;
    assert_eq!(exit, Exit::Signal(9), "{text}");
    let job = |text: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with("0::"))
            .expect("its cgroup v2");
        let name = line.rsplit('/').next().expect("a job cgroup").to_string();
        cgroups.instance().join(name)
    };
    let killed = job(&text);
    assert!(!cgroups.is_idle(&killed), "{} was kept", killed.display());
    let next = plain("/bin/sh", &["-c", "cat /proc/self/cgroup"]);
    let (exit, text) = output_with(next, Isolation::Cgroups(cgroups.clone())).await;
    assert_eq!(exit, Exit::Code(0), "{text}");
    assert_ne!(job(&text), killed);
    cgroups.remove();
}

/// Runs `script` (`sh -c`, which prints `$HOOKRUN_RESULT` first) with `isolation`; returns
/// how it ended, the result file's path and the rest of the output.
async fn result_run(script: &str, isolation: &Isolation) -> (Finished, PathBuf, String) {
    let full = format!("echo \"$HOOKRUN_RESULT\"\n{script}");
    let inv = plain("/bin/sh", &["-c", &full]);
    let log = Arc::new(OutputLog::new(64 * 1024));
    let finished = run_isolated(
        inv,
        log.clone(),
        &CancellationToken::new(),
        isolation.clone(),
    )
    .await;
    let text = String::from_utf8_lossy(&log.snapshot().combined).into_owned();
    let (path, rest) = text.split_once('\n').expect("the result file's path");
    (finished, PathBuf::from(path), rest.to_string())
}

/// A result file its command left empty serves the next job in the same cgroup; one written
/// to, replaced, linked, opened to others or turned into a symbolic link is not (what it holds
/// is read as before), nor is the file of a command that left a process running or was killed.
#[tokio::test]
async fn a_result_file_left_empty_and_unchanged_serves_the_next_job() {
    let Some(shared) = cgroups() else { return };
    let tmp = ::tempfile::tempdir().unwrap();
    let cgroups = Arc::new(
        shared
            .separate(&format!("test-result-reuse-{}", std::process::id()))
            .with_result_folder(tmp.path()),
    );
    let folder = cgroups.result_folder().unwrap().path().to_path_buf();
    let isolation = Isolation::Cgroups(cgroups.clone());
    // Every command finds its file there and empty.
    let check = "test -f \"$HOOKRUN_RESULT\" && test ! -s \"$HOOKRUN_RESULT\" && echo empty";
    let (first, path, text) = result_run(check, &isolation).await;
    assert_eq!((first.exit, text.as_str()), (Exit::Code(0), "empty\n"));
    assert_eq!(path.parent(), Some(folder.as_path()));
    let (second, again, text) = result_run(check, &isolation).await;
    assert_eq!((second.exit, text.as_str()), (Exit::Code(0), "empty\n"));
    assert_eq!(again, path, "the empty file was not used again");
    assert!(path.exists(), "the kept file");

    // Each of these leaves a file that must not serve again; then the next command gets a new
    // one, empty.
    let changes = [
        ("written to", "echo a=1 >> \"$HOOKRUN_RESULT\""),
        (
            "replaced",
            "f=\"$HOOKRUN_RESULT\"; cp \"$f\" \"$f.new\"; chmod 600 \"$f.new\"; mv \"$f.new\" \"$f\"",
        ),
        ("hard-linked", "ln \"$HOOKRUN_RESULT\" \"$HOOKRUN_RESULT.link\""),
        ("opened to others", "chmod 644 \"$HOOKRUN_RESULT\""),
        (
            "replaced by a symbolic link",
            "f=\"$HOOKRUN_RESULT\"; : > \"$f.t\"; ln -sf \"$f.t\" \"$f\"",
        ),
        ("left with a process running", "sleep 0.5 </dev/null >/dev/null 2>&1 &"),
        ("killed", "kill -9 $$"),
    ];
    let mut used = path;
    for (what, script) in changes {
        let (done, path, _) = result_run(script, &isolation).await;
        assert_eq!(path, used, "{what}: the command got the kept file");
        let (next, fresh, text) = result_run(check, &isolation).await;
        assert_eq!(next.exit, Exit::Code(0), "{what}: {text}");
        assert_eq!(text, "empty\n", "{what}");
        assert_ne!(fresh, path, "{what}: the file was used again");
        if what == "written to" {
            assert_eq!(
                done.result.values["a"], "1",
                "the results are read as before"
            );
            assert!(done.result.warnings.is_empty());
            assert!(!path.exists(), "a file with results is removed");
        }
        if what == "replaced by a symbolic link" {
            assert!(
                done.result.warnings[0].contains("result file"),
                "{:?}",
                done.result
            );
        }
        used = fresh;
    }
    cgroups.remove();
    assert!(!folder.exists(), "the result folder was left at exit");
}
