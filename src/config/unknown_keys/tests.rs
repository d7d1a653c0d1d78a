//! Tests: the straight reading reports what the tree's reading reports.

use super::super::reading_check::same_both_ways as same_as_tree;

#[test]
fn the_straight_reading_gives_what_the_tree_gives() {
    let rule = r#"{"and": [{"match": {"type": "value", "value": 42,
        "parameter": {"source": "url", "name": "token"}}},
        {"not": {"match": {"type": "regex", "regex": "^refs/heads/(main|release/[0-9.]+)$",
        "parameter": {"source": "payload", "name": "ref"}}}},
        {"or": [{"match": {"type": "ip-whitelist", "ip-range": "10.0.0.0/8"}},
                {"match": {"type": "payload-hmac-sha256", "secret": 1.50,
                 "parameter": {"source": "header", "name": "X-Sig"}}}]}]}"#;
    let taken = [
        "[]".to_string(),
        " [ ] ".to_string(),
        format!(
            r#"[{{"id": "full", "execute-command": "/bin/true",
            "command-working-directory": "/tmp", "response-message": null,
            "response-headers": [{{"name": "X-A", "value": "b"}}],
            "include-command-output-in-response": "yes",
            "include-command-output-in-response-on-error": "Off",
            "pass-environment-to-command": [{{"source": "payload", "name": "a.b",
                "envname": "AB"}}],
            "pass-arguments-to-command": [{{"source": "string", "name": 1e3}},
                {{"source": "header", "name": true}}, {{"source": "url", "name": -0}}],
            "pass-file-to-command": [{{"source": "payload", "name": "f",
                "base64decode": "y"}}],
            "parse-parameters-as-json": [{{"source": "payload", "name": "j"}}],
            "trigger-rule": {rule},
            "trigger-rule-mismatch-http-response-code": 400,
            "success-http-response-code": 299,
            "trigger-signature-soft-failures": null,
            "incoming-payload-content-type": "application/json",
            "http-methods": ["post", " Get "],
            "command-timeout": "90s", "concurrency": "serial", "max-queue": 0,
            "stream-command-output": true, "delivery-id-header": "X-Delivery",
            "registry-event": {{"provider": "harbor", "registry-host": "r.example"}},
            "notify": [{{"on": "failure", "webhook": {{"url": "http://127.0.0.1:9/x",
                "format": "slack"}}}}]}}]"#
        ),
        // Unknown keys: in the order of their paths, once each, with their hints.
        r#"[{"zeta": 1, "id": "u", "execute-command": "/bin/true", "colour": "red",
            "colour": "blue", "col\u006four": 3, "aaa": {"deep": [[[{"x": 1}]]]},
            "trigger-rule": {"match": {"type": "value", "valeu": "1",
                "parameter": {"source": "url", "name": "n", "nmae": 2}}},
            "response-headers": [{"name": "a", "value": "b", "vale": "c"},
                {"name": "c", "value": "d", "a": 1}],
            "registry-event": {"provider": "auto", "registry-hots": "r"},
            "notify": [{"on": ["success", "timeout"], "emial": {}},
                {"webhook": {"url": "http://127.0.0.1:9/", "secert": "s"}}]}]"#
            .to_string(),
        // Numbers as text, as a tree hands them on (`-0` as 0, `0.0000001` as a float).
        r#"[{"id": "n", "execute-command": "/bin/true",
            "pass-arguments-to-command": [{"source": "string", "name": -0},
                {"source": "string", "name": 0.0000001}, {"source": "string", "name": -1.5e-7},
                {"source": "string", "name": 123456789012345678901234567890},
                {"source": "string", "name": -9223372036854775809},
                {"source": "string", "name": 3.14159265358979}, {"source": "string", "name": 1.0}],
            "http-methods": [-0, 1.50],
            "registry-event": {"provider": "custom", "registry-host": 0.0000001}}]"#
            .to_string(),
        // A hook is named by its id only when the id is text.
        r#"[{"id": 42, "execute-command": "/bin/true", "x": 1},
            {"id": "", "execute-command": "/bin/true", "x": 1},
            {"id": null, "execute-command": "/bin/true", "x": 1},
            {"id": true, "execute-command": "/bin/true", "x": 1},
            {"id": "a\"b", "execute-command": "/bin/true", "x": 1},
            {"execute-command": "/bin/true", "x": 1}]"#
            .to_string(),
        // Errors found when a hook is built, not read.
        r#"[{"id": "b", "execute-command": "/bin/true", "http-methods": ["NO METHOD"],
            "trigger-rule": {"match": {"type": "regex", "regex": "(",
                "parameter": {"source": "url", "name": "x"}}},
            "concurrency": "sometimes", "command-timeout": "soon",
            "registry-event": "nowhere",
            "pass-environment-to-command": [{"source": "string", "name": "v",
                "envname": "A=B"}]},
            {"id": "b", "execute-command": "/bin/true"}]"#
            .to_string(),
    ];
    for text in &taken {
        assert!(same_as_tree(text), "not read straight: {text}");
    }
    // Every file one edit away from these: each the tree reads, the same.
    let tokens = [
        "\"",
        ",",
        ":",
        "{",
        "}",
        "[",
        "]",
        "1",
        "-0",
        "1.0",
        "null",
        "true",
        "\"x\"",
        "",
        "\"id\"",
        "\"id\": 1, \"id\"",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut read_straight = 0;
    for text in &taken[2..] {
        for _ in 0..150 {
            let at = (0..=next(text.len()))
                .rev()
                .find(|&i| text.is_char_boundary(i));
            let (head, tail) = text.split_at(at.unwrap_or(0));
            let cut = (0..=next(4).min(tail.len()))
                .rev()
                .find(|&i| tail.is_char_boundary(i))
                .unwrap_or(0);
            let edited = format!("{head}{}{}", tokens[next(tokens.len())], &tail[cut..]);
            read_straight += usize::from(same_as_tree(&edited));
        }
    }
    assert!(
        read_straight > 100,
        "{read_straight} edited files read straight"
    );
    let deep = format!(
        r#"[{{"id": "d", "x": {}1{}}}]"#,
        "[".repeat(140),
        "]".repeat(140)
    );
    let left_to_the_tree = [
        // Errors, which the tree places.
        r#"[{"id": "a", "trigger-rule": {"match": {"parameter": {"name": ["x"]}}}}]"#,
        r#"[{"id": "a", "success-http-response-code": 200.0}]"#,
        r#"[{"id": "a", "max-queue": -1}]"#,
        r#"[{"id": "a", "include-command-output-in-response": 1}]"#,
        r#"[{"id": "a", "response-headers": null}]"#,
        r#"[{"id": "a"}, 7]"#,
        r#"[["a", "/bin/true"]]"#,
        // A key twice: the tree keeps the last.
        r#"[{"id": "a", "id": "b"}]"#,
        // A number where the registry event's object may be.
        r#"[{"id": "a", "registry-event": 5}]"#,
        // Not one JSON list.
        r#"{"id": "a"}"#,
        "- id: a\n",
        r#"[{"id": "a"},]"#,
        r#"[{"id": "a"}] []"#,
        "",
        &deep,
    ];
    for text in left_to_the_tree {
        assert!(!same_as_tree(text), "read straight: {text}");
    }
}
