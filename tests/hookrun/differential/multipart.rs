//! `multipart/form-data` bodies (fields, JSON file parts by Content-Type or by
//! `parse-parameters-as-json`, other files ignored, broken forms) and `parse-parameters-as-json`
//! on headers, query values and payload fields.

use super::case::{Case, Multipart};
use super::pair::Group;

const HOOKS: &str = r#"[
  {
    "id": "form",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [
      {"source": "entire-payload"},
      {"source": "payload", "name": "name"},
      {"source": "payload", "name": "meta.tag"},
      {"source": "payload", "name": "forced.k"},
      {"source": "payload", "name": "bin"},
      {"source": "payload", "name": "meta"}
    ],
    "parse-parameters-as-json": [{"source": "payload", "name": "forced"}]
  },
  {
    "id": "form-rule",
    "execute-command": "@RECORDER@",
    "response-message": "form matched",
    "trigger-rule": {"match": {"type": "value", "value": "v1", "parameter": {"source": "payload", "name": "meta.tag"}}}
  },
  {
    "id": "json-params",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "parse-parameters-as-json": [
      {"source": "header", "name": "x-meta"},
      {"source": "url", "name": "q"},
      {"source": "payload", "name": "inner"}
    ],
    "pass-arguments-to-command": [
      {"source": "header", "name": "X-Meta"},
      {"source": "header", "name": "X-Meta.a"},
      {"source": "url", "name": "q.list.1"},
      {"source": "payload", "name": "inner.deep.k"},
      {"source": "entire-payload"},
      {"source": "entire-query"}
    ]
  },
  {
    "id": "json-params-rule",
    "execute-command": "@RECORDER@",
    "response-message": "json param matched",
    "parse-parameters-as-json": [{"source": "payload", "name": "event"}],
    "trigger-rule": {"match": {"type": "value", "value": "push", "parameter": {"source": "payload", "name": "event.type"}}}
  }
]"#;

