//! Request bodies by content type: JSON (objects, top-level arrays, invalid, trailing data,
//! `null`), urlencoded forms (repeated and malformed pairs), XML (attributes, repeated elements,
//! text), unsupported types, charset parameters, `+json` types, and
//! `incoming-payload-content-type` overriding the header, and numbers reaching commands as the
//! text the client sent.

use super::case::Case;
use super::pair::Group;

const HOOKS: &str = r#"[
  {
    "id": "echo",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [
      {"source": "entire-payload"},
      {"source": "payload", "name": "a"},
      {"source": "payload", "name": "root.1"},
      {"source": "payload", "name": "x"}
    ]
  },
  {
    "id": "xml",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [
      {"source": "entire-payload"},
      {"source": "payload", "name": "push.ref"},
      {"source": "payload", "name": "push.-id"},
      {"source": "payload", "name": "push.commit.1.msg"},
      {"source": "payload", "name": "push.note.#text"},
      {"source": "payload", "name": "push.note.-lang"}
    ]
  },
  {
    "id": "forced-json",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "incoming-payload-content-type": "application/json",
    "pass-arguments-to-command": [{"source": "payload", "name": "a"}, {"source": "entire-payload"}]
  },
  {
    "id": "forced-form",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "incoming-payload-content-type": "application/x-www-form-urlencoded",
    "pass-arguments-to-command": [{"source": "payload", "name": "a"}, {"source": "entire-payload"}]
  },
  {
    "id": "numbers",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [
      {"source": "entire-payload"},
      {"source": "payload", "name": "e"},
      {"source": "payload", "name": "E"},
      {"source": "payload", "name": "small"},
      {"source": "payload", "name": "zero"},
      {"source": "payload", "name": "frac"},
      {"source": "payload", "name": "big"},
      {"source": "payload", "name": "list"},
      {"source": "payload", "name": "root.0"}
    ],
    "pass-environment-to-command": [
      {"source": "payload", "name": "e", "envname": "E_NUM"},
      {"source": "payload", "name": "big", "envname": "BIG_NUM"}
    ],
    "pass-file-to-command": [
      {"source": "payload", "name": "small", "envname": "SMALL_FILE"},
      {"source": "payload", "name": "list", "envname": "LIST_FILE"}
    ]
  },
  {
    "id": "payload-rule",
    "execute-command": "@RECORDER@",
    "response-message": "matched",
    "trigger-rule": {"match": {"type": "value", "value": "yes", "parameter": {"source": "payload", "name": "ok"}}}
  }
]"#;

/// Every number form JSON allows, as Go's `UseNumber` keeps them.
const NUMBERS: &str = r#"{"e":1e3,"E":1E3,"small":1e-7,"zero":-0.0,"frac":1.50,"big":123456789012345678901234567890,"list":[1E+2,-1.0e-0,0.1e10],"neg":-12}"#;

const XML: &str = r#"<?xml version="1.0"?>
<push id="7"><ref>refs/heads/main</ref><commit><msg>one</msg></commit><commit><msg>two &amp; more</msg></commit><note lang="en">hello</note></push>"#;

