//! Hooks files: several `-hooks` files at once (JSON, YAML, `.yml`), YAML's own syntax
//! (comments, block scalars, anchors, loosely typed scalars), and `-template` with `getenv`,
//! `cat`, `credential` and common template constructs.

use super::case::{Case, Expect};
use super::pair::Group;

const JSON_FILE: &str = r#"[
  {"id": "from-json", "execute-command": "@RECORDER@", "response-message": "json file",
   "pass-arguments-to-command": [{"source": "string", "name": "json"}]}
]"#;

const YAML_FILE: &str = r#"# hooks in YAML
- id: from-yaml
  execute-command: "@RECORDER@"
  include-command-output-in-response: true
  response-headers:
    - name: X-From
      value: yaml
  pass-arguments-to-command:
    - source: payload
      name: tag
    - source: string
      name: |-
        two
        lines
  pass-environment-to-command:
    - envname: YAML_ENV
      source: url
      name: e
  trigger-rule: &token
    match:
      type: value
      value: "t0k"
      parameter:
        source: url
        name: token
- id: yaml-anchor
  execute-command: "@RECORDER@"
  response-message: >
    folded
    message
  trigger-rule: *token
"#;

const YML_FILE: &str = r#"- id: from-yml
  execute-command: '@RECORDER@'
  response-message: yml file
  http-methods: [post]
"#;

const LOOSE_YAML: &str = r#"- id: loose
  execute-command: "@RECORDER@"
  response-message: 12345
  success-http-response-code: 202
  include-command-output-in-response: false
  pass-arguments-to-command:
    - {source: string, name: 1.50}
    - {source: string, name: true}
    - {source: string, name: ~}
    - {source: string, name: 0x1F}
    - {source: string, name: 1000000.0}
    - {source: string, name: 100000.0}
    - {source: string, name: -0.0}
    - {source: string, name: 12345678901234567890}
    - {source: string, name: 2001-12-14}
  trigger-rule:
    match:
      type: value
      value: 42
      parameter:
        source: url
        name: num
- id: yaml11
  execute-command: "@RECORDER@"
  response-message: yaml 1.1 words
  pass-arguments-to-command:
    - {source: string, name: 012}
  trigger-rule:
    match: {type: value, value: yes, parameter: {source: url, name: n}}
"#;

const LOOSE_JSON: &str = r#"[
  {"id": "loose-json", "execute-command": "@RECORDER@", "response-message": 7.0, "http-methods": ["post"],
   "pass-arguments-to-command": [{"source": "string", "name": 1.50}, {"source": "string", "name": 1e3},
     {"source": "string", "name": false}, {"source": "string", "name": null}, {"source": "string", "name": 3.14159265358979}],
   "trigger-rule": {"match": {"type": "value", "value": 42, "parameter": {"source": "url", "name": "num"}}}}
]"#;

const TEMPLATE: &str = r#"[
  {
    "id": "{{ getenv "HOOK_ID_FROM_ENV" }}",
    "execute-command": "@RECORDER@",
    "response-message": "{{ getenv "MESSAGE" }}",
    "include-command-output-in-response": {{ if eq (getenv "CAPTURE") "yes" }}true{{ else }}false{{ end }},
    "pass-arguments-to-command": [
      {"source": "string", "name": "{{ with getenv "TOKEN" }}with-{{ . }}{{ end }}{{ $v := "var" }}-{{ $v }}"},
      {"source": "string", "name": "{{ getenv "QUOTED" | js }}"},
      {"source": "string", "name": "{{ printf "%s-%d" "v" 7 }}"},
      {"source": "string", "name": "{{ getenv "UNSET_VARIABLE" }}"}
      {{- /* a comment */ -}}
    ],
    "trigger-rule": {"match": {"type": "value", "value": "{{ getenv "TOKEN" }}", "parameter": {"source": "url", "name": "token"}}}
  }
]"#;

