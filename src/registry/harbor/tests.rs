//! Harbor's default, CloudEvents and documented 1.10 formats: the documented samples and payloads written here.

use super::super::draft::UNTAGGED;
use super::super::samples::{self, hostile_values, ignored, opts, pushes, run, with};
use super::*;

const DIGEST: &str = "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8";
const REPLICATED: &str = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";

/// A default-format push of one resource.
fn push_of(tag: &str, url: &str, digest: &str) -> String {
    format!(
        r#"{{"type": "PUSH_ARTIFACT", "occur_at": 1714557600, "operator": "ci-robot",
        "event_data": {{"resources": [{{"digest": "{digest}", "tag": "{tag}",
          "resource_url": "{url}"}}],
          "repository": {{"name": "web", "namespace": "team", "repo_full_name": "team/web",
          "repo_type": "private"}}}}}}"#
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

/// The shape of Harbor 1.10's documentation (values made up).
fn documented(event_type: &str, full_name: &str) -> String {
    format!(
        r#"{{"event_type": "{event_type}", "events": [{{"project": "team",
        "repo_name": "web", "tag": "1.2.0", "full_name": "{full_name}",
        "trigger_time": 1714557600, "image_id": "5d1c0ae8a3b2f1e4c9d7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5",
        "project_type": "Private"}}]}}"#
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
fn pushes_by_digest_deploy_nothing() {
    let at = format!("localhost/team/web@{REPLICATED}");
    let colon = format!("harbor.example.com/team/web:{REPLICATED}");
    for url in [at, colon] {
        let body = push_of(REPLICATED, &url, REPLICATED);
        assert_eq!(
            ignored(run(&opts(Provider::Harbor), &body)),
            UNTAGGED,
            "{url}"
        );
    }
}

#[test]
fn push_types_and_other_types() {
    let v1 = with(samples::HARBOR, "PUSH_ARTIFACT", "pushImage");
    assert_eq!(pushes(run(&opts(Provider::Harbor), &v1)).len(), 1);
    for kind in ["PULL_ARTIFACT", "DELETE_ARTIFACT", "SCANNING_COMPLETED"] {
        let body = with(samples::HARBOR, "PUSH_ARTIFACT", kind);
        let reason = ignored(run(&opts(Provider::Harbor), &body));
        assert_eq!(
            reason,
            format!("harbor event \"{kind}\" is not an artifact push")
        );
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
fn documented_1_10_shape_needs_the_registry_host() {
    let body = documented("pushImage", "team/web");
    let err = run(&opts(Provider::Harbor), &body).expect_err("no host");
    assert_eq!(
        err.to_string(),
        "harbor event: events[0]: the payload does not name the registry host; set the hook's registry-host option"
    );
    let mut options = opts(Provider::Harbor);
    options.registry_host = Some("harbor.example.com".into());
    let list = pushes(run(&options, &body));
    assert_eq!(list[0].image, "harbor.example.com/team/web:1.2.0");
    assert_eq!(list[0].digest, None);
    for kind in [
        "pullImage",
        "deleteImage",
        "uploadChart",
        "scanningCompleted",
    ] {
        let reason = ignored(run(&options, &documented(kind, "team/web")));
        assert_eq!(
            reason,
            format!("harbor event \"{kind}\" is not an artifact push")
        );
    }
    let err = run(&options, &documented("pushImage", "team/api")).expect_err("mismatch");
    assert_eq!(
        err.to_string(),
        r#"harbor event: the repository is ambiguous: events[0].full_name says "team/api", events[0].project/events[0].repo_name says "team/web""#
    );
}

#[test]
fn disagreeing_fields_are_refused() {
    let cases = [
        (
            push_of("v1", "h.example.com/team/web:v2", DIGEST),
            r#"the tag is ambiguous: event_data.resources[0].tag says "v1", event_data.resources[0].resource_url says "v2""#,
        ),
        (
            push_of("v1", "h.example.com/team/api:v1", DIGEST),
            r#"the repository is ambiguous: event_data.resources[0].resource_url says "team/api", event_data.repository.repo_full_name says "team/web""#,
        ),
        (
            push_of(
                "v1",
                &format!("h.example.com/team/web@{REPLICATED}"),
                DIGEST,
            ),
            "the digest is ambiguous",
        ),
    ];
    for (body, message) in cases {
        let err = run(&opts(Provider::Harbor), &body).expect_err(message);
        assert!(
            err.to_string()
                .starts_with(&format!("harbor event: {message}")),
            "{err}"
        );
    }
}

#[test]
fn one_push_per_resource_and_bad_entry_fails_delivery() {
    let second = format!(
        r#""resources": [{{"digest": "{REPLICATED}", "tag": "stable", "resource_url": "hub.harbor.com/test-webhook/debian:stable"}}, {{"#
    );
    let body = with(
        samples::HARBOR,
        r#""resources": [
      {"#,
        &second,
    );
    let list = pushes(run(&opts(Provider::Harbor), &body));
    let tags: Vec<_> = list.iter().map(|p| p.tag.as_deref()).collect();
    assert_eq!(tags, [Some("stable"), Some("latest")]);
    let bad = with(&body, r#""tag": "stable""#, r#""tag": "$(id)""#);
    let bad = with(&bad, "debian:stable", "debian:$(id)");
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
        let bodies = [
            push_of("v1", &format!("{value}/team/web:v1"), DIGEST),
            push_of(&value, &format!("h.example.com/team/web:{value}"), DIGEST),
            push_of("v1", &format!("h.example.com/{value}:v1"), DIGEST)
                .replace(r#""repo_full_name": "team/web","#, ""),
        ];
        for body in bodies {
            let Ok(body) = serde_json::from_str::<serde_json::Value>(&body) else {
                continue; // a value that breaks the JSON text: nothing to test
            };
            let err = run(&opts(Provider::Harbor), &body.to_string()).expect_err(&value);
            // Refused by the grammar, or earlier as disagreeing with repo_full_name.
            assert!(
                matches!(
                    err,
                    EventError::Invalid { .. } | EventError::Contradiction { .. }
                ),
                "{value:?}: {err}"
            );
        }
        // The digest only pins: a malformed one is dropped, the tag deployed.
        let escaped = serde_json::to_string(&value).expect("string");
        let body = push_of("v1", "h.example.com/team/web:v1", "D").replace(r#""D""#, &escaped);
        let list = pushes(run(&opts(Provider::Harbor), &body));
        assert_eq!(
            (list[0].image.as_str(), list[0].digest.as_deref()),
            ("h.example.com/team/web:v1", None)
        );
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

#[test]
fn resource_url_shapes() {
    let d = REPLICATED;
    let cases = [
        ("p/r:v1".to_owned(), ("p/r", Some("v1"), None)),
        (format!("p/r@{d}"), ("p/r", None, Some(d))),
        (format!("p/r:{d}"), ("p/r", None, Some(d))),
        ("p/r".to_owned(), ("p/r", None, None)),
        ("p/sub/r:1.0".to_owned(), ("p/sub/r", Some("1.0"), None)),
    ];
    for (rest, expected) in &cases {
        assert_eq!(split_resource(rest), *expected, "{rest}");
    }
}
