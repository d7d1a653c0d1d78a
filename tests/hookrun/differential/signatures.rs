//! Signature rules, with signatures computed here: `payload-hmac-sha1/256/512`, the deprecated
//! `payload-hash-*` names, prefixes and comma-separated lists, soft failures, signatures in the
//! query, form bodies, empty bodies, and `scalr-signature` (fresh, forged, outdated).

use super::case::Case;
use super::pair::Group;
use super::sign;

const SECRET: &str = "It's a Secret to Everybody";

const HOOKS: &str = r#"[
  {
    "id": "sha1",
    "execute-command": "@RECORDER@",
    "response-message": "sha1 ok",
    "trigger-rule": {"match": {"type": "payload-hmac-sha1", "secret": "It's a Secret to Everybody", "parameter": {"source": "header", "name": "X-Hub-Signature"}}}
  },
  {
    "id": "sha256",
    "execute-command": "@RECORDER@",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "payload", "name": "ref"}],
    "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "It's a Secret to Everybody", "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}
  },
  {
    "id": "sha512",
    "execute-command": "@RECORDER@",
    "response-message": "sha512 ok",
    "trigger-rule": {"match": {"type": "payload-hmac-sha512", "secret": "It's a Secret to Everybody", "parameter": {"source": "url", "name": "sig"}}}
  },
  {
    "id": "hash-sha1",
    "execute-command": "@RECORDER@",
    "response-message": "old sha1 ok",
    "trigger-rule": {"match": {"type": "payload-hash-sha1", "secret": "It's a Secret to Everybody", "parameter": {"source": "header", "name": "X-Sig"}}}
  },
  {
    "id": "hash-sha256",
    "execute-command": "@RECORDER@",
    "response-message": "old sha256 ok",
    "trigger-rule": {"match": {"type": "payload-hash-sha256", "secret": "It's a Secret to Everybody", "parameter": {"source": "header", "name": "X-Sig"}}}
  },
  {
    "id": "hash-sha512",
    "execute-command": "@RECORDER@",
    "response-message": "old sha512 ok",
    "trigger-rule": {"match": {"type": "payload-hash-sha512", "secret": "It's a Secret to Everybody", "parameter": {"source": "header", "name": "X-Sig"}}}
  },
  {
    "id": "soft",
    "execute-command": "@RECORDER@",
    "response-message": "soft ok",
    "trigger-signature-soft-failures": true,
    "trigger-rule": {"or": [
      {"match": {"type": "payload-hmac-sha256", "secret": "It's a Secret to Everybody", "parameter": {"source": "header", "name": "X-Sig"}}},
      {"match": {"type": "value", "value": "fallback", "parameter": {"source": "url", "name": "token"}}}
    ]}
  },
  {
    "id": "hard",
    "execute-command": "@RECORDER@",
    "response-message": "hard ok",
    "trigger-rule": {"or": [
      {"match": {"type": "payload-hmac-sha256", "secret": "It's a Secret to Everybody", "parameter": {"source": "header", "name": "X-Sig"}}},
      {"match": {"type": "value", "value": "fallback", "parameter": {"source": "url", "name": "token"}}}
    ]}
  },
  {
    "id": "github",
    "execute-command": "@RECORDER@",
    "response-message": "github ok",
    "trigger-rule-mismatch-http-response-code": 401,
    "trigger-rule": {"and": [
      {"match": {"type": "payload-hmac-sha1", "secret": "It's a Secret to Everybody", "parameter": {"source": "header", "name": "X-Hub-Signature"}}},
      {"match": {"type": "value", "value": "refs/heads/main", "parameter": {"source": "payload", "name": "ref"}}}
    ]}
  },
  {
    "id": "scalr",
    "execute-command": "@RECORDER@",
    "response-message": "scalr ok",
    "trigger-rule": {"match": {"type": "scalr-signature", "secret": "It's a Secret to Everybody"}}
  }
]"#;

fn signed(name: &str, hook: &str, header: &str, sig: String, body: &str) -> Case {
    Case::post(name, &format!("/hooks/{hook}"))
        .header(header, &sig)
        .json(body)
}