#[test]
fn multipart_and_json_parameters_like_the_reference() {
    let Some(pair) = Group::new("multipart").file("hooks.json", HOOKS).start() else {
        return;
    };
    let full = Multipart::default()
        .field("name", "value one")
        .field("name", "value two")
        .file(
            "meta",
            "meta.json",
            "application/json",
            r#"{"tag":"v1","n":1.0}"#,
        )
        .file("forced", "f.txt", "text/plain", r#"{"k":"forced by name"}"#)
        .file("bin", "b.bin", "application/octet-stream", "ignored file");
    let cases = vec![
        Case::post("multipart fields and json files", "/hooks/form")
            .multipart(&full)
            .runs(),
        Case::post("multipart fields only", "/hooks/form")
            .multipart(&Multipart::default().field("name", "only"))
            .runs(),
        Case::post("multipart json file that is not json", "/hooks/form")
            .multipart(&Multipart::default().file("meta", "m.json", "application/json", "nope"))
            .runs(),
        Case::post("multipart json file that is an array", "/hooks/form")
            .multipart(&Multipart::default().file("meta", "m.json", "application/json", "[1]"))
            .runs(),
        Case::post("multipart file without a content type", "/hooks/form")
            .multipart(&Multipart::default().file("meta", "m.json", "", r#"{"tag":"x"}"#))
            .runs(),
        Case::post("multipart json file drives a rule", "/hooks/form-rule")
            .multipart(&full)
            .runs(),
        Case::post("multipart broken body", "/hooks/form").body(
            &format!("multipart/form-data; boundary={}", Multipart::BOUNDARY),
            "garbage",
        ),
        Case::post("multipart empty body", "/hooks/form").body(
            &format!("multipart/form-data; boundary={}", Multipart::BOUNDARY),
            "",
        ),
        Case::post("multipart without a boundary", "/hooks/form")
            .body("multipart/form-data", "a=1")
            .runs(),
        Case::post(
            "multipart json file that is not json, in a rule",
            "/hooks/form-rule",
        )
        .multipart(&Multipart::default().file(
            "meta",
            "m.json",
            "application/json",
            "nope",
        )),
        Case::post(
            "json parameters from header, query and payload",
            "/hooks/json-params?q=%7B%22list%22%3A%5B1%2C%22two%22%5D%7D",
        )
        .header("X-Meta", r#"{"a":"from header"}"#)
        .json(r#"{"inner":"{\"deep\":{\"k\":\"from payload\"}}"}"#)
        .runs(),
        Case::post(
            "json parameters that are not json",
            "/hooks/json-params?q=nope",
        )
        .header("X-Meta", "[1,2]")
        .json(r#"{"inner":42}"#)
        .runs(),
        Case::post("json parameters that are missing", "/hooks/json-params").runs(),
        Case::post("json parameter drives a rule", "/hooks/json-params-rule")
            .json(r#"{"event":"{\"type\":\"push\"}"}"#)
            .runs(),
        Case::post(
            "json parameter already an object",
            "/hooks/json-params-rule",
        )
        .json(r#"{"event":{"type":"push"}}"#)
        .runs(),
        Case::post(
            "json parameter from a form field",
            "/hooks/json-params-rule",
        )
        .form("event=%7B%22type%22%3A%22push%22%7D")
        .runs(),
    ];
    pair.run(&cases);
}

/// Forms as clients other than browsers write them: bare LF line ends (upstream's own test
/// sends one), a preamble, an empty part, a JSON part type with parameters (not JSON to Go),
/// a JSON file replacing a field, `filename=""` (a field), names in RFC 2231 form, and forms Go
/// refuses (a missing boundary, a part without its closing boundary, a boundary line with
/// trailing text, a malformed query string).
#[test]
fn multipart_bodies_as_clients_write_them() {
    let Some(pair) = Group::new("multipart-wild")
        .file("hooks.json", HOOKS)
        .start()
    else {
        return;
    };
    let ct = "multipart/form-data; boundary=xxx";
    let part = |name: &str, extra: &str, value: &str, nl: &str| {
        format!(
            "--xxx{nl}Content-Disposition: form-data; name=\"{name}\"{extra}{nl}{nl}{value}{nl}"
        )
    };
    let lf = [
        part("name", "", "plex", "\n"),
        part(
            "meta",
            "; filename=\"m.json\"\nContent-Type: application/json",
            r#"{"tag":"v1","n":1e3}"#,
            "\n",
        ),
        "--xxx--".to_string(),
    ]
    .concat();
    let crlf = |parts: &[String]| parts.concat() + "--xxx--\r\n";
    let cases = vec![
        Case::post("multipart with bare LF line ends", "/hooks/form").body(ct, lf.clone()).runs(),
        Case::post("multipart with bare LF drives a rule", "/hooks/form-rule").body(ct, lf).runs(),
        Case::post("multipart with a preamble and an empty part", "/hooks/form")
            .body(ct, format!("preamble\r\n{}--xxx\r\nContent-Disposition: form-data; name=\"bin\"\r\n\r\n--xxx--", part("name", "", "a", "\r\n")))
            .runs(),
        Case::post("multipart JSON type with a charset is not JSON", "/hooks/form")
            .body(ct, crlf(&[part("meta", "; filename=\"m\"\r\nContent-Type: application/json; charset=utf-8", r#"{"tag":"v1"}"#, "\r\n")]))
            .runs(),
        Case::post("multipart JSON file replaces a field", "/hooks/form")
            .body(ct, crlf(&[part("meta", "", "text", "\r\n"), part("meta", "; filename=\"m\"\r\nContent-Type: application/json", r#"{"tag":"v2"}"#, "\r\n")]))
            .runs(),
        Case::post("multipart empty filename is a field", "/hooks/form")
            .body(ct, crlf(&[part("name", "; filename=\"\"", "field", "\r\n")]))
            .runs(),
        Case::post("multipart name in RFC 2231 form", "/hooks/form")
            .body(ct, "--xxx\r\nContent-Disposition: form-data; name*=utf-8''na%6De\r\n\r\nv\r\n--xxx--")
            .runs(),
        Case::post("multipart without a boundary", "/hooks/form").body("multipart/form-data; x=1", "--xxx--"),
        Case::post("multipart part never closed", "/hooks/form")
            .body(ct, "--xxx\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nopen"),
        Case::post("multipart text inside a part", "/hooks/form")
            .body(ct, format!("{}junk\r\n--xxx--", part("name", "", "a", "\r\n")))
            .runs(),
        Case::post("multipart boundary line with trailing junk", "/hooks/form")
            .body(ct, format!("{}--xxx junk\r\n--xxx--", part("name", "", "a", "\r\n"))),
        Case::post("multipart with a malformed query", "/hooks/form?a=%zz")
            .body(ct, crlf(&[part("name", "", "a", "\r\n")])),
    ];
    pair.run(&cases);
}

/// `-max-multipart-mem` as Go's `ParseMultipartForm(maxMemory)` uses it: a form's values,
/// names and file headers, and the files small enough to be kept in memory, must fit in
/// `maxMemory` + 10 MiB, or the form is refused with 500; larger files cost nothing (Go writes
/// them to disk). With `-max-multipart-mem 0` the limit is 10 MiB, just within
/// `-max-body-size`: values one byte either side of it, with and without a file part.
#[test]
fn multipart_memory_like_the_reference() {
    let hooks = r#"[{"id": "mem", "execute-command": "@RECORDER@",
        "pass-arguments-to-command": [{"source": "payload", "name": "ref"}]}]"#;
    let Some(pair) = Group::new("multipart-memory")
        .file("hooks.json", hooks)
        .flags(&["-max-multipart-mem", "0"])
        .start()
    else {
        return;
    };
    let ct = "multipart/form-data; boundary=xxx";
    let disposition =
        |name: &str, file: &str| format!("Content-Disposition: form-data; name=\"{name}\"{file}");
    let part = |header: &str, value: &str| format!("--xxx\r\n{header}\r\n\r\n{value}\r\n");
    let file_header = disposition("f", "; filename=\"f.txt\"");
    // What Go counts: 200 per named part and its name's length, the values; for a file part
    // also its headers (400, and 200 and the name per header, and the values) and 300.
    let ref_cost = 200 + "ref".len() + "main".len();
    let value_cost = 200 + "v".len();
    let file_cost = 200
        + "f".len()
        + 400
        + "Content-Disposition".len()
        + 200
        + (file_header.len() - "Content-Disposition: ".len())
        + 300;
    let fits = (10 << 20) - ref_cost - value_cost;
    let form = |value: usize, file: Option<&str>| {
        let mut body = part(&disposition("ref", ""), "main");
        if let Some(content) = file {
            body.push_str(&part(&file_header, content));
        }
        body.push_str(&part(&disposition("v", ""), &"x".repeat(value)));
        body + "--xxx--\r\n"
    };
    let cases = vec![
        Case::post("multipart values filling maxMemory + 10 MiB", "/hooks/mem")
            .body(ct, form(fits, None))
            .runs(),
        Case::post(
            "multipart values one byte over maxMemory + 10 MiB",
            "/hooks/mem",
        )
        .body(ct, form(fits + 1, None)),
        Case::post(
            "multipart file too large for memory costs its headers",
            "/hooks/mem",
        )
        .body(ct, form(fits - file_cost, Some("file content")))
        .runs(),
        Case::post(
            "multipart file headers count against the values",
            "/hooks/mem",
        )
        .body(ct, form(fits - file_cost + 1, Some("file content"))),
        Case::post("multipart empty file kept in memory", "/hooks/mem")
            .body(ct, form(fits - file_cost, Some("")))
            .runs(),
    ];
    pair.run(&cases);
}
