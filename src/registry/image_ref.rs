//! The image-reference grammar of Docker distribution (`reference` package): validates registry
//! hosts, repository paths, tags and digests, and parses whole references the way `docker pull`
//! normalises them. Every value that reaches a command goes through here; it never lower-cases,
//! guesses or repairs a value — callers decide that.

use std::sync::LazyLock;

use regex::Regex;

mod reference;

pub(crate) use reference::split_reference;
pub use reference::{parse_reference, ImageRef};

use crate::config::registry_event::validate_registry_host;
pub use crate::config::registry_event::{shown, NAME_TOTAL_MAX};

const PATH_COMPONENT: &str = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";

static REPOSITORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^{PATH_COMPONENT}(?:/{PATH_COMPONENT})*$"))
        .expect("repository grammar is a valid regex")
});
// `\w` is spelled out: the regex crate's `\w` is Unicode-aware, the reference grammar's is ASCII.
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("tag grammar is a valid regex")
});
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
        .expect("digest grammar is a valid regex")
});

/// A value that does not fit its grammar. `value` is already escaped and length-capped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value}: {reason}")]
pub struct RefError {
    /// What the value was meant to be: "registry", "tag", ...
    pub what: &'static str,
    /// The offending value, `{:?}`-escaped and cut to 64 characters.
    pub value: String,
    /// The rule it broke.
    pub reason: &'static str,
}

impl RefError {
    pub(crate) fn new(what: &'static str, raw: &str, reason: &'static str) -> Self {
        Self {
            what,
            value: shown(raw),
            reason,
        }
    }
}

/// A registry host: domain components, IPv4 or `[IPv6]`, with an optional port (1-65535). The
/// grammar lives with the hook options, which check their host overrides against it.
pub fn validate_registry(host: &str) -> Result<(), RefError> {
    validate_registry_host(host).map_err(|invalid| RefError {
        what: "registry",
        value: invalid.value,
        reason: invalid.reason,
    })
}

/// A repository path: lower-case components `[a-z0-9]+` joined by `.`, `_`, `__` or dashes,
/// separated by `/`, at most 255 characters.
pub fn validate_repository(repository: &str) -> Result<(), RefError> {
    const WHAT: &str = "repository";
    if repository.is_empty() {
        return Err(RefError::new(WHAT, repository, "must not be empty"));
    }
    if repository.len() > NAME_TOTAL_MAX {
        return Err(RefError::new(
            WHAT,
            repository,
            "longer than 255 characters",
        ));
    }
    if REPOSITORY.is_match(repository) {
        Ok(())
    } else {
        Err(RefError::new(
            WHAT,
            repository,
            "expected lower-case components of [a-z0-9] joined by '.', '_', '__' or '-', separated by '/'",
        ))
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), RefError> {
    if TAG.is_match(tag) {
        Ok(())
    } else {
        Err(RefError::new(
            "tag",
            tag,
            "expected 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'",
        ))
    }
}

/// A digest: `sha256:` and 64, or `sha512:` and 128, lower-case hex digits.
pub fn validate_digest(digest: &str) -> Result<(), RefError> {
    if DIGEST.is_match(digest) {
        Ok(())
    } else {
        Err(RefError::new(
            "digest",
            digest,
            "expected sha256:<64 lower-case hex> or sha512:<128 lower-case hex>",
        ))
    }
}

/// `registry/repository` within distribution's 255-character limit (both parts already valid).
pub fn validate_name(registry: &str, repository: &str) -> Result<(), RefError> {
    if registry.len() + 1 + repository.len() > NAME_TOTAL_MAX {
        let name = format!("{registry}/{repository}");
        return Err(RefError::new("name", &name, "longer than 255 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::samples::hostile_values;
    use super::*;

    const D256: &str = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf";

    #[test]
    fn hostile_values_rejected_by_every_field() {
        let values = hostile_values();
        // The empty value too: no field's grammar accepts it.
        for value in values.iter().map(String::as_str).chain([""]) {
            assert!(validate_registry(value).is_err(), "registry {value:?}");
            assert!(validate_repository(value).is_err(), "repository {value:?}");
            assert!(validate_tag(value).is_err(), "tag {value:?}");
            assert!(validate_digest(value).is_err(), "digest {value:?}");
            assert!(parse_reference(value).is_err(), "reference {value:?}");
        }
    }

    #[test]
    fn repository_grammar() {
        let long = format!("{}/{}", "a".repeat(200), "b".repeat(60));
        let cases: &[(&str, bool)] = &[
            ("namespace/repotest", true),
            ("a", true),
            ("a__b/c.d/e--f/g_h", true),
            ("library/hello-world", true),
            ("namespace/repoTest", false),
            ("a/", false),
            ("/a", false),
            ("a//b", false),
            ("a___b", false),
            ("a.-b", false),
            ("_a", false),
            (long.as_str(), false),
        ];
        for (value, ok) in cases {
            assert_eq!(validate_repository(value).is_ok(), *ok, "{value:?}");
        }
    }

    #[test]
    fn tag_and_digest_grammar() {
        let tag_128 = "t".repeat(128);
        let tag_129 = "t".repeat(129);
        let tags: &[(&str, bool)] = &[
            ("latest", true),
            ("3.2.1", true),
            ("_x", true),
            ("V1-rc.2_b", true),
            (tag_128.as_str(), true),
            (tag_129.as_str(), false),
            (".x", false),
            ("-x", false),
            ("sha256:abc", false),
            ("é", false),
        ];
        for (value, ok) in tags {
            assert_eq!(validate_tag(value).is_ok(), *ok, "{value:?}");
        }
        let sha512 = format!("sha512:{}", "a".repeat(128));
        let upper = D256.to_uppercase();
        let digests: &[(&str, bool)] = &[
            (D256, true),
            (sha512.as_str(), true),
            ("sha256:7d38…", false),
            (&D256[..70], false),
            (upper.as_str(), false),
            ("md5:d41d8cd98f00b204e9800998ecf8427e", false),
        ];
        for (value, ok) in digests {
            assert_eq!(validate_digest(value).is_ok(), *ok, "{value:?}");
        }
    }

    #[test]
    fn errors_show_the_value_escaped() {
        let err = validate_tag("x;touch /tmp/p").expect_err("hostile");
        assert_eq!(
            err.to_string(),
            r#"invalid tag "x;touch /tmp/p": expected 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"#
        );
    }
}
