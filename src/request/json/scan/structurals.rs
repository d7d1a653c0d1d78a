//! Where a text's tokens start, found 64 bytes at a time in the style of simdjson's first
//! stage: from the classes of a block's bytes (`blocks`), which quotes are escaped, which
//! bytes are inside strings (a prefix XOR of the quotes), and from those the structural
//! positions: the six structural characters and every quote outside strings' content, and the
//! first byte of each other run of non-whitespace (a number, a literal, or a byte that is not
//! JSON at all). Nothing else in a text can change whether it is JSON, except inside strings,
//! whose control bytes and escapes are checked here as blocks are classified.
//!
//! Between two structural positions outside strings there is only whitespace, except after
//! the first byte of a number or literal (its other bytes): the grammar (`grammar`) reads
//! those itself.

use super::blocks::{Classify, Masks};

/// Positions found at most at once: a refill classifies blocks until fewer than a block's
/// worth of room is left (at least four blocks).
pub const CAP: usize = 256;

/// The structural positions of a text, from a start that is not inside a string, in order.
/// Blocks are classified a run at a time into a buffer of positions (simdjson's stage 1),
/// which the grammar then reads one by one: the two loops stay small, and only the
/// classifying one is compiled for the CPU's vector width. A text is read as far as the
/// value that is validated goes, and a few blocks beyond.
pub struct Structurals<'t, K> {
    t: &'t [u8],
    k: K,
    blocks: Blocks,
    positions: [u32; CAP],
    /// Positions in the buffer, and the next to return.
    len: usize,
    at: usize,
}

/// What classifying blocks carries from one to the next.
#[derive(Default)]
pub struct Blocks {
    /// Where the next block starts.
    next: usize,
    /// The previous block ended in an odd run of backslashes (its next byte is escaped).
    escaped_carry: u64,
    /// All ones when the previous block ended inside a string.
    string_carry: u64,
    /// 1 when the previous block ended in a byte of a number, literal or other non-JSON run.
    scalar_carry: u64,
    /// Why a refill stopped before the buffer was full: given at the next one.
    stop: Option<Stop>,
}

/// Why there are no more positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The end of the text.
    End,
    /// A block holds a control byte or an invalid escape inside a string: the text may still
    /// be JSON (when that string comes after the value validated), which only a scan that
    /// stops where the value ends can tell.
    Anomaly,
}

impl<'t, K: Classify> Structurals<'t, K> {
    /// The positions of `t` from `start`, which must be shorter than 4 GiB (positions are
    /// `u32`).
    pub fn new(t: &'t [u8], start: usize, k: K) -> Self {
        debug_assert!(u32::try_from(t.len()).is_ok());
        Structurals {
            t,
            k,
            blocks: Blocks {
                next: start,
                ..Blocks::default()
            },
            positions: [0; CAP],
            len: 0,
            at: 0,
        }
    }

    /// The next structural position.
    #[inline(always)]
    pub fn next(&mut self) -> Result<usize, Stop> {
        if self.at == self.len {
            self.refill()?;
        }
        let at = self.positions[self.at];
        self.at += 1;
        Ok(at as usize)
    }

    #[inline(never)]
    fn refill(&mut self) -> Result<(), Stop> {
        self.len = self.k.fill(&mut self.blocks, self.t, &mut self.positions)?;
        self.at = 0;
        Ok(())
    }
}

impl Blocks {
    /// Classifies blocks and writes their positions into `out` until fewer than 64 places
    /// are left, the text ends or a block holds an anomaly; returns how many it wrote, or why
    /// there are none.
    #[inline(always)]
    pub fn fill<K: Classify>(
        &mut self,
        t: &[u8],
        out: &mut [u32; CAP],
        k: K,
    ) -> Result<usize, Stop> {
        if let Some(stop) = self.stop {
            return Err(stop);
        }
        let mut n = 0;
        while n + 64 <= CAP {
            let start = self.next;
            let m = match t.get(start..start + 64) {
                Some(block) => k.classify(block.try_into().expect("a 64-byte slice")),
                None if start < t.len() => {
                    // The last block, padded with spaces: whitespace is never a position.
                    let mut block = [b' '; 64];
                    block[..t.len() - start].copy_from_slice(&t[start..]);
                    k.classify(&block)
                }
                None => {
                    self.stop = Some(Stop::End);
                    break;
                }
            };
            self.next = start + 64;
            let mut bits = match self.positions(t, start, &m) {
                Ok(bits) => bits,
                Err(stop) => {
                    self.stop = Some(stop);
                    break;
                }
            };
            // Positions fit in `u32`: see `Structurals::new`.
            while bits != 0 {
                out[n] = (start + bits.trailing_zeros() as usize) as u32;
                n += 1;
                bits &= bits - 1;
            }
        }
        match self.stop {
            Some(stop) if n == 0 => Err(stop),
            _ => Ok(n),
        }
    }

