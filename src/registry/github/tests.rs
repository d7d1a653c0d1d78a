//! GitHub package events: payloads written here after GitHub's documented and observed shapes
//! (Container registry, the retired Docker registry, 2020's `create` events), with made-up
//! owners and values.

use serde_json::{json, Value};

use super::super::samples::{self, headers, hostile_values, ignored, opts, pushes, Pairs};
use super::super::{draft, parse, Delivery, EventError, Provider};

const DIGEST: &str = "sha256:4f7c3e1b9a2d8c6e0f1a3b5c7d9e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c3d5e";
const OTHER: &str = "sha256:0b1c3d5e7f9a2b4c6d8e0f1a3b5c7d9e4f6a8b0c2d1e3f5a7b9c2d4e6f8a0b1c";
const PACKAGE: Pairs<'static> = &[
    ("X-GitHub-Event", "package"),
    ("X-GitHub-Delivery", "9d1e2c3a-5b6f-11ef-8a7b-0242ac120002"),
];
const REGISTRY_PACKAGE: Pairs<'static> = &[("X-GitHub-Event", "registry_package")];

/// A Container registry publish today: nested package name, lower-case namespace, the owner's
/// login in its own case, `registry.url` on the odd `CONTAINER.pkg.github.com` host.
fn container() -> Value {
    json!({
        "action": "published",
        "package": {
            "id": 4411,
            "name": "shop/api",
            "namespace": "acme-corp",
            "ecosystem": "CONTAINER",
            "package_type": "CONTAINER",
            "html_url": "https://github.com/acme-corp/packages/4411",
            "owner": {"login": "Acme-Corp", "type": "Organization"},
            "package_version": {
                "id": 90210,
                "version": DIGEST,
                "name": DIGEST,
                "container_metadata": {
                    "tag": {"name": "2.4.0", "digest": DIGEST},
                    "manifest": {"digest": DIGEST, "media_type": "application/vnd.oci.image.index.v1+json"}
                },
                "installation_command": "docker pull ghcr.io/acme-corp/shop/api:2.4.0",
                "package_url": "ghcr.io/acme-corp/shop/api:2.4.0"
            },
            "registry": {
                "name": "GitHub CONTAINER registry",
                "type": "CONTAINER",
                "url": "https://CONTAINER.pkg.github.com/acme-corp",
                "vendor": "GitHub Inc"
            }
        },
        "sender": {"login": "release-bot"}
    })
}

/// A `registry_package` publish from the Docker registry era: the namespace in `registry.url`
/// is owner/repository, the tag is `package_version.version`, no container metadata.
fn docker_registry() -> Value {
    json!({
        "action": "published",
        "registry_package": {
            "id": 501,
            "name": "worker",
            "package_type": "docker",
            "html_url": "https://github.com/Acme-Corp/Billing/packages/501",
            "owner": {"login": "Acme-Corp"},
            "package_version": {
                "id": 7001,
                "version": "0.9.1",
                "manifest": "{\"schemaVersion\": 2}",
                "installation_command": ""
            },
            "registry": {
                "name": "GitHub docker registry",
                "type": "docker",
                "url": "https://docker.pkg.github.com/Acme-Corp/Billing",
                "vendor": "GitHub Inc"
            }
        },
        "sender": {"login": "Acme-Corp"}
    })
}

/// A 2020 `package` event: action `create`, only `ecosystem`, no owner and no registry; the
/// namespace and the organization name the owner.
fn created_2020() -> Value {
    json!({
        "action": "create",
        "package": {
            "id": 88,
            "name": "api",
            "namespace": "acme-corp",
            "ecosystem": "CONTAINER",
            "package_version": {
                "id": 89,
                "name": DIGEST,
                "container_metadata": {
                    "tag": {"name": "3.0.0", "digest": DIGEST},
                    "manifest": {"digest": DIGEST, "uri": format!("repositories/acme-corp/api/manifests/{DIGEST}")}
                }
            }
        },
        "organization": {"login": "Acme-Corp"},
        "sender": {"login": "release-bot"}
    })
}

fn run(pairs: Pairs<'_>, body: &Value) -> Result<Delivery, EventError> {
    parse(
        &opts(Provider::GitHub),
        &headers(pairs),
        body.to_string().as_bytes(),
    )
}

fn image(pairs: Pairs<'_>, body: &Value) -> String {
    let pushes = pushes(run(pairs, body));
    assert_eq!(pushes.len(), 1);
    pushes[0].image.clone()
}

