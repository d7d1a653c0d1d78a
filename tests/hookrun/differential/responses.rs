//! Every response field: `response-message` (and Go's Content-Type sniffing of it),
//! `response-headers`, `success-http-response-code`, the mismatch code, `-header` flags, and the
//! command's output in the response on success and on failure (exit codes, `on-error`, output
//! that sniffs as HTML, binary or is large).

use super::case::Case;
use super::pair::Group;

/// Arguments taken from the query so each request decides how the recorder answers.
const STEER: &str = r#"[
      {"source": "url", "name": "a1"},
      {"source": "url", "name": "a2"},
      {"source": "url", "name": "a3"}
    ]"#;

fn hooks() -> String {
    r#"[
  {"id": "message", "execute-command": "@RECORDER@", "response-message": "Deploying.\n"},
  {"id": "html-message", "execute-command": "@RECORDER@", "response-message": "  <html><body>hi</body></html>"},
  {"id": "json-message", "execute-command": "@RECORDER@", "response-message": "{\"ok\":true}"},
  {"id": "xml-message", "execute-command": "@RECORDER@", "response-message": "<?xml version=\"1.0\"?><ok/>"},
  {"id": "empty-message", "execute-command": "@RECORDER@"},
  {
    "id": "headers",
    "execute-command": "@RECORDER@",
    "response-message": "{\"ok\":1}",
    "response-headers": [
      {"name": "X-Deploy", "value": "yes"},
      {"name": "content-type", "value": "application/json"},
      {"name": "x-lower-case", "value": "kept"},
      {"name": "Access-Control-Allow-Origin", "value": "*"}
    ],
    "trigger-rule": {"match": {"type": "value", "value": "go", "parameter": {"source": "url", "name": "t"}}}
  },
  {"id": "success-code", "execute-command": "@RECORDER@", "response-message": "accepted", "success-http-response-code": 202},
  {"id": "success-no-content", "execute-command": "@RECORDER@", "success-http-response-code": 204},
  {"id": "unknown-success-code", "execute-command": "@RECORDER@", "response-message": "odd", "success-http-response-code": 299},
  {
    "id": "output",
    "execute-command": "@RECORDER@",
    "response-message": "ignored when output is included",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": STEER
  },
  {
    "id": "output-on-error",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "include-command-output-in-response-on-error": true,
    "success-http-response-code": 201,
    "pass-arguments-to-command": STEER
  },
  {
    "id": "output-headers",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "response-headers": [{"name": "Content-Type", "value": "application/x-custom"}, {"name": "X-Hook", "value": "h"}],
    "pass-arguments-to-command": STEER
  },
  {
    "id": "on-error-only",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response-on-error": true,
    "response-message": "fire and forget",
    "pass-arguments-to-command": STEER
  }
]"#
    .replace("STEER", STEER)
}

#[test]
fn response_fields_answer_like_the_reference() {
    let hooks = hooks();
    let Some(pair) = Group::new("responses")
        .file("hooks.json", &hooks)
        .flags(&["-header", "X-Global=g", "-header", "X-Frame-Options=DENY"])
        .start()
    else {
        return;
    };
    let cases = vec![
        Case::post("response message", "/hooks/message").runs(),
        Case::post("response message sniffed as html", "/hooks/html-message").runs(),
        Case::post(
            "response message that looks like json is text",
            "/hooks/json-message",
        )
        .runs(),
        Case::post("response message sniffed as xml", "/hooks/xml-message").runs(),
        Case::post("no response message", "/hooks/empty-message").runs(),
        Case::post(
            "response headers, content type from the hook",
            "/hooks/headers?t=go",
        )
        .runs(),
        Case::post(
            "response headers are not sent on a mismatch",
            "/hooks/headers?t=no",
        ),
        Case::post("success code", "/hooks/success-code").runs(),
        Case::post("success code 204", "/hooks/success-no-content").runs(),
        Case::post(
            "unknown success code falls back to 200",
            "/hooks/unknown-success-code",
        )
        .runs(),
        Case::post("output on success", "/hooks/output").runs(),
        Case::post(
            "output on success, custom text",
            "/hooks/output?a1=out=done%0A&a2=err=",
        )
        .runs(),
        Case::post(
            "output sniffed as html",
            "/hooks/output?a1=out=%3Ch1%3Ebuilt%3C/h1%3E",
        )
        .runs(),
        Case::post(
            "output sniffed as binary",
            "/hooks/output?a1=out=%01%02data&a2=err=",
        )
        .runs(),
        Case::post(
            "output sniffed as pdf",
            "/hooks/output?a1=out=%25PDF-1.4&a2=err=",
        )
        .runs(),
        Case::post("empty output", "/hooks/output?a1=out=&a2=err=").runs(),
        Case::post(
            "large output",
            "/hooks/output?a1=out=0123456789abcdef&a2=repeat=8192",
        )
        .runs(),
        Case::post("failure hides the output", "/hooks/output?a1=exit=3").runs(),
        Case::post(
            "failure with output on error",
            "/hooks/output-on-error?a1=exit=1",
        )
        .runs(),
        Case::post(
            "failure with empty output on error",
            "/hooks/output-on-error?a1=exit=2&a2=out=&a3=err=",
        )
        .runs(),
        Case::post("success code with output", "/hooks/output-on-error").runs(),
        Case::post("hook content type on output", "/hooks/output-headers").runs(),
        Case::post(
            "hook content type on failure",
            "/hooks/output-headers?a1=exit=4",
        )
        .runs(),
        Case::post(
            "on-error alone does not capture",
            "/hooks/on-error-only?a1=exit=5",
        )
        .runs(),
        Case::post("killed by a signal", "/hooks/output-on-error?a1=signal=9").runs(),
    ];
    pair.run(&cases);
}

/// `-header` values are set before anything is written, as the reference sets them: a
/// Content-Type among them is the Content-Type of every answer after the method check,
/// including the reference's error texts.
#[test]
fn header_flags_come_with_every_answer_like_the_reference() {
    let hooks = r#"[
  {
    "id": "rules-error",
    "execute-command": "@RECORDER@",
    "trigger-rule": {"match": {"type": "value", "value": "x", "parameter": {"source": "payload", "name": "n.x"}}}
  },
  {
    "id": "mismatch",
    "execute-command": "@RECORDER@",
    "trigger-rule": {"match": {"type": "value", "value": "go", "parameter": {"source": "url", "name": "t"}}}
  },
  {
    "id": "failing",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "response-headers": [{"name": "X-Hook", "value": "h"}],
    "pass-arguments-to-command": [{"source": "string", "name": "exit=3"}]
  },
  {"id": "post-only", "execute-command": "@RECORDER@", "http-methods": ["POST"]}
]"#;
    let Some(pair) = Group::new("header-flags")
        .file("hooks.json", hooks)
        .flags(&[
            "-header",
            "Content-Type=application/json",
            "-header",
            "X-Global=g",
        ])
        .start()
    else {
        return;
    };
    let cases = vec![
        Case::post("rules error carries -header values", "/hooks/rules-error")
            .json(r#"{"n": null}"#),
        Case::post("mismatch carries -header values", "/hooks/mismatch?t=no"),
        Case::post("failed command carries every header", "/hooks/failing").runs(),
        Case::post("unknown hook has no -header values", "/hooks/none"),
        Case::get("wrong method has no -header values", "/hooks/post-only"),
    ];
    pair.run(&cases);
}
