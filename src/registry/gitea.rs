//! Gitea package events for container images (`X-Gitea-Event: package`, action `created`):
//! `<host of package.html_url>/<owner>/<name>:<version>`, lower-cased as Gitea's container
//! registry serves it; no digest. Gitea announces every manifest it stores, so a multi-arch
//! push also brings one event per platform whose version is that manifest's digest: those are
//! untagged and deploy nothing. The signature (`X-Gitea-Signature`) is verified by the hook.

use super::draft::{self, is_digest_like, split_host, Draft};
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

type Headers<'h> = &'h dyn Fn(&str) -> Option<String>;

pub(super) fn read(
    root: &Node<'_>,
    headers: Headers<'_>,
    opts: &EventOptions,
) -> Result<Delivery, EventError> {
    let event = headers("x-gitea-event").or_else(|| headers("x-gogs-event"));
    if event.as_deref().is_some_and(|event| event != "package") {
        return Ok(Delivery::ignored("gitea event is not a package event"));
    }
    if root.string("action")?.value != "created" {
        return Ok(Delivery::ignored("gitea package event is not a creation"));
    }
    let package = root.field("package")?;
    if package.string("type")?.value != "container" {
        return Ok(Delivery::ignored("gitea package is not a container image"));
    }
    let owner = package.field("owner")?.string("login")?;
    let name = package.string("name")?;
    let repository = Sourced::new(
        format!("{}/{}", owner.value, name.value).to_ascii_lowercase(),
        format!("{}/{}", owner.path, name.path),
    );
    let url = package.string("html_url")?;
    let (host, _) = split_host(&url.value);
    let mut draft = Draft::new(Sourced::new(host, url.path.as_str()), repository);
    let version = package.string("version")?;
    if !is_digest_like(&version.value) {
        draft.tag = Some(version);
    }
    draft.delivery_id = headers("x-gitea-delivery").or_else(|| headers("x-gogs-delivery"));
    draft.actor = root
        .get("sender")
        .and_then(|sender| sender.lenient_str("login").map(str::to_owned));
    draft::single(Provider::Gitea, draft, opts)
}

#[cfg(test)]
mod tests {
    use super::super::samples::{
        self, headers, hostile_values, ignored, opts, pushes, with, Pairs,
    };
    use super::super::{draft, parse, Delivery, EventError, Provider};

    const DIGEST: &str = "sha256:7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed";
    const GITEA_HEADERS: Pairs<'static> = &[
        ("X-Gitea-Event", "package"),
        ("X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-GitHub-Event", "package"),
    ];

    fn run(provider: Provider, pairs: Pairs<'_>, body: &str) -> Result<Delivery, EventError> {
        parse(&opts(provider), &headers(pairs), body.as_bytes())
    }

    #[test]
    fn gitea_sample() {
        let pushes = pushes(run(Provider::Gitea, GITEA_HEADERS, samples::GITEA));
        assert_eq!(pushes.len(), 1);
        let push = &pushes[0];
        assert_eq!(push.provider, Provider::Gitea);
        assert_eq!(push.registry, "gitea.example.com");
        assert_eq!(push.repository, "team/web");
        assert_eq!(push.tag.as_deref(), Some("1.4.2"));
        assert_eq!(push.digest, None);
        assert_eq!(push.image, "gitea.example.com/team/web:1.4.2");
        assert_eq!(
            push.delivery_id.as_deref(),
            Some("f6266f16-1bf3-46a5-9ea4-602e06ead473")
        );
        assert_eq!(push.actor.as_deref(), Some("ci-bot"));
    }

    #[test]
    fn gitea_lower_cases_and_keeps_port() {
        let body = with(samples::GITEA, r#""login": "team""#, r#""login": "Team""#);
        let body = with(&body, r#""name": "web""#, r#""name": "Web""#);
        let body = with(
            &body,
            "https://gitea.example.com/",
            "https://gitea.example.com:3000/",
        );
        let pushes = pushes(run(Provider::Gitea, GITEA_HEADERS, &body));
        assert_eq!(pushes[0].image, "gitea.example.com:3000/team/web:1.4.2");
    }

    #[test]
    fn gitea_platform_manifest_events_deploy_nothing() {
        let digest_version = format!(r#""version": "{DIGEST}""#);
        let body = with(samples::GITEA, r#""version": "1.4.2""#, &digest_version);
        let reason = ignored(run(Provider::Gitea, GITEA_HEADERS, &body));
        assert_eq!(reason, draft::UNTAGGED);
    }

    #[test]
    fn gitea_non_pushes_are_ignored() {
        let cases: [(Pairs<'_>, String, &str); 3] = [
            (
                GITEA_HEADERS,
                with(samples::GITEA, "created\"", "deleted\""),
                "gitea package event is not a creation",
            ),
            (
                GITEA_HEADERS,
                with(samples::GITEA, r#""type": "container""#, r#""type": "npm""#),
                "gitea package is not a container image",
            ),
            (
                &[("X-Gitea-Event", "push")],
                "{}".to_owned(),
                "gitea event is not a package event",
            ),
        ];
        for (pairs, body, reason) in cases {
            assert_eq!(ignored(run(Provider::Gitea, pairs, &body)), reason);
        }
    }

    #[test]
    fn gitea_hostile_values_are_rejected() {
        for value in hostile_values() {
            let quoted = serde_json::to_string(&value).expect("string");
            let url = serde_json::to_string(&format!("https://{value}/team")).expect("string");
            let fields = [
                (r#""1.4.2""#, quoted.as_str()),
                (r#""web""#, quoted.as_str()),
                (r#""team""#, quoted.as_str()),
                (
                    r#""https://gitea.example.com/team/-/packages/container/web/1.4.2""#,
                    url.as_str(),
                ),
            ];
            for (from, to) in fields {
                // Only the host of html_url matters: `https://a/../b/team` is host `a`, valid.
                if value == "a/../b" && to == url {
                    continue;
                }
                let body = with(samples::GITEA, from, to);
                let err = run(Provider::Gitea, GITEA_HEADERS, &body).expect_err(&value);
                assert!(
                    matches!(err, EventError::Invalid { .. }),
                    "{value:?} for {from}: {err}"
                );
            }
        }
    }
}
