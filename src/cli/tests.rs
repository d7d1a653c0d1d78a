//! The command line as users write it: one dash or two, Go booleans, values that look like
//! flags, suggestions for near misses, the help, and the environment variables.

use super::*;

fn try_parse(args: &[&str]) -> Result<Cli, Stop> {
    parse_from(args.iter().map(OsString::from))
}

fn parse(args: &[&str]) -> Cli {
    try_parse(args).unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
}

fn help(args: &[&str]) -> String {
    match try_parse(args) {
        Err(Stop::Help(text)) => text,
        other => panic!("{args:?} gave no help: {other:?}"),
    }
}

fn usage_error(args: &[&str]) -> String {
    match try_parse(args) {
        Err(Stop::Usage(text)) => text,
        other => panic!("{args:?} is no usage error: {other:?}"),
    }
}

#[test]
fn single_and_double_dash() {
    let c = parse(&[
        "hookrun",
        "-hooks",
        "a.json",
        "--hooks=b.json",
        "-hooks=c.json",
        "-verbose",
        "-port",
        "9001",
    ]);
    assert_eq!(c.serve.hooks, ["a.json", "b.json", "c.json"]);
    assert!(c.serve.verbose);
    assert_eq!(c.serve.port, 9001);
    assert_eq!(c.serve.ip, "0.0.0.0");
    assert_eq!(c.serve.urlprefix, "hooks");
}

#[test]
fn go_booleans_take_equals_only() {
    let c = parse(&[
        "hookrun",
        "-verbose=false",
        "-hotreload=true",
        "-x-request-id",
    ]);
    assert!(!c.serve.verbose);
    assert!(c.serve.hotreload);
    assert!(c.serve.x_request_id);
}

#[test]
fn go_boolean_spellings() {
    for (arg, want) in [
        ("-verbose=1", true),
        ("-verbose=t", true),
        ("-verbose=TRUE", true),
        ("-verbose=True", true),
        ("-verbose=0", false),
        ("-verbose=F", false),
        ("-verbose=False", false),
    ] {
        assert_eq!(parse(&["hookrun", arg]).serve.verbose, want, "{arg}");
    }
    let err = usage_error(&["hookrun", "-verbose=yes"]);
    assert!(
        err.starts_with("hookrun: invalid value \"yes\" for -verbose"),
        "{err}"
    );
}

#[test]
fn a_value_that_looks_like_a_flag_is_the_value() {
    let c = parse(&["hookrun", "-urlprefix", "-x", "-header", "-Y=1"]);
    assert_eq!(c.serve.urlprefix, "-x");
    assert_eq!(c.serve.header[0].0.as_str(), "-y");
}

#[test]
fn validate_subcommand() {
    let c = parse(&["hookrun", "validate", "-template", "a.json", "b.yaml"]);
    match c.subcommand {
        Some(Subcommand::Validate(v)) => {
            assert!(v.template);
            assert_eq!(v.files, ["a.json", "b.yaml"]);
        }
        _ => panic!("expected validate"),
    }
}

#[test]
fn version_has_a_short_flag() {
    for flag in ["-V", "-version", "--version"] {
        assert!(parse(&["hookrun", flag]).serve.version, "{flag}");
    }
}