#[test]
fn container_registry_publish_with_nested_name() {
    let list = pushes(run(PACKAGE, &container()));
    assert_eq!(list.len(), 1);
    let push = &list[0];
    assert_eq!(push.provider, Provider::GitHub);
    assert_eq!(push.image, "ghcr.io/acme-corp/shop/api:2.4.0");
    assert_eq!(
        push.image_pinned,
        Some(format!("ghcr.io/acme-corp/shop/api@{DIGEST}"))
    );
    assert_eq!(
        push.delivery_id.as_deref(),
        Some("9d1e2c3a-5b6f-11ef-8a7b-0242ac120002")
    );
    assert_eq!(push.actor.as_deref(), Some("release-bot"));
    assert_eq!(
        push.media_type.as_deref(),
        Some("application/vnd.oci.image.index.v1+json")
    );
    // Without the event header the payload alone is enough.
    assert_eq!(image(&[], &container()), "ghcr.io/acme-corp/shop/api:2.4.0");
}

#[test]
fn docker_registry_image_keeps_the_repository_in_its_path() {
    for pairs in [REGISTRY_PACKAGE, &[]] {
        let list = pushes(run(pairs, &docker_registry()));
        assert_eq!(list[0].image, "ghcr.io/acme-corp/billing/worker:0.9.1");
        assert_eq!(list[0].digest, None);
    }
    // The same with the registry URL already on ghcr.io, as deliveries after the migration.
    let mut body = docker_registry();
    body["registry_package"]["registry"]["url"] = json!("https://ghcr.io/Acme-Corp/Billing");
    body["registry_package"]["package_type"] = json!("CONTAINER");
    assert_eq!(
        image(REGISTRY_PACKAGE, &body),
        "ghcr.io/acme-corp/billing/worker:0.9.1"
    );
}

#[test]
fn create_action_without_owner_uses_namespace() {
    let list = pushes(run(PACKAGE, &created_2020()));
    assert_eq!(list[0].image, "ghcr.io/acme-corp/api:3.0.0");
    assert_eq!(list[0].digest.as_deref(), Some(DIGEST));
    // The organization alone names the owner too.
    let mut body = created_2020();
    body["package"].as_object_mut().unwrap().remove("namespace");
    assert_eq!(image(PACKAGE, &body), "ghcr.io/acme-corp/api:3.0.0");
}

#[test]
fn owner_from_the_documented_sample() {
    let list = pushes(parse(
        &opts(Provider::GitHub),
        &headers(PACKAGE),
        samples::GITHUB.as_bytes(),
    ));
    // Its manifest digest is shortened with an ellipsis: dropped, the tag digest pins.
    assert_eq!(list[0].image, "ghcr.io/team/web:3.2.1");
    assert!(list[0]
        .image_pinned
        .as_deref()
        .is_some_and(|p| p.starts_with("ghcr.io/team/web@sha256:7d38")));
}

#[test]
fn untagged_versions_are_nothing_to_deploy() {
    let mut body = container();
    body["package"]["package_version"]["container_metadata"]["tag"]["name"] = json!("");
    body["package"]["package_version"]["package_url"] = json!("ghcr.io/acme-corp/shop/api:");
    assert_eq!(ignored(run(PACKAGE, &body)), draft::UNTAGGED);
    // Untagged and otherwise inconsistent (a platform manifest under a mislabelled type, a
    // commit id for a digest): still nothing to deploy, never a guess.
    body["package"]["package_type"] = json!("npm");
    body["package"]["ecosystem"] = json!("docker");
    body["package"]["package_version"]["container_metadata"]["tag"]["digest"] =
        json!("sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b");
    assert_eq!(ignored(run(PACKAGE, &body)), draft::UNTAGGED);
}

