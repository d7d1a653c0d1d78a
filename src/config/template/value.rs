//! Template values and their text: Go's `fmt` printing (`%v`, `Sprint`, a `Sprintf` subset,
//! `strconv.Quote`) and the escapers behind `html`, `js` and `urlquery`, byte for byte as
//! Go 1.19 writes them.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// What a template expression evaluates to. The data (`.`) is always nil here, and every
/// function returns a string, an int or a bool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Value {
    Nil,
    Str(String),
    Int(i64),
    Bool(bool),
}

impl Value {
    /// Go's `isTrue`: nil, false, 0 and "" are false.
    pub(super) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Str(s) => !s.is_empty(),
            Value::Int(n) => *n != 0,
            Value::Bool(b) => *b,
        }
    }

    /// The Go type name used in error messages.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
        }
    }

    /// What `{{ … }}` writes: `%v`, except that nil is `<no value>`.
    pub(super) fn printed(&self) -> String {
        match self {
            Value::Nil => "<no value>".to_string(),
            v => v.to_string(),
        }
    }
}

/// Go's `%v`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<nil>"),
            Value::Str(s) => f.write_str(s),
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Unicode's graphic categories (Go's `unicode.IsPrint` is these plus the ASCII space).
static GRAPHIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{L}\p{M}\p{N}\p{P}\p{S}]").expect("static character class is valid")
});

/// Go's `unicode.IsPrint`.
pub(super) fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    GRAPHIC.is_match(c.encode_utf8(&mut [0; 4]))
}

/// Go's `strconv.Quote`.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::from('"');
    s.chars().for_each(|c| escape_rune(&mut out, c, '"'));
    out.push('"');
    out
}

/// Go's `%q` of an integer: `strconv.QuoteRune`, with U+FFFD for what is not a character.
fn quote_rune(n: i64) -> String {
    let c = u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}');
    let mut out = String::from('\'');
    escape_rune(&mut out, c, '\'');
    out.push('\'');
    out
}

fn escape_rune(out: &mut String, c: char, quote: char) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    let simple = match c {
        '\u{7}' => "\\a",
        '\u{8}' => "\\b",
        '\u{c}' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        '\u{b}' => "\\v",
        _ => "",
    };
    match u32::from(c) {
        _ if !simple.is_empty() => out.push_str(simple),
        n @ (0..=0x1f | 0x7f) => out.push_str(&format!("\\x{n:02x}")),
        n @ 0..=0xffff => out.push_str(&format!("\\u{n:04x}")),
        n => out.push_str(&format!("\\U{n:08x}")),
    }
}

/// `print`: Go's `fmt.Sprint`, a space between operands when neither is a string.
pub(super) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&arg.to_string());
        prev_string = is_string;
    }
    out
}

/// `println`: Go's `fmt.Sprintln`.
pub(super) fn sprintln(args: &[Value]) -> String {
    let words: Vec<String> = args.iter().map(Value::to_string).collect();
    words.join(" ") + "\n"
}

/// The text that `html`, `js` and `urlquery` escape: Go's `evalArgs`, which prints a nil
/// argument as `<no value>`.
pub(super) fn eval_args(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.clone();
    }
    let args: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Nil => Value::Str("<no value>".into()),
            a => a.clone(),
        })
        .collect();
    sprint(&args)
}

/// What may sit between `%` and the verb in Go's `fmt`.
const FLAGS: &str = "+-# 0123456789.*[]";

/// `printf` for the verbs `%s %q %d %v %%`, with Go's in-band complaints (`%!d(string=x)`,
/// `%!s(MISSING)`, `%!(EXTRA …)`). Any other directive is returned as `Err` to be refused.
pub(super) fn sprintf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next_arg = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push_str("%!(NOVERB)"),
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'q' | 'd' | 'v')) => match next_arg.next() {
                Some(arg) => out.push_str(&format_arg(verb, arg)),
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            Some(c) => {
                // A flag, width, precision, argument index or another verb: refuse the
                // whole directive rather than print it differently from Go.
                let mut directive = format!("%{c}");
                if FLAGS.contains(c) {
                    for d in chars.by_ref() {
                        directive.push(d);
                        if !FLAGS.contains(d) {
                            break;
                        }
                    }
                }
                return Err(directive);
            }
        }
    }
    let extra: Vec<String> = next_arg
        .map(|arg| match arg {
            Value::Nil => "<nil>".to_string(),
            arg => format!("{}={arg}", arg.type_name()),
        })
        .collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    Ok(out)
}

fn format_arg(verb: char, arg: &Value) -> String {
    match (verb, arg) {
        ('v', arg) => arg.to_string(),
        ('s', Value::Str(s)) => s.clone(),
        ('d', Value::Int(n)) => n.to_string(),
        ('q', Value::Str(s)) => quote(s),
        ('q', Value::Int(n)) => quote_rune(*n),
        (verb, Value::Nil) => format!("%!{verb}(<nil>)"),
        (verb, arg) => format!("%!{verb}({}={arg})", arg.type_name()),
    }
}

