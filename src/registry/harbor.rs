//! Harbor webhooks: the default format (`PUSH_ARTIFACT`, Harbor 1.x `pushImage`) and the
//! CloudEvents format (`harbor.artifact.pushed`); one push per `resources[]` entry, host and
//! repository from its `resource_url`. Authenticity (the verbatim `Authorization` header) is
//! checked by the hook, not here.

use super::draft::{is_digest_like, split_host, Draft, Pushes};
use super::image_ref::split_reference;
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

/// Push types of the default format: Harbor 2 and Harbor 1.x (Keel accepts both too).
const PUSH_TYPES: [&str; 2] = ["PUSH_ARTIFACT", "pushImage"];
/// Push type of the CloudEvents format (2.8+).
const CLOUD_EVENT_PUSH: &str = "harbor.artifact.pushed";

pub(super) fn read(root: &Node<'_>, opts: &EventOptions) -> Result<Delivery, EventError> {
    let kind = root.string("type")?;
    let cloud_event = root.has("specversion");
    let is_push = if cloud_event {
        kind.value == CLOUD_EVENT_PUSH
    } else {
        PUSH_TYPES.contains(&kind.value.as_str())
    };
    if !is_push {
        return Ok(Delivery::ignored("harbor event is not an artifact push"));
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
    let mut pushes = Pushes::new(Provider::Harbor);
    for resource in data.field("resources")?.items()? {
        let mut draft = resource_draft(&resource)?;
        draft.delivery_id.clone_from(&delivery_id);
        draft.actor.clone_from(&actor);
        pushes.add(draft, opts)?;
    }
    Ok(pushes.into_delivery("harbor push has no tagged or digested artifact"))
}

/// One `resources[]` entry: `resource_url` is `host/project/repo:tag` or `host/project/repo@digest`;
/// a `tag` that is a digest (push by digest, replication) means no tag.
fn resource_draft(resource: &Node<'_>) -> Result<Draft, EventError> {
    let url = resource.string("resource_url")?;
    let (host, rest) = split_host(&url.value);
    let (repository, url_tag, url_digest) = split_reference(rest);
    let from_url = |value: Option<&str>| {
        value
            .filter(|v| !v.is_empty())
            .map(|v| Sourced::new(v, url.path.as_str()))
    };
    let tag = match resource.opt_string("tag")? {
        Some(tag) if is_digest_like(&tag.value) => None,
        Some(tag) => Some(tag),
        None => from_url(url_tag),
    };
    let digest = match resource.opt_string("digest")? {
        Some(digest) => Some(digest),
        None => from_url(url_digest),
    };
    let mut draft = Draft::new(
        Sourced::new(host, url.path.as_str()),
        Sourced::new(repository, url.path.as_str()),
    );
    draft.tag = tag;
    draft.digest = digest;
    Ok(draft)
}

#[cfg(test)]
mod tests {
    use super::super::samples::{self, hostile_values, ignored, opts, pushes, run, with};
    use super::*;

    const DIGEST: &str = "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8";
    const REPLICATED: &str =
        "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";

    fn by_digest() -> String {
        let url = format!(r#""resource_url": "localhost/harbor/alpine@{REPLICATED}""#);
        let body = with(
            samples::HARBOR,
            r#""resource_url": "hub.harbor.com/test-webhook/debian:latest""#,
            &url,
        );
        let body = with(
            &body,
            r#""tag": "latest""#,
            &format!(r#""tag": "{REPLICATED}""#),
        );
        let body = with(&body, DIGEST, REPLICATED);
        with(
            &body,
            r#""operator": "admin""#,
            r#""operator": "harbor-jobservice""#,
        )
    }

    fn cloud_event(kind: &str) -> String {
        format!(
            r#"{{"specversion": "1.0", "id": "a3b1c2d4-0000-4000-8000-000000000001",
            "requestid": "r-1", "source": "/projects/2/webhook/policies/15", "type": "{kind}",
            "datacontenttype": "application/json", "time": "2026-05-01T10:00:00Z",
            "operator": "admin",
            "data": {{"resources": [{{"digest": "{DIGEST}", "tag": "v2",
              "resource_url": "harbor.example.com:8443/team/web:v2"}}],
              "repository": {{"name": "web", "namespace": "team", "repo_full_name": "team/web"}}}}}}"#
        )
    }

    #[test]
    fn sample_push() {
        let pushes = pushes(run(&opts(Provider::Harbor), samples::HARBOR));
        assert_eq!(pushes.len(), 1);
        let push = &pushes[0];
        assert_eq!(push.provider, Provider::Harbor);
        assert_eq!(push.registry, "hub.harbor.com");
        assert_eq!(push.repository, "test-webhook/debian");
        assert_eq!(push.tag.as_deref(), Some("latest"));
        assert_eq!(push.digest.as_deref(), Some(DIGEST));
        assert_eq!(push.image, "hub.harbor.com/test-webhook/debian:latest");
        let pinned = format!("hub.harbor.com/test-webhook/debian@{DIGEST}");
        assert_eq!(push.image_pinned, Some(pinned));
        assert_eq!(push.actor.as_deref(), Some("admin"));
    }

    #[test]
    fn digest_only_push_has_no_tag() {
        let pushes = pushes(run(&opts(Provider::Harbor), &by_digest()));
        let push = &pushes[0];
        assert_eq!(push.registry, "localhost");
        assert_eq!(push.repository, "harbor/alpine");
        assert_eq!(push.tag, None);
        assert_eq!(push.image, format!("localhost/harbor/alpine@{REPLICATED}"));
        assert_eq!(push.image_pinned.as_deref(), Some(push.image.as_str()));
        assert_eq!(push.actor.as_deref(), Some("harbor-jobservice"));
    }

    #[test]
    fn push_types_and_other_types() {
        let v1 = with(samples::HARBOR, "PUSH_ARTIFACT", "pushImage");
        assert_eq!(pushes(run(&opts(Provider::Harbor), &v1)).len(), 1);
        for kind in ["PULL_ARTIFACT", "DELETE_ARTIFACT", "SCANNING_COMPLETED"] {
            let body = with(samples::HARBOR, "PUSH_ARTIFACT", kind);
            let reason = ignored(run(&opts(Provider::Harbor), &body));
            assert_eq!(reason, "harbor event is not an artifact push");
        }
    }

    #[test]
    fn cloud_events_format() {
        let pushes = pushes(run(&opts(Provider::Harbor), &cloud_event(CLOUD_EVENT_PUSH)));
        let push = &pushes[0];
        assert_eq!(push.image, "harbor.example.com:8443/team/web:v2");
        assert_eq!(
            push.delivery_id.as_deref(),
            Some("a3b1c2d4-0000-4000-8000-000000000001")
        );
        for kind in [
            "harbor.artifact.pulled",
            "harbor.artifact.deleted",
            "PUSH_ARTIFACT",
        ] {
            ignored(run(&opts(Provider::Harbor), &cloud_event(kind)));
        }
    }

    #[test]
    fn one_push_per_resource_and_bad_entry_fails_delivery() {
        let second = format!(
            r#"{{"digest": "{REPLICATED}", "tag": "stable", "resource_url": "hub.harbor.com/test-webhook/debian:stable"}}, {{"#
        );
        let body = with(
            samples::HARBOR,
            r#""resources": [
      {"#,
            &format!(r#""resources": [{second}"#),
        );
        let list = pushes(run(&opts(Provider::Harbor), &body));
        let tags: Vec<_> = list.iter().map(|p| p.tag.as_deref()).collect();
        assert_eq!(tags, [Some("stable"), Some("latest")]);
        let bad = with(&body, r#""tag": "stable""#, r#""tag": "$(id)""#);
        let err = run(&opts(Provider::Harbor), &bad).expect_err("hostile");
        assert!(
            err.to_string()
                .starts_with("harbor event: event_data.resources[0].tag: invalid tag"),
            "{err}"
        );
    }

    #[test]
    fn hostile_values_are_rejected() {
        for value in hostile_values() {
            let fields = [
                ("\"latest\"", serde_json::to_string(&value), "tag"),
                (
                    "\"hub.harbor.com/test-webhook/debian:latest\"",
                    serde_json::to_string(&format!("{value}/test-webhook/debian:latest")),
                    "resource_url",
                ),
                (
                    "\"hub.harbor.com/test-webhook/debian:latest\"",
                    serde_json::to_string(&format!("hub.harbor.com/{value}:latest")),
                    "resource_url",
                ),
                (
                    "\"sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8\"",
                    serde_json::to_string(&value),
                    "digest",
                ),
            ];
            for (from, to, field) in fields {
                let body = with(samples::HARBOR, from, &to.expect("string"));
                let err = run(&opts(Provider::Harbor), &body).expect_err(&value);
                let path = format!("event_data.resources[0].{field}");
                assert!(
                    matches!(&err, EventError::Invalid { path: p, .. } if *p == path),
                    "{value:?} in {field}: {err}"
                );
            }
        }
    }

    #[test]
    fn missing_resources_is_an_error() {
        let body = r#"{"type": "PUSH_ARTIFACT", "event_data": {"repository": {}}}"#;
        let err = run(&opts(Provider::Harbor), body).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "harbor event: missing field event_data.resources"
        );
    }
}
