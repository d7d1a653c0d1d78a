//! The check that the validator's fast path (`grammar` over `structurals`) decides what the
//! byte-at-a-time validator decides, which was the only one before it and says what Go says:
//! for a text, the same decision, the same end, the same count of values and the same member
//! index, with each classifier the CPU has and with the portable one; and the same errors from
//! `validate_indexed`, which runs both. Built for the unit tests and for the `body_rules` fuzz
//! target only (`cfg(fuzzing)`), never into the server.

use super::blocks::{Classify, Portable};
use super::grammar;
use super::index::MemberIndex;
use super::runs::skip_ws;
use super::validate::{validate_bytes, validate_indexed};

/// The fast path with classifier `k` agrees with the byte-at-a-time validator on `t`.
fn agree_with<K: Classify>(name: &str, t: &[u8], k: K) {
    let start = skip_ws(t, 0);
    if !matches!(t.get(start), Some(b'{' | b'[')) {
        return;
    }
    let mut bytes_index = MemberIndex::default();
    let want = validate_bytes(t, start, &mut bytes_index);
    let mut index = MemberIndex::default();
    let show = || String::from_utf8_lossy(t).into_owned();
    match (grammar::validate(t, start, &mut index, k), want) {
        (Some(got), Ok(want)) => {
            assert_eq!(got, want, "{name}: {:?}", show());
            assert!(index == bytes_index, "{name}: index of {:?}", show());
        }
        (Some(got), Err(e)) => panic!("{name}: {got:?}, but {e}: {:?}", show()),
        (None, Err(_)) => {}
        (None, Ok((end, _))) => {
            // Only a string the fast path cannot judge, after the value, may leave it unsure.
            assert!(
                t[end..].iter().any(|&b| b < 0x20 || b == b'\\'),
                "{name}: gave up on valid {:?}",
                show()
            );
        }
    }
}

/// Every classifier agrees on `t`, and `validate_indexed` gives what the byte-at-a-time
/// validator gives, errors included.
pub fn agree(t: &[u8]) {
    agree_with("portable", t, Portable);
    #[cfg(target_arch = "x86_64")]
    {
        agree_with("sse2", t, super::blocks::Sse2);
        if let Some(k) = super::blocks::x86_avx2() {
            agree_with("avx2", t, k);
        }
    }
    let start = skip_ws(t, 0);
    let (mut ours, mut theirs) = (MemberIndex::default(), MemberIndex::default());
    assert_eq!(
        validate_indexed(t, start, &mut ours),
        validate_bytes(t, start, &mut theirs),
        "{:?}",
        String::from_utf8_lossy(t)
    );
    assert!(ours == theirs, "index of {:?}", String::from_utf8_lossy(t));
}