#[test]
fn bodies_parse_like_the_reference() {
    let Some(pair) = Group::new("bodies").file("hooks.json", HOOKS).start() else {
        return;
    };
    let cases = vec![
        Case::post("json object", "/hooks/echo").json(r#"{"a":"1","x":{"y":[1,2]}}"#).runs(),
        Case::post("json top-level array", "/hooks/echo").json(r#"[{"a":1},"two"]"#).runs(),
        Case::post("json invalid", "/hooks/echo").json(r#"{"a":"#).runs(),
        Case::post("json with trailing data", "/hooks/echo").json(r#"{"a":"1"} {"a":"2"}"#).runs(),
        Case::post("json null", "/hooks/echo").json("null").runs(),
        Case::post("json string", "/hooks/echo").json(r#""text""#).runs(),
        Case::post("json number", "/hooks/echo").json("42").runs(),
        Case::post("json duplicate keys", "/hooks/echo").json(r#"{"a":"first","a":"second"}"#).runs(),
        Case::post("json with a charset", "/hooks/echo")
            .body("application/json; charset=utf-8", r#"{"a":"é"}"#)
            .runs(),
        Case::post("json vendor type", "/hooks/echo")
            .body("application/vnd.github+json", r#"{"a":"v"}"#)
            .runs(),
        Case::post("json type in capitals is not json", "/hooks/echo")
            .body("APPLICATION/JSON", r#"{"a":"v"}"#)
            .runs(),
        Case::post("json with BOM", "/hooks/echo")
            .body("application/json", "\u{feff}{\"a\":\"bom\"}")
            .runs(),
        Case::post("json deep numbers", "/hooks/echo")
            .json(r#"{"a":-0.0,"x":[1e-7,123456789.123456789,0.1,-12]}"#)
            .runs(),
        Case::post("json exponent numbers keep their text", "/hooks/echo")
            .json(r#"{"a":1E2}"#)
            .runs(),
        Case::post("json numbers as sent, every form", "/hooks/numbers")
            .json(NUMBERS)
            .runs(),
        Case::post("json numbers as sent, top-level array", "/hooks/numbers")
            .json(r#"[1e3,{"n":-0.0}]"#)
            .runs(),
        Case::post("form", "/hooks/echo").form("a=1&x=%3Cb%3E&a=2&y=a+b").runs(),
        Case::post("form with a malformed pair", "/hooks/echo").form("a=1&x=%zz").runs(),
        Case::post("form with a semicolon", "/hooks/echo").form("a=1;b=2&x=3").runs(),
        Case::post("form type with charset", "/hooks/echo")
            .body("application/x-www-form-urlencoded; charset=UTF-8", "a=v")
            .runs(),
        Case::post("xml", "/hooks/xml").xml(XML).runs(),
        Case::post("xml as text/xml", "/hooks/xml").body("text/xml", XML).runs(),
        Case::post("xml invalid", "/hooks/xml").xml("<push><ref>").runs(),
        Case::post("xml empty root", "/hooks/xml").xml("<push/>").runs(),
        Case::post("xml namespaces", "/hooks/xml")
            .xml(r#"<a:push xmlns:a="urn:x" a:id="1"><a:ref>r</a:ref><ref>plain</ref></a:push>"#)
            .runs(),
        Case::post("xml cdata and mixed content", "/hooks/xml")
            .xml("<push>text<ref><![CDATA[<raw & data>]]></ref>tail<note lang=\"de\"/></push>")
            .runs(),
        Case::post("xml numbers and booleans stay text", "/hooks/xml")
            .xml("<push id=\"007\"><ref>1.50</ref><commit><msg>true</msg></commit><commit><msg>12</msg></commit></push>")
            .runs(),
        Case::post("xml entities and whitespace", "/hooks/xml")
            .xml("<push>\n  <ref>  a &lt;b&gt; &#233; </ref>\n</push>")
            .runs(),
        Case::post("xml text runs split by cdata and comments", "/hooks/xml")
            .xml("<push><ref>a<!-- c -->b</ref><note lang=\"x\">t<![CDATA[c]]>u</note>v</push>")
            .runs(),
        Case::post("xml two roots", "/hooks/xml").xml("<push><ref>1</ref></push><other/>").runs(),
        Case::post("unsupported content type", "/hooks/echo")
            .body("text/plain", r#"{"a":"1"}"#)
            .runs(),
        Case::post("no content type", "/hooks/echo").body("", r#"{"a":"1"}"#).runs(),
        Case::post("override: text sent, json read", "/hooks/forced-json")
            .body("text/plain", r#"{"a":"forced"}"#)
            .runs(),
        Case::post("override: form sent, json read", "/hooks/forced-json")
            .form("a=1")
            .runs(),
        Case::post("override: json sent, form read", "/hooks/forced-form")
            .json("a=from-form&b=2")
            .runs(),
        Case::post("payload rule on json", "/hooks/payload-rule").json(r#"{"ok":"yes"}"#).runs(),
        Case::post("payload rule on form", "/hooks/payload-rule").form("ok=yes").runs(),
        Case::post("payload rule on xml", "/hooks/payload-rule").xml("<ok>yes</ok>").runs(),
        Case::post("payload rule on invalid json", "/hooks/payload-rule").json("{ok"),
        Case::get("payload rule on a GET with a body", "/hooks/payload-rule")
            .json(r#"{"ok":"yes"}"#)
            .runs(),
    ];
    pair.run(&cases);
}
