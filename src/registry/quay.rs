//! Quay notifications sent by the "Webhook POST" method. Every Quay repository event carries
//! `repository`, `namespace`, `name`, `docker_url` and `homepage`; only "Repository Push" adds
//! `updated_tags`, and only it is a push: one per updated tag, host and repository from
//! `docker_url` (which must name the same repository as `repository`), no digest (the values of
//! the older object form are image ids). Build, vulnerability, mirror and expiry notifications
//! deploy nothing: a successful build is followed by its own Repository Push.

use serde_json::Value;

use super::draft::{contradiction, split_host, Draft, Pushes};
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

pub(super) fn read(root: &Node<'_>, opts: &EventOptions) -> Result<Delivery, EventError> {
    let Some(updated_tags) = root.get("updated_tags") else {
        return Ok(Delivery::ignored(not_a_push(root)));
    };
    let url = root.string("docker_url")?;
    let (host, path) = split_host(&url.value);
    let repository = Sourced::new(path, url.path.as_str());
    if let Some(named) = root.opt_string("repository")? {
        if named.value != repository.value {
            return Err(contradiction(
                Provider::Quay,
                "repository",
                &repository,
                &named,
            ));
        }
    }
    let mut pushes = Pushes::new(Provider::Quay);
    for tag in updated_tags_of(&updated_tags)? {
        let mut draft = Draft::new(Sourced::new(host, url.path.as_str()), repository.clone());
        draft.tag = Some(tag);
        pushes.add(draft, opts)?;
    }
    Ok(pushes.into_delivery("quay notification has no updated tags"))
}

