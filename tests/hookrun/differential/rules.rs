//! Trigger rules: `value`, `regex`, `ip-whitelist`, `and`/`or`/`not` and their nesting, missing
//! values, and the mismatch answer.

use super::case::Case;
use super::pair::Group;

const HOOKS: &str = r#"[
  {
    "id": "value",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "url", "name": "token"}],
    "trigger-rule": {"match": {"type": "value", "value": "s3cret", "parameter": {"source": "url", "name": "token"}}}
  },
  {
    "id": "regex",
    "execute-command": "@RECORDER@",
    "response-message": "regex ok",
    "pass-arguments-to-command": [{"source": "header", "name": "X-Ref"}],
    "trigger-rule": {"match": {"type": "regex", "regex": "^refs/heads/(main|release-[0-9]+)$", "parameter": {"source": "header", "name": "X-Ref"}}}
  },
  {
    "id": "and",
    "execute-command": "@RECORDER@",
    "response-message": "and ok",
    "trigger-rule": {"and": [
      {"match": {"type": "value", "value": "push", "parameter": {"source": "header", "name": "X-Event"}}},
      {"match": {"type": "regex", "regex": "^v[0-9]+\\.[0-9]+$", "parameter": {"source": "payload", "name": "tag"}}}
    ]}
  },
  {
    "id": "or",
    "execute-command": "@RECORDER@",
    "response-message": "or ok",
    "trigger-rule": {"or": [
      {"match": {"type": "value", "value": "a", "parameter": {"source": "url", "name": "k"}}},
      {"match": {"type": "value", "value": "b", "parameter": {"source": "payload", "name": "k"}}}
    ]}
  },
  {
    "id": "not",
    "execute-command": "@RECORDER@",
    "response-message": "not ok",
    "trigger-rule": {"not": {"match": {"type": "value", "value": "skip", "parameter": {"source": "url", "name": "mode"}}}}
  },
  {
    "id": "nested",
    "execute-command": "@RECORDER@",
    "response-message": "nested ok",
    "trigger-rule": {"and": [
      {"or": [
        {"match": {"type": "value", "value": "main", "parameter": {"source": "payload", "name": "ref.branch"}}},
        {"match": {"type": "regex", "regex": "^hotfix/", "parameter": {"source": "payload", "name": "ref.branch"}}}
      ]},
      {"not": {"match": {"type": "value", "value": "true", "parameter": {"source": "payload", "name": "ref.draft"}}}},
      {"match": {"type": "value", "value": "42", "parameter": {"source": "payload", "name": "build.number"}}}
    ]}
  },
  {
    "id": "ip-local",
    "execute-command": "@RECORDER@",
    "response-message": "ip ok",
    "trigger-rule": {"match": {"type": "ip-whitelist", "ip-range": "127.0.0.0/8"}}
  },
  {
    "id": "ip-single",
    "execute-command": "@RECORDER@",
    "response-message": "ip ok",
    "trigger-rule": {"match": {"type": "ip-whitelist", "ip-range": "127.0.0.1"}}
  },
  {
    "id": "ip-other",
    "execute-command": "@RECORDER@",
    "response-message": "ip ok",
    "trigger-rule-mismatch-http-response-code": 403,
    "trigger-rule": {"match": {"type": "ip-whitelist", "ip-range": "10.0.0.0/8"}}
  },
  {
    "id": "remote-addr",
    "execute-command": "@RECORDER@",
    "response-message": "remote ok",
    "trigger-rule": {"match": {"type": "regex", "regex": "^127\\.0\\.0\\.1:[0-9]+$", "parameter": {"source": "request", "name": "remote-addr"}}}
  },
  {
    "id": "method-rule",
    "execute-command": "@RECORDER@",
    "response-message": "method ok",
    "trigger-rule": {"match": {"type": "value", "value": "PUT", "parameter": {"source": "request", "name": "method"}}}
  },
  {
    "id": "mismatch-code",
    "execute-command": "@RECORDER@",
    "response-message": "never",
    "trigger-rule-mismatch-http-response-code": 418,
    "trigger-rule": {"match": {"type": "value", "value": "x", "parameter": {"source": "url", "name": "t"}}}
  },
  {
    "id": "mismatch-unknown-code",
    "execute-command": "@RECORDER@",
    "trigger-rule-mismatch-http-response-code": 999,
    "trigger-rule": {"match": {"type": "value", "value": "x", "parameter": {"source": "url", "name": "t"}}}
  },
  {
    "id": "regex-classes",
    "execute-command": "@RECORDER@",
    "response-message": "classes ok",
    "trigger-rule": {"match": {"type": "regex", "regex": "^\\w+-\\d+\\s?[\\w.]*$", "parameter": {"source": "url", "name": "v"}}}
  },
  {
    "id": "regex-boundary",
    "execute-command": "@RECORDER@",
    "response-message": "boundary ok",
    "trigger-rule": {"match": {"type": "regex", "regex": "(?i)\\bmain\\b", "parameter": {"source": "url", "name": "v"}}}
  },
  {
    "id": "null-walk",
    "execute-command": "@RECORDER@",
    "response-message": "null ok",
    "trigger-rule": {"match": {"type": "value", "value": "x", "parameter": {"source": "payload", "name": "a.b"}}}
  }
]"#;