#[test]
fn near_miss_flags_and_commands_get_a_suggestion() {
    for (args, want) in [
        (
            &["hookrun", "-prot", "9000"][..],
            "hookrun: unknown flag -prot (did you mean -port?)",
        ),
        (
            &["hookrun", "--prot=9000"],
            "hookrun: unknown flag --prot=9000 (did you mean -port?)",
        ),
        (
            &["hookrun", "-hotrelaod"],
            "hookrun: unknown flag -hotrelaod (did you mean -hotreload?)",
        ),
        (
            &["hookrun", "-no-such-flag"],
            "hookrun: unknown flag -no-such-flag\n",
        ),
        (
            &["hookrun", "valdate", "x.json"],
            "hookrun: unknown command \"valdate\" (did you mean validate?)",
        ),
        (
            &["hookrun", "validate", "-templat", "x.json"],
            "hookrun validate: unknown flag -templat (did you mean -template?)",
        ),
        (
            &["hookrun", "hooks.json"],
            "(to serve a hooks file, write hookrun -hooks hooks.json)",
        ),
    ] {
        let err = usage_error(args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let err = usage_error(&["hookrun", "-hooks", "a.json", "validate", "b.json"]);
    assert!(
        err.starts_with("hookrun: -hooks before validate: validate takes only its own flags"),
        "{err}"
    );
    let err = usage_error(&["hookrun", "validate"]);
    assert!(err.starts_with("hookrun validate: missing PATH"), "{err}");
    assert!(
        err.ends_with("Run 'hookrun validate -help' for the flags."),
        "{err}"
    );
}

#[test]
fn help_reads_like_the_reference() {
    let text = help(&["hookrun", "-help"]);
    assert_eq!(text, help(&["hookrun", "--help"]));
    assert_eq!(text, help(&["hookrun", "-h"]));
    assert_eq!(text, help(&["hookrun", "help"]));
    // Every flag on one line, single dash, with a default only where it means something.
    assert!(!text.contains("[=<"), "{text}");
    assert!(!text.contains("[default"), "{text}");
    assert!(!text.contains("--"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too long: {line:?}");
    }
    let cmd = command();
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let Some(long) = arg.get_long().filter(|l| *l != "help") else {
            continue;
        };
        let flag = format!("  -{long}");
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{flag} ")) || l.starts_with(&format!("{flag},")))
            .collect();
        assert_eq!(lines.len(), 1, "-{long} in:\n{text}");
        let next = text
            .lines()
            .skip_while(|l| *l != lines[0])
            .nth(1)
            .unwrap_or("");
        assert!(
            !next.starts_with("    "),
            "-{long} takes two lines:\n{text}"
        );
    }
    assert!(text.contains("  -port N "), "{text}");
    assert!(text.contains("(default 9000)"), "{text}");
    assert!(
        !text.contains("(default false)") && !text.contains("(default 0)"),
        "{text}"
    );
    assert!(text.contains("  -version, -V "), "{text}");
    // The reference's flags come first, hookrun's after them.
    let reference = text.find("Flags of adnanh/webhook").unwrap();
    let jobs = text.find("Jobs (hookrun)").unwrap();
    assert!(reference < jobs && text.find("  -x-request-id-limit").unwrap() < jobs);
    assert!(text.contains("HOOKRUN_"), "{text}");
}

#[test]
fn subcommand_help_reads_like_the_reference() {
    for sub in ["validate", "notify"] {
        let text = help(&["hookrun", sub, "-help"]);
        assert_eq!(text, help(&["hookrun", "help", sub]));
        assert!(
            !text.contains("[=<") && !text.contains("[default"),
            "{text}"
        );
        assert!(
            text.starts_with(&format!("Usage: hookrun {sub} [flags]")),
            "{text}"
        );
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "too long: {line:?}");
        }
    }
    let validate = help(&["hookrun", "validate", "-help"]);
    let flags = validate.split("\nFlags:\n").nth(1).unwrap();
    assert!(
        flags.lines().all(|l| !l.starts_with("    ")),
        "a flag of validate takes two lines:\n{validate}"
    );
}

#[test]
fn every_flag_is_read_from_its_environment_variable() {
    let cmd = command();
    let validate = cmd.find_subcommand("validate").unwrap();
    for arg in cmd.get_arguments().chain(validate.get_arguments()) {
        let Some(long) = arg.get_long() else { continue };
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        if NOT_FROM_ENV.contains(&long) {
            assert_eq!(env, None, "-{long}");
        } else {
            assert_eq!(env, Some(env_name(long)), "-{long}");
        }
    }
    // The variables hookrun gives commands or reads for other purposes are no flag's.
    for reserved in [
        "HOOKRUN_HOOK_ID",
        "HOOKRUN_REQUEST_ID",
        "HOOKRUN_JOB_ID",
        "HOOKRUN_RESULT",
        crate::logging::FILTER_ENV,
        "HOOKRUN_SMTP_PASSWORD",
        "HOOKRUN_REFERENCE",
    ] {
        assert!(
            cmd.get_arguments()
                .chain(validate.get_arguments())
                .all(|a| a.get_env() != Some(std::ffi::OsStr::new(reserved))),
            "{reserved}"
        );
    }
    assert_eq!(env_name("max-jobs"), "HOOKRUN_MAX_JOBS");
}