/// `html`: Go's `HTMLEscapeString`.
pub(super) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `js`: Go's `JSEscapeString` (Go 1.19: `\u003C`-style, upper-case hex, `&` and `=` too).
pub(super) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c if c.is_ascii() || is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", u32::from(c))),
        }
    }
    out
}

/// `urlquery`: Go's `url.QueryEscape`.
pub(super) fn url_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Value::{Bool, Int, Nil, Str};

    fn s(text: &str) -> Value {
        Str(text.to_string())
    }

    #[test]
    fn escapers_match_go() {
        type Escaper = fn(&str) -> String;
        let cases: [(Escaper, &str, &str); 12] = [
            (js_escape, r#"a'b"c\d"#, r#"a\'b\"c\\d"#),
            (js_escape, "<a href=x>&", r"\u003Ca href\u003Dx\u003E\u0026"),
            (
                js_escape,
                "l1\nl2\r\t\u{1}\u{7f}",
                "l1\\u000Al2\\u000D\\u0009\\u0001\u{7f}",
            ),
            (
                js_escape,
                "é😀\u{a0}\u{2028}\u{200b}",
                r"é😀\u00A0\u2028\u200B",
            ),
            (js_escape, "s3cr3t/+_-", "s3cr3t/+_-"),
            (
                html_escape,
                "<a href=\"x\">'&'</a>\0",
                "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;\u{FFFD}",
            ),
            (url_query_escape, "a b&c=d/é~", "a+b%26c%3Dd%2F%C3%A9~"),
            (url_query_escape, "A-Z_a.z", "A-Z_a.z"),
            (
                quote,
                "a\"b\\c\n\t\u{7}\u{0}\u{7f}",
                r#""a\"b\\c\n\t\a\x00\x7f""#,
            ),
            (
                quote,
                "é\u{a0}\u{2028}\u{e0001}'",
                "\"é\\u00a0\\u2028\\U000e0001'\"",
            ),
            (quote, "", "\"\""),
            (html_escape, "plain", "plain"),
        ];
        for (escape, input, want) in cases {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn printing_matches_go_fmt() {
        assert_eq!(Nil.printed(), "<no value>");
        assert_eq!(Int(-3).printed(), "-3");
        assert_eq!(
            sprint(&[s("a"), Int(1), Int(2), s("b"), Bool(true), Nil]),
            "a1 2btrue <nil>"
        );
        assert_eq!(sprintln(&[s("a"), Int(1), s("b")]), "a 1 b\n");
        assert_eq!(eval_args(&[Nil]), "<no value>");
        assert_eq!(eval_args(&[Int(1), Int(2)]), "1 2");
    }

    #[test]
    fn sprintf_subset() {
        let cases: Vec<(&str, Vec<Value>, Result<&str, &str>)> = vec![
            (
                "%s=%d %v %v%%",
                vec![s("a"), Int(3), Bool(false), Nil],
                Ok("a=3 false <nil>%"),
            ),
            (
                "%q %q %q",
                vec![s("x\"y"), Int(97), Int(-1)],
                Ok("\"x\\\"y\" 'a' '\u{FFFD}'"),
            ),
            ("%q", vec![Int(39)], Ok(r"'\''")),
            (
                "%d %s %s",
                vec![s("x"), Int(1), Nil],
                Ok("%!d(string=x) %!s(int=1) %!s(<nil>)"),
            ),
            ("%s %s", vec![s("x")], Ok("x %!s(MISSING)")),
            (
                "%s",
                vec![s("x"), Int(1), Nil],
                Ok("x%!(EXTRA int=1, <nil>)"),
            ),
            ("50%", vec![], Ok("50%!(NOVERB)")),
            ("%x", vec![Int(1)], Err("%x")),
            ("%5s|", vec![s("a")], Err("%5s")),
            ("%-08.2f", vec![], Err("%-08.2f")),
        ];
        for (format, args, want) in cases {
            assert_eq!(
                sprintf(format, &args).as_deref(),
                want.map_err(String::from).as_deref(),
                "{format}"
            );
        }
    }

    #[test]
    fn truth_and_print_classes() {
        for (v, want) in [
            (Nil, false),
            (s(""), false),
            (s("0"), true),
            (Int(0), false),
            (Int(-1), true),
            (Bool(false), false),
        ] {
            assert_eq!(v.truth(), want, "{v:?}");
        }
        for (c, want) in [
            (' ', true),
            ('\t', false),
            ('é', true),
            ('\u{a0}', false),
            ('\u{ad}', false),
            ('😀', true),
        ] {
            assert_eq!(is_print(c), want, "{c:?}");
        }
    }
}
