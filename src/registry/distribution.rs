//! Docker distribution registry notifications (self-hosted `registry:2/3`, GitLab's registry)
//! and Azure ACR, which sends one such event without the envelope: keeps tagged manifest pushes,
//! skips blob pushes, pulls, deletes and everything else.

use super::draft::{self, Draft, Pushes, REGISTRY_HOST_OPTION};
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

/// Manifest and index media types: a push of one of these is an image push; anything else
/// (layers, configs, Helm charts) is a blob.
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

/// The draft of a tagged manifest push; `None` for any other event. The host is
/// `request.host`, i.e. whatever name the pusher used, unless the hook overrides it.
fn event_draft(event: &Node<'_>, opts: &EventOptions) -> Result<Option<Draft>, EventError> {
    if event.lenient_str("action") != Some("push") {
        return Ok(None);
    }
    let target = event.field("target")?;
    let media_type = target.lenient_str("mediaType");
    if !media_type.is_some_and(|media_type| MANIFEST_TYPES.contains(&media_type)) {
        return Ok(None);
    }
    let Some(tag) = target.opt_string("tag")? else {
        return Ok(None);
    };
    let registry = match &opts.registry_host {
        Some(host) => Sourced::new(host.as_str(), REGISTRY_HOST_OPTION),
        None => event.field("request")?.string("host")?,
    };
    let mut draft = Draft::new(registry, target.string("repository")?);
    draft.tag = Some(tag);
    draft.digest = target.opt_string("digest")?;
    draft.media_type = media_type.map(str::to_owned);
    draft.delivery_id = event.lenient_str("id").map(str::to_owned);
    draft.actor = event
        .get("actor")
        .and_then(|actor| actor.lenient_str("name"))
        .map(str::to_owned);
    Ok(Some(draft))
}

#[cfg(test)]
mod tests {
    use super::super::samples::{self, hostile_values, ignored, opts, pushes, run, with};
    use super::*;

    const DIGEST: &str = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf";
    const ACR_DIGEST: &str =
        "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d";

