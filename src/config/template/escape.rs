//! Go's escapers: `strconv.Quote` and friends for `%q`, and the functions behind the template
//! builtins `html`, `js` and `urlquery`, byte for byte as Go 1.19 writes them.

use std::sync::LazyLock;

use regex::Regex;

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

/// Go's `strconv.Quote`, or `strconv.QuoteToASCII` when `ascii`.
pub(super) fn quote(s: &str, ascii: bool) -> String {
    let mut out = String::from('"');
    s.chars().for_each(|c| escape_rune(&mut out, c, '"', ascii));
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune`, or `strconv.QuoteRuneToASCII` when `ascii`.
pub(super) fn quote_rune(c: char, ascii: bool) -> String {
    let mut out = String::from('\'');
    escape_rune(&mut out, c, '\'', ascii);
    out.push('\'');
    out
}

/// Go's `strconv.CanBackquote`: no control character but tab, no backquote, no BOM.
pub(super) fn can_backquote(s: &str) -> bool {
    !s.chars()
        .any(|c| (c < ' ' && c != '\t') || c == '`' || c == '\u{7f}' || c == '\u{feff}')
}

fn escape_rune(out: &mut String, c: char, quote: char, ascii: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) && (c.is_ascii() || !ascii) {
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

    fn quote_plain(s: &str) -> String {
        quote(s, false)
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
                quote_plain,
                "a\"b\\c\n\t\u{7}\u{0}\u{7f}",
                r#""a\"b\\c\n\t\a\x00\x7f""#,
            ),
            (
                quote_plain,
                "é\u{a0}\u{2028}\u{e0001}'",
                "\"é\\u00a0\\u2028\\U000e0001'\"",
            ),
            (quote_plain, "", "\"\""),
            (html_escape, "plain", "plain"),
        ];
        for (escape, input, want) in cases {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn quoting_variants() {
        assert_eq!(quote("é\u{1F600}\n", true), r#""\u00e9\U0001f600\n""#);
        assert_eq!(quote_rune('\'', false), r"'\''");
        assert_eq!(quote_rune('é', true), r"'\u00e9'");
        assert!(can_backquote("a\tb\"c"));
        assert!(!can_backquote("a`b"));
        assert!(!can_backquote("a\nb"));
    }

    #[test]
    fn print_classes() {
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
