//! Loading hooks files end to end, from files written to a temporary folder: what `-lenient`
//! serves that a strict load refuses, ids defined twice, repeated patterns, and where the
//! problems of a hook that cannot be read are placed.

use std::path::Path;

use serde_json::{json, Value};

use super::*;

fn write(dir: &Path, name: &str, hooks: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, hooks.to_string()).unwrap();
    path.display().to_string()
}

fn load_with(sources: &[String], lenient: bool) -> Loaded {
    let opts = LoadOptions {
        template: false,
        lenient,
        mail_server: false,
        captainhook: None,
    };
    load(sources, &opts, &template::SystemEnv)
}

/// Loads `hooks`, written as one file.
fn load_list(hooks: &Value, lenient: bool) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "hooks.json", hooks);
    load_with(&[file], lenient)
}

fn messages(loaded: &Loaded, severity: Severity) -> Vec<String> {
    loaded
        .problems
        .iter()
        .filter(|p| p.severity == severity)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn lenient_serves_what_strict_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let bad_regex =
        json!({"type": "regex", "regex": "(", "parameter": {"source": "url", "name": "x"}});
    let file = write(
        dir.path(),
        "hooks.json",
        &json!([
            {"id": "good", "execute-command": "/bin/true"},
            {"id": "bad", "execute-command": "/bin/true", "trigger-rule": {"match": bad_regex}},
            {"id": "env", "execute-command": "/bin/true",
             "pass-environment-to-command": [{"source": "string", "name": "v", "envname": "A=B"}]}
        ]),
    );
    let strict = load_with(std::slice::from_ref(&file), false);
    assert!(strict.set.is_none());
    assert_eq!(
        messages(&strict, Severity::Error).len(),
        2,
        "{:?}",
        strict.problems
    );

    let lenient = load_with(&[file], true);
    let set = lenient.set.as_ref().expect("-lenient loads the file");
    assert_eq!(set.len(), 3);
    assert!(!lenient.files_left_out);
    // Still reported as errors, each hook with how it is served.
    assert_eq!(messages(&lenient, Severity::Error).len(), 2);
    let warnings = messages(&lenient, Severity::Warning).join("\n");
    assert!(
        warnings.contains(r#"hook "bad": -lenient: served as the reference"#),
        "{warnings}"
    );
    assert!(
        warnings.contains(r#"hook "env": -lenient: served, but every request gets 500"#),
        "{warnings}"
    );
    match &set.get("bad").unwrap().rule {
        Some(Rule::Unusable {
            reads: Some(_),
            error: Some(e),
        }) => {
            assert!(e.contains("invalid regex"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let env = set.get("env").unwrap();
    assert!(matches!(
        env.rule,
        Some(Rule::Unusable {
            reads: None,
            error: Some(_)
        })
    ));
}

#[test]
fn lenient_leaves_out_unreadable_files_but_not_an_id_of_two_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.json",
        &json!([{"id": "a", "execute-command": "x"}]),
    );
    let twice = write(
        dir.path(),
        "twice.json",
        &json!([{"id": "a", "execute-command": "x"}]),
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{").unwrap();
    let broken = broken.display().to_string();
    let loaded = load_with(&[good.clone(), broken.clone()], true);
    assert_eq!(loaded.set.map(|s| s.len()), Some(1));
    assert!(loaded.files_left_out);
    assert!(load_with(&[good.clone(), broken], false).set.is_none());
    assert!(load_with(&[good, twice], true).set.is_none());
}

#[test]
fn a_hook_without_an_id_is_served_at_the_empty_id() {
    let loaded = load_list(&json!([{"execute-command": "/bin/true"}]), false);
    let set = loaded.set.as_ref().expect("loads");
    assert!(set.get("").is_some());
    assert!(messages(&loaded, Severity::Warning)[0].contains("served at the URL prefix itself"));
}

/// A pattern is compiled once per file: every hook that repeats it still gets its own
/// working rule, and an invalid pattern its own error.
#[test]
fn a_repeated_regex_serves_and_fails_in_every_hook() {
    let rule = |regex: &str| {
        json!({"match": {"type": "regex", "regex": regex,
                             "parameter": {"source": "url", "name": "ref"}}})
    };
    let hooks: Vec<Value> = (0..3)
        .map(|i| {
            json!({"id": format!("h{i}"), "execute-command": "/bin/true",
                            "trigger-rule": rule("^refs/heads/(main|release/[0-9.]+)$")})
        })
        .chain((0..2).map(|i| {
            json!({"id": format!("bad{i}"), "execute-command": "/bin/true",
                                         "trigger-rule": rule("(")})
        }))
        .collect();
    let loaded = load_list(&Value::Array(hooks), true);
    let errors = messages(&loaded, Severity::Error);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains(r#"hook "bad0""#) && errors[0].contains("invalid regex"));
    assert!(errors[1].contains(r#"hook "bad1""#) && errors[1].contains("invalid regex"));
    let set = loaded.set.expect("-lenient loads the file");
    for id in ["h0", "h1", "h2"] {
        match &set.get(id).unwrap().rule {
            Some(Rule::Regex { regex, .. }) => {
                assert!(regex.is_match("refs/heads/release/1.2"));
                assert!(!regex.is_match("refs/heads/feature"));
            }
            other => panic!("{id}: {other:?}"),
        }
    }
}

/// A hook that cannot be read is read again for the place of its error: the message names
/// the field, and its unknown keys are reported once.
#[test]
fn an_unreadable_hook_names_the_field_and_its_unknown_keys_once() {
    let loaded = load_list(
        &json!([
            {"id": "ok", "execute-command": "/bin/true", "colour": "red"},
            {"id": "bad", "execute-command": "/bin/true", "colour": "red",
             "trigger-rule": {"match": {"type": "value", "value": "x",
                 "parameter": {"source": "url", "name": ["not", "text"]}}}}
        ]),
        false,
    );
    let errors = messages(&loaded, Severity::Error);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(
        errors
            .iter()
            .filter(|e| e.contains(r#"hook "bad": unknown key "colour""#))
            .count(),
        1,
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains(r#"hook "bad": trigger-rule.match.parameter.name: invalid type"#)),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains(r#"hook "ok": unknown key "colour""#)),
        "{errors:?}"
    );
}

/// The validator moves the texts of a raw hook into the hook instead of copying them: each
/// must still arrive where it belongs, from the straight reading of a JSON list and from the
/// tree a YAML file is read into alike.
#[test]
fn every_text_of_a_hook_reaches_the_served_hook() {
    let hook = json!({
        "id": "deploy", "execute-command": "/bin/echo",
        "pass-arguments-to-command": [{"source": "string", "name": "literal"},
                                      {"source": "header", "name": "x-event"}],
        "pass-environment-to-command": [{"source": "url", "name": "tag"},
                                        {"source": "payload", "name": "a.b", "envname": "AB"}],
        "pass-file-to-command": [{"source": "payload", "name": "blob", "base64decode": true},
                                 {"source": "entire-payload", "envname": "ALL"}],
        "parse-parameters-as-json": [{"source": "query", "name": "doc"}],
        "trigger-rule": {"and": [
            {"match": {"type": "value", "value": "s3cret",
                       "parameter": {"source": "url", "name": "token"}}},
            {"not": {"match": {"type": "payload-hmac-sha256", "secret": "key",
                               "parameter": {"source": "header", "name": "x-sig"}}}},
            {"or": [{"match": {"type": "scalr-signature", "secret": "scalr"}},
                    {"match": {"type": "regex", "regex": "^v[0-9]+$",
                               "parameter": {"source": "payload", "name": "version"}}}]}]}
    });
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("hooks.yaml");
    std::fs::write(&yaml, serde_yaml_ng::to_string(&json!([hook])).unwrap()).unwrap();
    let from_json = load_list(&json!([hook]), false);
    let from_yaml = load_with(&[yaml.display().to_string()], false);
    let shown = |loaded: Loaded| {
        let set = loaded.set.expect("loads");
        let hook = set.get("deploy").expect("served by its id").clone();
        assert_eq!(set.ids().collect::<Vec<_>>(), ["deploy"]);
        assert_eq!(set.count_from(&hook.file), 1);
        // The two files' names aside, the hooks are the same.
        format!("{hook:?}").replace(&format!("{:?}", hook.file), "FILE")
    };
    let json_hook = shown(from_json);
    assert_eq!(json_hook, shown(from_yaml));
    for text in [
        r#"id: "deploy""#,
        r#"program: "/bin/echo""#,
        r#"args: [Literal("literal"), Header("X-Event")]"#,
        r#"EnvArgument { name: "HOOK_tag", value: Query("tag") }"#,
        r#"EnvArgument { name: "AB", value: Payload("a.b") }"#,
        r#"FileArgument { env_name: "HOOK_BLOB", value: Payload("blob"), base64_decode: true }"#,
        r#"FileArgument { env_name: "ALL", value: EntirePayload, base64_decode: false }"#,
        r#"json_parameters: [Query("doc")]"#,
        r#"Value { parameter: Query("token"), value: "s3cret" }"#,
        r#"Not(Hmac { algorithm: Sha256, parameter: Header("X-Sig"), secret: "key" })"#,
        r#"ScalrSignature { secret: "scalr" }"#,
        r#"parameter: Payload("version")"#,
        "reads_payload: true",
    ] {
        assert!(json_hook.contains(text), "{text} not in {json_hook}");
    }
}