#[test]
fn trigger_rules_decide_like_the_reference() {
    let Some(pair) = Group::new("rules").file("hooks.json", HOOKS).start() else {
        return;
    };
    let cases = vec![
        Case::post("value rule matches", "/hooks/value?token=s3cret").runs(),
        Case::post("value rule mismatch", "/hooks/value?token=wrong"),
        Case::post("value rule missing parameter", "/hooks/value"),
        Case::post("value rule is case-sensitive", "/hooks/value?token=S3CRET"),
        Case::post("regex rule matches", "/hooks/regex")
            .header("X-Ref", "refs/heads/release-12")
            .runs(),
        Case::post("regex rule mismatch", "/hooks/regex").header("X-Ref", "refs/heads/feature"),
        Case::post("regex rule on lower-case header name", "/hooks/regex")
            .header("x-ref", "refs/heads/main")
            .runs(),
        Case::post("and holds", "/hooks/and")
            .header("X-Event", "push")
            .json(r#"{"tag":"v1.2"}"#)
            .runs(),
        Case::post("and fails on one side", "/hooks/and")
            .header("X-Event", "push")
            .json(r#"{"tag":"latest"}"#),
        Case::post("and with a missing value", "/hooks/and").json(r#"{"tag":"v1.2"}"#),
        Case::post("or first branch", "/hooks/or?k=a").runs(),
        Case::post("or second branch", "/hooks/or")
            .json(r#"{"k":"b"}"#)
            .runs(),
        Case::post("or neither", "/hooks/or?k=b").json(r#"{"k":"a"}"#),
        Case::post("not holds when the value differs", "/hooks/not?mode=run").runs(),
        Case::post("not fails when the value matches", "/hooks/not?mode=skip"),
        Case::post("not over a missing value", "/hooks/not").runs(),
        Case::post("nested rules hold", "/hooks/nested")
            .json(r#"{"ref":{"branch":"hotfix/x","draft":false},"build":{"number":42}}"#)
            .runs(),
        Case::post("nested rules: draft blocks", "/hooks/nested")
            .json(r#"{"ref":{"branch":"main","draft":true},"build":{"number":42}}"#),
        Case::post("nested rules: number as string", "/hooks/nested")
            .json(r#"{"ref":{"branch":"main","draft":"no"},"build":{"number":"42"}}"#)
            .runs(),
        Case::post(
            "nested rules: not over a missing value fails the and",
            "/hooks/nested",
        )
        .json(r#"{"ref":{"branch":"main"},"build":{"number":42}}"#),
        Case::post("nested rules: wrong number", "/hooks/nested")
            .json(r#"{"ref":{"branch":"main"},"build":{"number":42.0}}"#),
        Case::post("ip-whitelist range holds", "/hooks/ip-local").runs(),
        Case::post("ip-whitelist single address holds", "/hooks/ip-single").runs(),
        Case::post("ip-whitelist other range mismatches", "/hooks/ip-other"),
        Case::post("remote-addr as a rule value", "/hooks/remote-addr").runs(),
        Case::new("PUT", "request method rule holds", "/hooks/method-rule").runs(),
        Case::post("request method rule mismatches", "/hooks/method-rule"),
        Case::post(
            "mismatch uses the configured status",
            "/hooks/mismatch-code?t=y",
        ),
        Case::post(
            "unknown mismatch status falls back to 200",
            "/hooks/mismatch-unknown-code",
        ),
        Case::post(
            "regex classes on ASCII",
            "/hooks/regex-classes?v=abc-123%20x.y",
        )
        .runs(),
        Case::post(
            "regex \\d does not match other digits",
            "/hooks/regex-classes?v=abc-%D9%A1%D9%A2",
        ),
        Case::post(
            "regex \\w does not match accented letters",
            "/hooks/regex-classes?v=%C3%A9t%C3%A9-1",
        ),
        Case::post(
            "regex \\s does not match a no-break space",
            "/hooks/regex-classes?v=a-1%C2%A0",
        ),
        Case::post(
            "regex \\w inside a class",
            "/hooks/regex-classes?v=a-1%20%C3%A9",
        ),
        Case::post(
            "regex word boundary next to a letter",
            "/hooks/regex-boundary?v=%C3%A9main",
        )
        .runs(),
        Case::post(
            "regex case-insensitive boundary",
            "/hooks/regex-boundary?v=refs/MAIN",
        )
        .runs(),
        Case::post(
            "regex boundary inside a word",
            "/hooks/regex-boundary?v=domains",
        ),
        Case::post("walking through null is a rule error", "/hooks/null-walk")
            .json(r#"{"a":null}"#),
        Case::post("walking through a string mismatches", "/hooks/null-walk").json(r#"{"a":"s"}"#),
    ];
    pair.run(&cases);
}