#[test]
fn non_publishes_are_ignored() {
    let mut updated = container();
    updated["action"] = json!("updated");
    let mut npm = container();
    npm["package"]["package_type"] = json!("npm");
    npm["package"]["ecosystem"] = json!("npm");
    let cases: [(Pairs<'_>, Value, &str); 4] = [
        (
            PACKAGE,
            updated,
            r#"github package event action "updated" is not a publish"#,
        ),
        (PACKAGE, npm, "github package is not a container image"),
        (
            &[("X-GitHub-Event", "ping")],
            json!({"zen": "Design for failure."}),
            "github event is not a package event",
        ),
        (
            &[("X-GitHub-Event", "push")],
            json!({}),
            "github event is not a package event",
        ),
    ];
    for (pairs, body, reason) in cases {
        assert_eq!(ignored(run(pairs, &body)), reason);
    }
}

/// Two fields that name the same thing differently: refused, naming both.
#[test]
fn disagreeing_fields_are_refused() {
    let cases: [(&str, Value, &str); 6] = [
        (
            "/package/registry/url",
            json!("https://CONTAINER.pkg.github.com/someone-else"),
            "the owner is ambiguous: package.registry.url says \"someone-else\", package.namespace says \"acme-corp\"",
        ),
        (
            "/package/owner/login",
            json!("Umbrella"),
            "the owner is ambiguous: package.registry.url says \"acme-corp\", package.owner.login says \"Umbrella\"",
        ),
        (
            "/package/package_version/package_url",
            json!("ghcr.io/acme-corp/api:2.4.0"),
            "the repository is ambiguous: package.registry.url/package.name says \"acme-corp/shop/api\", package.package_version.package_url says \"acme-corp/api\"",
        ),
        (
            "/package/package_version/package_url",
            json!("ghcr.io/acme-corp/shop/api:2.4.1"),
            "the tag is ambiguous: package.package_version.container_metadata.tag.name says \"2.4.0\", package.package_version.package_url says \"2.4.1\"",
        ),
        (
            "/package/package_version/container_metadata/manifest/digest",
            json!(OTHER),
            "the digest is ambiguous",
        ),
        (
            "/package/package_type",
            json!("npm"),
            "the package type is ambiguous: package.package_type says \"npm\", package.ecosystem says \"CONTAINER\"",
        ),
    ];
    for (pointer, value, message) in cases {
        let mut body = container();
        *body.pointer_mut(pointer).expect(pointer) = value;
        let err = run(PACKAGE, &body).expect_err(pointer);
        assert!(
            matches!(err, EventError::Contradiction { .. }),
            "{pointer}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("github event: {message}")),
            "{pointer}: {err}"
        );
    }
}

#[test]
fn docker_registry_package_without_its_repository_is_refused() {
    let mut body = docker_registry();
    body["registry_package"]
        .as_object_mut()
        .unwrap()
        .remove("registry");
    let err = run(REGISTRY_PACKAGE, &body).expect_err("no repository");
    assert!(
        err.to_string().starts_with(
            "github event: a package of GitHub's Docker registry lives under owner/repository"
        ),
        "{err}"
    );
}

#[test]
fn no_namespace_at_all_is_refused() {
    let mut body = created_2020();
    body["package"].as_object_mut().unwrap().remove("namespace");
    body.as_object_mut().unwrap().remove("organization");
    let err = run(PACKAGE, &body).expect_err("no owner");
    assert!(
        err.to_string()
            .starts_with("github event: the package names no owner"),
        "{err}"
    );
}

#[test]
fn registry_host_override() {
    let mut options = opts(Provider::GitHub);
    options.registry_host = Some("containers.ghes.example.com".into());
    let result = parse(
        &options,
        &headers(PACKAGE),
        container().to_string().as_bytes(),
    );
    assert_eq!(
        pushes(result)[0].image,
        "containers.ghes.example.com/acme-corp/shop/api:2.4.0"
    );
}

#[test]
fn hostile_values_are_rejected() {
    for value in hostile_values() {
        let fields = [
            "/package/package_version/container_metadata/tag/name",
            "/package/name",
        ];
        for pointer in fields {
            let mut body = container();
            *body.pointer_mut(pointer).expect(pointer) = json!(value);
            // package_url would disagree first; a delivery without it reaches the grammar.
            body["package"]["package_version"]
                .as_object_mut()
                .unwrap()
                .remove("package_url");
            let err = run(PACKAGE, &body).expect_err(&value);
            assert!(
                matches!(err, EventError::Invalid { .. }),
                "{value:?} in {pointer}: {err}"
            );
        }
        let mut body = docker_registry();
        body["registry_package"]["registry"]["url"] =
            json!(format!("https://ghcr.io/Acme-Corp/{value}"));
        let err = run(REGISTRY_PACKAGE, &body).expect_err(&value);
        assert!(
            matches!(err, EventError::Invalid { .. }),
            "{value:?} in registry.url: {err}"
        );
    }
}
