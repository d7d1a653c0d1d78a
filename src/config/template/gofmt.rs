//! Go's `fmt` (Go 1.19) over template values: `Sprintf` with every verb, flag, width,
//! precision and argument index, and its in-band complaints (`%!d(string=x)`, `%!s(MISSING)`,
//! `%!(EXTRA …)`, `%!(BADWIDTH)`, `%!(BADPREC)`, `%!v(BADINDEX)`, `%!(NOVERB)`); `Sprint` and
//! `Sprintln` with Go's spacing rules.
//!
//! One deliberate difference: `%p` of a map or a list would print a memory address in Go; here
//! it is refused in-band like `%p` of any other value (`%!p(…)`).

use super::escape::{can_backquote, quote, quote_rune};
use super::float;
use super::value::Value;

/// Go's `fmt` refuses widths and precisions above this.
const MAX_WIDTH: usize = 1_000_000;

#[derive(Clone, Copy, Default)]
struct Flags {
    wid: Option<usize>,
    prec: Option<usize>,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
}

/// A `fmt` printer writing into `buf`; `limit` bounds how far it goes before giving up.
pub(super) struct Printer {
    buf: String,
    f: Flags,
    limit: usize,
}

/// The text grew past the printer's limit.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TooLong;

/// `fmt.Sprintf(format, args...)`.
pub(super) fn sprintf(format: &str, args: &[Value], limit: usize) -> Result<String, TooLong> {
    let mut p = Printer::new(limit);
    p.do_printf(format, args)?;
    Ok(p.buf)
}

/// `fmt.Sprint`: a space between operands when neither is a string.
pub(super) fn sprint(args: &[Value], limit: usize) -> Result<String, TooLong> {
    let mut p = Printer::new(limit);
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(arg, 'v');
        p.check()?;
        prev_string = is_string;
    }
    Ok(p.buf)
}

/// `fmt.Sprintln`: spaces between all operands and a newline.
pub(super) fn sprintln(args: &[Value], limit: usize) -> Result<String, TooLong> {
    let mut p = Printer::new(limit);
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(arg, 'v');
        p.check()?;
    }
    p.buf.push('\n');
    Ok(p.buf)
}

/// Go's `%v` of one value, as `{{ … }}` prints it.
pub(super) fn print_v(value: &Value, limit: usize) -> Result<String, TooLong> {
    let mut p = Printer::new(limit);
    p.print_arg(value, 'v');
    p.check()?;
    Ok(p.buf)
}

impl Printer {
    fn new(limit: usize) -> Self {
        Printer {
            buf: String::new(),
            f: Flags::default(),
            limit,
        }
    }

    fn check(&self) -> Result<(), TooLong> {
        if self.buf.len() > self.limit {
            return Err(TooLong);
        }
        Ok(())
    }

    fn do_printf(&mut self, format: &str, args: &[Value]) -> Result<(), TooLong> {
        let mut cur = Cursor {
            format,
            i: 0,
            arg_num: 0,
            good_arg_num: true,
            reordered: false,
            num_args: args.len(),
        };
        while cur.i < format.len() {
            let start = cur.i;
            cur.i += format[start..].find('%').unwrap_or(format.len() - start);
            self.buf.push_str(&format[start..cur.i]);
            self.check()?;
            if cur.i >= format.len() {
                break;
            }
            cur.i += 1;
            if !self.directive(&mut cur, args) {
                break;
            }
            self.check()?;
        }
        if !cur.reordered && cur.arg_num < args.len() {
            self.extra(&args[cur.arg_num..])?;
        }
        self.check()
    }

