//! Differential tests of the validator and of lookups against serde_json, on generated text
//! that reaches every fast path of `scan`: the in-place whitespace and string reads, the
//! 8-byte words and 16-byte blocks of long strings (a quote, backslash, escape, control byte
//! or multi-byte character at every offset around them), literals and numbers (digit runs
//! longer than the 8-byte words they are read in) cut at every byte, and documents with
//! duplicate and escaped keys.
//!
//! Where Go and serde_json differ, the cases stay out of the comparison and are checked
//! against Go's behaviour instead: bytes of invalid UTF-8 (Go accepts them), `\u` escapes of
//! surrogates (neither checks pairs when skipping, but serde_json's values do), nesting deeper
//! than serde_json's 128 levels.

use bytes::Bytes;
use serde::de::IgnoredAny;

use super::scan::{self, skip_ws};
use super::{Decoded, Document, Place};

/// Whether the first value of `t` is JSON for serde_json, and where it ends.
fn strict(t: &[u8]) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_slice(t).into_iter::<IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Some(values.byte_offset()),
        _ => None,
    }
}

/// The validator and serde_json agree on `t` (valid UTF-8): valid or not, and where the
/// first value ends.
fn agree(t: &[u8]) {
    let ours = scan::validate(t, skip_ws(t, 0)).ok().map(|(end, _)| end);
    assert_eq!(ours, strict(t), "{:?}", String::from_utf8_lossy(t));
}

/// A deterministic generator (xorshift64*), so a failure names its input by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// What a string's content may hold at any place: plain bytes, escapes (valid and not), raw
/// control bytes and characters of two, three and four bytes.
const PIECES: [&str; 17] = [
    "a", "Z", " ", "\x7f", "\\\"", "\\\\", "\\/", "\\n", "\\u00e9", "\\u20AC", "é", "€", "😀",
    "\"", "\\", "\x01", "\\u12g4",
];

