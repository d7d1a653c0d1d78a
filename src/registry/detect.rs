//! Which provider sent a delivery when the hook says `auto`: forge event headers first, then
//! the payload's shape. Only looks; reading and validating is the provider's job.

use serde_json::Value;

use super::{EventError, Provider};

/// The provider of a delivery. Gitea is checked before GitHub because Gitea also sends
/// `X-GitHub-Event` for compatibility.
pub(super) fn detect(
    headers: &dyn Fn(&str) -> Option<String>,
    body: &Value,
) -> Result<Provider, EventError> {
    if headers("x-gitea-event").is_some() || headers("x-gogs-event").is_some() {
        return Ok(Provider::Gitea);
    }
    if headers("x-github-event").is_some() {
        return Ok(Provider::GitHub);
    }
    from_shape(body).ok_or(EventError::Undetectable {
        reason: "no known provider's fields at the top level; set the hook's provider",
    })
}

/// The first rule that matches the top-level fields, most specific first.
fn from_shape(body: &Value) -> Option<Provider> {
    let has = |key: &str| body.get(key).is_some_and(|v| !v.is_null());
    let has_in = |outer: &str, key: &str| {
        body.get(outer)
            .and_then(|v| v.get(key))
            .is_some_and(|v| !v.is_null())
    };
    let is_str = |key: &str| body.get(key).is_some_and(Value::is_string);
    let harbor_cloud_event = has("specversion")
        && body
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.starts_with("harbor."));
    let events = body.get("events").is_some_and(Value::is_array);
    if events && is_str("event_type") {
        // Harbor 1.10's documented shape; distribution envelopes have no `event_type`.
        Some(Provider::Harbor)
    } else if events {
        Some(Provider::Distribution)
    } else if (has("type") && has("event_data")) || harbor_cloud_event {
        Some(Provider::Harbor)
    } else if has("push_data") && has_in("repository", "region") {
        Some(Provider::Aliyun)
    } else if has("push_data") && (has_in("repository", "repo_name") || has("callback_url")) {
        Some(Provider::DockerHub)
    } else if is_str("docker_url") && (has("updated_tags") || is_str("repository")) {
        // Every Quay repository event (push, build, vulnerability, mirror) has these.
        Some(Provider::Quay)
    } else if has("action") && has("registry_package") {
        Some(Provider::GitHub)
    } else if has("action") && has("package") {
        package_forge(body)
    } else if is_str("image") || (is_str("registry") && is_str("repository")) {
        Some(Provider::Custom)
    } else if has("action") && has("target") {
        Some(Provider::Distribution)
    } else {
        None
    }
}

