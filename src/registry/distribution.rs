//! Docker distribution registry notifications (self-hosted `registry:2/3`, GitLab's container
//! registry, Harbor's internal registry) and Azure ACR, which sends one such event without the
//! envelope: keeps tagged manifest pushes, skips blob pushes, pulls, deletes and everything else.
//!
//! A push is a manifest push when `target.mediaType` is a manifest or index type, or when it
//! has no media type but names a tag (GitLab's registry sends `{"tag", "repository"}` only; a
//! blob never has a tag). The tag is `target.tag`, or for registries older than 2.4 the
//! reference in `target.url` (`…/v2/<repository>/manifests/<tag>`); the URL must name the same
//! repository and tag as the other fields. The host is `request.host` (what the pusher used)
//! unless the hook sets `registry-host`.

use super::draft::{
    self, contradiction, is_digest_like, split_host, Draft, Pushes, REGISTRY_HOST_OPTION,
};
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

/// Manifest and index media types: a push of one of these is an image push; anything else
/// (layers, configs, Helm chart blobs) is a blob.
const MANIFEST_TYPES: [&str; 6] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

const NOTHING_KEPT: &str = "no tagged manifest push in this notification";

/// Reads an `events[]` envelope (one push per kept event, `delivery_id` = event id) or, without
/// `events`, a single Azure ACR event.
pub(super) fn read(root: &Node<'_>, opts: &EventOptions) -> Result<Delivery, EventError> {
    let Some(events) = root.get("events") else {
        return match event_draft(root, opts)? {
            Some(draft) => draft::single(Provider::Distribution, draft, opts),
            None => Ok(Delivery::ignored(NOTHING_KEPT)),
        };
    };
    let mut pushes = Pushes::new(Provider::Distribution);
    for event in events.items()? {
        if let Some(draft) = event_draft(&event, opts)? {
            pushes.add(draft, opts)?;
        }
    }
    Ok(pushes.into_delivery(NOTHING_KEPT))
}

/// The draft of a manifest push (tagged or not); `None` for any other event.
fn event_draft(event: &Node<'_>, opts: &EventOptions) -> Result<Option<Draft>, EventError> {
    if event.lenient_str("action") != Some("push") {
        return Ok(None);
    }
    let target = event.field("target")?;
    let media_type = target.lenient_str("mediaType");
    if media_type.is_some_and(|media_type| !MANIFEST_TYPES.contains(&media_type)) {
        return Ok(None);
    }
    let repository = target.string("repository")?;
    let tag = tag(&target, &repository)?;
    if media_type.is_none() && tag.is_none() {
        return Ok(None);
    }
    let registry = match &opts.registry_host {
        Some(host) => Sourced::new(host.as_str(), REGISTRY_HOST_OPTION),
        None => request_host(event)?,
    };
    let mut draft = Draft::new(registry, repository);
    draft.tag = tag;
    draft.digest = target.opt_string("digest")?;
    draft.media_type = media_type.map(str::to_owned);
    draft.delivery_id = event.lenient_str("id").map(str::to_owned);
    draft.actor = event
        .get("actor")
        .and_then(|actor| actor.lenient_str("name"))
        .map(str::to_owned);
    Ok(Some(draft))
}

/// `request.host`, which must be there when the hook sets no `registry-host`.
fn request_host(event: &Node<'_>) -> Result<Sourced, EventError> {
    let host = match event.get("request") {
        Some(request) => request.opt_string("host")?,
        None => None,
    };
    host.ok_or_else(|| EventError::NoHost {
        provider: Provider::Distribution,
        path: event.path_of("request.host"),
    })
}

/// `target.tag`, else the tag in `target.url`; the URL must name the same repository and tag.
fn tag(target: &Node<'_>, repository: &Sourced) -> Result<Option<Sourced>, EventError> {
    let tag = target.opt_string("tag")?;
    let Some(url) = target.opt_string("url")? else {
        return Ok(tag);
    };
    let Some((url_repository, reference)) = manifest_reference(&url.value) else {
        return Ok(tag);
    };
    let in_url = |value: &str| Sourced::new(value, url.path.as_str());
    if url_repository != repository.value {
        let err = contradiction(
            Provider::Distribution,
            "repository",
            repository,
            &in_url(url_repository),
        );
        return Err(err);
    }
    if is_digest_like(reference) {
        return Ok(tag);
    }
    match tag {
        Some(tag) if tag.value != reference => Err(contradiction(
            Provider::Distribution,
            "tag",
            &tag,
            &in_url(reference),
        )),
        Some(tag) => Ok(Some(tag)),
        None => Ok(Some(in_url(reference))),
    }
}

/// `(repository, reference)` of a `[scheme://]host/v2/<repository>/manifests/<reference>` URL;
/// `None` for any other URL (a blob URL, a proxy path), which then says nothing.
fn manifest_reference(url: &str) -> Option<(&str, &str)> {
    let (_, path) = split_host(url);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let rest = path.strip_prefix("v2/")?;
    let (repository, reference) = rest.rsplit_once("/manifests/")?;
    (!repository.is_empty() && !reference.is_empty() && !reference.contains('/'))
        .then_some((repository, reference))
}

#[cfg(test)]
mod tests;
