//! Comparing what the two servers did for one case: status, body bytes, headers (names compared
//! case-insensitively; Date, framing headers and hookrun's job id ignored) and the normalised
//! records of what the command received. Each difference becomes one readable line.

use std::collections::BTreeMap;

use serde_json::Value;

use super::case::{Expect, Runs};
use super::http::RawResponse;
use super::record::normalise;

/// Headers that legitimately differ: the clock, connection framing, hookrun's job id.
const IGNORED: &[&str] = &[
    "date",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "hookrun-job-id",
];

fn header_map(resp: &RawResponse, skip_length: bool) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &resp.headers {
        let k = k.to_ascii_lowercase();
        if IGNORED.contains(&k.as_str()) || (skip_length && k == "content-length") {
            continue;
        }
        map.entry(k)
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(v);
            })
            .or_insert_with(|| v.clone());
    }
    map
}

/// Differences between hookrun's and the reference's answers.
pub fn responses(hookrun: &RawResponse, reference: &RawResponse) -> Vec<String> {
    let mut out = Vec::new();
    if hookrun.status != reference.status {
        out.push(format!(
            "status: hookrun {} / reference {}",
            hookrun.status, reference.status
        ));
    }
    let same_body = hookrun.body == reference.body;
    if !same_body {
        out.push(format!(
            "body: hookrun {:?} / reference {:?}",
            hookrun.body_text(),
            reference.body_text()
        ));
    }
    let ours = header_map(hookrun, same_body);
    let theirs = header_map(reference, same_body);
    let names: std::collections::BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    for name in names {
        let (a, b) = (ours.get(name), theirs.get(name));
        if a != b {
            out.push(format!("header {name}: hookrun {a:?} / reference {b:?}"));
        }
    }
    out
}

/// Differences between the commands' records (already collected for one case).
pub fn records(hookrun: &[Value], reference: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    if hookrun.len() != reference.len() {
        out.push(format!(
            "command runs: hookrun {} / reference {}",
            hookrun.len(),
            reference.len()
        ));
        return out;
    }
    for (i, (a, b)) in hookrun.iter().zip(reference).enumerate() {
        let (a, b) = (normalise(a), normalise(b));
        for key in ["exec", "args", "env", "cwd", "stdin", "files"] {
            if a[key] != b[key] {
                out.push(format!(
                    "run {i} {key}: hookrun {} / reference {}",
                    a[key], b[key]
                ));
            }
        }
    }
    out
}

/// Differences between one server's answer and what a deliberate case expects of it.
pub fn expected(who: &str, resp: &RawResponse, records: &[Value], want: &Expect) -> Vec<String> {
    let runs = records.len();
    let mut out = Vec::new();
    if resp.status != want.status {
        out.push(format!(
            "{who}: status {} (expected {})",
            resp.status, want.status
        ));
    }
    let body = resp.body_text();
    if let Some(b) = &want.body {
        if &body != b {
            out.push(format!("{who}: body {body:?} (expected {b:?})"));
        }
    }
    let want_runs = usize::from(want.runs == Runs::Once);
    if runs != want_runs {
        out.push(format!(
            "{who}: command ran {runs} time(s) (expected {want_runs})"
        ));
    }
    if let Some(piece) = &want.record_contains {
        let text = Value::Array(records.to_vec()).to_string();
        if !text.contains(piece.as_str()) {
            out.push(format!(
                "{who}: record {text} (expected to contain {piece})"
            ));
        }
    }
    out
}
