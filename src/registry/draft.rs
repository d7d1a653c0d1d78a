//! From what a provider read to a validated `ImagePush`: the host override, grammar checks that
//! name the JSON path of a bad value, the derived image strings, informational labels and the
//! per-delivery push limit. Knows no payload format.

use super::image_ref::{self, ImageRef, RefError};
use super::json::Sourced;
use super::{Delivery, EventError, EventOptions, ImagePush, Provider};

/// Most image pushes one delivery may carry; more is an error, not a truncation.
pub(crate) const MAX_PUSHES: usize = 100;
/// The "path" reported for a value that came from `EventOptions::registry_host`.
pub(crate) const REGISTRY_HOST_OPTION: &str = "registry-host option";
/// The "path" reported for a value that came from `EventOptions::aliyun_instance_host`.
pub(crate) const INSTANCE_HOST_OPTION: &str = "aliyun-instance-host option";
/// Longest informational label (delivery id, actor, media type) kept.
const LABEL_MAX: usize = 128;
/// Longest callback URL accepted.
const URL_MAX: usize = 2048;

/// One image push as read from a payload, not yet validated.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub registry: Sourced,
    pub repository: Sourced,
    pub tag: Option<Sourced>,
    pub digest: Option<Sourced>,
    pub delivery_id: Option<String>,
    pub actor: Option<String>,
    pub media_type: Option<String>,
    pub callback_url: Option<Sourced>,
}

impl Draft {
    pub fn new(registry: Sourced, repository: Sourced) -> Self {
        Self {
            registry,
            repository,
            tag: None,
            digest: None,
            delivery_id: None,
            actor: None,
            media_type: None,
            callback_url: None,
        }
    }

    /// Validates every field and builds the push; `None` when there is neither a tag nor a
    /// digest (nothing deployable). `opts.registry_host` replaces the payload's host.
    pub fn finish(
        self,
        provider: Provider,
        opts: &EventOptions,
    ) -> Result<Option<ImagePush>, EventError> {
        if self.tag.is_none() && self.digest.is_none() {
            return Ok(None);
        }
        let registry = match &opts.registry_host {
            Some(host) => Sourced::new(host.as_str(), REGISTRY_HOST_OPTION),
            None => self.registry,
        };
        let invalid = |path: &str, problem: RefError| EventError::Invalid {
            provider,
            path: path.to_owned(),
            problem,
        };
        let check = |field: &Sourced, validate: fn(&str) -> Result<(), RefError>| {
            validate(&field.value).map_err(|problem| invalid(&field.path, problem))
        };
        check(&registry, image_ref::validate_registry)?;
        check(&self.repository, image_ref::validate_repository)?;
        image_ref::validate_name(&registry.value, &self.repository.value)
            .map_err(|problem| invalid(&self.repository.path, problem))?;
        if let Some(tag) = &self.tag {
            check(tag, image_ref::validate_tag)?;
        }
        if let Some(digest) = &self.digest {
            check(digest, image_ref::validate_digest)?;
        }
        if let Some(url) = &self.callback_url {
            check(url, validate_callback_url)?;
        }
        let reference = ImageRef {
            registry: registry.value,
            repository: self.repository.value,
            tag: self.tag.map(|tag| tag.value),
            digest: self.digest.map(|digest| digest.value),
        };
        Ok(Some(ImagePush {
            provider,
            image: reference.image(),
            image_pinned: reference.pinned(),
            registry: reference.registry,
            repository: reference.repository,
            tag: reference.tag,
            digest: reference.digest,
            delivery_id: self.delivery_id.and_then(label),
            actor: self.actor.and_then(label),
            media_type: self.media_type.and_then(label),
            callback_url: self.callback_url.map(|url| url.value),
        }))
    }
}

/// Collects the pushes of a multi-push delivery, enforcing `MAX_PUSHES`.
pub(crate) struct Pushes {
    provider: Provider,
    list: Vec<ImagePush>,
}

impl Pushes {
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            list: Vec::new(),
        }
    }

    /// Validates `draft` and keeps the push, if it has a tag or a digest.
    pub fn add(&mut self, draft: Draft, opts: &EventOptions) -> Result<(), EventError> {
        let Some(push) = draft.finish(self.provider, opts)? else {
            return Ok(());
        };
        if self.list.len() == MAX_PUSHES {
            return Err(EventError::TooManyPushes {
                provider: self.provider,
                max: MAX_PUSHES,
            });
        }
        self.list.push(push);
        Ok(())
    }

    /// The pushes, or `Ignored` with `reason` when none was kept.
    pub fn into_delivery(self, reason: &str) -> Delivery {
        if self.list.is_empty() {
            Delivery::ignored(reason)
        } else {
            Delivery::Pushes(self.list)
        }
    }
}

/// A delivery of exactly one draft.
pub(crate) fn single(
    provider: Provider,
    draft: Draft,
    opts: &EventOptions,
) -> Result<Delivery, EventError> {
    let mut pushes = Pushes::new(provider);
    pushes.add(draft, opts)?;
    Ok(pushes.into_delivery("push has neither a tag nor a digest"))
}

/// Whether a "tag" is really a digest (Harbor and GitHub put the digest there for
/// pushes by digest).
pub(crate) fn is_digest_like(value: &str) -> bool {
    value.starts_with("sha256:") || value.starts_with("sha512:")
}

