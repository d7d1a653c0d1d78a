//! JSON bodies nested as deep as Go allows (10,000 levels), at the default body limit, cost
//! the server about what a flat body of the same size costs: the served request path (parse,
//! rule, dot-path lookups, values rendered for a command, JSONPath) is linear in the body
//! however it nests. Reading each nested value by skipping the ones before it passed the
//! innermost bytes once per level around them: a fuzzer's 30 KB body 5,000 levels deep took
//! 2.7 s of CPU, and a 10 MiB one would hold a core for hours.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixture::{cpu_time, sh_hook, with, Fixture};

/// Just under the default `-max-body-size` (10 MiB).
const BODY: usize = 10 * 1024 * 1024 - 4096;
/// Go's `maxNestingDepth`, which hookrun keeps: a deeper body is malformed JSON for both.
const DEPTH: usize = 10_000;

/// A hook that renders its payload whole and by dot path into files for its command (files:
/// arguments and environment values of 10 MiB are too long for `execve`), after a rule. The
/// command answers with the files' sizes.
fn render_hook() -> Value {
    let script = r#"for f in "$PAYLOAD" "$A" "$ROOT"; do
  if [ -n "$f" ]; then printf '%s ' "$(wc -c <"$f")"; else printf '%s ' -; fi
done"#;
    with(
        sh_hook("render", script, &[]),
        json!({
            "include-command-output-in-response": true,
            "pass-file-to-command": [
                {"source": "entire-payload", "envname": "PAYLOAD"},
                {"source": "payload", "name": "a", "envname": "A"},
                {"source": "payload", "name": "root.0.0", "envname": "ROOT"}
            ],
            "trigger-rule": {"not": {"match": {"type": "value", "value": "stop",
                "parameter": {"source": "payload", "name": "b"}}}}
        }),
    )
}

/// A hook that queries its payload with JSONPath (a tree, priced per value: the bodies sent to
/// it hold few values).
fn query_hook() -> Value {
    json!({
        "id": "query",
        "execute-command": "/bin/true",
        "include-command-output-in-response": true,
        "pass-file-to-command": [
            {"source": "payload", "name": "$..name", "envname": "NAMES"}
        ]
    })
}

/// `open` and `close` `levels` times around `inner`, then `1,` elements up to `BODY` bytes.
fn nested(open: &[&str], close: &[&str], levels: usize) -> Vec<u8> {
    let mut head = String::new();
    let mut tail = String::new();
    for level in 0..levels {
        head.push_str(open[level % open.len()]);
        tail.insert_str(0, close[level % close.len()]);
    }
    let mut body = head.into_bytes();
    body.push(b'[');
    while body.len() + tail.len() + 3 < BODY {
        body.extend_from_slice(b"1,");
    }
    body.extend_from_slice(b"1]");
    body.extend_from_slice(tail.as_bytes());
    body
}

/// The shapes sent to the render hook: a flat body (the baseline) and the adversarial ones.
fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    let object = r#"{"b":0,"a":"#;
    let object_end = r#","c":[]}"#;
    // Arrays nested 10,000 deep, 500 times over, in one object.
    let mut chains = br#"{"b":0,"a":["#.to_vec();
    let chain = format!("{}1{}", "[".repeat(DEPTH - 3), "]".repeat(DEPTH - 3));
    while chains.len() + chain.len() + 8 < BODY {
        chains.extend_from_slice(chain.as_bytes());
        chains.push(b',');
    }
    chains.extend_from_slice(b"1]}");
    vec![
        ("flat", nested(&[object], &[object_end], 1)),
        ("arrays", nested(&["["], &["]"], DEPTH - 1)),
        ("objects", nested(&[object], &[object_end], DEPTH - 1)),
        (
            "mixed",
            nested(&[object, "[1,"], &[object_end, "]"], DEPTH - 1),
        ),
        ("chains", chains),
    ]
}

/// A string of escaped backslashes 10,000 levels down (few values: a JSONPath tree of it is
/// within the memory budget).
fn escapes() -> Vec<u8> {
    let mut body = format!(r#"{{"name":"n","a":{}""#, "[".repeat(DEPTH - 2)).into_bytes();
    while body.len() + DEPTH + 4 < BODY {
        body.extend_from_slice(br"\\");
    }
    body.push(b'"');
    body.extend_from_slice("]".repeat(DEPTH - 2).as_bytes());
    body.push(b'}');
    body
}

/// Sends `body` to `hook` and returns the server's CPU time for it (the request and the job
/// it runs) and the response (the command's output).
async fn cpu_for(f: &Fixture, hook: &str, body: Vec<u8>) -> (Duration, String) {
    let before = cpu_time(f.pid());
    let started = Instant::now();
    let resp = f
        .http
        .post(f.url(&format!("/hooks/{hook}")))
        .header("Content-Type", "application/json")
        .timeout(Duration::from_secs(300))
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /hooks/{hook}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{hook}: {text}");
    let took = cpu_time(f.pid()) - before;
    eprintln!(
        "{hook}: {took:?} of CPU, {:?} of wall time: {text}",
        started.elapsed()
    );
    (took, text)
}

#[tokio::test]
async fn deeply_nested_bodies_cost_what_flat_ones_cost() {
    let f = Fixture::start(&[render_hook(), query_hook()], &[]);
    let mut flat = Duration::ZERO;
    for (shape, body) in shapes() {
        let len = body.len();
        let wrapped = body[0] == b'[';
        let (took, sizes) = cpu_for(&f, "render", body).await;
        eprintln!("  ({shape}, {len} bytes)");
        // The payload was read and rendered whole: `{"root":...}` around a top-level array,
        // its members sorted (the same length), and the member or element below it.
        let sizes: Vec<&str> = sizes.split_whitespace().collect();
        let whole = if wrapped { len + 9 } else { len };
        assert_eq!(sizes[0], whole.to_string(), "{shape}: {sizes:?}");
        let part: usize = sizes[if wrapped { 2 } else { 1 }]
            .parse()
            .unwrap_or_else(|_| panic!("{shape}: {sizes:?}"));
        assert!(part > len - 1024 * 1024, "{shape}: {sizes:?}");
        if shape == "flat" {
            flat = took;
            continue;
        }
        // Linear: about the flat body's cost (more frames and keys per byte). Quadratic: the
        // innermost 10 MiB read 10,000 times, hours of CPU.
        let bound = flat * 4 + Duration::from_secs(2);
        assert!(took < bound, "{shape}: {took:?} of CPU, flat: {flat:?}");
    }
    // One level deeper than Go's limit is malformed JSON, as for the reference (which logs
    // "exceeded max depth" and runs the hook without a payload): no payload, nothing found.
    let too_deep = format!("{}{}", "[".repeat(DEPTH + 1), "]".repeat(DEPTH + 1));
    let (_, sizes) = cpu_for(&f, "render", too_deep.into_bytes()).await;
    assert_eq!(sizes.trim(), "4 - -", "null, and no values");
    let (took, _) = cpu_for(&f, "query", escapes()).await;
    let bound = flat * 4 + Duration::from_secs(2);
    assert!(took < bound, "JSONPath: {took:?} of CPU, flat: {flat:?}");
    // The rendered values reached the command whole.
    let log = f.log();
    assert!(!log.contains("panicked"), "{log}");
}