    /// One `%` directive after the `%`; false when the format ended before its verb.
    fn directive(&mut self, cur: &mut Cursor<'_>, args: &[Value]) -> bool {
        cur.good_arg_num = true;
        self.f = Flags::default();
        self.flags(cur);
        let mut after_index = cur.arg_index();
        if cur.at(b'*') {
            cur.i += 1;
            let wid = cur.int_arg(args);
            self.f.wid = wid.map(isize::unsigned_abs);
            if wid.is_none() {
                self.buf.push_str("%!(BADWIDTH)");
            } else if wid.is_some_and(|w| w < 0) {
                self.f.minus = true;
                self.f.zero = false;
            }
            after_index = false;
        } else {
            self.f.wid = cur.number();
            cur.good_arg_num &= !(after_index && self.f.wid.is_some());
        }
        if cur.i + 1 < cur.format.len() && cur.at(b'.') {
            cur.i += 1;
            cur.good_arg_num &= !after_index;
            after_index = cur.arg_index();
            if cur.at(b'*') {
                cur.i += 1;
                let prec = cur.int_arg(args).filter(|p| *p >= 0);
                self.f.prec = prec.map(isize::unsigned_abs);
                if prec.is_none() {
                    self.buf.push_str("%!(BADPREC)");
                }
                after_index = false;
            } else {
                self.f.prec = Some(cur.number().unwrap_or(0));
            }
        }
        if !after_index {
            cur.arg_index();
        }
        let Some(verb) = cur.format[cur.i..].chars().next() else {
            self.buf.push_str("%!(NOVERB)");
            return false;
        };
        cur.i += verb.len_utf8();
        match verb {
            '%' => self.buf.push('%'),
            _ if !cur.good_arg_num => self.bad_arg(verb, "BADINDEX"),
            _ if cur.arg_num >= args.len() => self.bad_arg(verb, "MISSING"),
            _ => {
                if verb == 'v' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&args[cur.arg_num], verb);
                cur.arg_num += 1;
            }
        }
        true
    }

    /// The flags `#0+- ` at the cursor.
    fn flags(&mut self, cur: &mut Cursor<'_>) {
        while let Some(&c) = cur.format.as_bytes().get(cur.i) {
            match c {
                b'#' => self.f.sharp = true,
                b'0' => self.f.zero = !self.f.minus,
                b'+' => self.f.plus = true,
                b'-' => {
                    self.f.minus = true;
                    self.f.zero = false;
                }
                b' ' => self.f.space = true,
                _ => break,
            }
            cur.i += 1;
        }
    }

    /// `%!(EXTRA type=value, …)` for operands no verb used.
    fn extra(&mut self, args: &[Value]) -> Result<(), TooLong> {
        self.f = Flags::default();
        self.buf.push_str("%!(EXTRA ");
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.buf.push_str(", ");
            }
            if *arg == Value::Nil {
                self.buf.push_str("<nil>");
            } else {
                self.buf.push_str(arg.type_name());
                self.buf.push('=');
                self.print_arg(arg, 'v');
            }
            self.check()?;
        }
        self.buf.push(')');
        Ok(())
    }

    fn bad_arg(&mut self, verb: char, what: &str) {
        self.buf.push_str(&format!("%!{verb}({what})"));
    }

    /// Go's `printArg`: a top-level operand.
    pub(super) fn print_arg(&mut self, arg: &Value, verb: char) {
        match (arg, verb) {
            (Value::Nil, 'T' | 'v') => self.pad("<nil>"),
            (Value::Nil, _) => self.bad_verb(verb, arg),
            (_, 'T') => {
                let name = arg.type_name();
                self.fmt_s(name);
            }
            (_, 'p') => self.bad_verb(verb, arg),
            _ => self.print_value(arg, verb),
        }
    }

    /// Go's `printValue`; inside a list or map the elements are interfaces, so a nil one prints
    /// `<nil>` (`interface {}(nil)` with `%#v`) whatever the verb.
    fn print_value(&mut self, value: &Value, verb: char) {
        match value {
            Value::Nil if self.f.sharp_v => self.buf.push_str("interface {}(nil)"),
            Value::Nil => self.buf.push_str("<nil>"),
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, value),
            },
            Value::Int(n) => self.fmt_integer(*n as u64, true, verb, value),
            Value::Byte(b) => self.fmt_integer(u64::from(*b), false, verb, value),
            Value::Float(x) => self.fmt_float(*x, verb, value),
            Value::Complex(re, im) => self.fmt_complex(*re, *im, verb, value),
            Value::Str(s) => self.fmt_string(s, verb, value),
            Value::List(items) => {
                if self.f.sharp_v {
                    self.buf.push_str("[]interface {}{");
                } else {
                    self.buf.push('[');
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.print_value(item, verb);
                    if self.buf.len() > self.limit {
                        return;
                    }
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Map(map) => {
                self.buf.push_str(if self.f.sharp_v {
                    "map[string]interface {}{"
                } else {
                    "map["
                });
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.fmt_string(key, verb, &Value::Str(key.clone()));
                    self.buf.push(':');
                    self.print_value(item, verb);
                    if self.buf.len() > self.limit {
                        return;
                    }
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
        }
    }

    /// `%!verb(type=value)`, the value printed with `%v` and the directive's flags.
    fn bad_verb(&mut self, verb: char, value: &Value) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        if *value == Value::Nil {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(value.type_name());
            self.buf.push('=');
            self.print_arg(value, 'v');
        }
        self.buf.push(')');
    }

    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    /// Go's `pad`/`padString`: to the width in runes, on the left unless `-`.
    fn pad(&mut self, s: &str) {
        let Some(wid) = self.f.wid.filter(|w| *w > 0) else {
            self.buf.push_str(s);
            return;
        };
        let fill = wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.write_padding(fill);
        } else {
            self.write_padding(fill);
            self.buf.push_str(s);
        }
    }

    /// `pad` with zero padding turned off (numbers place their own zeros).
    fn pad_spaces(&mut self, s: &str) {
        let zero = self.f.zero;
        self.f.zero = false;
        self.pad(s);
        self.f.zero = zero;
    }

    fn truncate<'s>(&self, s: &'s str) -> &'s str {
        match self.f.prec {
            Some(n) => s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i]),
            None => s,
        }
    }

    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad(s);
    }

    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            self.pad(&format!("`{s}`"));
        } else {
            self.pad(&quote(s, self.f.plus));
        }
    }

    fn fmt_string(&mut self, s: &str, verb: char, value: &Value) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s),
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sx(s, false),
            'X' => self.fmt_sx(s, true),
            'q' => self.fmt_q(s),
            _ => self.bad_verb(verb, value),
        }
    }

    /// Go's `fmtSbx`: the bytes in hexadecimal, `% x` spaced, `#` with `0x`.
    fn fmt_sx(&mut self, s: &str, upper: bool) {
        let digits: &[u8] = if upper {
            b"0123456789ABCDEFX"
        } else {
            b"0123456789abcdefx"
        };
        let bytes = &s.as_bytes()[..self.f.prec.map_or(s.len(), |p| p.min(s.len()))];
        let length = bytes.len();
        if length == 0 {
            if let Some(wid) = self.f.wid {
                self.write_padding(wid);
            }
            return;
        }
        let mut width = 2 * length;
        if self.f.space {
            if self.f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if self.f.sharp {
            width += 2;
        }
        let fill = self.f.wid.filter(|w| *w > width).map(|w| w - width);
        if let (Some(n), false) = (fill, self.f.minus) {
            self.write_padding(n);
        }
        let prefix = [char::from(b'0'), char::from(digits[16])];
        if self.f.sharp {
            self.buf.extend(prefix);
        }
        for (i, b) in bytes.iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.extend(prefix);
                }
            }
            self.buf.push(char::from(digits[usize::from(b >> 4)]));
            self.buf.push(char::from(digits[usize::from(b & 0xf)]));
        }
        if let (Some(n), true) = (fill, self.f.minus) {
            self.write_padding(n);
        }
    }

    fn fmt_integer(&mut self, u: u64, signed: bool, verb: char, value: &Value) {
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

    fn fmt_float(&mut self, x: f64, verb: char, value: &Value) {
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

    fn fmt_complex(&mut self, re: f64, im: f64, verb: char, value: &Value) {
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

/// Where `do_printf` is in the format and in the operands.
struct Cursor<'a> {
    format: &'a str,
    i: usize,
    arg_num: usize,
    /// False once the directive names an operand that does not exist (`%!v(BADINDEX)`).
    good_arg_num: bool,
    /// An explicit index was used: Go then no longer reports unused operands.
    reordered: bool,
    num_args: usize,
}

impl Cursor<'_> {
    fn at(&self, b: u8) -> bool {
        self.format.as_bytes().get(self.i) == Some(&b)
    }

    /// Go's `argNumber`: an explicit `[n]` at the cursor; true if one was read.
    fn arg_index(&mut self) -> bool {
        if !self.at(b'[') {
            return false;
        }
        self.reordered = true;
        let (index, wid, ok) = parse_arg_number(&self.format.as_bytes()[self.i..]);
        self.i += wid;
        if ok && index < self.num_args {
            self.arg_num = index;
            return true;
        }
        self.good_arg_num = false;
        ok
    }

    /// A width or precision written as digits.
    fn number(&mut self) -> Option<usize> {
        let bytes = self.format.as_bytes();
        let (n, present, next) = parse_num(bytes, self.i, bytes.len());
        self.i = next;
        present.then_some(n)
    }

    /// Go's `intFromArg`: a `*` width or precision from an integer operand.
    fn int_arg(&mut self, args: &[Value]) -> Option<isize> {
        let arg = args.get(self.arg_num)?;
        self.arg_num += 1;
        let n = match arg {
            Value::Int(n) => isize::try_from(*n).ok(),
            Value::Byte(b) => Some(isize::from(*b)),
            _ => None,
        };
        n.filter(|n| n.unsigned_abs() <= MAX_WIDTH)
    }
}

/// `[n]` → (n-1, bytes used, whether it was a well-formed index).
fn parse_arg_number(bytes: &[u8]) -> (usize, usize, bool) {
    if bytes.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..bytes.len() {
        if bytes[i] == b']' {
            let (n, ok, next) = parse_num(bytes, 1, i);
            if !ok || next != i {
                return (0, i + 1, false);
            }
            // `[0]` is index -1 in Go: well-formed, but no operand has it.
            return (n.checked_sub(1).unwrap_or(usize::MAX), i + 1, true);
        }
    }
    (0, 1, false)
}

/// Go's `parsenum`: digits from `start`; gives up past a million.
fn parse_num(bytes: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut n: usize = 0;
    let mut present = false;
    let mut i = start;
    while i < end && bytes[i].is_ascii_digit() {
        if n > MAX_WIDTH {
            return (0, false, end);
        }
        n = n * 10 + usize::from(bytes[i] - b'0');
        present = true;
        i += 1;
    }
    (n, present, i)
}
