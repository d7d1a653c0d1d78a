//! Go's `fmt.Sprintf` format strings: flags, width, precision, `*` operands and `[n]` argument
//! indexes, and the in-band complaints (`%!s(MISSING)`, `%!(EXTRA …)`, `%!(BADWIDTH)`,
//! `%!(BADPREC)`, `%!v(BADINDEX)`, `%!(NOVERB)`), exactly where Go 1.19's `doPrintf` writes them.

use super::gofmt::{Flags, Printer, TooLong};
use super::value::Value;

/// Go's `fmt` refuses widths and precisions above this.
const MAX_WIDTH: usize = 1_000_000;

/// `fmt.Sprintf(format, args...)`.
pub(super) fn sprintf(format: &str, args: &[Value], limit: usize) -> Result<String, TooLong> {
    let mut p = Printer::new(limit);
    p.do_printf(format, args)?;
    Ok(p.buf)
}

impl Printer {
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
