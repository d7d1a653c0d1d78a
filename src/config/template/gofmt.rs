//! Go's `fmt` (Go 1.19) over template values: the printer (`printArg`, `printValue`, padding,
//! strings, lists and maps, `%!verb(type=value)`), `Sprint` and `Sprintln` with Go's spacing
//! rules. `printf` reads format strings, `numfmt` prints numbers.
//!
//! One deliberate difference: `%p` of a map or a list would print a memory address in Go; here
//! it is refused in-band like `%p` of any other value (`%!p(…)`).

use super::escape::{can_backquote, quote};
use super::value::Value;

/// A directive's flags, width and precision (Go's `fmtFlags`, `wid`, `prec`).
#[derive(Clone, Copy, Default)]
pub(super) struct Flags {
    pub(super) wid: Option<usize>,
    pub(super) prec: Option<usize>,
    pub(super) minus: bool,
    pub(super) plus: bool,
    pub(super) sharp: bool,
    pub(super) space: bool,
    pub(super) zero: bool,
    pub(super) plus_v: bool,
    pub(super) sharp_v: bool,
}

/// A `fmt` printer writing into `buf`; `limit` bounds how far it goes before giving up.
pub(super) struct Printer {
    pub(super) buf: String,
    pub(super) f: Flags,
    limit: usize,
}

/// The text grew past the printer's limit.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TooLong;

pub(super) use super::printf::sprintf;

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
    pub(super) fn new(limit: usize) -> Self {
        Printer {
            buf: String::new(),
            f: Flags::default(),
            limit,
        }
    }

    pub(super) fn check(&self) -> Result<(), TooLong> {
        if self.buf.len() > self.limit {
            return Err(TooLong);
        }
        Ok(())
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
    pub(super) fn print_value(&mut self, value: &Value, verb: char) {
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
    pub(super) fn bad_verb(&mut self, verb: char, value: &Value) {
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

    pub(super) fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    /// Go's `pad`/`padString`: to the width in runes, on the left unless `-`.
    pub(super) fn pad(&mut self, s: &str) {
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
    pub(super) fn pad_spaces(&mut self, s: &str) {
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
}
