//! Distribution notifications, GitLab's registry events and Azure ACR events: the documented samples and payloads written here.

use super::super::samples::{self, hostile_values, ignored, opts, pushes, run, with};
use super::*;

const DIGEST: &str = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf";
const ACR_DIGEST: &str = "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d";

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
        .map(|(i, media_type)| event(&format!("e{i}"), "push", media_type, Some(&format!("v{i}"))))
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
        ]
        .map(|(from, path)| (from.to_owned(), path));
        for (from, path) in fields {
            let body = with(samples::DISTRIBUTION, &from, &quoted);
            // The sample's manifest URL names the repository too: without it, the value
            // reaches the grammar; with it, the two fields disagree first.
            let body_without_url = with(&body, r#""url": "#, r#""unused": "#);
            let err = run(&opts(Provider::Distribution), &body_without_url).expect_err(&value);
            assert!(
                matches!(&err, EventError::Invalid { path: p, .. } if p == path),
                "{value:?} in {path}: {err}"
            );
            let err = run(&opts(Provider::Distribution), &body).expect_err(&value);
            assert!(
                matches!(
                    err,
                    EventError::Invalid { .. } | EventError::Contradiction { .. }
                ),
                "{value:?} in {path}: {err}"
            );
        }
        // A digest is only a pin: a malformed one is dropped and the tag deployed.
        let body = with(samples::DISTRIBUTION, &format!("{DIGEST:?}"), &quoted);
        let pushes = pushes(run(&opts(Provider::Distribution), &body));
        assert_eq!(pushes[0].image, "192.168.100.227:5000/hello-world:latest");
        assert_eq!(pushes[0].image_pinned, None, "{value:?}");
    }
}

/// GitLab's registry notifies with the tag and repository only: no media type, no digest,
/// no request (GitLab's own API tests post exactly this, beside a delete of the same tag).
#[test]
fn gitlab_style_events_without_media_type() {
    let body = r#"{"events": [
        {"action": "push", "target": {"tag": "1.8.0", "repository": "platform/billing-api"}},
        {"action": "push", "target": {"repository": "platform/billing-api", "digest": "sha256:ab"}},
        {"action": "delete", "target": {"tag": "1.8.0", "repository": "platform/billing-api"}}
    ]}"#;
    let err = run(&opts(Provider::Distribution), body).expect_err("no host");
    assert_eq!(
        err.to_string(),
        "distribution event: events[0].request.host: the payload does not name the registry host; set the hook's registry-host option"
    );
    let mut options = opts(Provider::Distribution);
    options.registry_host = Some("registry.gitlab.example.com".into());
    let list = pushes(run(&options, body));
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].image,
        "registry.gitlab.example.com/platform/billing-api:1.8.0"
    );
    assert_eq!(
        (list[0].digest.as_deref(), list[0].media_type.as_deref()),
        (None, None)
    );
}

/// Registries before 2.4 put the tag only in the manifest URL.
fn url_event(url: &str, tag: Option<&str>) -> String {
    let tag = tag.map_or(String::new(), |tag| format!(r#", "tag": "{tag}""#));
    format!(
        r#"{{"events": [{{"id": "e1", "action": "push", "target": {{
        "mediaType": "{}", "digest": "{DIGEST}", "repository": "team/web",
        "url": "{url}"{tag}}}, "request": {{"host": "registry.local:5000"}}}}]}}"#,
        MANIFEST_TYPES[0]
    )
}

#[test]
fn tag_from_the_manifest_url() {
    let url = "https://registry.local:5000/v2/team/web/manifests/v7";
    let list = pushes(run(&opts(Provider::Distribution), &url_event(url, None)));
    assert_eq!(list[0].image, "registry.local:5000/team/web:v7");
    assert_eq!(list[0].digest.as_deref(), Some(DIGEST));
    // The same tag in both places, or a digest URL beside the tag field, is fine.
    let agree = pushes(run(
        &opts(Provider::Distribution),
        &url_event(url, Some("v7")),
    ));
    assert_eq!(agree[0].image, "registry.local:5000/team/web:v7");
    let by_digest = format!("http://registry.local:5000/v2/team/web/manifests/{DIGEST}");
    let tagged = pushes(run(
        &opts(Provider::Distribution),
        &url_event(&by_digest, Some("v8")),
    ));
    assert_eq!(tagged[0].image, "registry.local:5000/team/web:v8");
    // A URL of another shape says nothing.
    let blob = format!("http://registry.local:5000/v2/team/web/blobs/{DIGEST}");
    let untagged = run(&opts(Provider::Distribution), &url_event(&blob, None));
    assert_eq!(ignored(untagged), draft::UNTAGGED);
}

#[test]
fn manifest_url_that_disagrees_is_refused() {
    let cases = [
        (
            url_event("http://r/v2/team/web/manifests/v7", Some("v8")),
            r#"distribution event: the tag is ambiguous: events[0].target.tag says "v8", events[0].target.url says "v7""#,
        ),
        (
            url_event("http://r/v2/team/other/manifests/v7", None),
            r#"distribution event: the repository is ambiguous: events[0].target.repository says "team/web", events[0].target.url says "team/other""#,
        ),
    ];
    for (body, message) in cases {
        let err = run(&opts(Provider::Distribution), &body).expect_err(message);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn untagged_manifest_pushes_and_duplicates() {
    let manifest = MANIFEST_TYPES[3];
    let untagged = format!(r#"{{"events": [{}]}}"#, event("i", "push", manifest, None));
    assert_eq!(
        ignored(run(&opts(Provider::Distribution), &untagged)),
        draft::UNTAGGED
    );
    let twice = format!(
        r#"{{"events": [{}, {}]}}"#,
        event("a", "push", manifest, Some("v1")),
        event("b", "push", manifest, Some("v1"))
    );
    let list = pushes(run(&opts(Provider::Distribution), &twice));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].delivery_id.as_deref(), Some("a"));
}

#[test]
fn manifest_reference_shapes() {
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        (
            "http://h:5000/v2/a/b/manifests/latest",
            Some(("a/b", "latest")),
        ),
        (
            "https://h/v2/lib/x/manifests/sha256:00?ns=docker.io",
            Some(("lib/x", "sha256:00")),
        ),
        ("h/v2/x/manifests/", None),
        ("h/v2/x/blobs/sha256:00", None),
        ("h/x/manifests/latest", None),
        ("http://h/v2//manifests/latest", None),
    ];
    for (url, expected) in cases {
        assert_eq!(manifest_reference(url), *expected, "{url}");
    }
}