    /// The structural positions of the block at `base` whose classes are `m`, carrying what
    /// the next block needs.
    #[inline(always)]
    fn positions(&mut self, t: &[u8], base: usize, m: &Masks) -> Result<u64, Stop> {
        let escaped = if m.backslash | self.escaped_carry == 0 {
            0
        } else {
            escaped(m.backslash, &mut self.escaped_carry)
        };
        let quote = m.quote & !escaped;
        // From each opening quote (included) to its closing quote (excluded).
        let in_string = prefix_xor(quote) ^ self.string_carry;
        self.string_carry = ((in_string as i64) >> 63) as u64;
        // The content of strings, without their quotes.
        let content = in_string & !quote;
        if m.control & content != 0 {
            return Err(Stop::Anomaly);
        }
        let escapes = escaped & content;
        if escapes != 0 && !escapes_are_valid(t, base, escapes) {
            return Err(Stop::Anomaly);
        }
        let other = !(m.op | m.ws | quote);
        let follows_other = other << 1 | self.scalar_carry;
        self.scalar_carry = other >> 63;
        Ok((m.op | (other & !follows_other)) & !content | quote)
    }
}

/// Whether each byte after a backslash in a string (bit `k`: byte `base + k`) is one Go
/// accepts: `"`, `\`, `/`, `b`, `f`, `n`, `r`, `t`, or `u` and four hexadecimal digits.
#[cold]
fn escapes_are_valid(t: &[u8], base: usize, mut escapes: u64) -> bool {
    while escapes != 0 {
        let at = base + escapes.trailing_zeros() as usize;
        escapes &= escapes - 1;
        // Past the end (a backslash ends the text inside a string that never ends): the
        // walk stops at the end of the text first.
        let Some(&b) = t.get(at) else {
            continue;
        };
        match b {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
            b'u' => {
                let hex = t.get(at + 1..at + 5);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// The bytes that follow an odd run of backslashes: the escaped ones (simdjson's
/// branch-free form). `carry` says whether the first byte is escaped by the previous block,
/// and gets whether the next block's first byte is.
#[inline(always)]
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    // A backslash that is itself escaped starts nothing.
    let backslash = backslash & !*carry;
    let follows_escape = backslash << 1 | *carry;
    // Runs of backslashes that start on an odd bit: adding the run's start to it carries out
    // of the run's end, leaving a bit where the run ends.
    let odd_starts = backslash & !EVEN & !follows_escape;
    let (after_odd_runs, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    // Every other byte from a run's start is escaped: the odd bits for a run that starts on
    // an even bit, the even ones for a run that starts on an odd bit.
    (EVEN ^ (after_odd_runs << 1)) & follows_escape
}

/// Bit `k` of the result: the XOR of bits 0 to `k` of `x` (whether an odd number of quotes
/// came before, this one included).
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::super::blocks::Portable;
    use super::*;

    #[test]
    fn escaped_bytes_follow_odd_runs_of_backslashes_across_blocks() {
        // Every pattern of backslashes over two blocks' worth of bits near their ends and
        // starts, against a count of each run.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let density = round % 4;
            let pick = |shift: u32| {
                let r = seed.rotate_left(shift);
                match density {
                    0 => r,
                    1 => r | r.rotate_left(7),
                    2 => r | r.rotate_left(7) | r.rotate_left(19),
                    _ => !0 ^ (r & r.rotate_left(5) & r.rotate_left(11)),
                }
            };
            let blocks = [pick(0), pick(29)];
            let mut carry = 0;
            let mut odd = false;
            for block in blocks {
                let got = escaped(block, &mut carry);
                let mut want = 0u64;
                for k in 0..64 {
                    if odd {
                        want |= 1 << k;
                        odd = false;
                    } else if block >> k & 1 == 1 {
                        odd = true;
                    }
                }
                assert_eq!(got, want, "backslashes {blocks:x?}");
                assert_eq!(carry, u64::from(odd));
            }
        }
    }

    #[test]
    fn prefix_xor_is_the_running_parity() {
        for x in [0u64, 1, 0b1001, 1 << 63, !0, 0x8000_0001_0000_0010] {
            let mut want = 0;
            let mut parity = 0;
            for k in 0..64 {
                parity ^= x >> k & 1;
                want |= parity << k;
            }
            assert_eq!(prefix_xor(x), want, "{x:x}");
        }
    }

    /// The structural positions of `t`, one byte at a time: what `Structurals` must find
    /// (or an anomaly anywhere in it, as it is read to the end).
    fn positions_byte_by_byte(t: &[u8]) -> Result<Vec<usize>, Stop> {
        let is_op = |b: u8| matches!(b, b'{' | b'}' | b'[' | b']' | b':' | b',');
        let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let mut found = Vec::new();
        let mut backslashes = 0;
        let mut in_string = false;
        let mut after_other = false;
        for (k, &b) in t.iter().enumerate() {
            let escaped = backslashes % 2 == 1;
            backslashes = if b == b'\\' { backslashes + 1 } else { 0 };
            let quote = b == b'"' && !escaped;
            let content = in_string && !quote;
            if quote {
                in_string = !in_string;
            }
            if content && b < 0x20 {
                return Err(Stop::Anomaly);
            }
            if content && escaped {
                let hex = |h: &[u8]| h.iter().all(u8::is_ascii_hexdigit);
                match b {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' if t.get(k + 1..k + 5).is_some_and(hex) => {}
                    _ => return Err(Stop::Anomaly),
                }
            }
            let other = !(is_op(b) || is_ws(b) || quote);
            if quote || (!content && (is_op(b) || (other && !after_other))) {
                found.push(k);
            }
            after_other = other;
        }
        Ok(found)
    }

    fn all_positions<K: Classify>(t: &[u8], start: usize, k: K) -> Result<Vec<usize>, Stop> {
        let mut s = Structurals::new(t, start, k);
        let mut found = Vec::new();
        loop {
            match s.next() {
                Ok(at) => found.push(at),
                Err(Stop::End) => return Ok(found),
                Err(Stop::Anomaly) => return Err(Stop::Anomaly),
            }
        }
    }

    fn each_classifier(t: &[u8], start: usize) {
        let want = positions_byte_by_byte(&t[start..])
            .map(|found| found.into_iter().map(|at| at + start).collect::<Vec<_>>());
        let show = || String::from_utf8_lossy(t).into_owned();
        assert_eq!(
            all_positions(t, start, Portable),
            want,
            "portable: {:?}",
            show()
        );
        #[cfg(target_arch = "x86_64")]
        {
            use super::super::blocks::{x86_avx2, Sse2};
            assert_eq!(all_positions(t, start, Sse2), want, "sse2: {:?}", show());
            if let Some(k) = x86_avx2() {
                assert_eq!(all_positions(t, start, k), want, "avx2: {:?}", show());
            }
        }
    }

    /// Bytes of every class and the escapes that matter, for texts of every length.
    const BYTES: &[u8] = b"\"\\{}[]:, \t\n\r\x01\x1fa0-tu/\xff";

    #[test]
    fn positions_agree_with_a_byte_at_a_time_reading_at_every_length_and_offset() {
        // Every byte of the set at every offset of texts of every length up to past the first
        // block, in a text with strings, escapes and runs of other bytes, and after a quote
        // (inside a string).
        let base = br#"{"k\"": [12, "a\\", tru, "\u00e9x"], "v": -1.5e3}  "#;
        for len in 0..=70 {
            let text: Vec<u8> = base.iter().copied().cycle().take(len).collect();
            each_classifier(&text, 0);
            for at in 0..len {
                for &b in BYTES {
                    let mut t = text.clone();
                    t[at] = b;
                    each_classifier(&t, 0);
                    if at + 1 < len {
                        t[at + 1] = b'"';
                        each_classifier(&t, 0);
                    }
                }
            }
            for start in [1, 3, 7] {
                if start <= len {
                    each_classifier(&text, start);
                }
            }
        }
    }

    #[test]
    fn positions_agree_with_a_byte_at_a_time_reading_on_random_texts() {
        // Texts of three to five blocks drawn from few bytes, so quotes, backslash runs and
        // strings cross block ends often.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..4_000 {
            let len = 150 + (next() % 200) as usize;
            let set: &[u8] = match next() % 3 {
                0 => b"\"\\a ",
                1 => b"\"\\{:,a1 u",
                _ => BYTES,
            };
            let t: Vec<u8> = (0..len)
                .map(|_| set[(next() % set.len() as u64) as usize])
                .collect();
            each_classifier(&t, 0);
        }
    }
}