/// Why a notification without `updated_tags` deploys nothing, by the fields of its event.
fn not_a_push(root: &Node<'_>) -> &'static str {
    if root.has("build_id") {
        "quay build notification: the repository push notification carries the image"
    } else if root.has("vulnerability") || root.has("vulnerabilities") {
        "quay vulnerability notification is not a push"
    } else {
        "quay notification without updated_tags is not a repository push"
    }
}

/// `["latest", ...]`, or the older `{"latest": "<image id>", ...}` whose keys are the tags.
fn updated_tags_of(node: &Node<'_>) -> Result<Vec<Sourced>, EventError> {
    match node.value {
        Value::Array(_) => node
            .items()?
            .into_iter()
            .map(|item| Ok(Sourced::new(item.as_str()?, item.path)))
            .collect(),
        Value::Object(_) => Ok(node
            .keys()?
            .into_iter()
            .map(|(tag, path)| Sourced::new(tag, path))
            .collect()),
        _ => Err(node.wrong_type("an array or an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::{self, hostile_values, ignored, opts, pushes, run, with};
    use super::*;

    #[test]
    fn sample_with_tag_array() {
        let pushes = pushes(run(&opts(Provider::Quay), samples::QUAY));
        assert_eq!(pushes.len(), 1);
        let push = &pushes[0];
        assert_eq!(push.provider, Provider::Quay);
        assert_eq!(push.registry, "quay.io");
        assert_eq!(push.repository, "mynamespace/repository");
        assert_eq!(push.tag.as_deref(), Some("latest"));
        assert_eq!(push.digest, None);
        assert_eq!(push.image, "quay.io/mynamespace/repository:latest");
    }

    #[test]
    fn tag_object_and_several_tags() {
        let object = with(
            samples::QUAY,
            r#""updated_tags": [ "latest" ]"#,
            r#""updated_tags": { "latest": "b750fe79269d2ec9a3c593ef05b4332b1d1a02a62b4accb2c21d589ff2f5f2dc", "v1.2": "b750fe79269d" },
  "pushed_image_count": 2, "visibility": "private""#,
        );
        let list = pushes(run(&opts(Provider::Quay), &object));
        let images: Vec<&str> = list.iter().map(|p| p.image.as_str()).collect();
        assert_eq!(
            images,
            [
                "quay.io/mynamespace/repository:latest",
                "quay.io/mynamespace/repository:v1.2"
            ]
        );
        assert!(list.iter().all(|p| p.digest.is_none()));
        let array = with(samples::QUAY, r#"[ "latest" ]"#, r#"["latest", "v2"]"#);
        assert_eq!(pushes(run(&opts(Provider::Quay), &array)).len(), 2);
    }

    #[test]
    fn no_updated_tags_is_ignored() {
        for empty in ["[]", "{}"] {
            let body = with(samples::QUAY, r#"[ "latest" ]"#, empty);
            assert_eq!(
                ignored(run(&opts(Provider::Quay), &body)),
                "quay notification has no updated tags"
            );
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let cases = [
            (
                r#"[ "latest" ]"#,
                r#""latest""#,
                "field updated_tags must be an array or an object",
            ),
            (
                r#"[ "latest" ]"#,
                "[1]",
                "field updated_tags[0] must be a string",
            ),
        ];
        for (from, to, message) in cases {
            let body = with(samples::QUAY, from, to);
            let err = run(&opts(Provider::Quay), &body).expect_err(to);
            assert_eq!(err.to_string(), format!("quay event: {message}"));
        }
        let no_repo = with(
            samples::QUAY,
            "quay.io/mynamespace/repository\"",
            "quay.io\"",
        );
        let no_repo = with(&no_repo, r#""repository": "mynamespace/repository","#, "");
        let err = run(&opts(Provider::Quay), &no_repo).expect_err("no repository");
        assert!(err.to_string().contains("invalid repository"), "{err}");
        let other = with(
            samples::QUAY,
            "quay.io/mynamespace/repository\"",
            "quay.io/other/repo\"",
        );
        let err = run(&opts(Provider::Quay), &other).expect_err("disagree");
        assert_eq!(
            err.to_string(),
            r#"quay event: the repository is ambiguous: docker_url says "other/repo", repository says "mynamespace/repository""#
        );
    }

    #[test]
    fn hostile_values_are_rejected() {
        for value in hostile_values() {
            let quoted = serde_json::to_string(&value).expect("string");
            let in_array = with(samples::QUAY, r#""latest""#, &quoted);
            let in_object = with(
                samples::QUAY,
                r#"[ "latest" ]"#,
                &format!(r#"{{"ok": "x", {quoted}: "id"}}"#),
            );
            let url = serde_json::to_string(&format!("quay.io/{value}")).expect("string");
            let in_url = with(samples::QUAY, r#""quay.io/mynamespace/repository""#, &url);
            let host = serde_json::to_string(&format!("{value}/ns/repo")).expect("string");
            let in_host = with(samples::QUAY, r#""quay.io/mynamespace/repository""#, &host);
            for body in [in_array, in_object, in_url, in_host] {
                let err = run(&opts(Provider::Quay), &body).expect_err(&value);
                // Refused by the grammar, or earlier as disagreeing with `repository`.
                assert!(
                    matches!(
                        err,
                        EventError::Invalid { .. } | EventError::Contradiction { .. }
                    ),
                    "{value:?}: {err}"
                );
            }
        }
    }

    /// Quay's other repository events share the base fields but have no `updated_tags`.
    #[test]
    fn other_notifications_deploy_nothing() {
        let base = r#""repository": "acme/shop", "namespace": "acme", "name": "shop",
            "docker_url": "quay.example.com:8443/acme/shop",
            "homepage": "https://quay.example.com:8443/repository/acme/shop""#;
        let cases = [
            (
                r#""build_id": "b-1", "docker_tags": ["main", "latest"], "build_name": "4f2a9c1",
                "image_id": "sha256:0339f178f26ae24930e9ad32751d6839015109eabdf1c25b3b0f2abf8934f6cb",
                "manifest_digests": ["quay.example.com:8443/acme/shop@sha256:2a7af5265344cc3704d5d47c4604b1efcbd227a7a6a6ff73d6e4e08a27fd7d99"]"#,
                "quay build notification: the repository push notification carries the image",
            ),
            (
                r#""build_id": "b-2", "docker_tags": ["latest"], "error_message": "no Dockerfile""#,
                "quay build notification: the repository push notification carries the image",
            ),
            (
                r#""tags": ["latest"], "vulnerability": {"id": "CVE-2026-0001", "priority": "High"}"#,
                "quay vulnerability notification is not a push",
            ),
            (
                r#""message": "mirror of acme/shop finished""#,
                "quay notification without updated_tags is not a repository push",
            ),
        ];
        for (extra, reason) in cases {
            let body = format!("{{{base}, {extra}}}");
            assert_eq!(ignored(run(&opts(Provider::Quay), &body)), reason);
        }
        let push = format!(r#"{{{base}, "updated_tags": ["1.0"], "pruned_image_count": 0}}"#);
        let list = pushes(run(&opts(Provider::Quay), &push));
        assert_eq!(list[0].image, "quay.example.com:8443/acme/shop:1.0");
    }

    #[test]
    fn hostile_object_key_is_escaped_in_the_path() {
        let body = with(samples::QUAY, r#"[ "latest" ]"#, r#"{"a\nb": "id"}"#);
        let err = run(&opts(Provider::Quay), &body).expect_err("newline");
        assert!(
            err.to_string()
                .starts_with(r#"quay event: updated_tags["a\nb"]: invalid tag "a\nb""#),
            "{err}"
        );
    }
}
