//! Tests of the [`Template`] API: JSON-like data as `.` (maps, lists, null) printed and walked
//! as Go 1.19 does for a `map[string]interface{}`, the function sets, the limits on a render,
//! and the files a render read. Expected texts are Go's for the same template and data.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Functions, Limits, Rendered, Template, TemplateEnv, TemplateError};

fn render_with(source: &str, data: &serde_json::Value, limits: &Limits) -> Result<String, String> {
    let template = Template::compile(source, &Functions::Builtins).map_err(|e| e.to_string())?;
    template
        .render(data, &Functions::Builtins, limits)
        .map(|r| r.text)
        .map_err(|e| e.to_string())
}

fn render(source: &str, data: &serde_json::Value) -> Result<String, String> {
    render_with(source, data, &Limits::default())
}

fn job() -> serde_json::Value {
    json!({
        "hook": "deploy",
        "exit": 0,
        "took": 1.5,
        "args": [1, 2.5, "x", null, true],
        "env": {"b": "2", "a": "1", "B": "3"},
        "empty": [],
        "nulls": [null],
        "big": 12345678901234567890u64,
        "whole": 2.0,
    })
}

#[test]
fn data_prints_like_go() {
    let cases = [
        ("{{.hook}} {{.exit}} {{.took}} {{.whole}}", "deploy 0 1.5 2"),
        ("{{.args}}", "[1 2.5 x <nil> true]"),
        ("{{.env}}", "map[B:3 a:1 b:2]"),
        (
            "{{.empty}} {{.nulls}} {{.big}}",
            "[] [<nil>] 1.2345678901234567e+19",
        ),
        ("{{.missing}} {{.missing.deeper}}", "<no value> <no value>"),
        (
            r#"{{printf "%#v" .args}}"#,
            r#"[]interface {}{1, 2.5, "x", interface {}(nil), true}"#,
        ),
        (
            r#"{{printf "%#v" .env}}"#,
            r#"map[string]interface {}{"B":"3", "a":"1", "b":"2"}"#,
        ),
        (
            r#"{{printf "%d" .args}}"#,
            "[1 %!d(float64=2.5) %!d(string=x) <nil> %!d(bool=true)]",
        ),
        (
            r#"{{printf "%5v|" .args}}"#,
            "[    1   2.5     x <nil>  true]|",
        ),
        (r#"{{printf "%q" .env}}"#, r#"map["B":"3" "a":"1" "b":"2"]"#),
        (r#"{{printf "%x" .env}}"#, "map[42:33 61:31 62:32]"),
        (
            r#"{{printf "%T %T %T %T" . .args .exit .took}}"#,
            "map[string]interface {} []interface {} int float64",
        ),
        (r#"{{print .args "s" .exit}}"#, "[1 2.5 x <nil> true]s0"),
        (
            r#"{{printf "%v" .nulls}} {{printf "%s" .nulls}}"#,
            "[<nil>] [<nil>]",
        ),
    ];
    for (source, want) in cases {
        assert_eq!(render(source, &job()).as_deref(), Ok(want), "{source:?}");
    }
}

#[test]
fn data_is_walked_like_go() {
    let cases = [
        (
            "{{range $i, $e := .args}}{{$i}}={{$e}};{{end}}",
            "0=1;1=2.5;2=x;3=<no value>;4=true;",
        ),
        ("{{range $k, $v := .env}}{{$k}}{{$v}},{{end}}", "B3,a1,b2,"),
        ("{{range .env}}{{.}}{{end}}", "312"),
        (
            "{{range $v := .args}}{{$v}} {{end}}",
            "1 2.5 x <no value> true ",
        ),
        ("{{range .empty}}x{{else}}none{{end}}", "none"),
        (
            r#"{{range .args}}{{if eq (printf "%T" .) "string"}}{{break}}{{end}}{{.}},{{end}}"#,
            "1,2.5,",
        ),
        (
            "{{range .args}}{{if not .}}{{continue}}{{end}}{{.}},{{end}}",
            "1,2.5,x,true,",
        ),
        (
            "{{range .args}}{{range $.empty}}{{else}}{{break}}{{end}}{{.}}{{end}}|",
            "12.5x<no value>true|",
        ),
        ("{{with .env}}{{.a}}{{.zz}}{{end}}", "1<no value>"),
        (
            r#"{{index .env "a"}} {{index .args 2}} {{index .env "zz"}}"#,
            "1 x <no value>",
        ),
        (r#"{{index . "env" "b"}}"#, "2"),
        ("{{len .args}} {{len .env}} {{len .empty}}", "5 3 0"),
        ("{{slice .args 1 3}} {{slice .args 4}}", "[2.5 x] [true]"),
        ("{{if .empty}}y{{else}}n{{end}}{{if .args}}y{{end}}", "ny"),
        ("{{$x := .env}}{{$x.b}}{{$.hook}}", "2deploy"),
        (
            r#"{{define "row"}}{{.}};{{end}}{{range .args}}{{template "row" .}}{{end}}"#,
            "1;2.5;x;<no value>;true;",
        ),
        (
            "{{eq .exit 0}} {{lt .took 2.0}} {{eq .hook \"deploy\"}}",
            "true true true",
        ),
    ];
    for (source, want) in cases {
        assert_eq!(render(source, &job()).as_deref(), Ok(want), "{source:?}");
    }
}

#[test]
fn data_errors_like_go() {
    let cases = [
        ("{{.args.x}}", "line 1:8: can't evaluate field x in type interface {}"),
        ("{{range .args}}{{.x}}{{end}}", "line 1:18: can't evaluate field x in type interface {}"),
        (
            "{{range .nulls}}{{.x}}{{end}}",
            "line 1:19: nil pointer evaluating interface {}.x",
        ),
        ("{{.env.a.b}}", "line 1:7: can't evaluate field b in type interface {}"),
        ("{{.env 1}}", "line 1:3: env is not a method but has arguments"),
        (
            "{{eq .env .env}}",
            "line 1:3: error calling eq: uncomparable type map[string]interface {}: map[B:3 a:1 b:2]",
        ),
        ("{{lt .args 1}}", "line 1:3: error calling lt: invalid type for comparison"),
        ("{{index .args 5}}", "line 1:3: error calling index: index out of range: 5"),
        (
            "{{index .env 1}}",
            "line 1:3: error calling index: value has type int; should be string",
        ),
        ("{{range .hook}}{{end}}", "line 1:9: range can't iterate over deploy"),
    ];
    for (source, want) in cases {
        assert_eq!(
            render(source, &job()).err().as_deref(),
            Some(want),
            "{source:?}"
        );
    }
}

#[test]
fn compiles_once_renders_many() {
    let template =
        Template::compile("{{.hook}}: exit {{.exit}}", &Functions::Builtins).expect("compiles");
    for (hook, exit) in [("a", 0), ("b", 2)] {
        let data = json!({"hook": hook, "exit": exit});
        let out = template
            .render(&data, &Functions::Builtins, &Limits::default())
            .expect("renders");
        assert_eq!(out.text, format!("{hook}: exit {exit}"));
        assert!(out.files_read.is_empty());
    }
}

#[test]
fn webhook_functions_only_when_asked_for() {
    let err = Template::compile(r#"{{getenv "HOME"}}"#, &Functions::Builtins)
        .expect_err("getenv is not a builtin");
    assert!(matches!(err, TemplateError::UndefinedFunction { .. }));
    assert_eq!(
        err.to_string(),
        r#"line 1:3: function "getenv" not defined"#
    );
    assert_eq!(err.position(), (1, 3));
    let env = Files::new();
    let functions = Functions::Webhook(&env);
    let template = Template::compile(r#"{{getenv "A"}}"#, &functions).expect("compiles");
    let out = template.render(&json!(null), &functions, &Limits::default());
    assert_eq!(out.map(|r| r.text).ok().as_deref(), Some("alpha"));
    // Compiled with them but rendered without an environment: the call fails, never reads.
    let out = template.render(&json!(null), &Functions::Builtins, &Limits::default());
    assert_eq!(
        out.err().map(|e| e.to_string()).as_deref(),
        Some(r#"line 1:3: function "getenv" not defined"#)
    );
}

struct Files {
    credentials: PathBuf,
}

impl Files {
    fn new() -> Files {
        Files {
            credentials: PathBuf::from("/creds"),
        }
    }
}

impl TemplateEnv for Files {
    fn getenv(&self, name: &str) -> Option<String> {
        (name == "A").then(|| "alpha".to_string())
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        match path.to_str() {
            Some("/run/secrets/token") => Ok("tok\n".into()),
            Some("/creds/gh") => Ok("ghs\n".into()),
            _ => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    fn credentials_dir(&self) -> Option<PathBuf> {
        Some(self.credentials.clone())
    }
}

#[test]
fn a_render_tells_which_files_it_read() {
    let env = Files::new();
    let functions = Functions::Webhook(&env);
    let source =
        r#"{{cat "/run/secrets/token"}}{{credential "gh"}}{{if false}}{{cat "/x"}}{{end}}"#;
    let template = Template::compile(source, &functions).expect("compiles");
    let out = template
        .render(&json!(null), &functions, &Limits::default())
        .expect("renders");
    assert_eq!(
        out,
        Rendered {
            text: "tok\nghs\n".into(),
            files_read: vec![
                PathBuf::from("/run/secrets/token"),
                PathBuf::from("/creds/gh")
            ],
        }
    );
    let hooks = super::render_hooks_file(source, &env).expect("renders");
    assert_eq!(hooks.files_read.len(), 2);
}

#[test]
fn hostile_templates_stop_at_the_limits() {
    let small = Limits {
        max_bytes: 1 << 20,
        max_steps: 10_000,
    };
    // Doubling a string: exponential text, refused once it passes the byte limit.
    let doubling = format!(
        r#"{{{{$x := "0123456789"}}}}{}{{{{len $x}}}}"#,
        r#"{{$x = printf "%s%s" $x $x}}"#.repeat(40)
    );
    let err = render_with(&doubling, &json!(null), &small).expect_err("too much text");
    assert!(
        err.ends_with("more than 1048576 bytes of text built (the limit)"),
        "{err}"
    );
    // Unbounded recursion through a template: refused at the depth limit.
    let recursion = r#"{{define "r"}}{{template "r" .}}{{end}}{{template "r" 1}}"#;
    let err = render_with(recursion, &json!(null), &Limits::default()).expect_err("too deep");
    assert!(
        err.ends_with("exceeded maximum template depth (200)"),
        "{err}"
    );
    // The depth counts every nested block, so mixing them with calls overflows nothing either
    // (tests run on 2 MiB stacks, like the runtime's blocking threads).
    let ifs = format!(
        r#"{{{{define "r"}}}}{}{{{{print (print $)}}}}{{{{template "r" $}}}}{}{{{{end}}}}{{{{template "r" .}}}}"#,
        "{{if 1}}{{with 2}}{{range $}}".repeat(30),
        "{{end}}{{end}}{{end}}".repeat(30)
    );
    let err = render_with(&ifs, &json!([1]), &Limits::default()).expect_err("too deep");
    assert!(
        err.ends_with("exceeded maximum template depth (200)"),
        "{err}"
    );
    // Nested ranges multiply the work: refused at the step limit, quickly.
    let list: Vec<u32> = (0..100).collect();
    let nested = "{{range .}}{{range $}}{{range $}}x{{end}}{{end}}{{end}}";
    let start = std::time::Instant::now();
    let err = render_with(nested, &json!(list), &small).expect_err("too many steps");
    assert!(
        err.ends_with("render stopped after 10000 steps (the limit)"),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // A huge width is text like any other.
    let err = render_with(
        r#"{{printf "%1000000d" 1}}{{printf "%1000000d" 1}}"#,
        &json!(null),
        &small,
    )
    .expect_err("too much text");
    assert!(err.contains("bytes of text built"), "{err}");
    // Within the limits, the same constructs work.
    let ok = render_with(nested, &json!([1, 2]), &small);
    assert_eq!(ok.as_deref(), Ok("xxxxxxxx"));
}
