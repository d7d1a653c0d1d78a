//! hookrun's own push format for CI jobs (documented in the module above): a whole reference in
//! `image`, or `registry` + `repository` + `tag`/`digest`. Unlike registry events, a push by
//! digest alone is deployed (the CI job names what it built), and a malformed digest is an error.

use super::draft::{self, Draft};
use super::image_ref;
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

pub(super) fn read(root: &Node<'_>, opts: &EventOptions) -> Result<Delivery, EventError> {
    let digest = root.opt_string("digest")?;
    // hookrun's own format: a digest here is what the CI job pushed, never dropped or repaired.
    if let Some(digest) = &digest {
        image_ref::validate_digest(&digest.value).map_err(|problem| EventError::Invalid {
            provider: Provider::Custom,
            path: digest.path.clone(),
            problem,
        })?;
    }
    let mut draft = match root.opt_string("image")? {
        Some(image) => {
            if ["registry", "repository", "tag"]
                .iter()
                .any(|k| root.has(k))
            {
                return Err(unusable(
                    "give either image or registry and repository, not both",
                ));
            }
            from_image(image, digest)?
        }
        None => {
            let mut draft = Draft::new(root.string("registry")?, root.string("repository")?);
            draft.tag = root.opt_string("tag")?;
            draft.digest = digest;
            draft
        }
    };
    if draft.tag.is_none() && draft.digest.is_none() {
        return Err(unusable(
            "the image needs a tag or a digest (there is no implicit latest)",
        ));
    }
    draft.deploy_by_digest = true;
    draft::single(Provider::Custom, draft, opts)
}

/// A whole reference, normalised like `docker pull`; a separate `digest` must agree with one
/// inside the reference.
fn from_image(image: Sourced, digest: Option<Sourced>) -> Result<Draft, EventError> {
    let parsed =
        image_ref::parse_reference(&image.value).map_err(|problem| EventError::Invalid {
            provider: Provider::Custom,
            path: image.path.clone(),
            problem,
        })?;
    let digest = match (parsed.digest, digest) {
        (Some(inside), Some(separate)) if inside != separate.value => {
            return Err(unusable("digest differs from the digest inside image"));
        }
        (Some(inside), _) => Some(Sourced::new(inside, image.path.as_str())),
        (None, separate) => separate,
    };
    let at = |value: String| Sourced::new(value, image.path.as_str());
    let mut draft = Draft::new(at(parsed.registry), at(parsed.repository));
    draft.tag = parsed.tag.map(at);
    draft.digest = digest;
    Ok(draft)
}

fn unusable(problem: &'static str) -> EventError {
    EventError::Unusable {
        provider: Provider::Custom,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::{hostile_values, opts, pushes, run};
    use super::*;

    const DIGEST: &str = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf";

    #[test]
    fn accepted_forms() {
        let d = DIGEST;
        let cases: Vec<(String, &str, Option<&str>, Option<&str>)> = vec![
            (
                r#"{"image": "registry.example.com/team/web:1.4.2"}"#.into(),
                "registry.example.com/team/web:1.4.2",
                Some("1.4.2"),
                None,
            ),
            (
                format!(r#"{{"image": "registry.example.com/team/web@{d}"}}"#),
                "registry.example.com/team/web@sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
                None,
                Some(d),
            ),
            (
                format!(r#"{{"image": "registry.example.com/team/web:1.4.2@{d}"}}"#),
                "registry.example.com/team/web:1.4.2",
                Some("1.4.2"),
                Some(d),
            ),
            (
                format!(r#"{{"image": "registry.example.com/team/web:1.4.2", "digest": "{d}"}}"#),
                "registry.example.com/team/web:1.4.2",
                Some("1.4.2"),
                Some(d),
            ),
            (
                format!(r#"{{"image": "registry.example.com/team/web:1.4.2@{d}", "digest": "{d}"}}"#),
                "registry.example.com/team/web:1.4.2",
                Some("1.4.2"),
                Some(d),
            ),
            (
                format!(r#"{{"registry": "127.0.0.1:5000", "repository": "team/web", "tag": "v1", "digest": "{d}", "pipeline": 42}}"#),
                "127.0.0.1:5000/team/web:v1",
                Some("v1"),
                Some(d),
            ),
            (
                r#"{"image": "nginx:1.27"}"#.into(),
                "docker.io/library/nginx:1.27",
                Some("1.27"),
                None,
            ),
            (
                r#"{"image": "team/web:1"}"#.into(),
                "docker.io/team/web:1",
                Some("1"),
                None,
            ),
        ];
        for (body, image, tag, digest) in cases {
            let pushes = pushes(run(&opts(Provider::Custom), &body));
            let push = &pushes[0];
            assert_eq!(push.provider, Provider::Custom);
            assert_eq!(push.image, image, "{body}");
            assert_eq!(push.tag.as_deref(), tag, "{body}");
            assert_eq!(push.digest.as_deref(), digest, "{body}");
        }
    }

    #[test]
    fn unusable_combinations() {
        let other = format!("sha256:{}", "0".repeat(64));
        let cases = [
            r#"{"image": "r.example.com/web"}"#.to_owned(),
            r#"{"registry": "r.example.com", "repository": "web"}"#.to_owned(),
            r#"{"image": "r.example.com/web:1", "registry": "r.example.com"}"#.to_owned(),
            format!(r#"{{"image": "r.example.com/web@{DIGEST}", "digest": "{other}"}}"#),
        ];
        for body in cases {
            let err = run(&opts(Provider::Custom), &body).expect_err(&body);
            assert!(matches!(err, EventError::Unusable { .. }), "{body}: {err}");
        }
        let err = run(
            &opts(Provider::Custom),
            r#"{"repository": "web", "tag": "1"}"#,
        )
        .expect_err("no registry");
        assert_eq!(err.to_string(), "custom event: missing field registry");
    }

    #[test]
    fn registry_host_override_applies() {
        let mut options = opts(Provider::Custom);
        options.registry_host = Some("registry.internal".into());
        let pushes = pushes(run(
            &options,
            r#"{"image": "registry.example.com/team/web:1"}"#,
        ));
        assert_eq!(pushes[0].image, "registry.internal/team/web:1");
    }

    #[test]
    fn hostile_values_are_rejected() {
        for value in hostile_values() {
            let parts = [
                ("registry", value.as_str(), "team/web", "v1", None),
                ("repository", "r.example.com", value.as_str(), "v1", None),
                ("tag", "r.example.com", "team/web", value.as_str(), None),
                (
                    "digest",
                    "r.example.com",
                    "team/web",
                    "v1",
                    Some(value.as_str()),
                ),
            ];
            for (field, registry, repository, tag, digest) in parts {
                let mut body = serde_json::json!({
                    "registry": registry, "repository": repository, "tag": tag,
                });
                if let Some(digest) = digest {
                    body["digest"] = digest.into();
                }
                let err = run(&opts(Provider::Custom), &body.to_string()).expect_err(&value);
                assert!(
                    matches!(&err, EventError::Invalid { path, .. } if path == field),
                    "{value:?} in {field}: {err}"
                );
            }
            for image in [
                value.clone(),
                format!("r.example.com/{value}:v1"),
                format!("r.example.com/team/web:{value}"),
                format!("{value}/team/web:v1"),
            ] {
                let body = serde_json::json!({ "image": image }).to_string();
                let err = run(&opts(Provider::Custom), &body).expect_err(&image);
                assert!(
                    matches!(&err, EventError::Invalid { path, .. } if path == "image"),
                    "{image:?}: {err}"
                );
            }
        }
    }
}
