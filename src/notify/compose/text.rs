//! One-line values of a notification: the image change (`nginx:1.26 → nginx:1.27`), a
//! subject with no line breaks, and cutting text at a number of characters.

/// Longest subject line, in characters.
const MAX_SUBJECT: usize = 200;

/// `nginx:1.26 → nginx:1.27`. Digests are left out when the tags already tell the images apart,
/// and shortened when only the digests do (a re-pushed `:latest`).
pub fn image_change(before: Option<&str>, after: Option<&str>) -> Option<String> {
    match (before, after) {
        (Some(b), Some(a)) if b == a => Some(format!("{a} (unchanged)")),
        (Some(b), Some(a)) => {
            let (bn, an) = (without_digest(b), without_digest(a));
            if bn != an {
                Some(format!("{bn} → {an}"))
            } else {
                Some(format!("{} → {}", short_digest(b), short_digest(a)))
            }
        }
        (None, Some(a)) => Some(format!("→ {}", without_digest(a))),
        (Some(b), None) => Some(format!("{} →", without_digest(b))),
        (None, None) => None,
    }
}

/// `repo:tag@sha256:…` → `repo:tag`; a reference with only a digest is kept.
fn without_digest(image: &str) -> &str {
    match image.split_once('@') {
        Some((name, _))
            if name
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':')) =>
        {
            name
        }
        _ => image,
    }
}

/// `repo:tag@sha256:0123456789abcdef…` → `repo:tag@sha256:0123456789ab`.
fn short_digest(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((name, hex)) => format!("{name}@sha256:{}", hex.get(..12).unwrap_or(hex)),
        None => image.to_string(),
    }
}

/// Control characters (line breaks included) become spaces; at most [`MAX_SUBJECT`] characters.
pub fn one_line(s: &str) -> String {
    let line: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate_chars(&line, MAX_SUBJECT)
}

/// At most `max` characters, with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s.chars().count() > max => format!("{}…", &s[..i]),
        _ => s.to_string(),
    }
}
