//! `-lenient`: a hooks file with invalid hooks (every class adnanh/webhook's own tests hit, and
//! the others hookrun refuses by default) next to good ones. The reference starts with it and
//! fails at request time; hookrun with `-lenient` must start too, serve the good hooks, and serve
//! each invalid one as the reference does. Two classes differ on purpose (README
//! "Compatibility"): several operators in one rule and an empty `value` answer 500 where the
//! reference drops rules or lets `?token=` through.

use super::case::{Case, Expect};
use super::pair::Group;
use super::sign;

const RULE_ERROR: &str = "Error occurred while evaluating hook rules.";

fn value(name: &str, v: &str) -> String {
    format!(
        r#"{{"match": {{"type": "value", "value": "{v}", "parameter": {{"source": "url", "name": "{name}"}}}}}}"#
    )
}

fn hooks() -> String {
    let hook = |id: &str, rest: &str| {
        format!(
            r#"{{"id": "{id}", "execute-command": "@RECORDER@", "response-message": "{id} ran"{rest}}}"#
        )
    };
    let rule = |id: &str, rule: &str| hook(id, &format!(r#", "trigger-rule": {rule}"#));
    let regex = r#"{"match": {"type": "regex", "regex": "(", "parameter": {"source": "url", "name": "x"}}}"#;
    let ranges = |r: &str| format!(r#"{{"match": {{"type": "ip-whitelist", "ip-range": "{r}"}}}}"#);
    let hooks = [
        hook("good", r#", "include-command-output-in-response": true"#),
        rule("bad-regex", regex),
        rule(
            "bad-regex-after-false",
            &format!(r#"{{"and": [{}, {regex}]}}"#, value("a", "1")),
        ),
        rule("empty-rule", "{}"),
        rule(
            "empty-rule-in-or",
            &format!(r#"{{"or": [{{}}, {}]}}"#, value("x", "1")),
        ),
        rule("not-empty-rule", r#"{"not": {}}"#),
        rule("bad-cidr", &ranges("300.1.1.1/8")),
        rule("cidr-valid-first", &ranges("127.0.0.1/32 10.0.0.0/x")),
        rule("cidr-invalid-first", &ranges("127.0.0.0/x 127.0.0.1/32")),
        rule("no-cidr", &ranges("")),
        rule(
            "empty-secret",
            r#"{"match": {"type": "payload-hmac-sha256", "secret": "", "parameter": {"source": "header", "name": "X-Sig"}}}"#,
        ),
        rule(
            "empty-secret-in-soft-or",
            r#"{"or": [{"match": {"type": "payload-hmac-sha1", "secret": "", "parameter": {"source": "header", "name": "X-Sig"}}}, {"match": {"type": "value", "value": "1", "parameter": {"source": "url", "name": "x"}}}]}, "trigger-signature-soft-failures": true"#,
        ),
        rule(
            "empty-scalr-key",
            r#"{"match": {"type": "scalr-signature", "secret": ""}}"#,
        ),
        rule(
            "unknown-type",
            r#"{"match": {"type": "equals", "value": "1", "parameter": {"source": "url", "name": "x"}}}"#,
        ),
        rule(
            "unknown-source-in-rule",
            r#"{"match": {"type": "value", "value": "1", "parameter": {"source": "urll", "name": "x"}}}"#,
        ),
        rule(
            "unsupported-request-key",
            r#"{"match": {"type": "value", "value": "1", "parameter": {"source": "request", "name": "path"}}}"#,
        ),
        hook(
            "unknown-source-in-arguments",
            r#", "include-command-output-in-response": true,
               "pass-arguments-to-command": [{"source": "foo", "name": "a"}, {"source": "string", "name": "kept"}, {"source": "header"}],
               "pass-environment-to-command": [{"source": "foo", "name": "a", "envname": "FROM_FOO"}, {"source": "string", "name": "s", "envname": "FROM_STRING"}],
               "pass-file-to-command": [{"source": "foo", "name": "a", "envname": "FILE_FROM_FOO"}]"#,
        ),
        hook(
            "bad-response-header",
            r#", "response-headers": [{"name": "Bad Name", "value": "dropped"}, {"name": "X-Kept", "value": "kept"}]"#,
        ),
        hook("bad-method", r#", "http-methods": ["PO ST"]"#),
        rule(
            "two-operators",
            &format!(
                r#"{{"not": {}, "match": {{"type": "value", "value": "2", "parameter": {{"source": "url", "name": "x"}}}}}}"#,
                value("x", "1")
            ),
        ),
        rule("empty-value", &value("token", "")),
        hook("twice", ""),
        hook("twice", r#", "include-command-output-in-response": true"#),
    ];
    format!("[\n{}\n]", hooks.join(",\n"))
}

#[test]
fn lenient_serves_invalid_hooks_like_the_reference() {
    let Some(pair) = Group::new("lenient")
        .file("hooks.json", &hooks())
        .hookrun_flags(&["-lenient"])
        .start()
    else {
        return;
    };
    let body = br#"{"k":"v"}"#;
    let sig = format!("sha256={}", sign::sha256("any", body));
    let (date, scalr_sig) = sign::scalr("any", b"", 0);
    let cases = vec![
        Case::post("a good hook next to invalid ones", "/hooks/good").runs(),
        Case::post("invalid regex reached", "/hooks/bad-regex?x=1"),
        Case::post("invalid regex, parameter missing", "/hooks/bad-regex"),
        Case::post("invalid regex after a false rule", "/hooks/bad-regex-after-false?x=1"),
        Case::post("invalid regex after a true rule", "/hooks/bad-regex-after-false?a=1&x=1"),
        Case::post("empty rule", "/hooks/empty-rule"),
        Case::post("empty rule inside or, other branch holds", "/hooks/empty-rule-in-or?x=1")
            .runs(),
        Case::post("empty rule inside or, nothing holds", "/hooks/empty-rule-in-or"),
        Case::post("not over an empty rule", "/hooks/not-empty-rule").runs(),
        Case::post("invalid CIDR", "/hooks/bad-cidr"),
        Case::post("valid range before an invalid one", "/hooks/cidr-valid-first").runs(),
        Case::post("invalid range before a valid one", "/hooks/cidr-invalid-first"),
        Case::post("empty ip-range", "/hooks/no-cidr"),
        Case::post("empty secret, signature sent", "/hooks/empty-secret")
            .header("X-Sig", &sig)
            .json(std::str::from_utf8(body).expect("UTF-8")),
        Case::post("empty secret, no signature", "/hooks/empty-secret"),
        Case::post(
            "empty secret inside an or with soft failures",
            "/hooks/empty-secret-in-soft-or?x=1",
        )
        .header("X-Sig", "sha1=00"),
        Case::post("empty Scalr key, headers sent", "/hooks/empty-scalr-key")
            .header("Date", &date)
            .header("X-Signature", &scalr_sig),
        Case::post("empty Scalr key, no headers", "/hooks/empty-scalr-key"),
        Case::post("unknown match type", "/hooks/unknown-type?x=1"),
        Case::post("unknown match type, parameter missing", "/hooks/unknown-type"),
        Case::post("unknown source in a rule", "/hooks/unknown-source-in-rule?x=1"),
        Case::post("unsupported request key in a rule", "/hooks/unsupported-request-key"),
        Case::post(
            "unknown sources in arguments, environment and files",
            "/hooks/unknown-source-in-arguments",
        )
        .runs(),
        Case::post("invalid response header name", "/hooks/bad-response-header").runs(),
        Case::post("invalid method in http-methods", "/hooks/bad-method"),
        Case::get("unknown hook", "/hooks/nothing-here"),
        Case::post("several operators in one rule", "/hooks/two-operators?x=3").deliberate(
            "several operators in one rule answer 500 (the reference uses the first, dropping the others)",
            Expect::status(500).body(RULE_ERROR),
            Expect::status(200).body("two-operators ran").runs(),
        ),
        Case::post("empty value, empty parameter", "/hooks/empty-value?token=").deliberate(
            "an empty value rule answers 500 instead of letting ?token= through",
            Expect::status(500).body(RULE_ERROR),
            Expect::status(200).body("empty-value ran").runs(),
        ),
        Case::post("empty value, parameter missing", "/hooks/empty-value"),
        Case::post("an id twice in one file: the first is served", "/hooks/twice").runs(),
    ];
    pair.run(&cases);
}