/// GitHub packages carry `package_type`/`ecosystem`, Gitea packages `type`.
fn package_forge(body: &Value) -> Option<Provider> {
    let package = body.get("package")?;
    if package.get("package_type").is_some() || package.get("ecosystem").is_some() {
        Some(Provider::GitHub)
    } else if package.get("type").is_some() {
        Some(Provider::Gitea)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::{self, headers, ignored, pushes, run, with, Pairs};
    use super::super::{parse, EventOptions};
    use super::*;

    fn auto(pairs: &[(&str, &str)], body: &str) -> Result<Provider, EventError> {
        let value: Value = serde_json::from_str(body).expect("test body is JSON");
        detect(&headers(pairs), &value)
    }

    #[test]
    fn detects_every_sample() {
        let docker_hub_test = with(samples::DOCKERHUB, r#", "tag": "latest""#, "");
        let cases: [(&str, Pairs<'_>, Provider); 10] = [
            (samples::DOCKERHUB, &[], Provider::DockerHub),
            (&docker_hub_test, &[], Provider::DockerHub),
            (samples::ALIYUN, &[], Provider::Aliyun),
            (samples::HARBOR, &[], Provider::Harbor),
            (samples::DISTRIBUTION, &[], Provider::Distribution),
            (samples::ACR, &[], Provider::Distribution),
            (samples::QUAY, &[], Provider::Quay),
            (samples::GITHUB, &[], Provider::GitHub),
            (samples::GITEA, &[], Provider::Gitea),
            (r#"{"image": "nginx:1"}"#, &[], Provider::Custom),
        ];
        for (body, pairs, provider) in cases {
            assert_eq!(auto(pairs, body).expect(body), provider, "{body}");
        }
    }

    #[test]
    fn headers_come_first() {
        let gitea_with_github_compat =
            [("X-Gitea-Event", "package"), ("X-GitHub-Event", "package")];
        let cases: [(Pairs<'_>, Provider); 4] = [
            (&gitea_with_github_compat, Provider::Gitea),
            (&[("x-gogs-event", "package")], Provider::Gitea),
            (&[("X-GitHub-Event", "package")], Provider::GitHub),
            (&[("X-GitHub-Event", "ping")], Provider::GitHub),
        ];
        for (pairs, provider) in cases {
            // The body looks like Quay: headers still decide.
            assert_eq!(auto(pairs, samples::QUAY).expect("detected"), provider);
        }
    }

    #[test]
    fn more_shapes() {
        let cases = [
            (
                r#"{"registry": "r.example.com", "repository": "web", "tag": "1"}"#,
                Provider::Custom,
            ),
            (
                r#"{"specversion": "1.0", "type": "harbor.artifact.pushed", "data": {}}"#,
                Provider::Harbor,
            ),
            (
                r#"{"type": "pushImage", "event_data": {}}"#,
                Provider::Harbor,
            ),
            (
                r#"{"action": "published", "registry_package": {}}"#,
                Provider::GitHub,
            ),
            (r#"{"events": []}"#, Provider::Distribution),
            (
                r#"{"event_type": "pushImage", "events": [{"full_name": "p/r", "tag": "1"}]}"#,
                Provider::Harbor,
            ),
            (
                r#"{"build_id": "b", "repository": "acme/shop", "namespace": "acme",
                   "docker_url": "quay.io/acme/shop", "docker_tags": ["latest"]}"#,
                Provider::Quay,
            ),
            (
                r#"{"action": "create", "package": {"name": "api", "ecosystem": "CONTAINER"}}"#,
                Provider::GitHub,
            ),
            (
                r#"{"id": "x", "action": "chart_push", "target": {"name": "c", "version": "1"}}"#,
                Provider::Distribution,
            ),
        ];
        for (body, provider) in cases {
            assert_eq!(auto(&[], body).expect(body), provider, "{body}");
        }
    }

    #[test]
    fn unknown_shapes_are_errors() {
        let cases = [
            samples::GITLAB_PUSH,
            samples::GOOGLE_PUBSUB,
            samples::GOOGLE_DATA,
            samples::ECR_CLOUDEVENT,
            samples::DOCKERHUB_CALLBACK,
            "{}",
            r#"{"action": "published", "package": {"name": "web"}}"#,
            r#"{"image": 5}"#,
            r#"{"push_data": {"tag": "v1"}}"#,
        ];
        for body in cases {
            let err = auto(&[], body).expect_err(body);
            assert!(
                err.to_string()
                    .starts_with("cannot detect the registry event format: "),
                "{err}"
            );
        }
    }

    #[test]
    fn auto_parses_end_to_end() {
        let auto = EventOptions::default();
        let cases = [
            (samples::DOCKERHUB, "docker.io/svendowideit/testhook:latest"),
            (
                samples::ALIYUN,
                "registry.cn-hangzhou.aliyuncs.com/namespace/repotest:latest",
            ),
            (samples::HARBOR, "hub.harbor.com/test-webhook/debian:latest"),
            (
                samples::DISTRIBUTION,
                "192.168.100.227:5000/hello-world:latest",
            ),
            (samples::ACR, "myregistry.azurecr.io/hello-world:v1"),
            (samples::QUAY, "quay.io/mynamespace/repository:latest"),
            (samples::GITHUB, "ghcr.io/team/web:3.2.1"),
            (samples::GITEA, "gitea.example.com/team/web:1.4.2"),
        ];
        for (body, image) in cases {
            let pushes = pushes(run(&auto, body));
            assert_eq!(pushes[0].image, image);
            assert_ne!(pushes[0].provider, Provider::Auto);
        }
        let test_message = with(samples::DOCKERHUB, r#", "tag": "latest""#, "");
        ignored(run(&auto, &test_message));
        let github_ping = headers(&[("X-GitHub-Event", "ping")]);
        let result = parse(
            &auto,
            &github_ping,
            br#"{"zen": "Keep it logically awesome."}"#,
        );
        ignored(result);
    }
}
