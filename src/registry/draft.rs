//! From what a provider read to a validated `ImagePush`: the host override, grammar checks that
//! name the JSON path of a bad value, the untagged and unusable-digest rules, agreement between
//! fields that name the same thing, the derived image strings, informational labels and the
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
/// Why a delivery whose pushes all lack a tag runs nothing.
pub(crate) const UNTAGGED: &str =
    "push names no tag (a push by digest, e.g. one platform of a multi-arch image): nothing to deploy";
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
    /// Whether a push without a tag is deployed by its digest. Only the custom format says so:
    /// a CI job that posts `image@digest` means that digest.
    pub deploy_by_digest: bool,
    pub delivery_id: Option<String>,
    pub actor: Option<String>,
    pub media_type: Option<String>,
    pub callback_url: Option<Sourced>,
}

/// What one draft amounts to.
#[derive(Debug)]
pub(crate) enum Finished {
    Push(Box<ImagePush>),
    /// No tag: nothing to deploy (see `UNTAGGED`).
    Untagged,
}

impl Draft {
    pub fn new(registry: Sourced, repository: Sourced) -> Self {
        Self {
            registry,
            repository,
            tag: None,
            digest: None,
            deploy_by_digest: false,
            delivery_id: None,
            actor: None,
            media_type: None,
            callback_url: None,
        }
    }

    /// Validates every field and builds the push. `opts.registry_host` replaces the payload's
    /// host. A digest that does not fit the grammar is dropped (logged) when there is a tag to
    /// deploy; without a tag it is an error only for a draft deployed by digest.
    pub fn finish(self, provider: Provider, opts: &EventOptions) -> Result<Finished, EventError> {
        if self.tag.is_none() && !self.deploy_by_digest {
            return Ok(Finished::Untagged);
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
        let digest = match self.digest {
            Some(digest) if self.tag.is_some() => usable_digest(provider, digest),
            Some(digest) => {
                check(&digest, image_ref::validate_digest)?;
                Some(digest)
            }
            None => None,
        };
        if self.tag.is_none() && digest.is_none() {
            return Err(EventError::Unusable {
                provider,
                problem: "the push names neither a tag nor a digest",
            });
        }
        if let Some(url) = &self.callback_url {
            check(url, validate_callback_url)?;
        }
        let reference = ImageRef {
            registry: registry.value,
            repository: self.repository.value,
            tag: self.tag.map(|tag| tag.value),
            digest: digest.map(|digest| digest.value),
        };
        Ok(Finished::Push(Box::new(ImagePush {
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
        })))
    }
}

/// `digest` when it fits the digest grammar. Otherwise it is logged and dropped: the tag still
/// names the image, only the pin is lost, as with senders that send no digest at all.
pub(crate) fn usable_digest(provider: Provider, digest: Sourced) -> Option<Sourced> {
    match image_ref::validate_digest(&digest.value) {
        Ok(()) => Some(digest),
        Err(problem) => {
            tracing::warn!(
                %provider,
                path = %digest.path,
                %problem,
                "digest unusable: the push is deployed by its tag without a pin"
            );
            None
        }
    }
}

/// The one value several fields agree on. `candidates` are the fields that are present, most
/// authoritative first; `same` decides whether two values name the same thing. Any two that
/// disagree make the delivery ambiguous.
pub(crate) fn agreed(
    provider: Provider,
    what: &'static str,
    candidates: Vec<Sourced>,
    same: impl Fn(&str, &str) -> bool,
) -> Result<Option<Sourced>, EventError> {
    let mut candidates = candidates.into_iter();
    let Some(first) = candidates.next() else {
        return Ok(None);
    };
    for other in candidates {
        if !same(&first.value, &other.value) {
            return Err(contradiction(provider, what, &first, &other));
        }
    }
    Ok(Some(first))
}

/// The error for two fields that name `what` differently.
pub(crate) fn contradiction(
    provider: Provider,
    what: &'static str,
    first: &Sourced,
    second: &Sourced,
) -> EventError {
    EventError::Contradiction {
        provider,
        what,
        first_path: first.path.clone(),
        first_value: image_ref::shown(&first.value),
        second_path: second.path.clone(),
        second_value: image_ref::shown(&second.value),
    }
}

/// Collects the pushes of a multi-push delivery, enforcing `MAX_PUSHES`.
pub(crate) struct Pushes {
    provider: Provider,
    list: Vec<ImagePush>,
    untagged: usize,
}

impl Pushes {
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            list: Vec::new(),
            untagged: 0,
        }
    }

    /// Validates `draft` and keeps the push, once: the same image and digest twice in one
    /// delivery is one deploy.
    pub fn add(&mut self, draft: Draft, opts: &EventOptions) -> Result<(), EventError> {
        let push = match draft.finish(self.provider, opts)? {
            Finished::Push(push) => *push,
            Finished::Untagged => {
                self.untagged += 1;
                return Ok(());
            }
        };
        let seen = |kept: &ImagePush| kept.image == push.image && kept.digest == push.digest;
        if self.list.iter().any(seen) {
            return Ok(());
        }
        if self.list.len() == MAX_PUSHES {
            return Err(EventError::TooManyPushes {
                provider: self.provider,
                max: MAX_PUSHES,
            });
        }
        self.list.push(push);
        Ok(())
    }

    /// The pushes; without any, `Ignored` saying that they were untagged, or `nothing`.
    pub fn into_delivery(self, nothing: &str) -> Delivery {
        if !self.list.is_empty() {
            Delivery::Pushes(self.list)
        } else if self.untagged > 0 {
            Delivery::ignored(UNTAGGED)
        } else {
            Delivery::ignored(nothing)
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
    Ok(pushes.into_delivery(UNTAGGED))
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
mod tests;