    /// An event as the registry sends it, with the given action, media type and tag.
    fn event(id: &str, action: &str, media_type: &str, tag: Option<&str>) -> String {
        let tag = tag.map_or(String::new(), |tag| format!(r#", "tag": "{tag}""#));
        format!(
            r#"{{"id": "{id}", "action": "{action}", "target": {{"mediaType": "{media_type}",
            "digest": "{DIGEST}", "repository": "team/web"{tag}}},
            "request": {{"host": "registry.local:5000"}}, "actor": {{"name": "ci-bot"}}}}"#
        )
    }

    #[test]
    fn sample_envelope() {
        let pushes = pushes(run(&opts(Provider::Distribution), samples::DISTRIBUTION));
        assert_eq!(pushes.len(), 1);
        let push = &pushes[0];
        assert_eq!(push.provider, Provider::Distribution);
        assert_eq!(push.registry, "192.168.100.227:5000");
        assert_eq!(push.repository, "hello-world");
        assert_eq!(push.tag.as_deref(), Some("latest"));
        assert_eq!(push.image, "192.168.100.227:5000/hello-world:latest");
        let pinned = format!("192.168.100.227:5000/hello-world@{DIGEST}");
        assert_eq!(push.image_pinned, Some(pinned));
        assert_eq!(
            push.delivery_id.as_deref(),
            Some("320678d8-ca14-430f-8bb6-4ca139cd83f7")
        );
        assert_eq!(push.actor.as_deref(), Some("ci-bot"));
        assert_eq!(push.media_type.as_deref(), Some(MANIFEST_TYPES[0]));
    }

    #[test]
    fn sample_azure_single_event() {
        let pushes = pushes(run(&opts(Provider::Distribution), samples::ACR));
        let push = &pushes[0];
        assert_eq!(push.image, "myregistry.azurecr.io/hello-world:v1");
        assert_eq!(
            push.image_pinned,
            Some(format!("myregistry.azurecr.io/hello-world@{ACR_DIGEST}"))
        );
        assert_eq!(
            push.delivery_id.as_deref(),
            Some("cb8c3971-9adc-488b-bdd8-43cbb4974ff5")
        );
        for action in ["delete", "quarantine", "chart_push", "ping"] {
            let body = with(
                samples::ACR,
                r#""action": "push""#,
                &format!(r#""action": "{action}""#),
            );
            ignored(run(&opts(Provider::Distribution), &body));
        }
    }

    #[test]
    fn mixed_envelope_keeps_tagged_manifest_pushes_only() {
        let layer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
        let events = [
            event("blob", "push", layer, None),
            event("manifest", "push", MANIFEST_TYPES[0], Some("v1")),
            event("pull", "pull", MANIFEST_TYPES[0], Some("v1")),
            event("untagged", "push", MANIFEST_TYPES[2], None),
            r#"{"id": "delete", "action": "delete", "target": {"digest": "sha256:x", "repository": "team/web"}}"#.to_owned(),
        ];
        let body = format!(r#"{{"events": [{}]}}"#, events.join(","));
        let pushes = pushes(run(&opts(Provider::Distribution), &body));
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].delivery_id.as_deref(), Some("manifest"));
        assert_eq!(pushes[0].image, "registry.local:5000/team/web:v1");
    }

    #[test]
    fn every_manifest_media_type_counts() {
        let events: Vec<String> = MANIFEST_TYPES
            .iter()
            .enumerate()
            .map(|(i, media_type)| event(&format!("e{i}"), "push", media_type, Some("v1")))
            .collect();
        let body = format!(r#"{{"events": [{}]}}"#, events.join(","));
        assert_eq!(pushes(run(&opts(Provider::Distribution), &body)).len(), 6);
    }

    #[test]
    fn nothing_kept_is_ignored() {
        for body in [
            r#"{"events": []}"#.to_owned(),
            format!(
                r#"{{"events": [{}]}}"#,
                event("p", "pull", MANIFEST_TYPES[0], Some("v1"))
            ),
        ] {
            assert_eq!(
                ignored(run(&opts(Provider::Distribution), &body)),
                NOTHING_KEPT
            );
        }
    }

    #[test]
    fn host_override_wins_over_request_host() {
        let mut options = opts(Provider::Distribution);
        options.registry_host = Some("registry.example.com".into());
        let pushes = pushes(run(&options, samples::DISTRIBUTION));
        assert_eq!(pushes[0].image, "registry.example.com/hello-world:latest");
        let no_request = with(samples::ACR, r#""request": {"#, r#""unused": {"#);
        assert_eq!(run(&options, &no_request).map(|_| ()).ok(), Some(()));
    }

    #[test]
    fn bad_entry_fails_whole_delivery_naming_its_index() {
        let events = [
            event("ok", "push", MANIFEST_TYPES[0], Some("v1")),
            event("bad", "push", MANIFEST_TYPES[0], Some("x;touch /tmp/p")),
        ];
        let body = format!(r#"{{"events": [{}]}}"#, events.join(","));
        let err = run(&opts(Provider::Distribution), &body).expect_err("hostile tag");
        assert!(
            err.to_string().starts_with(
                r#"distribution event: events[1].target.tag: invalid tag "x;touch /tmp/p""#
            ),
            "{err}"
        );
    }

    #[test]
    fn more_than_100_pushes_is_an_error() {
        let events: Vec<String> = (0..101)
            .map(|i| {
                event(
                    &i.to_string(),
                    "push",
                    MANIFEST_TYPES[0],
                    Some(&format!("t{i}")),
                )
            })
            .collect();
        let body = format!(r#"{{"events": [{}]}}"#, events.join(","));
        let err = run(&opts(Provider::Distribution), &body).expect_err("too many");
        assert!(
            matches!(err, EventError::TooManyPushes { max: 100, .. }),
            "{err}"
        );
    }

    #[test]
    fn hostile_values_are_rejected() {
        for value in hostile_values() {
            let quoted = serde_json::to_string(&value).expect("string");
            let fields = [
                (r#""latest""#, "events[0].target.tag"),
                (r#""hello-world""#, "events[0].target.repository"),
                (r#""192.168.100.227:5000""#, "events[0].request.host"),
                (format!("{DIGEST:?}").as_str(), "events[0].target.digest"),
            ]
            .map(|(from, path)| (from.to_owned(), path));
            for (from, path) in fields {
                let body = with(samples::DISTRIBUTION, &from, &quoted);
                let err = run(&opts(Provider::Distribution), &body).expect_err(&value);
                assert!(
                    matches!(&err, EventError::Invalid { path: p, .. } if p == path),
                    "{value:?} in {path}: {err}"
                );
            }
        }
    }
}
