//! URLs and methods: `/`, unknown hooks and paths, gorilla/mux path cleaning (301), ids with
//! odd characters, hook `http-methods`, the `-http-methods` flag, `-urlprefix` (custom, nested,
//! empty), a hook without an id, and which of these answers carry `-header` headers.

use super::case::{Case, Expect};
use super::pair::Group;

const HOOKS: &str = r#"[
  {"id": "a", "execute-command": "@RECORDER@", "response-message": "a ran"},
  {"id": "with space", "execute-command": "@RECORDER@", "response-message": "space ran"},
  {"id": "dir/hook", "execute-command": "@RECORDER@", "response-message": "slash ran"},
  {"id": "ünï", "execute-command": "@RECORDER@", "response-message": "unicode ran"},
  {"id": "methods", "execute-command": "@RECORDER@", "response-message": "method ok", "http-methods": ["PUT", "get", " Delete "]},
  {"id": "rule", "execute-command": "@RECORDER@", "response-message": "rule ok",
   "trigger-rule": {"match": {"type": "value", "value": "1", "parameter": {"source": "url", "name": "t"}}}}
]"#;

#[test]
fn routes_and_methods_like_the_reference() {
    let Some(pair) = Group::new("routing")
        .file("hooks.json", HOOKS)
        .flags(&["-header", "X-Global=g"])
        .start()
    else {
        return;
    };
    let cases = vec![
        Case::get("root answers OK", "/"),
        Case::post("root answers OK to POST", "/"),
        Case::get("root with a query", "/?x=1"),
        Case::post("hook runs", "/hooks/a").runs(),
        Case::get("hook runs on GET", "/hooks/a").runs(),
        Case::new("HEAD", "hook on HEAD", "/hooks/a").runs(),
        Case::new("OPTIONS", "hook on OPTIONS", "/hooks/a").runs(),
        Case::post("unknown hook", "/hooks/nope"),
        Case::post("prefix without an id", "/hooks/"),
        Case::post("prefix alone", "/hooks"),
        Case::post("unknown path", "/other/a"),
        Case::post("id is case-sensitive", "/hooks/A"),
        Case::post("trailing slash", "/hooks/a/"),
        Case::post("double slash redirects", "/hooks//a"),
        Case::post("dot segment redirects", "/hooks/./a?x=1"),
        Case::post("dot-dot segment redirects", "/hooks/../hooks/a"),
        Case::post("dot-dot above the root", "/../hooks/a"),
        Case::post("invalid percent escape", "/hooks/%zz"),
        Case::post("encoded dot-dot", "/hooks/%2e%2e/hooks/a"),
        Case::post("empty query", "/hooks/a?").runs(),
        Case::post("absolute-form target", "http://127.0.0.1/hooks/a").runs(),
        Case::post("double slash at the root", "//"),
        Case::post("encoded space in the id", "/hooks/with%20space").runs(),
        Case::post("id with a slash", "/hooks/dir/hook").runs(),
        Case::post("id with an encoded slash", "/hooks/dir%2Fhook").runs(),
        Case::post("unicode id", "/hooks/%C3%BCn%C3%AF").runs(),
        Case::post("encoded letters in the id", "/hooks/%61").runs(),
        Case::post("method not allowed", "/hooks/methods"),
        Case::get("method allowed (lower-case in the file)", "/hooks/methods").runs(),
        Case::new("PUT", "method allowed", "/hooks/methods").runs(),
        Case::new(
            "DELETE",
            "method allowed (spaces in the file)",
            "/hooks/methods",
        )
        .runs(),
        Case::new("PATCH", "another method not allowed", "/hooks/methods"),
        Case::post("mismatch carries the global headers", "/hooks/rule?t=2"),
        Case::post("match carries the global headers", "/hooks/rule?t=1").runs(),
    ];
    pair.run(&cases);
}

