//! Harbor webhooks: the default format (`PUSH_ARTIFACT`, Harbor 1.9/1.10 `pushImage`), the
//! CloudEvents format (`harbor.artifact.pushed`, 2.8+) and the shape Harbor 1.10's documentation
//! shows (`event_type` + `events[]`). One push per resource; host, repository and tag from its
//! `resource_url`, which must agree with the resource's `tag` and `digest` and with
//! `repository.repo_full_name`. Authenticity (the verbatim `Authorization` header) is checked
//! by the hook, not here.

use super::draft::{
    agreed, contradiction, is_digest_like, split_host, Draft, Pushes, REGISTRY_HOST_OPTION,
};
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

/// Push types of the default format: Harbor 2 and Harbor 1.9/1.10 (Keel accepts both too).
const PUSH_TYPES: [&str; 2] = ["PUSH_ARTIFACT", "pushImage"];
/// Push type of the CloudEvents format.
const CLOUD_EVENT_PUSH: &str = "harbor.artifact.pushed";
const NOTHING: &str = "harbor push lists no artifact";

pub(super) fn read(root: &Node<'_>, opts: &EventOptions) -> Result<Delivery, EventError> {
    if root.has("event_type") && root.has("events") {
        return documented_1_10(root, opts);
    }
    let kind = root.string("type")?;
    let cloud_event = root.has("specversion");
    let is_push = if cloud_event {
        kind.value == CLOUD_EVENT_PUSH
    } else {
        PUSH_TYPES.contains(&kind.value.as_str())
    };
    if !is_push {
        return Ok(not_a_push(&kind.value));
    }
    let data = root.field(if cloud_event { "data" } else { "event_data" })?;
    let delivery_id = cloud_event
        .then(|| root.lenient_str("id"))
        .flatten()
        .map(str::to_owned);
    let actor = root
        .lenient_str("operator")
        .or_else(|| data.lenient_str("operator"))
        .map(str::to_owned);
    let full_name = match data.get("repository") {
        Some(repository) => repository.opt_string("repo_full_name")?,
        None => None,
    };
    let mut pushes = Pushes::new(Provider::Harbor);
    for resource in data.field("resources")?.items()? {
        let mut draft = resource_draft(&resource, full_name.as_ref())?;
        draft.delivery_id.clone_from(&delivery_id);
        draft.actor.clone_from(&actor);
        pushes.add(draft, opts)?;
    }
    Ok(pushes.into_delivery(NOTHING))
}

fn not_a_push(kind: &str) -> Delivery {
    let shown = super::image_ref::shown(kind);
    Delivery::ignored(format!("harbor event {shown} is not an artifact push"))
}

/// One `resources[]` entry. `resource_url` is `host/project/repo:tag`, `host/project/repo@digest`
/// or, for pushes by digest in Harbor 2.0, `host/project/repo:sha256:…`; a `tag` that is a
/// digest means no tag.
fn resource_draft(resource: &Node<'_>, full_name: Option<&Sourced>) -> Result<Draft, EventError> {
    let url = resource.string("resource_url")?;
    let (host, rest) = split_host(&url.value);
    let (repository, url_tag, url_digest) = split_resource(rest);
    let from_url = |value: Option<&str>| {
        value
            .filter(|v| !v.is_empty())
            .map(|v| Sourced::new(v, url.path.as_str()))
    };
    let repository = Sourced::new(repository, url.path.as_str());
    if let Some(full_name) = full_name {
        if full_name.value != repository.value {
            return Err(contradiction(
                Provider::Harbor,
                "repository",
                &repository,
                full_name,
            ));
        }
    }
    let tags = [
        resource
            .opt_string("tag")?
            .filter(|tag| !is_digest_like(&tag.value)),
        from_url(url_tag),
    ];
    let digests = [resource.opt_string("digest")?, from_url(url_digest)];
    let exact = |a: &str, b: &str| a == b;
    let mut draft = Draft::new(Sourced::new(host, url.path.as_str()), repository);
    draft.tag = agreed(
        Provider::Harbor,
        "tag",
        tags.into_iter().flatten().collect(),
        exact,
    )?;
    draft.digest = agreed(
        Provider::Harbor,
        "digest",
        digests.into_iter().flatten().collect(),
        exact,
    )?;
    Ok(draft)
}

/// `(repository, tag, digest)` of the part of a `resource_url` after the host.
fn split_resource(rest: &str) -> (&str, Option<&str>, Option<&str>) {
    if let Some((name, digest)) = rest.split_once('@') {
        return (name, None, Some(digest));
    }
    let last = rest.rfind('/').map_or(0, |i| i + 1);
    let Some(colon) = rest[last..].find(':').map(|i| last + i) else {
        return (rest, None, None);
    };
    let (name, reference) = (&rest[..colon], &rest[colon + 1..]);
    if is_digest_like(reference) {
        (name, None, Some(reference))
    } else {
        (name, Some(reference), None)
    }
}

/// The shape Harbor 1.10's documentation shows: `{"event_type": "pushImage", "events":
/// [{"project", "repo_name", "tag", "full_name", "image_id", ...}]}`. It names no host, so the
/// hook's `registry-host` is required; `image_id` has no algorithm and is not used as a digest.
fn documented_1_10(root: &Node<'_>, opts: &EventOptions) -> Result<Delivery, EventError> {
    let kind = root.string("event_type")?;
    if kind.value != "pushImage" {
        return Ok(not_a_push(&kind.value));
    }
    let mut pushes = Pushes::new(Provider::Harbor);
    for event in root.field("events")?.items()? {
        let Some(host) = &opts.registry_host else {
            return Err(EventError::NoHost {
                provider: Provider::Harbor,
                path: event.path.clone(),
            });
        };
        let repository = event.string("full_name")?;
        let parts = [event.opt_string("project")?, event.opt_string("repo_name")?];
        if let [Some(project), Some(name)] = parts {
            if !name.value.contains('/') {
                let joined = Sourced::new(
                    format!("{}/{}", project.value, name.value),
                    format!("{}/{}", project.path, name.path),
                );
                if joined.value != repository.value {
                    return Err(contradiction(
                        Provider::Harbor,
                        "repository",
                        &repository,
                        &joined,
                    ));
                }
            }
        }
        let mut draft = Draft::new(
            Sourced::new(host.as_str(), REGISTRY_HOST_OPTION),
            repository,
        );
        draft.tag = event
            .opt_string("tag")?
            .filter(|tag| !is_digest_like(&tag.value));
        draft.actor = event.lenient_str("operator").map(str::to_owned);
        pushes.add(draft, opts)?;
    }
    Ok(pushes.into_delivery(NOTHING))
}

#[cfg(test)]
mod tests;
