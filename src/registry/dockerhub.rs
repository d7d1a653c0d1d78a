//! Docker Hub push webhooks: `docker.io/<repo_name>:<push_data.tag>`, no digest, the
//! `callback_url` kept for the result. Docker Hub signs nothing; authenticity is the hook's job.

use super::draft::{self, Draft};
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

/// Docker Hub sends a message without a pushed tag when a webhook is created (cnrancher/
/// docker-webhook filters it the same way: no `push_data.tag`).
const TEST_DELIVERY: &str = "docker hub test delivery without a pushed tag";

pub(super) fn read(root: &Node<'_>, opts: &EventOptions) -> Result<Delivery, EventError> {
    let Some(push_data) = root.get("push_data") else {
        return Ok(Delivery::ignored(TEST_DELIVERY));
    };
    let Some(tag) = push_data.opt_string("tag")? else {
        return Ok(Delivery::ignored(TEST_DELIVERY));
    };
    let repository = repository_name(&root.field("repository")?)?;
    let mut draft = Draft::new(Sourced::new("docker.io", "registry"), repository);
    draft.tag = Some(tag);
    draft.actor = push_data.lenient_str("pusher").map(str::to_owned);
    draft.callback_url = root.opt_string("callback_url")?;
    draft::single(Provider::DockerHub, draft, opts)
}

/// `repo_name`, with official images (`nginx`, or `_/nginx` in old payloads) under `library/`
/// as `docker pull` names them.
fn repository_name(repository: &Node<'_>) -> Result<Sourced, EventError> {
    let mut name = repository.string("repo_name")?;
    if let Some(official) = name.value.strip_prefix("_/") {
        name.value = format!("library/{official}");
    } else if !name.value.contains('/') {
        name.value = format!("library/{}", name.value);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::super::samples::{
        self, assert_hostile_fields_refused, ignored, opts, pushes, run, with,
    };
    use super::*;

    #[test]
    fn sample_push() {
        let pushes = pushes(run(&opts(Provider::DockerHub), samples::DOCKERHUB));
        assert_eq!(pushes.len(), 1);
        let push = &pushes[0];
        assert_eq!(push.provider, Provider::DockerHub);
        assert_eq!(push.registry, "docker.io");
        assert_eq!(push.repository, "svendowideit/testhook");
        assert_eq!(push.tag.as_deref(), Some("latest"));
        assert_eq!(push.digest, None);
        assert_eq!(push.image, "docker.io/svendowideit/testhook:latest");
        assert_eq!(push.image_pinned, None);
        assert_eq!(push.actor.as_deref(), Some("trustedbuilder"));
        assert_eq!(
            push.callback_url.as_deref(),
            Some("https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/")
        );
    }

    #[test]
    fn official_images_get_library() {
        let cases = [
            (r#""repo_name": "nginx""#, "library/nginx"),
            (r#""repo_name": "_/nginx""#, "library/nginx"),
            (r#""repo_name": "library/nginx""#, "library/nginx"),
        ];
        for (field, expected) in cases {
            let body = with(
                samples::DOCKERHUB,
                r#""repo_name": "svendowideit/testhook""#,
                field,
            );
            let pushes = pushes(run(&opts(Provider::DockerHub), &body));
            assert_eq!(pushes[0].repository, expected, "{field}");
            assert_eq!(pushes[0].image, format!("docker.io/{expected}:latest"));
        }
    }

    #[test]
    fn test_delivery_is_ignored() {
        let no_tag = with(
            samples::DOCKERHUB,
            r#""pusher": "trustedbuilder", "tag": "latest""#,
            r#""pusher": "trustedbuilder""#,
        );
        let empty_tag = with(samples::DOCKERHUB, r#""tag": "latest""#, r#""tag": """#);
        let no_push_data = r#"{"callback_url": "https://registry.hub.docker.com/u/a/b/hook/x/", "repository": {"repo_name": "a/b"}}"#;
        for body in [no_tag.as_str(), &empty_tag, no_push_data] {
            let reason = ignored(run(&opts(Provider::DockerHub), body));
            assert_eq!(reason, TEST_DELIVERY);
        }
    }

    #[test]
    fn registry_host_override_applies() {
        let mut options = opts(Provider::DockerHub);
        options.registry_host = Some("mirror.example.com:5000".into());
        let pushes = pushes(run(&options, samples::DOCKERHUB));
        assert_eq!(
            pushes[0].image,
            "mirror.example.com:5000/svendowideit/testhook:latest"
        );
    }

    #[test]
    fn hostile_values_are_rejected() {
        let fields = [
            (r#""latest""#, "push_data.tag"),
            (r#""svendowideit/testhook""#, "repository.repo_name"),
            (
                r#""https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/""#,
                "callback_url",
            ),
        ];
        assert_hostile_fields_refused(Provider::DockerHub, samples::DOCKERHUB, &fields);
    }

    #[test]
    fn missing_and_mistyped_fields_name_their_path() {
        let no_repo = r#"{"push_data": {"tag": "v1"}, "callback_url": "https://h.example/x"}"#;
        let err = run(&opts(Provider::DockerHub), no_repo).expect_err("missing");
        assert_eq!(err.to_string(), "dockerhub event: missing field repository");
        let number_tag = with(samples::DOCKERHUB, r#""tag": "latest""#, r#""tag": 1"#);
        let err = run(&opts(Provider::DockerHub), &number_tag).expect_err("mistyped");
        assert_eq!(
            err.to_string(),
            "dockerhub event: field push_data.tag must be a string"
        );
    }
}
