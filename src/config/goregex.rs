//! Go regular expressions (RE2 syntax, as the reference's `regexp` reads them) compiled with the
//! `regex` crate. The syntaxes agree except where this translates: Go's `\d \w \s \b` and their
//! negations are ASCII-only (the crate's are Unicode: `^\d+$` would accept "١٢٣"), a `[` inside
//! a class is a literal in Go (a nested class in the crate), `&&`/`~~` in a class are literals
//! in Go (set operators in the crate), `\Q...\E` quotes in Go, and `\123` is an octal escape.

use regex::{Regex, RegexBuilder};

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\f\r ";

/// Compiles `pattern` with Go's meaning.
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&translate(pattern)).octal(true).build()
}

/// Rewrites Go-only meanings into the crate's syntax; everything else is copied as written.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    // Inside `[...]`, and whether the next char is the class's first (where `]` is literal).
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        let first = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(n) = rest.chars().next() else {
                    out.push('\\');
                    break;
                };
                rest = &rest[n.len_utf8()..];
                if n == 'Q' {
                    let (quoted, after) = rest.split_once(r"\E").unwrap_or((rest, ""));
                    for q in quoted.chars() {
                        if in_class && !q.is_alphanumeric() {
                            out.push('\\');
                            out.push(q);
                        } else if in_class {
                            out.push(q);
                        } else {
                            out.push_str(&regex::escape(q.encode_utf8(&mut [0; 4])));
                        }
                    }
                    rest = after;
                    continue;
                }
                out.push_str(&perl_class(n, in_class).unwrap_or_else(|| format!("\\{n}")));
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if let Some(r) = rest.strip_prefix('^') {
                    out.push('^');
                    rest = r;
                }
                class_start = true;
            }
            '[' if rest.starts_with(':') => {
                // A POSIX class `[:alpha:]`: copied whole.
                let end = rest.find(":]").map_or(rest.len(), |i| i + 2);
                out.push('[');
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            ']' if in_class && !first => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's ASCII meaning of `\d \D \w \W \s \S \b \B`, in or out of a class.
fn perl_class(letter: char, in_class: bool) -> Option<String> {
    let set = match letter.to_ascii_lowercase() {
        'd' => DIGIT,
        'w' => WORD,
        's' => SPACE,
        'b' if !in_class => return Some(format!(r"(?-u:\{letter})")),
        _ => return None,
    };
    Some(match (letter.is_ascii_uppercase(), in_class) {
        (false, true) => set.to_string(),
        (false, false) => format!("[{set}]"),
        (true, _) => format!("[^{set}]"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_go() {
        let cases: &[(&str, &str, bool)] = &[
            (r"^\d+$", "123", true),
            (r"^\d+$", "١٢٣", false),
            (r"^\w+$", "été", false),
            (r"^\w+$", "a_1", true),
            (r"^a\sb$", "a\u{a0}b", false),
            (r"^a\sb$", "a\tb", true),
            (r"^a\sb$", "a\u{b}b", false),
            (r"^\D\W\S$", "1-b", false),
            (r"^\D\W\S$", "é-é", true),
            (r"\bmain\b", "émain", true),
            (r"\Bain", "main", true),
            (r"^[\d.]+$", "1.2", true),
            (r"^[\d.]+$", "١.٢", false),
            (r"^[^\w]+$", "é", true),
            (r"^[\W]+$", "é", true),
            (r"^[a[]+$", "a[a", true),
            (r"^[]a]+$", "]a", true),
            (r"^[^]a]+$", "b", true),
            (r"^[[:alpha:]]+$", "ab", true),
            (r"^[a&&b]+$", "a&b", true),
            (r"^\Q1.5*\E$", "1.5*", true),
            (r"^\Q1.5*\E$", "105", false),
            (r"^\101$", "A", true),
            (r"(?i)^MAIN$", "main", true),
            (r"^é\.x$", "é.x", true),
        ];
        for (pattern, text, want) in cases {
            let re = compile(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(re.is_match(text), *want, "{pattern} on {text:?}");
        }
    }

    #[test]
    fn invalid_patterns_stay_invalid() {
        for pattern in ["(", "[a", "a{2,1}", r"\"] {
            assert!(compile(pattern).is_err(), "{pattern}");
        }
    }
}