/// `host` and `path` of `[http[s]://]host/path`; the path is empty when there is no `/`.
pub(crate) fn split_host(url: &str) -> (&str, &str) {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.split_once('/').unwrap_or((rest, ""))
}

/// Informational values (delivery id, actor, media type) are kept only when they are short and
/// made of `[A-Za-z0-9._@:+=/-]`, not starting with `-`; anything else is dropped rather than
/// failing the delivery, since nothing about the image depends on them.
fn label(value: String) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._@:+=/-".contains(c);
    let ok = !value.is_empty()
        && value.len() <= LABEL_MAX
        && !value.starts_with('-')
        && value.chars().all(allowed);
    ok.then_some(value)
}

/// An `https://host[:port]/…` URL with no user info, spaces, quotes or control characters.
pub(crate) fn validate_callback_url(url: &str) -> Result<(), RefError> {
    const WHAT: &str = "callback_url";
    if url.len() > URL_MAX {
        return Err(RefError::new(WHAT, url, "longer than 2048 characters"));
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(RefError::new(WHAT, url, "expected an https:// URL"));
    };
    let forbidden = |b: u8| !b.is_ascii_graphic() || b"\"<>\\^`{|}".contains(&b);
    if url.bytes().any(forbidden) {
        return Err(RefError::new(
            WHAT,
            url,
            "contains characters not allowed in a URL",
        ));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    image_ref::validate_registry(&rest[..end])
        .map_err(|_| RefError::new(WHAT, url, "expected https://host[:port]/path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(registry: &str, repository: &str, tag: Option<&str>) -> Draft {
        let mut draft = Draft::new(
            Sourced::new(registry, "registry"),
            Sourced::new(repository, "repository"),
        );
        draft.tag = tag.map(|tag| Sourced::new(tag, "tag"));
        draft
    }

    #[test]
    fn finish_builds_image_strings_and_applies_override() {
        let mut opts = EventOptions::default();
        let push = draft("127.0.0.1:5000", "web", Some("v1"))
            .finish(Provider::Custom, &opts)
            .expect("valid")
            .expect("tagged");
        assert_eq!(push.image, "127.0.0.1:5000/web:v1");
        assert_eq!(push.image_pinned, None);
        opts.registry_host = Some("registry.internal:443".into());
        let push = draft("127.0.0.1:5000", "web", Some("v1"))
            .finish(Provider::Custom, &opts)
            .expect("valid")
            .expect("tagged");
        assert_eq!(push.registry, "registry.internal:443");
    }

    #[test]
    fn finish_skips_untagged_undigested() {
        let result = draft("h", "r", None).finish(Provider::Quay, &EventOptions::default());
        assert_eq!(result.expect("no error"), None);
    }

    #[test]
    fn finish_names_path_of_bad_value() {
        let err = draft("h", "r", Some("$(id)"))
            .finish(Provider::Quay, &EventOptions::default())
            .expect_err("hostile tag");
        assert_eq!(
            err.to_string(),
            r#"quay event: tag: invalid tag "$(id)": expected 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"#
        );
        let long = format!("{}/{}", "a".repeat(200), "b".repeat(50));
        let err = draft(&"h".repeat(10), &long, Some("t"))
            .finish(Provider::Quay, &EventOptions::default())
            .expect_err("name too long");
        assert!(err.to_string().contains("invalid name"), "{err}");
    }

    #[test]
    fn labels_keep_safe_values_only() {
        let cases: &[(&str, bool)] = &[
            ("ci-bot", true),
            ("320678d8-ca14-430f-8bb6-4ca139cd83f7", true),
            ("application/vnd.docker.distribution.manifest.v2+json", true),
            ("a@b.example", true),
            ("John Doe", false),
            ("$(id)", false),
            ("--help", false),
            ("a\nb", false),
            ("", false),
        ];
        for (value, kept) in cases {
            assert_eq!(label((*value).to_owned()).is_some(), *kept, "{value:?}");
        }
        assert!(label("x".repeat(129)).is_none());
    }

    #[test]
    fn callback_urls() {
        let cases: &[(&str, bool)] = &[
            ("https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/", true),
            ("https://ci.example.com:8443/cb?x=1", true),
            ("https://ci.example.com", true),
            ("http://ci.example.com/cb", false),
            ("https://user:pw@ci.example.com/cb", false),
            ("https://ci.example.com/a b", false),
            ("https://ci.example.com/a\nb", false),
            ("https:///path", false),
            ("file:///etc/passwd", false),
            ("https://$(id)/", false),
        ];
        for (url, ok) in cases {
            assert_eq!(validate_callback_url(url).is_ok(), *ok, "{url:?}");
        }
    }

    #[test]
    fn push_limit_is_enforced() {
        let opts = EventOptions::default();
        let mut pushes = Pushes::new(Provider::Quay);
        for i in 0..MAX_PUSHES {
            pushes
                .add(draft("h", "r", Some(&format!("t{i}"))), &opts)
                .expect("under the limit");
        }
        let err = pushes
            .add(draft("h", "r", Some("one-more")), &opts)
            .expect_err("over the limit");
        assert!(matches!(err, EventError::TooManyPushes { max: 100, .. }));
    }

    #[test]
    fn split_host_strips_scheme() {
        assert_eq!(split_host("quay.io/ns/repo"), ("quay.io", "ns/repo"));
        assert_eq!(
            split_host("https://gitea.example.com/team/-/packages"),
            ("gitea.example.com", "team/-/packages")
        );
        assert_eq!(split_host("host"), ("host", ""));
    }
}
