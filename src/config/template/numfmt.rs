//! Go's `fmt` for numbers: `fmtInteger` (bases, `#` prefixes, zero padding, `%c %q %U`),
//! `fmtFloat` (signs, `#`, padding around `strconv` text) and complex numbers.

use super::escape::quote_rune;
use super::float;
use super::gofmt::Printer;
use super::value::Value;

impl Printer {
    pub(super) fn fmt_integer(&mut self, u: u64, signed: bool, verb: char, value: &Value) {
        let lower = "0123456789abcdefx";
        match verb {
            'v' if self.f.sharp_v && !signed => {
                let sharp = self.f.sharp;
                self.f.sharp = true;
                self.integer(u, 16, signed, verb, lower);
                self.f.sharp = sharp;
            }
            'v' | 'd' => self.integer(u, 10, signed, verb, lower),
            'b' => self.integer(u, 2, signed, verb, lower),
            'o' | 'O' => self.integer(u, 8, signed, verb, lower),
            'x' => self.integer(u, 16, signed, verb, lower),
            'X' => self.integer(u, 16, signed, verb, "0123456789ABCDEFX"),
            'c' => {
                let c = rune(u);
                self.pad(c.encode_utf8(&mut [0; 4]));
            }
            'q' => {
                let quoted = quote_rune(rune(u), self.f.plus);
                self.pad(&quoted);
            }
            'U' => self.fmt_unicode(u),
            _ => self.bad_verb(verb, value),
        }
    }

    /// Go's `fmtInteger`.
    fn integer(&mut self, u: u64, base: u64, signed: bool, verb: char, digits: &str) {
        let digits = digits.as_bytes();
        let negative = signed && (u as i64) < 0;
        let mut u = if negative {
            (u as i64).unsigned_abs()
        } else {
            u
        };
        let mut prec = 0;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let zero = self.f.zero;
                self.f.zero = false;
                self.write_padding(self.f.wid.unwrap_or(0));
                self.f.zero = zero;
                return;
            }
        } else if let (true, Some(wid)) = (self.f.zero, self.f.wid) {
            prec = wid;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut buf: Vec<u8> = Vec::new();
        loop {
            buf.push(digits[usize::try_from(u % base).unwrap_or(0)]);
            u /= base;
            if u == 0 {
                break;
            }
        }
        while buf.len() < prec {
            buf.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => buf.extend_from_slice(b"b0"),
                8 if buf.last() != Some(&b'0') => buf.push(b'0'),
                16 => buf.extend_from_slice(&[digits[16], b'0']),
                _ => {}
            }
        }
        if verb == 'O' {
            buf.extend_from_slice(b"o0");
        }
        if negative {
            buf.push(b'-');
        } else if self.f.plus {
            buf.push(b'+');
        } else if self.f.space {
            buf.push(b' ');
        }
        buf.reverse();
        let text = String::from_utf8_lossy(&buf).into_owned();
        self.pad_spaces(&text);
    }

    /// `%U`: `U+0041`, with `#` also `'A'` when printable.
    fn fmt_unicode(&mut self, u: u64) {
        let mut text = format!(
            "U+{u:0width$X}",
            width = self.f.prec.filter(|p| *p > 4).unwrap_or(4)
        );
        if self.f.sharp {
            if let Some(c) = u32::try_from(u).ok().and_then(char::from_u32) {
                if super::escape::is_print(c) {
                    text.push_str(&format!(" '{c}'"));
                }
            }
        }
        self.pad_spaces(&text);
    }

    pub(super) fn fmt_float(&mut self, x: f64, verb: char, value: &Value) {
        let (fmt, prec) = match verb {
            'v' => (b'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => (verb as u8, -1),
            'f' | 'e' | 'E' => (verb as u8, 6),
            'F' => (b'f', 6),
            _ => return self.bad_verb(verb, value),
        };
        self.float(x, fmt, prec);
    }

    /// Go's `fmt.fmtFloat`: sign, `#` (keep the point and trailing zeros), zero padding.
    fn float(&mut self, x: f64, verb: u8, prec: i32) {
        let prec = self
            .f
            .prec
            .map_or(prec, |p| i32::try_from(p).unwrap_or(i32::MAX));
        let mut num = float::format(x, verb, prec);
        if !num.starts_with(['-', '+']) {
            num.insert(0, '+');
        }
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(..1, " ");
        }
        if num[1..].starts_with(['I', 'N']) {
            let zero = self.f.zero;
            self.f.zero = false;
            if num[1..].starts_with('N') && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad(&num);
            self.f.zero = zero;
            return;
        }
        if self.f.sharp && verb != b'b' {
            num = sharp_float(&num, verb, prec);
        }
        if self.f.plus || !num.starts_with('+') {
            match self.f.wid {
                Some(wid) if self.f.zero && wid > num.len() => {
                    let fill = wid - num.len();
                    self.buf.push_str(&num[..1]);
                    self.write_padding(fill);
                    self.buf.push_str(&num[1..]);
                }
                _ => self.pad(&num),
            }
            return;
        }
        self.pad(&num[1..]);
    }

    pub(super) fn fmt_complex(&mut self, re: f64, im: f64, verb: char, value: &Value) {
        if !matches!(
            verb,
            'v' | 'b' | 'g' | 'G' | 'x' | 'X' | 'f' | 'F' | 'e' | 'E'
        ) {
            return self.bad_verb(verb, value);
        }
        let plus = self.f.plus;
        self.buf.push('(');
        self.fmt_float(re, verb, value);
        self.f.plus = true;
        self.fmt_float(im, verb, value);
        self.buf.push_str("i)");
        self.f.plus = plus;
    }
}

/// `%#g` and friends: a decimal point always, and (for `g`, `v`, `x`) trailing zeros up to the
/// precision. `num` starts with its sign.
fn sharp_float(num: &str, verb: u8, prec: i32) -> String {
    let mut digits = match verb {
        b'v' | b'g' | b'G' | b'x' => {
            if prec == -1 {
                6
            } else {
                prec
            }
        }
        _ => 0,
    };
    let (mut body, mut tail) = (num.to_string(), String::new());
    let mut has_point = false;
    let mut saw_nonzero = false;
    for (i, c) in num.char_indices().skip(1) {
        match c {
            '.' => has_point = true,
            'p' | 'P' => {
                tail = num[i..].to_string();
                body.truncate(i);
                break;
            }
            'e' | 'E' if verb != b'x' && verb != b'X' => {
                tail = num[i..].to_string();
                body.truncate(i);
                break;
            }
            c => {
                if c != '0' {
                    saw_nonzero = true;
                }
                if saw_nonzero {
                    digits -= 1;
                }
            }
        }
    }
    if !has_point {
        if body.len() == 2 && body.ends_with('0') {
            digits -= 1;
        }
        body.push('.');
    }
    while digits > 0 {
        body.push('0');
        digits -= 1;
    }
    body + &tail
}

/// A code point for `%c`/`%q`: U+FFFD for what is not a character.
fn rune(u: u64) -> char {
    u32::try_from(u)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}')
}