#[test]
fn url_prefix_and_method_flags_like_the_reference() {
    let Some(pair) = Group::new("prefix")
        .file("hooks.json", HOOKS)
        .flags(&["-urlprefix", "api/v1", "-http-methods", "get, Patch"])
        .start()
    else {
        return;
    };
    let cases = vec![
        Case::get("custom nested prefix", "/api/v1/a").runs(),
        Case::get("default prefix is gone", "/hooks/a"),
        Case::get("half the prefix", "/api/a"),
        Case::new("PATCH", "global methods allow PATCH", "/api/v1/a").runs(),
        Case::post("global methods refuse POST", "/api/v1/a"),
        Case::post("hook methods win over the flag", "/api/v1/methods"),
        Case::new(
            "PUT",
            "hook methods win over the flag (allowed)",
            "/api/v1/methods",
        )
        .runs(),
        Case::post("unknown hook under the prefix", "/api/v1/nope"),
        Case::get("root", "/"),
    ];
    pair.run(&cases);
}

#[test]
fn empty_url_prefix_like_the_reference() {
    let Some(pair) = Group::new("no-prefix")
        .file("hooks.json", HOOKS)
        .flags(&["-urlprefix", ""])
        .start()
    else {
        return;
    };
    let cases = vec![
        Case::post("hook at the root", "/a").runs(),
        Case::post("slashed id at the root", "/dir/hook").runs(),
        Case::post("unknown hook at the root", "/nope"),
        Case::post("old prefix is an id now", "/hooks/a"),
        Case::get("root", "/"),
    ];
    pair.run(&cases);
}

#[test]
fn url_prefix_with_slashes_like_the_reference() {
    let Some(pair) = Group::new("slashed-prefix")
        .file("hooks.json", HOOKS)
        .flags(&["-urlprefix", "/deploy/"])
        .start()
    else {
        return;
    };
    // The reference builds the route `//deploy//{id}`, which no request reaches (gorilla/mux
    // redirects `//deploy//a` to `/deploy/a`); hookrun trims the slashes.
    const WHY: &str = "-urlprefix is trimmed of slashes; the reference's route is unreachable";
    let cases = vec![
        Case::post("slashed prefix, clean URL", "/deploy/a").deliberate(
            WHY,
            Expect::status(200).body("a ran").runs(),
            Expect::status(404).body("404 page not found\n"),
        ),
        Case::post("slashed prefix, doubled slashes", "//deploy//a"),
        Case::post("slashed prefix, unknown id", "/deploy/nope").deliberate(
            WHY,
            Expect::status(404).body("Hook not found."),
            Expect::status(404).body("404 page not found\n"),
        ),
    ];
    pair.run(&cases);
}

/// A hook without an id (or with `"id": ""`) is served at the prefix itself.
const NO_ID: &str = r#"[
  {"execute-command": "@RECORDER@", "response-message": "no id ran"},
  {"id": "a", "execute-command": "@RECORDER@", "response-message": "a ran"}
]"#;

const EMPTY_ID: &str = r#"[
  {"id": "", "execute-command": "@RECORDER@", "response-message": "empty id ran"},
  {"id": "a", "execute-command": "@RECORDER@", "response-message": "a ran"}
]"#;

#[test]
fn a_hook_without_an_id_is_served_at_the_prefix_like_the_reference() {
    let Some(pair) = Group::new("no-id").file("hooks.json", NO_ID).start() else {
        return;
    };
    let cases = vec![
        Case::post("prefix with a slash", "/hooks/").runs(),
        Case::get("prefix with a slash, GET", "/hooks/").runs(),
        Case::post("prefix without a slash", "/hooks"),
        Case::post("the other hook", "/hooks/a").runs(),
        Case::post("root", "/"),
    ];
    pair.run(&cases);
    let Some(pair) = Group::new("no-id-empty-prefix")
        .file("hooks.json", EMPTY_ID)
        .flags(&["-urlprefix", ""])
        .start()
    else {
        return;
    };
    pair.run(&[
        Case::post("root is the root, not the hook", "/"),
        Case::post("the other hook at the root", "/a").runs(),
    ]);
}