#[test]
fn signature_rules_verify_like_the_reference() {
    let Some(pair) = Group::new("signatures").file("hooks.json", HOOKS).start() else {
        return;
    };
    let body = r#"{"ref":"refs/heads/main","after":"abc"}"#;
    let b = body.as_bytes();
    let sha1 = sign::sha1(SECRET, b);
    let sha256 = sign::sha256(SECRET, b);
    let sha512 = sign::sha512(SECRET, b);
    let form = "ref=main&x=%41";
    let (date, scalr_sig) = sign::scalr(SECRET, b, 0);
    let (old_date, old_sig) = sign::scalr(SECRET, b, -3600);
    let cases = vec![
        signed(
            "sha1 with prefix",
            "sha1",
            "X-Hub-Signature",
            format!("sha1={sha1}"),
            body,
        )
        .runs(),
        signed(
            "sha1 without prefix",
            "sha1",
            "X-Hub-Signature",
            sha1.clone(),
            body,
        )
        .runs(),
        signed(
            "sha1 forged",
            "sha1",
            "X-Hub-Signature",
            format!("sha1={sha256}"),
            body,
        ),
        signed(
            "sha1 over a changed body",
            "sha1",
            "X-Hub-Signature",
            sha1.clone(),
            "{}",
        ),
        Case::post("sha1 header missing", "/hooks/sha1").json(body),
        signed(
            "sha256 with prefix",
            "sha256",
            "X-Hub-Signature-256",
            format!("sha256={sha256}"),
            body,
        )
        .runs(),
        signed(
            "sha256 upper-case hex",
            "sha256",
            "X-Hub-Signature-256",
            sha256.to_uppercase(),
            body,
        ),
        signed(
            "sha256 among several signatures",
            "sha256",
            "X-Hub-Signature-256",
            format!("sha256=00ff,sha256={sha256}"),
            body,
        )
        .runs(),
        signed(
            "sha256 list without the right one",
            "sha256",
            "X-Hub-Signature-256",
            format!("sha256=00ff,sha1={sha256}"),
            body,
        ),
        Case::post(
            "sha512 in the query",
            &format!("/hooks/sha512?sig={sha512}"),
        )
        .json(body)
        .runs(),
        Case::post(
            "sha512 in the query, prefixed",
            &format!("/hooks/sha512?sig=sha512={sha512}"),
        )
        .json(body)
        .runs(),
        Case::post("sha512 forged", "/hooks/sha512?sig=abc").json(body),
        signed(
            "deprecated payload-hash-sha1",
            "hash-sha1",
            "X-Sig",
            sha1.clone(),
            body,
        )
        .runs(),
        signed(
            "deprecated payload-hash-sha256",
            "hash-sha256",
            "X-Sig",
            sha256.clone(),
            body,
        )
        .runs(),
        signed(
            "deprecated payload-hash-sha512",
            "hash-sha512",
            "X-Sig",
            sha512.clone(),
            body,
        )
        .runs(),
        signed(
            "soft failure without the token mismatches",
            "soft",
            "X-Sig",
            "bad".into(),
            body,
        ),
        Case::post(
            "soft failure falls through to the token (query)",
            "/hooks/soft?token=fallback",
        )
        .header("X-Sig", "bad")
        .json(body)
        .runs(),
        signed(
            "soft failure with a good signature",
            "soft",
            "X-Sig",
            sha256.clone(),
            body,
        )
        .runs(),
        Case::post("hard failure is a rule error", "/hooks/hard?token=fallback")
            .header("X-Sig", "bad")
            .json(body),
        Case::post(
            "hard: a missing signature lets the token decide",
            "/hooks/hard?token=fallback",
        )
        .json(body)
        .runs(),
        signed(
            "github style and holds",
            "github",
            "X-Hub-Signature",
            format!("sha1={sha1}"),
            body,
        )
        .runs(),
        signed(
            "github style and, other branch",
            "github",
            "X-Hub-Signature",
            format!("sha1={}", sign::sha1(SECRET, br#"{"ref":"dev"}"#)),
            r#"{"ref":"dev"}"#,
        ),
        Case::post("hmac over a form body", "/hooks/sha1")
            .header(
                "X-Hub-Signature",
                &format!("sha1={}", sign::sha1(SECRET, form.as_bytes())),
            )
            .form(form)
            .runs(),
        Case::post("hmac over a text body", "/hooks/sha1")
            .header("X-Hub-Signature", &sign::sha1(SECRET, b"plain text"))
            .body("text/plain", "plain text")
            .runs(),
        Case::post("hmac of an empty body", "/hooks/sha1")
            .header("X-Hub-Signature", &sign::sha1(SECRET, b""))
            .runs(),
        Case::post("hmac of an empty body, forged", "/hooks/sha1").header("X-Hub-Signature", "00"),
        Case::post("scalr signature holds", "/hooks/scalr")
            .header("Date", &date)
            .header("X-Signature", &scalr_sig)
            .json(body)
            .runs(),
        Case::post("scalr signature forged", "/hooks/scalr")
            .header("Date", &date)
            .header("X-Signature", &sha1)
            .json(body),
        Case::post("scalr signature outdated", "/hooks/scalr")
            .header("Date", &old_date)
            .header("X-Signature", &old_sig)
            .json(body),
        Case::post("scalr without a date", "/hooks/scalr")
            .header("X-Signature", &scalr_sig)
            .json(body),
    ];
    pair.run(&cases);
}