#[test]
fn several_hooks_files_and_yaml_like_the_reference() {
    let Some(pair) = Group::new("several-files")
        .file("a.json", JSON_FILE)
        .file("b.yaml", YAML_FILE)
        .file("c.yml", YML_FILE)
        .start()
    else {
        return;
    };
    let cases = vec![
        Case::post("hook from the JSON file", "/hooks/from-json").runs(),
        Case::post(
            "hook from the YAML file",
            "/hooks/from-yaml?token=t0k&e=env%20value",
        )
        .json(r#"{"tag":"v2"}"#)
        .runs(),
        Case::post("YAML hook rule mismatch", "/hooks/from-yaml?token=no"),
        Case::post(
            "YAML anchor reused as a rule",
            "/hooks/yaml-anchor?token=t0k",
        )
        .runs(),
        Case::post("YAML anchor rule mismatch", "/hooks/yaml-anchor"),
        Case::post("hook from the .yml file", "/hooks/from-yml").runs(),
        Case::get("lower-case method list in YAML", "/hooks/from-yml"),
    ];
    pair.run(&cases);
}

#[test]
fn loosely_typed_yaml_scalars_like_the_reference() {
    let Some(pair) = Group::new("yaml-scalars")
        .file("loose.yaml", LOOSE_YAML)
        .file("loose.json", LOOSE_JSON)
        .start()
    else {
        return;
    };
    let cases = vec![
        Case::post(
            "numbers, booleans and null where strings are expected",
            "/hooks/loose?num=42",
        )
        .runs(),
        Case::post("number rule mismatch", "/hooks/loose?num=42.0"),
        Case::post(
            "JSON numbers where strings are expected",
            "/hooks/loose-json?num=42",
        )
        .deliberate(
            "the reference rounds a float written where text is expected to 32 bits",
            // `1e+3`: serde_json rewrites exponents (the accepted exponent difference).
            Expect::status(200)
                .body("7")
                .recorded(r#"["1.5","1e+3","false","","3.14159265358979"]"#),
            Expect::status(200)
                .body("7")
                .recorded(r#"["1.5","1e3","false","","3.1415927"]"#),
        ),
        // hookrun reads YAML 1.2: `yes`, `n` and `012` are the text written. The reference
        // YAML 1.1 reads them as true, false and octal 10.
        Case::post("YAML 1.1 words are text", "/hooks/yaml11?n=yes").deliberate(
            "hookrun reads YAML 1.2: yes/no/on/off/y/n and 012 are the text written",
            Expect::status(200)
                .body("yaml 1.1 words")
                .recorded(r#""012""#),
            Expect::status(200).body("Hook rules were not satisfied."),
        ),
        Case::post(
            "YAML 1.1 booleans in the reference",
            "/hooks/yaml11?false=true",
        )
        .deliberate(
            "hookrun reads YAML 1.2: yes/no/on/off/y/n and 012 are the text written",
            Expect::status(200).body("Hook rules were not satisfied."),
            Expect::status(200)
                .body("yaml 1.1 words")
                .recorded(r#""10""#),
        ),
    ];
    pair.run(&cases);
}

/// Every spelling YAML 1.1 reads as a boolean, and null, in a boolean field; the hook's answer
/// shows which way it was read (the output, or the response message).
fn yaml11_boolean_hooks() -> (String, Vec<Case>) {
    let words = [
        "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE", "n", "N", "no",
        "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE", "~", "",
    ];
    let mut yaml = String::new();
    let mut cases = Vec::new();
    for (i, word) in words.iter().enumerate() {
        yaml.push_str(&format!(
            "- id: b{i}\n  execute-command: \"@RECORDER@\"\n  response-message: read as false\n  include-command-output-in-response: {word}\n"
        ));
        cases.push(
            Case::post(
                &format!("boolean field written {word:?}"),
                &format!("/hooks/b{i}"),
            )
            .runs(),
        );
    }
    yaml.push_str(
        r#"- id: on-error
  execute-command: "@RECORDER@"
  include-command-output-in-response: Yes
  include-command-output-in-response-on-error: on
  pass-arguments-to-command: [{source: string, name: "exit=3"}]
- id: soft
  execute-command: "@RECORDER@"
  response-message: soft failures on
  trigger-signature-soft-failures: YES
  trigger-rule:
    or:
      - match: {type: payload-hmac-sha256, secret: s3cret, parameter: {source: header, name: X-Sig}}
      - match: {type: value, value: "1", parameter: {source: url, name: x}}
- id: decode
  execute-command: "@RECORDER@"
  include-command-output-in-response: y
  pass-file-to-command:
    - {source: string, name: aGVsbG8=, envname: DECODED, base64decode: y}
    - {source: string, name: aGVsbG8=, envname: KEPT, base64decode: Off}
"#,
    );
    cases.extend([
        Case::post("output on error, YAML 1.1 booleans", "/hooks/on-error").runs(),
        Case::post(
            "soft signature failures, YAML 1.1 boolean",
            "/hooks/soft?x=1",
        )
        .header("X-Sig", "sha256=00")
        .runs(),
        Case::post("base64decode, YAML 1.1 booleans", "/hooks/decode").runs(),
    ]);
    (yaml, cases)
}

#[test]
fn yaml_1_1_booleans_in_boolean_fields_like_the_reference() {
    let (yaml, cases) = yaml11_boolean_hooks();
    let Some(pair) = Group::new("yaml11-booleans")
        .file("booleans.yaml", &yaml)
        .start()
    else {
        return;
    };
    pair.run(&cases);
}

#[test]
fn templates_render_like_the_reference() {
    let Some(pair) = Group::new("template")
        .file("hooks.json", TEMPLATE)
        .flags(&["-template"])
        .env("HOOK_ID_FROM_ENV", "templated")
        .env("CAPTURE", "yes")
        .env("TOKEN", "from-env")
        .env("QUOTED", r#"say "hi" \ <b>"#)
        .env("MESSAGE", "from the environment")
        .start()
    else {
        return;
    };
    let cases = vec![
        Case::post("templated hook runs", "/hooks/templated?token=from-env").runs(),
        Case::post("templated rule mismatch", "/hooks/templated?token=other"),
        Case::post("template text is not an id", "/hooks/%7B%7B"),
    ];
    pair.run(&cases);
}
