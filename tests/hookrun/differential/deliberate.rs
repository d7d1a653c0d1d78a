//! Requests where hookrun deliberately differs (README "Compatibility"): each case asserts
//! hookrun's documented behaviour and that the reference still shows the old one.

use super::case::{Case, Expect, Multipart};
use super::pair::Group;
use super::sign;

const SECRET: &str = "multipart secret";

const HOOKS: &str = r#"[
  {
    "id": "multipart-hmac",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "payload", "name": "field"}],
    "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "multipart secret", "parameter": {"source": "header", "name": "X-Sig"}}}
  },
  {
    "id": "multipart-raw",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "raw-request-body"}]
  },
  {
    "id": "plain",
    "execute-command": "@RECORDER@",
    "response-message": "accepted"
  },
  {
    "id": "jsonpath",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "payload", "name": "$.events[?(@.action=='push')].tag"}]
  },
  {
    "id": "dotted-json",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "parse-parameters-as-json": [{"source": "payload", "name": "outer.inner"}],
    "pass-arguments-to-command": [{"source": "payload", "name": "outer.inner.k"}]
  }
]"#;

#[test]
fn deliberate_differences_hold() {
    let Some(pair) = Group::new("deliberate").file("hooks.json", HOOKS).start() else {
        return;
    };
    let form = Multipart::default().field("field", "value");
    let body = form.encode();
    let real_sig = format!("sha256={}", sign::sha256(SECRET, &body));
    let empty_sig = format!("sha256={}", sign::sha256(SECRET, b""));
    const HMAC: &str = "HMAC over a multipart body is computed over the real body";
    let ok = "recorder: ran\nrecorder: stderr\n";
    let cases = vec![
        // The reference does not keep a multipart body, so it checks the HMAC of "": a
        // signature over the real body fails there...
        Case::post("multipart HMAC over the real body", "/hooks/multipart-hmac")
            .header("X-Sig", &real_sig)
            .multipart(&form)
            .deliberate(
                HMAC,
                Expect::status(200).body(ok).recorded(r#"["value"]"#),
                Expect::status(500).body("Error occurred while evaluating hook rules."),
            ),
        // ...and the HMAC of "" passes there. It is one constant: a single signature of an
        // empty body, leaked or replayed, validates any multipart request.
        Case::post("multipart HMAC of the empty body", "/hooks/multipart-hmac")
            .header("X-Sig", &empty_sig)
            .multipart(&form)
            .deliberate(
                HMAC,
                Expect::status(500).body("Error occurred while evaluating hook rules."),
                Expect::status(200).body(ok).recorded(r#"["value"]"#),
            ),
        Case::post(
            "multipart HMAC of the empty body, other form",
            "/hooks/multipart-hmac",
        )
        .header("X-Sig", &empty_sig)
        .multipart(&Multipart::default().field("field", "forged"))
        .deliberate(
            HMAC,
            Expect::status(500).body("Error occurred while evaluating hook rules."),
            Expect::status(200).body(ok).recorded(r#"["forged"]"#),
        ),
        // Same cause: raw-request-body of a multipart request is the body, not "".
        Case::post("raw body of a multipart request", "/hooks/multipart-raw")
            .multipart(&form)
            .deliberate(
                "raw-request-body of a multipart request is the real body",
                Expect::status(200).body(ok).recorded("name=\\\"field\\\""),
                Expect::status(200).body(ok).recorded(r#"{"args":[""]"#),
            ),
        // The reference panics on a dotted parse-parameters-as-json name (500 from Go's
        // recovery); hookrun replaces the nested value.
        Case::post("dotted parse-parameters-as-json", "/hooks/dotted-json")
            .json(r#"{"outer":{"inner":"{\"k\":\"nested\"}"}}"#)
            .deliberate(
                "parse-parameters-as-json with a dotted name does not crash",
                Expect::status(200).body(ok).recorded(r#"["nested"]"#),
                Expect::status(500).body("Internal Server Error\n"),
            ),
        // Extension: a payload name starting with `$` is a JSONPath expression; the reference
        // looks for a key named `$` and passes "".
        Case::post("payload name as JSONPath", "/hooks/jsonpath")
            .json(r#"{"events":[{"action":"pull","tag":"a"},{"action":"push","tag":"b"}]}"#)
            .deliberate(
                "a payload name starting with $ is a JSONPath expression",
                Expect::status(200).body(ok).recorded(r#"["b"]"#),
                Expect::status(200).body(ok).recorded(r#"[""]"#),
            ),
        // Request limits: the reference reads any body into memory.
        Case::post("body over -max-body-size", "/hooks/plain")
            .body("application/octet-stream", vec![b'x'; 10 * 1024 * 1024 + 1])
            .deliberate(
                "bodies over -max-body-size (default 10MiB) are refused with 413",
                Expect::status(413).body("Request body too large (limit 10485760 bytes).\n"),
                Expect::status(200).body("accepted").runs(),
            ),
    ];
    pair.run(&cases);
}

const TEMPLATE_EXTENSIONS: &str = r#"[
  {
    "id": "extensions",
    "execute-command": "@RECORDER@",
    "response-message": "{{ cat "@DIR@/message.txt" }}",
    "pass-arguments-to-command": [{"source": "string", "name": "{{ credential "deploy-token" }}"}]
  }
]"#;

#[test]
fn template_extensions_are_hookrun_only() {
    let Some(pair) = Group::new("template-extensions")
        .file("hooks.json", TEMPLATE_EXTENSIONS)
        .flags(&["-template"])
        .env("CREDENTIALS_DIRECTORY", "@DIR@/creds")
        .start_with(|work| {
            std::fs::write(work.join("message.txt"), "from a file").expect("message.txt");
            let creds = work.join("creds");
            std::fs::create_dir(&creds).expect("creds folder");
            std::fs::write(creds.join("deploy-token"), "cred-value").expect("credential");
        })
    else {
        return;
    };
    // `cat` and `credential` arrived in webhook 2.8.1; 2.8.0 cannot load the file (with
    // -verbose it serves no hooks).
    pair.run(&[
        Case::post("cat and credential in a template", "/hooks/extensions").deliberate(
            "template functions cat and credential (webhook 2.8.1) are available",
            Expect::status(200)
                .body("from a file")
                .recorded(r#"["cred-value"]"#),
            Expect::status(404).body("Hook not found."),
        ),
    ]);
}
