//! Whole-template tests for `render`: every feature and every error, through a fake
//! environment. Expected outputs are what Go 1.19's `text/template` (with webhook's functions)
//! produces for the same input and nil data.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::{render, SystemEnv, TemplateEnv, TemplateError};

const CREDENTIALS: &str = "/run/credentials/webhook.service";

struct FakeEnv {
    vars: HashMap<&'static str, &'static str>,
    files: HashMap<PathBuf, &'static str>,
    credentials: Option<PathBuf>,
}

impl FakeEnv {
    fn new() -> Self {
        FakeEnv {
            vars: HashMap::from([
                ("A", "alpha"),
                ("EMPTY", ""),
                ("XXXTEST_SECRET", "p\"a's<s>&w=o\\rd\n"),
            ]),
            files: HashMap::from([
                (PathBuf::from("/run/secrets/token"), "tok3n\n"),
                (Path::new(CREDENTIALS).join("gh-secret"), "ghs_123\n"),
            ]),
            credentials: Some(PathBuf::from(CREDENTIALS)),
        }
    }
}

impl TemplateEnv for FakeEnv {
    fn getenv(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|v| v.to_string())
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        match self.files.get(path) {
            Some(text) => Ok(text.to_string()),
            None => Err(io::Error::from_raw_os_error(2)),
        }
    }

    fn credentials_dir(&self) -> Option<PathBuf> {
        self.credentials.clone()
    }
}

fn run(source: &str) -> Result<String, String> {
    render(source, &FakeEnv::new()).map_err(|e| e.to_string())
}