#[test]
fn strings_agree_with_serde_json_at_every_offset() {
    // Every piece at every offset of strings up to 56 bytes of plain content (past the first
    // word, the second, the third, two 16-byte blocks and the word after them), as a value
    // and as a key, with the rest of the string after it.
    for len in 0..=56 {
        for piece in PIECES {
            for at in 0..=len {
                let content = format!("{}{piece}{}", "x".repeat(at), "y".repeat(len - at));
                agree(format!(r#"["{content}"]"#).as_bytes());
                agree(format!(r#"{{"{content}":1}}"#).as_bytes());
                agree(format!(r#"{{"k": "{content}", "l":[]}}"#).as_bytes());
                // Cut before its end: an unterminated string, at any length.
                agree(format!(r#"["{content}"#).as_bytes());
            }
        }
    }
}

#[test]
fn invalid_utf8_is_accepted_as_go_accepts_it_at_every_offset() {
    // serde_json refuses these; Go (and hookrun) read them, wherever they fall in the words.
    for len in 0..=40 {
        for bad in [&b"\xff"[..], b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\x80"] {
            for at in 0..=len {
                let mut t = b"[\"".to_vec();
                t.extend(std::iter::repeat_n(b'x', at));
                t.extend_from_slice(bad);
                t.extend(std::iter::repeat_n(b'y', len - at));
                t.extend_from_slice(b"\"]");
                assert_eq!(
                    scan::validate(&t, 0).map(|(end, _)| end),
                    Ok(t.len()),
                    "{t:?}"
                );
            }
        }
    }
}

#[test]
fn whitespace_runs_agree_with_serde_json() {
    // Runs of every length around the word reads, of every kind, between every two tokens.
    let runs: Vec<String> = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 33]
        .iter()
        .flat_map(|&n| [" ", "\t", "\n", "\r\n", " \n"].map(|ws| ws.repeat(n)))
        .collect();
    let tokens = [
        "{", "\"a\"", ":", "[", "1", ",", "true", ",", "{", "}", "]", ",", "\"b\"", ":", "null",
        "}",
    ];
    for run in &runs {
        for gap in 0..=tokens.len() {
            let mut t = String::new();
            for (k, token) in tokens.iter().enumerate() {
                if k == gap {
                    t.push_str(run);
                }
                t.push_str(token);
            }
            if gap == tokens.len() {
                t.push_str(run);
            }
            agree(t.as_bytes());
            // Whitespace before a byte that is not JSON: refused where it is.
            agree(format!("{}{run}\x0b}}", &t[..t.len() - 1]).as_bytes());
        }
    }
}

#[test]
fn literals_and_numbers_agree_with_serde_json_at_every_cut_and_edit() {
    let values = [
        "true",
        "false",
        "null",
        "0",
        "-0",
        "12345678",
        "-1.5e+3",
        "0.25E-7",
        "1e9",
        // Digit runs longer than the 8-byte words they are read in, in every part.
        "123456789012345678901",
        "-98765432.01234567890123e+123456789",
        "0.000000000000000001E-0000000012",
    ];
    for value in values {
        for at in 0..=value.len() {
            // Cut at every byte, and every byte replaced by another that matters.
            agree(format!("[{}]", &value[..at]).as_bytes());
            agree(format!("{{\"k\":{}}}", &value[..at]).as_bytes());
            if at < value.len() {
                for b in ["x", "e", "1", "-", ".", "+", "\"", " ", "]", "/", ":"] {
                    let edited = format!("{}{b}{}", &value[..at], &value[at + 1..]);
                    agree(format!("[{edited}]").as_bytes());
                    agree(format!("[{edited},1]").as_bytes());
                }
            }
        }
    }
}

/// A random JSON value of depth at most `depth`, written with random whitespace, strings of
/// random pieces and keys from a small set (duplicates, and the same key escaped).
fn value(rng: &mut Rng, depth: usize, out: &mut String) {
    let ws = ["", "", "", " ", "\n  ", "\t", "          "];
    out.push_str(rng.pick(&ws));
    match rng.below(if depth == 0 { 4 } else { 6 }) {
        0 => out.push_str(rng.pick(&["true", "false", "null", "0", "-12.5e3", "42"])),
        1 | 2 => {
            out.push('"');
            for _ in 0..rng.below(40) {
                // Valid pieces only: the document must be JSON.
                out.push_str(rng.pick(&PIECES[..13]));
            }
            out.push('"');
        }
        3 => out.push_str(rng.pick(&["\"\"", "[]", "{}", "1"])),
        4 => {
            out.push('[');
            for k in 0..rng.below(5) {
                if k > 0 {
                    out.push(',');
                }
                value(rng, depth - 1, out);
            }
            out.push_str(rng.pick(&ws));
            out.push(']');
        }
        _ => {
            out.push('{');
            for k in 0..rng.below(6) {
                if k > 0 {
                    out.push(',');
                }
                out.push_str(rng.pick(&ws));
                out.push_str(rng.pick(&KEYS));
                out.push_str(rng.pick(&ws));
                out.push(':');
                value(rng, depth - 1, out);
            }
            out.push_str(rng.pick(&ws));
            out.push('}');
        }
    }
    out.push_str(rng.pick(&ws));
}

/// Keys of generated objects, as written: `key` three ways, and names long enough to take
/// the 8- and 16-byte reads.
const KEYS: [&str; 8] = [
    "\"key\"",
    "\"k\\u0065y\"",
    "\"ke\\u0079\"",
    "\"a\"",
    "\"long_member_name\"",
    "\"a_name_longer_than_sixteen_bytes\"",
    "\"\\u00e9t\u{e9}\"",
    "\"b\"",
];

/// The names a lookup can give for the keys above, decoded.
const NAMES: [&str; 6] = [
    "key",
    "a",
    "long_member_name",
    "a_name_longer_than_sixteen_bytes",
    "\u{e9}t\u{e9}",
    "b",
];

/// serde_json's value at `path` below `value`: the last of duplicate keys, arrays by index.
fn strict_lookup<'v>(
    value: &'v serde_json::Value,
    path: &[String],
) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(value, |v, step| match v {
        serde_json::Value::Object(map) => map.get(step.as_str()),
        serde_json::Value::Array(items) => items.get(step.parse::<usize>().ok()?),
        _ => None,
    })
}

#[test]
fn generated_documents_and_their_lookups_agree_with_serde_json() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked_lookups = 0;
    for round in 0..1_000 {
        let mut text = String::from("{");
        for k in 0..1 + rng.below(6) {
            if k > 0 {
                text.push(',');
            }
            text.push_str(rng.pick(&KEYS));
            text.push(':');
            value(&mut rng, 4, &mut text);
        }
        text.push('}');
        let t = text.as_bytes();
        agree(t);
        let strict_doc: serde_json::Value = serde_json::from_slice(t).expect("generated JSON");
        let Ok(Decoded::Payload(doc)) = Document::decode_body(Bytes::from(text.clone())) else {
            panic!("round {round}: not a payload: {text}");
        };
        // Paths of one to three steps through names and small indexes.
        for _ in 0..8 {
            let path: Vec<String> = (0..1 + rng.below(3))
                .map(|_| match rng.below(4) {
                    0 => rng.below(3).to_string(),
                    _ => rng.pick(&NAMES).to_string(),
                })
                .collect();
            let name = path.join(".");
            let want = strict_lookup(&strict_doc, &path);
            match (doc.lookup(&name), want) {
                (Ok(Place::At(at)), Some(want)) => {
                    let end = scan::skip(doc.text(), at);
                    let found: serde_json::Value =
                        serde_json::from_slice(&doc.text()[at..end]).expect("a value");
                    assert_eq!(&found, want, "round {round}: {name} in {text}");
                    checked_lookups += 1;
                }
                (Err(_), None) => {}
                (got, want) => panic!("round {round}: {name} in {text}: {got:?} against {want:?}"),
            }
        }
        // Every one-byte edit of a short document, as far as the edit leaves it UTF-8.
        if t.len() < 120 && round % 10 == 0 {
            for at in 0..t.len() {
                for b in *b"{}[]:,\" \\/nu0e-.\x01" {
                    for edited in [
                        [&t[..at], &[b], &t[at + 1..]].concat(),
                        [&t[..at], &[b], &t[at..]].concat(),
                        [&t[..at], &t[at + 1..]].concat(),
                    ] {
                        if std::str::from_utf8(&edited).is_ok() && !has_surrogate_escape(&edited) {
                            agree(&edited);
                        }
                    }
                }
            }
        }
    }
    assert!(
        checked_lookups > 300,
        "only {checked_lookups} lookups found a value"
    );
}

/// Whether `t` may hold a `\u` escape of a surrogate (`\uD800` to `\uDFFF`), which serde_json
/// and Go read differently.
fn has_surrogate_escape(t: &[u8]) -> bool {
    t.windows(3)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && matches!(w[2], b'd' | b'D'))
}
