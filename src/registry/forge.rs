//! Forge package events: GitHub (`package`/`registry_package`, action `published`, images on
//! ghcr.io) and Gitea (`package`, action `created`, images on the Gitea host). Signatures
//! (`X-Hub-Signature-256`, `X-Gitea-Signature`) are verified by the hook before this runs.

use super::draft::{self, is_digest_like, split_host, Draft};
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

type Headers<'h> = &'h dyn Fn(&str) -> Option<String>;

/// Reads a GitHub package event: `ghcr.io/<lower(owner.login)>/<name>:<tag>@<digest>`. The owner
/// is lower-cased because ghcr.io names are lower-case while logins keep their case
/// (argocd-image-updater does the same). An untagged publish (empty tag name) is a push by
/// digest.
pub(super) fn github(
    root: &Node<'_>,
    headers: Headers<'_>,
    opts: &EventOptions,
) -> Result<Delivery, EventError> {
    let key = match headers("x-github-event").as_deref() {
        Some("package") => "package",
        Some("registry_package") => "registry_package",
        Some(_) => return Ok(Delivery::ignored("github event is not a package event")),
        None if root.has("registry_package") => "registry_package",
        None => "package",
    };
    if root.string("action")?.value != "published" {
        return Ok(Delivery::ignored("github package event is not a publish"));
    }
    let package = root.field(key)?;
    let kind = package
        .lenient_str("package_type")
        .or_else(|| package.lenient_str("ecosystem"));
    if !kind.is_some_and(|kind| kind.eq_ignore_ascii_case("container")) {
        return Ok(Delivery::ignored("github package is not a container image"));
    }
    let repository = owner_and_name(&package)?;
    let version = package.field("package_version")?;
    let metadata = version.get("container_metadata");
    let tag_node = metadata.as_ref().and_then(|m| m.get("tag"));
    let (mut tag, mut digest) = match &tag_node {
        Some(node) => (node.opt_string("name")?, node.opt_string("digest")?),
        None => (None, None),
    };
    // Legacy `registry_package` events name the tag in `version`; `package` events put the
    // digest there.
    if let Some(version_name) = version.opt_string("version")? {
        if is_digest_like(&version_name.value) {
            digest = digest.or(Some(version_name));
        } else if key == "registry_package" {
            tag = tag.or(Some(version_name));
        }
    }
    let mut draft = Draft::new(Sourced::new("ghcr.io", "registry"), repository);
    draft.tag = tag;
    draft.digest = digest;
    draft.media_type = metadata
        .and_then(|m| m.get("manifest"))
        .and_then(|manifest| manifest.lenient_str("media_type").map(str::to_owned));
    draft.delivery_id = headers("x-github-delivery");
    draft.actor = sender(root);
    draft::single(Provider::GitHub, draft, opts)
}

/// `<lower(owner.login)>/<name>`, reported at the path of the owner and name.
fn owner_and_name(package: &Node<'_>) -> Result<Sourced, EventError> {
    let owner = package.field("owner")?.string("login")?;
    let name = package.string("name")?;
    Ok(Sourced::new(
        format!("{}/{}", owner.value.to_ascii_lowercase(), name.value),
        format!("{}/{}", owner.path, name.path),
    ))
}

/// Reads a Gitea package event: `<host of html_url>/<owner>/<name>:<version>`, lower-cased as
/// Gitea's container registry serves it; no digest. A version that is a digest (an untagged
/// manifest) is a push by digest.
pub(super) fn gitea(
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
    let mut repository = owner_and_name(&package)?;
    repository.value.make_ascii_lowercase();
    let url = package.string("html_url")?;
    let (host, _) = split_host(&url.value);
    let mut draft = Draft::new(Sourced::new(host, url.path.as_str()), repository);
    let version = package.string("version")?;
    if is_digest_like(&version.value) {
        draft.digest = Some(version);
    } else {
        draft.tag = Some(version);
    }
    draft.delivery_id = headers("x-gitea-delivery").or_else(|| headers("x-gogs-delivery"));
    draft.actor = sender(root);
    draft::single(Provider::Gitea, draft, opts)
}