#[test]
fn renders_like_go() {
    let cases = [
        ("", ""),
        ("plain }} text {", "plain }} text {"),
        (r#"{{ getenv "A" }}"#, "alpha"),
        (r#"[{{ getenv "UNSET" }}]"#, "[]"),
        (
            r#"{"secret":"{{ getenv "XXXTEST_SECRET" | js }}"}"#,
            r#"{"secret":"p\"a\'s\u003Cs\u003E\u0026w\u003Do\\rd\u000A"}"#,
        ),
        (
            "secret: '{{ cat \"/run/secrets/token\" }}'",
            "secret: 'tok3n\n'",
        ),
        (r#"{{ credential "gh-secret" }}"#, "ghs_123\n"),
        ("a \t\n {{- getenv \"A\" -}} \n\r b", "aalphab"),
        ("a {{-3}} {{3 -}} b", "a -3 3b"),
        ("a {{/* note */}} b", "a  b"),
        ("a\n{{- /* note */ -}}\nb", "ab"),
        ("{{\ngetenv\n\"A\"\n}}", "alpha"),
        (
            "{{.}} {{$}} {{.Foo.Bar}} {{$.X}}",
            "<no value> <no value> <no value> <no value>",
        ),
        (
            "{{\"a\\tb\\u00e9\"}}{{`r\\n`}}{{42}}{{-0x10}}{{1_000}}",
            "a\tbér\\n42-161000",
        ),
        ("{{true}} {{false}} {{'a'}} {{'\\n'}}", "true false 97 10"),
        (r#"{{"a" | printf "%s-%s" "b"}}"#, "b-a"),
        (r#"{{getenv "A" | len}}"#, "5"),
        (r#"{{print (getenv "A") 1 2 "b" true}}"#, "alpha1 2btrue"),
        (
            r#"{{print nil .}}|{{println "a" 1}}|"#,
            "<nil> <nil>|a 1\n|",
        ),
        (r#"{{if getenv "A"}}yes{{else}}no{{end}}"#, "yes"),
        (r#"{{if getenv "EMPTY"}}yes{{else}}no{{end}}"#, "no"),
        (
            "{{if 0}}a{{else if false}}b{{else if .}}c{{else}}d{{end}}",
            "d",
        ),
        (
            r#"{{if eq (getenv "A") "x"}}x{{else if eq (getenv "A") "alpha"}}a{{end}}"#,
            "a",
        ),
        (r#"{{if "s"}}{{if 1}}n{{end}}{{end}}"#, "n"),
        (
            r#"{{with getenv "A"}}[{{.}}]{{else}}none{{end}}"#,
            "[alpha]",
        ),
        (
            r#"{{with getenv "UNSET"}}[{{.}}]{{else}}none {{.}}{{end}}"#,
            "none <no value>",
        ),
        (r#"{{$x := getenv "A"}}{{$x}}-{{$x | len}}"#, "alpha-5"),
        (
            r#"{{$x := "a"}}{{if true}}{{$x := "b"}}{{$x}}{{end}}{{$x}}"#,
            "ba",
        ),
        (r#"{{$x := "a"}}{{if true}}{{$x = "b"}}{{end}}{{$x}}"#, "b"),
        (r#"{{$x := 1}}{{ $x = 2 }}{{ $x }}"#, "2"),
        (
            r#"{{if $v := getenv "A"}}{{$v}}{{else}}{{$v}}!{{end}}"#,
            "alpha",
        ),
        (
            r#"{{with $v := getenv "A"}}{{$v}}{{.}}{{end}}"#,
            "alphaalpha",
        ),
        (
            "{{and 1 0 2}} {{and 1 2}} {{or \"\" 0}} {{or \"\" \"b\"}} {{not \"\"}}",
            "0 2 0 b true",
        ),
        (
            r#"[{{and (getenv "EMPTY") (cat "/nope")}}{{or "x" (cat "/nope")}}]"#,
            "[x]",
        ),
        (r#"{{"x" | and true}} {{0 | or ""}}"#, "x 0"),
        (
            r#"{{eq "a" "b" "a"}} {{ne 1 2}} {{eq . nil}} {{eq . ""}}"#,
            "true true true false",
        ),
        (
            "{{lt \"a\" \"b\"}} {{le 2 2}} {{gt 1 2}} {{ge 2 3}}",
            "true true false false",
        ),
        (
            r#"{{len "héllo"}} {{index "abc" 1}} {{index "abc"}} {{slice "abcd" 1 3}}"#,
            "6 98 abc bc",
        ),
        (
            r#"{{html "<a href='x'>&</a>"}}"#,
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;",
        ),
        (
            r#"{{js .}} {{html 1 2}} {{urlquery "a b&c/é"}}"#,
            r"\u003Cno value\u003E 1 2 a+b%26c%2F%C3%A9",
        ),
        (
            r#"{{printf "%q|%d|%v|%s|%%" "x\"" (len "ab") true "s"}}"#,
            r#""x\""|2|true|s|%"#,
        ),
        (r#"{{printf "%d %s" "x"}}"#, "%!d(string=x) %!s(MISSING)"),
        (r#"{{"%s!" | printf}}"#, "%!s(MISSING)!"),
        ("{{ (((print 1))) }}", "1"),
        ("a\r\n{{- \"b\" -}}\r\nc", "abc"),
        (r#"{{print ($x := "a") 1}}{{$x}}"#, "a1a"),
        (r#"{{with "w"}}{{$}}{{.}}{{end}}"#, "<no value>w"),
        (r#"{{if and (getenv "A") (not (getenv "EMPTY"))}}both{{end}}"#, "both"),
        (
            "- id: deploy\n{{- /* the secret comes from systemd */}}\n  secret: {{ credential \"gh-secret\" | printf \"%q\" }}\n{{- if getenv \"A\" }}\n  debug: true\n{{- end }}\n",
            "- id: deploy\n  secret: \"ghs_123\\n\"\n  debug: true\n",
        ),
        // Go's parser lets a pipeline end with `|`.
        ("{{ print | len }}{{ \"x\" | }}", "0x"),
    ];
    for (source, want) in cases {
        assert_eq!(run(source).as_deref(), Ok(want), "{source:?}");
    }
}

#[test]
fn rejects_like_go_with_positions() {
    let cases = [
        (
            "a\n\n  {{ getnev \"A\" }}",
            r#"line 3:6: function "getnev" not defined"#,
        ),
        (
            "\n\n\n\n    {{ cat \"/x\" }}",
            r#"line 5:8: cat "/x": No such file or directory (os error 2)"#,
        ),
        (
            "{{if true}}\n{{end}}{{end}}",
            "line 2:8: unexpected {{end}}",
        ),
        ("{{else}}", "line 1:1: unexpected {{else}}"),
        ("abc{{ getenv", "line 1:4: unclosed action"),
        ("x\n{{if true}}x", "line 2:13: unexpected EOF"),
        ("{{with 1}}x{{else}}", "line 1:20: unexpected EOF"),
        (
            "{{if 1}}1{{else}}2{{else}}3{{end}}",
            "line 1:19: expected end; found {{else}}",
        ),
        (
            "{{with 1}}{{else if 2}}{{end}}",
            "line 1:11: unexpected <if> in input",
        ),
        ("{{end x}}", r#"line 1:7: unexpected "x" in end"#),
        (
            "{{if 1}}{{else x}}{{end}}",
            r#"line 1:16: unexpected "x" in else"#,
        ),
        ("{{}}", "line 1:1: missing value for command"),
        ("{{if}}{{end}}", "line 1:1: missing value for if"),
        ("{{range 1}}{{end}}", "line 1:9: range can't iterate over 1"),
        (
            "{{template \"x\"}}",
            r#"line 1:12: template "x" not defined"#,
        ),
        ("{{break}}", "line 1:1: {{break}} outside {{range}}"),
        ("{{continue}}", "line 1:1: {{continue}} outside {{range}}"),
        (
            "{{range .}}{{define \"x\"}}{{end}}{{end}}",
            "line 1:14: unexpected <define> in command",
        ),
        ("{{$x}}", r#"line 1:3: undefined variable "$x""#),
        (
            "{{with $x := 4}}{{end}}{{$x}}",
            r#"line 1:26: undefined variable "$x""#,
        ),
        (
            "{{if 1}}{{$y := 1}}{{end}}{{$y}}",
            r#"line 1:29: undefined variable "$y""#,
        ),
        ("{{$x = 1}}", "line 1:8: undefined variable: $x"),
        (
            "{{$x, $y := 1}}",
            "line 1:5: too many declarations in command",
        ),
        (
            "{{99999999999999999999}}",
            r#"line 1:3: integer overflow: "99999999999999999999""#,
        ),
        (
            r#"{{"\xff"}}"#,
            r#"line 1:3: string literal "\xff" that is not valid UTF-8 is not supported"#,
        ),
        (r#"{{"\q"}}"#, "line 1:3: invalid syntax"),
        (
            "{{getenv}}",
            "line 1:3: wrong number of args for getenv: want 1 got 0",
        ),
        (
            r#"{{getenv "a" "b"}}"#,
            "line 1:3: wrong number of args for getenv: want 1 got 2",
        ),
        (
            r#"{{"a" | getenv "b"}}"#,
            "line 1:9: wrong number of args for getenv: want 1 got 2",
        ),
        (
            "{{printf}}",
            "line 1:3: wrong number of args for printf: want at least 1 got 0",
        ),
        (
            "{{print getenv}}",
            "line 1:9: wrong number of args for getenv: want 1 got 0",
        ),
        ("{{getenv 3}}", "line 1:10: expected string; found 3"),
        ("{{getenv true}}", "line 1:10: expected string; found true"),
        ("{{getenv nil}}", "line 1:10: cannot assign nil to string"),
        ("{{getenv .}}", "line 1:10: invalid value; expected string"),
        (
            r#"{{getenv (len "a")}}"#,
            "line 1:10: wrong type for value; expected string; got int",
        ),
        (
            "{{3 | getenv}}",
            "line 1:7: wrong type for value; expected string; got int",
        ),
        (
            r#"{{"a" | "b"}}"#,
            "line 1:9: non executable command in pipeline stage 2",
        ),
        (
            r#"{{"a" "b"}}"#,
            r#"line 1:3: can't give argument to non-function "a""#,
        ),
        (
            r#"{{$x := 1}}{{"a" | $x}}"#,
            "line 1:20: can't give argument to non-function $x",
        ),
        ("{{nil}}", "line 1:3: nil is not a command"),
        (
            r#"{{index "abc" 5}}"#,
            "line 1:3: error calling index: index out of range: 5",
        ),
        ("{{len 3}}", "line 1:3: error calling len: len of type int"),
        (
            r#"{{eq "1" 1}}"#,
            "line 1:3: error calling eq: incompatible types for comparison",
        ),
        (
            "{{lt true false}}",
            "line 1:3: error calling lt: invalid type for comparison",
        ),
        ("{{call .}}", "line 1:3: error calling call: call of nil"),
        (
            r#"{{with "s"}}{{.Foo}}{{end}}"#,
            "line 1:15: can't evaluate field Foo in type string",
        ),
        (
            r#"{{(getenv "A").Foo}}"#,
            "line 1:11: can't evaluate field Foo in type string",
        ),
        (
            r#"{{credential "../etc/shadow"}}"#,
            r#"line 1:3: credential "../etc/shadow": not a credential name (a file name without '/')"#,
        ),
        (
            r#"{{credential ".."}}"#,
            r#"line 1:3: credential "..": not a credential name (a file name without '/')"#,
        ),
        (
            r#"{{credential "nope"}}"#,
            "line 1:3: credential \"nope\": cannot read /run/credentials/webhook.service/nope: \
             No such file or directory (os error 2) (it is looked up in $CREDENTIALS_DIRECTORY; \
             under systemd give the unit LoadCredential=nope:/path/to/secret, in a container \
             mount a file named nope in that folder)",
        ),
        ("{{printf 3, 4}}", r#"line 1:11: unexpected "," in operand"#),
        (
            r#"{{print "a"`b`}}"#,
            r#"line 1:12: unexpected "`b`" in operand"#,
        ),
        (
            r#"{{"hello".guys}}"#,
            r#"line 1:3: unexpected . after term "\"hello\"""#,
        ),
        ("{{print (1}}", "line 1:1: unclosed left paren"),
        ("{{print 1)}}", r#"line 1:10: unexpected ")" in command"#),
        (r#"{{print "a}}"#, "line 1:9: unterminated quoted string"),
        ("{{/* x }}", "line 1:1: unclosed comment"),
        (
            r#"{{printf "%d" ( ) }}"#,
            "line 1:15: missing value for parenthesized pipeline",
        ),
        (
            "{{ print | | len }}",
            r#"line 1:12: unexpected "|" in command"#,
        ),
    ];
    for (source, want) in cases {
        assert_eq!(run(source).err().as_deref(), Some(want), "{source:?}");
    }
}

#[test]
fn only_what_was_asked_is_read() {
    let env = FakeEnv {
        credentials: None,
        ..FakeEnv::new()
    };
    let err = render(r#"{{ credential "gh-secret" }}"#, &env).expect_err("no credentials dir");
    assert!(matches!(err, TemplateError::CredentialUnavailable { .. }));
    assert_eq!(
        err.to_string(),
        "line 1:4: credential \"gh-secret\": $CREDENTIALS_DIRECTORY is not set, so there is no \
         folder to read it from; under systemd give the unit \
         LoadCredential=gh-secret:/path/to/secret, in a container set CREDENTIALS_DIRECTORY to \
         the folder holding a file named gh-secret (e.g. a mounted Kubernetes Secret)"
    );
    assert_eq!(err.position(), (1, 4));
    // An error in a branch that does not run is never raised, as in Go.
    assert_eq!(
        render(r#"{{if false}}{{cat "/nope"}}{{end}}ok"#, &env)
            .ok()
            .as_deref(),
        Some("ok")
    );
}

#[test]
fn io_errors_keep_their_cause() {
    let err = run_err(r#"{{ cat "/x" }}"#);
    let TemplateError::Cat { cause, path, .. } = err else {
        panic!("expected a cat error, got {err:?}");
    };
    assert_eq!(cause.kind(), io::ErrorKind::NotFound);
    assert_eq!(path, PathBuf::from("/x"));
}

fn run_err(source: &str) -> TemplateError {
    render(source, &FakeEnv::new()).expect_err("must fail")
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(101), ")".repeat(101));
    assert_eq!(
        run(&parens).err().as_deref(),
        Some("line 1:103: max expression depth exceeded")
    );
    let ifs = format!("{}x{}", "{{if 1}}".repeat(101), "{{end}}".repeat(101));
    assert!(run(&ifs).is_err_and(|e| e.ends_with("max expression depth exceeded")));
    let ok = format!("{}x{}", "{{if 1}}".repeat(100), "{{end}}".repeat(100));
    assert_eq!(run(&ok).as_deref(), Ok("x"));
    let ok = format!("{{{{{}1{}}}}}", "(".repeat(99), ")".repeat(99));
    assert_eq!(run(&ok).as_deref(), Ok("1"));
}

#[test]
fn system_env_reads_the_real_process() {
    assert!(SystemEnv.getenv("PATH").is_some());
    assert_eq!(
        SystemEnv.getenv("HOOKRUN_TEMPLATE_TEST_UNSET_VARIABLE"),
        None
    );
    let path = std::env::temp_dir().join(format!("hookrun-template-{}", std::process::id()));
    std::fs::write(&path, "content\n").expect("write temp file");
    let read = SystemEnv.read_file(&path);
    std::fs::remove_file(&path).expect("remove temp file");
    assert_eq!(read.ok().as_deref(), Some("content\n"));
}
