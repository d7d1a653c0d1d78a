//! Hooks hookrun rejects when loading (deliberate: README "Compatibility"), each against what
//! the reference does with it at request time: unknown keys (a typo such as `trigger-rules`
//! silently drops all protection there), empty rules, empty `value`s, invalid regexes and CIDRs, unknown rule
//! types and sources, several operators in one rule, empty signature secrets.

use super::http::{self, RawRequest};
use super::pair::reference;
use super::startup::{launch, Outcome};
use crate::common::{self, hookrun_bin};

struct Rejected {
    /// The hook's id; the request goes to `/hooks/{id}{query}`.
    id: &'static str,
    /// The hook's keys after `id` and `response-message`.
    keys: &'static str,
    query: &'static str,
    /// What hookrun's start-up error names.
    hookrun_says: &'static str,
    /// The reference's answer at request time.
    reference: (u16, &'static str),
}

const RULE_ERROR: &str = "Error occurred while evaluating hook rules.";
const NOT_SATISFIED: &str = "Hook rules were not satisfied.";

const CASES: &[Rejected] = &[
    Rejected {
        id: "typo-trigger-rules",
        keys: r#""trigger-rules": {"match": {"type": "value", "value": "s3cret", "parameter": {"source": "url", "name": "token"}}}"#,
        query: "",
        hookrun_says: r#"unknown key "trigger-rules" (did you mean "trigger-rule"?)"#,
        reference: (200, "ran"),
    },
    Rejected {
        id: "typo-nested",
        keys: r#""trigger-rule": {"match": {"type": "value", "value": "1", "paramter": {"source": "url", "name": "x"}}}"#,
        query: "?x=1",
        hookrun_says: r#"trigger-rule.match: unknown key "paramter""#,
        reference: (500, RULE_ERROR),
    },
    Rejected {
        // Usually an unset template variable: `?token=` then passes the reference's rule.
        id: "empty-value",
        keys: r#""trigger-rule": {"match": {"type": "value", "value": "", "parameter": {"source": "url", "name": "token"}}}"#,
        query: "?token=",
        hookrun_says: "trigger-rule.match.value: empty value",
        reference: (200, "ran"),
    },
    Rejected {
        id: "empty-rule",
        keys: r#""trigger-rule": {}"#,
        query: "",
        hookrun_says: "trigger-rule: a rule needs one of and, or, not, match",
        reference: (200, NOT_SATISFIED),
    },
    Rejected {
        id: "bad-regex",
        keys: r#""trigger-rule": {"match": {"type": "regex", "regex": "(", "parameter": {"source": "url", "name": "x"}}}"#,
        query: "?x=1",
        hookrun_says: "trigger-rule.match.regex",
        reference: (500, RULE_ERROR),
    },
    Rejected {
        id: "bad-cidr",
        keys: r#""trigger-rule": {"match": {"type": "ip-whitelist", "ip-range": "300.1.1.1/8"}}"#,
        query: "",
        hookrun_says: "trigger-rule.match.ip-range",
        reference: (500, RULE_ERROR),
    },
    Rejected {
        id: "unknown-type",
        keys: r#""trigger-rule": {"match": {"type": "equals", "value": "1", "parameter": {"source": "url", "name": "x"}}}"#,
        query: "?x=1",
        hookrun_says: "trigger-rule.match.type",
        reference: (200, NOT_SATISFIED),
    },
    Rejected {
        id: "two-operators",
        keys: r#""trigger-rule": {"not": {"match": {"type": "value", "value": "1", "parameter": {"source": "url", "name": "x"}}}, "match": {"type": "value", "value": "2", "parameter": {"source": "url", "name": "x"}}}"#,
        query: "?x=3",
        hookrun_says: "a rule has exactly one of and, or, not, match; found not, match",
        reference: (200, "ran"),
    },
    Rejected {
        id: "unknown-source",
        keys: r#""trigger-rule": {"match": {"type": "value", "value": "1", "parameter": {"source": "urll", "name": "x"}}}"#,
        query: "?x=1",
        hookrun_says: r#"unknown source "urll" (did you mean "url"?)"#,
        reference: (500, RULE_ERROR),
    },
    Rejected {
        id: "empty-secret",
        keys: r#""trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "", "parameter": {"source": "url", "name": "sig"}}}"#,
        query: "?sig=00",
        hookrun_says: "trigger-rule.match.secret: signature secret must not be empty",
        reference: (500, RULE_ERROR),
    },
];

fn hook(c: &Rejected) -> String {
    format!(
        r#"{{"id": "{}", "execute-command": "/bin/true", "response-message": "ran", {}}}"#,
        c.id, c.keys
    )
}

#[test]
fn hooks_rejected_at_load_fail_later_in_the_reference() {
    let Some(reference) = reference() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let all: Vec<String> = CASES.iter().map(hook).collect();
    let file = dir.path().join("all.json");
    std::fs::write(&file, format!("[{}]", all.join(",\n"))).expect("writing the hooks file");
    let server = common::start(
        &reference,
        &["-verbose", "-hooks", &file.display().to_string()],
        dir.path(),
        &[],
    );
    let mut problems = Vec::new();
    for c in CASES {
        let one = dir.path().join(format!("{}.json", c.id));
        std::fs::write(&one, format!("[{}]", hook(c))).expect("writing a hooks file");
        match launch(
            &hookrun_bin(),
            dir.path(),
            &["-hooks", &one.display().to_string()],
        ) {
            Outcome::Exited { code, output } if code != Some(0) => {
                if !output.contains(c.hookrun_says) {
                    problems.push(format!(
                        "{}: hookrun's message lacks {:?}: {output}",
                        c.id, c.hookrun_says
                    ));
                }
            }
            other => problems.push(format!(
                "{}: hookrun did not refuse to start: {other:?}",
                c.id
            )),
        }
        let req = RawRequest {
            method: "POST".into(),
            target: format!("/hooks/{}{}", c.id, c.query),
            ..Default::default()
        };
        match http::send(server.port, &req) {
            Ok(r) if (r.status, r.body_text().as_str()) == c.reference => {}
            Ok(r) => problems.push(format!(
                "{}: reference answered {} {:?}, expected {:?}",
                c.id,
                r.status,
                r.body_text(),
                c.reference
            )),
            Err(e) => problems.push(format!("{}: reference request failed: {e}", c.id)),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
