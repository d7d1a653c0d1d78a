//! Whole image references: `ImageRef` and `parse_reference`, which splits a reference the way
//! docker does and checks each part with the grammar of the parent module.

use std::fmt;

use super::{
    validate_digest, validate_name, validate_registry, validate_repository, validate_tag, RefError,
};

/// Longest whole reference `parse_reference` looks at (name, tag and a sha512 digest fit).
const REFERENCE_MAX: usize = 512;

/// A parsed, validated, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository:tag`, else `registry/repository@digest`, else the bare name.
    pub fn image(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => format!("{}:{tag}", self.name()),
            (None, Some(digest)) => format!("{}@{digest}", self.name()),
            (None, None) => self.name(),
        }
    }

    /// `registry/repository@digest` when the digest is known.
    pub fn pinned(&self) -> Option<String> {
        self.digest
            .as_ref()
            .map(|digest| format!("{}@{digest}", self.name()))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Parses `[host/]path[:tag][@digest]` and normalises it like docker: no host means
/// `docker.io` (the first component is a host only when it holds `.` or `:`, is `localhost`, or
/// has upper-case letters), `index.docker.io` becomes `docker.io`, and a single-component name on
/// Docker Hub gets `library/`. Tag and digest stay optional; callers decide whether one is needed.
pub fn parse_reference(reference: &str) -> Result<ImageRef, RefError> {
    if reference.is_empty() {
        return Err(RefError::new("reference", reference, "must not be empty"));
    }
    if reference.len() > REFERENCE_MAX {
        return Err(RefError::new(
            "reference",
            reference,
            "longer than 512 characters",
        ));
    }
    let (name, tag, digest) = split_reference(reference);
    let (registry, remote) = split_domain(name);
    let repository = if registry == "docker.io" && !remote.contains('/') {
        format!("library/{remote}")
    } else {
        remote.to_owned()
    };
    validate_registry(registry)?;
    validate_repository(&repository)?;
    validate_name(registry, &repository)?;
    if let Some(tag) = tag {
        validate_tag(tag)?;
    }
    if let Some(digest) = digest {
        validate_digest(digest)?;
    }
    Ok(ImageRef {
        registry: registry.to_owned(),
        repository,
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

/// Splits `name[:tag][@digest]` without validating; the tag is after the last `:` that follows
/// the last `/`, so a registry port is never taken for a tag.
pub(crate) fn split_reference(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(i) => (
            &rest[..last_slash + i],
            Some(&rest[last_slash + i + 1..]),
            digest,
        ),
        None => (rest, None, digest),
    }
}

/// docker's `splitDockerDomain`: the host part and the remote path of a name.
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            let registry = if first == "index.docker.io" {
                "docker.io"
            } else {
                first
            };
            (registry, rest)
        }
        _ => ("docker.io", name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D256: &str = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf";

    #[test]
    fn parse_reference_normalises_like_docker() {
        let pinned = format!("localhost:5000/team/web:1.0@{D256}");
        let cases: &[(&str, &str, &str, Option<&str>, bool)] = &[
            ("nginx", "docker.io", "library/nginx", None, false),
            (
                "nginx:1.27",
                "docker.io",
                "library/nginx",
                Some("1.27"),
                false,
            ),
            ("team/web:1", "docker.io", "team/web", Some("1"), false),
            ("docker.io/nginx", "docker.io", "library/nginx", None, false),
            ("index.docker.io/x/y", "docker.io", "x/y", None, false),
            ("localhost/web", "localhost", "web", None, false),
            ("Host/web", "Host", "web", None, false),
            (
                "127.0.0.1:5000/web:v1",
                "127.0.0.1:5000",
                "web",
                Some("v1"),
                false,
            ),
            ("[::1]:5000/web", "[::1]:5000", "web", None, false),
            (&pinned, "localhost:5000", "team/web", Some("1.0"), true),
        ];
        for (input, registry, repository, tag, has_digest) in cases {
            let parsed = parse_reference(input).expect(input);
            assert_eq!(parsed.registry, *registry, "{input}");
            assert_eq!(parsed.repository, *repository, "{input}");
            assert_eq!(parsed.tag.as_deref(), *tag, "{input}");
            assert_eq!(parsed.digest.is_some(), *has_digest, "{input}");
        }
        assert_eq!(parse_reference(&pinned).expect("valid").to_string(), pinned);
    }

    #[test]
    fn parse_reference_rejects_bad_parts() {
        let cases = [
            "Team/Web",
            "host/web:",
            "host/web@",
            "host/web@sha256:abc",
            "host/web:-x",
            "host/web:a@b@c",
            "host:5000",
        ];
        for input in cases {
            let result = parse_reference(input);
            // `host:5000` is docker.io/library/host with tag 5000: valid, as in docker.
            assert_eq!(result.is_ok(), input == "host:5000", "{input}: {result:?}");
        }
    }

    #[test]
    fn image_and_pinned_forms() {
        let mut image = ImageRef {
            registry: "127.0.0.1:5000".into(),
            repository: "web".into(),
            tag: Some("v1".into()),
            digest: Some(D256.into()),
        };
        assert_eq!(image.image(), "127.0.0.1:5000/web:v1");
        assert_eq!(image.pinned(), Some(format!("127.0.0.1:5000/web@{D256}")));
        image.tag = None;
        assert_eq!(image.image(), format!("127.0.0.1:5000/web@{D256}"));
    }
}