fn sender(root: &Node<'_>) -> Option<String> {
    root.get("sender")
        .and_then(|sender| sender.lenient_str("login").map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::super::samples::{
        self, headers, hostile_values, ignored, opts, pushes, with, Pairs,
    };
    use super::super::{parse, Delivery, EventError, Provider};

    const DIGEST: &str = "sha256:7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed";
    const GITHUB_HEADERS: Pairs<'static> = &[
        ("X-GitHub-Event", "package"),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ];
    const GITEA_HEADERS: Pairs<'static> = &[
        ("X-Gitea-Event", "package"),
        ("X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-GitHub-Event", "package"),
    ];

    fn run(provider: Provider, pairs: Pairs<'_>, body: &str) -> Result<Delivery, EventError> {
        parse(&opts(provider), &headers(pairs), body.as_bytes())
    }

    #[test]
    fn github_sample_lower_cases_owner() {
        let pushes = pushes(run(Provider::GitHub, GITHUB_HEADERS, samples::GITHUB));
        assert_eq!(pushes.len(), 1);
        let push = &pushes[0];
        assert_eq!(push.provider, Provider::GitHub);
        assert_eq!(push.registry, "ghcr.io");
        assert_eq!(push.repository, "team/web");
        assert_eq!(push.image, "ghcr.io/team/web:3.2.1");
        assert_eq!(
            push.image_pinned,
            Some(format!("ghcr.io/team/web@{DIGEST}"))
        );
        assert_eq!(
            push.delivery_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(push.actor.as_deref(), Some("ci-bot"));
        assert_eq!(
            push.media_type.as_deref(),
            Some("application/vnd.docker.distribution.manifest.v2+json")
        );
        // Without the event header the payload alone is enough.
        assert_eq!(pushes_of(run(Provider::GitHub, &[], samples::GITHUB)), 1);
    }

    fn pushes_of(result: Result<Delivery, EventError>) -> usize {
        pushes(result).len()
    }

    #[test]
    fn github_untagged_publish_is_a_push_by_digest() {
        let body = with(samples::GITHUB, r#""name": "3.2.1""#, r#""name": """#);
        let pushes = pushes(run(Provider::GitHub, GITHUB_HEADERS, &body));
        assert_eq!(pushes[0].tag, None);
        assert_eq!(pushes[0].image, format!("ghcr.io/team/web@{DIGEST}"));
    }

    #[test]
    fn github_non_pushes_are_ignored() {
        let npm = with(
            samples::GITHUB,
            r#""package_type": "CONTAINER""#,
            r#""package_type": "NPM""#,
        );
        let npm = with(&npm, r#""ecosystem": "CONTAINER""#, r#""ecosystem": "NPM""#);
        let cases: [(Pairs<'_>, String, &str); 4] = [
            (
                GITHUB_HEADERS,
                with(samples::GITHUB, "published", "updated"),
                "github package event is not a publish",
            ),
            (
                GITHUB_HEADERS,
                npm,
                "github package is not a container image",
            ),
            (
                &[("X-GitHub-Event", "ping")],
                samples::GITHUB.to_owned(),
                "github event is not a package event",
            ),
            (
                &[("X-GitHub-Event", "push")],
                "{}".to_owned(),
                "github event is not a package event",
            ),
        ];
        for (pairs, body, reason) in cases {
            assert_eq!(ignored(run(Provider::GitHub, pairs, &body)), reason);
        }
    }

    #[test]
    fn github_legacy_registry_package_names_the_tag_in_version() {
        let body = r#"{"action": "published", "registry_package": {"name": "web",
            "package_type": "CONTAINER", "owner": {"login": "Team"},
            "package_version": {"version": "1.0"}}, "sender": {"login": "ci-bot"}}"#;
        let pairs = [("X-GitHub-Event", "registry_package")];
        for pairs in [&pairs[..], &[]] {
            let pushes = pushes(run(Provider::GitHub, pairs, body));
            assert_eq!(pushes[0].image, "ghcr.io/team/web:1.0");
            assert_eq!(pushes[0].digest, None);
        }
    }

    #[test]
    fn github_registry_host_override() {
        let mut options = opts(Provider::GitHub);
        options.registry_host = Some("containers.ghes.example.com".into());
        let result = parse(
            &options,
            &headers(GITHUB_HEADERS),
            samples::GITHUB.as_bytes(),
        );
        assert_eq!(
            pushes(result)[0].image,
            "containers.ghes.example.com/team/web:3.2.1"
        );
    }

    #[test]
    fn github_hostile_values_are_rejected() {
        for value in hostile_values() {
            let quoted = serde_json::to_string(&value).expect("string");
            let fields = [
                (
                    r#""3.2.1""#,
                    "package.package_version.container_metadata.tag.name",
                ),
                (r#""web""#, "package.owner.login/package.name"),
                (r#""Team""#, "package.owner.login/package.name"),
            ];
            for (from, path) in fields {
                let body = with(samples::GITHUB, from, &quoted);
                let err = run(Provider::GitHub, GITHUB_HEADERS, &body).expect_err(&value);
                assert!(
                    matches!(&err, EventError::Invalid { path: p, .. } if p == path),
                    "{value:?} in {path}: {err}"
                );
            }
            let digest = format!(r#""digest": "{DIGEST}""#);
            let body = with(samples::GITHUB, &digest, &format!(r#""digest": {quoted}"#));
            let err = run(Provider::GitHub, GITHUB_HEADERS, &body).expect_err(&value);
            assert!(
                matches!(err, EventError::Invalid { .. }),
                "{value:?}: {err}"
            );
        }
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
    fn gitea_digest_version_is_a_push_by_digest() {
        let digest_version = format!(r#""version": "{DIGEST}""#);
        let body = with(samples::GITEA, r#""version": "1.4.2""#, &digest_version);
        let pushes = pushes(run(Provider::Gitea, GITEA_HEADERS, &body));
        assert_eq!(
            pushes[0].image,
            format!("gitea.example.com/team/web@{DIGEST}")
        );
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
