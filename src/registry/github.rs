//! GitHub package events for container images: `package` (action `published`, or `create` in
//! 2020's deliveries) and the older `registry_package`. Signatures (`X-Hub-Signature-256`) are
//! verified by the hook before this runs.
//!
//! The image is `ghcr.io/<namespace>/<name>:<tag>`. The namespace is the path of
//! `package.registry.url` (the owner for Container registry packages; `owner/repository` for
//! images of the retired Docker registry, which GitHub moved to `ghcr.io/owner/repository/name`),
//! else `package.namespace`, else the owner's login; it is lower-cased like every ghcr.io name.
//! Every other field that names the owner, the repository, the tag or the digest must agree
//! with it, or the delivery is refused as ambiguous.

use super::draft::{self, agreed, is_digest_like, split_host, usable_digest, Draft};
use super::image_ref::{self, split_reference};
use super::json::{Node, Sourced};
use super::{Delivery, EventError, EventOptions, Provider};

type Headers<'h> = &'h dyn Fn(&str) -> Option<String>;

/// Actions that announce a new version: `published` today, `create` in the 2020 package events.
const PUBLISH_ACTIONS: [&str; 2] = ["published", "create"];
/// GitHub's container registry; GitHub Enterprise Server users set `registry-host`.
const GHCR: &str = "ghcr.io";

pub(super) fn read(
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
    let action = root.string("action")?;
    if !PUBLISH_ACTIONS.contains(&action.value.as_str()) {
        let shown = image_ref::shown(&action.value);
        return Ok(Delivery::ignored(format!(
            "github package event action {shown} is not a publish"
        )));
    }
    let package = root.field(key)?;
    let kinds = package_kinds(&package)?;
    if !kinds.iter().any(|kind| is_container(&kind.value)) {
        return Ok(Delivery::ignored("github package is not a container image"));
    }
    let version = package.field("package_version")?;
    let url = PackageUrl::read(&version)?;
    let Some(tag) = tag(&version, &url)? else {
        return Ok(Delivery::ignored(draft::UNTAGGED));
    };
    agreed(Provider::GitHub, "package type", kinds.clone(), |a, b| {
        is_container(a) == is_container(b)
    })?;
    let docker_registry = kinds
        .iter()
        .all(|kind| kind.value.eq_ignore_ascii_case("docker"));
    let mut draft = Draft::new(
        Sourced::new(GHCR, "registry"),
        repository(root, &package, &url, docker_registry)?,
    );
    draft.tag = Some(tag);
    draft.digest = digest(&version, &url)?;
    let metadata = version.get("container_metadata");
    draft.media_type = metadata
        .and_then(|m| m.get("manifest"))
        .and_then(|manifest| manifest.lenient_str("media_type").map(str::to_owned));
    draft.delivery_id = headers("x-github-delivery");
    draft.actor = root
        .get("sender")
        .and_then(|sender| sender.lenient_str("login").map(str::to_owned));
    draft::single(Provider::GitHub, draft, opts)
}

/// `package_type` and `ecosystem`, those present.
fn package_kinds(package: &Node<'_>) -> Result<Vec<Sourced>, EventError> {
    let mut kinds = Vec::new();
    for key in ["package_type", "ecosystem"] {
        kinds.extend(package.opt_string(key)?);
    }
    Ok(kinds)
}

/// `container` (ghcr.io) and `docker` (the retired Docker registry, migrated to ghcr.io).
fn is_container(kind: &str) -> bool {
    kind.eq_ignore_ascii_case("container") || kind.eq_ignore_ascii_case("docker")
}

/// `package_version.package_url` (`ghcr.io/owner/name:tag`) split into its parts, when present.
struct PackageUrl {
    path: String,
    repository: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
}

impl PackageUrl {
    fn read(version: &Node<'_>) -> Result<Option<Self>, EventError> {
        let Some(url) = version.opt_string("package_url")? else {
            return Ok(None);
        };
        let (_, rest) = split_host(&url.value);
        let (name, tag, digest) = split_reference(rest);
        let present = |part: &str| (!part.is_empty()).then(|| part.to_owned());
        Ok(Some(Self {
            repository: present(name),
            tag: tag.and_then(present),
            digest: digest.and_then(present),
            path: url.path,
        }))
    }

    fn part(url: &Option<Self>, part: impl Fn(&Self) -> &Option<String>) -> Option<Sourced> {
        let url = url.as_ref()?;
        part(url)
            .as_ref()
            .map(|value| Sourced::new(value.as_str(), url.path.as_str()))
    }
}

/// The tag: `container_metadata.tag.name`, the legacy `package_version.version` when it is not
/// a digest, and the tag of `package_url`, which must all agree. `None`: an untagged version.
fn tag(version: &Node<'_>, url: &Option<PackageUrl>) -> Result<Option<Sourced>, EventError> {
    let mut candidates = Vec::new();
    let metadata_tag = version
        .get("container_metadata")
        .and_then(|metadata| metadata.get("tag"));
    if let Some(tag) = metadata_tag {
        candidates.extend(tag.opt_string("name")?);
    }
    candidates.extend(
        version
            .opt_string("version")?
            .filter(|version| !is_digest_like(&version.value)),
    );
    candidates.extend(PackageUrl::part(url, |url| &url.tag).filter(|t| !is_digest_like(&t.value)));
    agreed(Provider::GitHub, "tag", candidates, |a, b| a == b)
}

/// `<lower(namespace)>/<name>`, the namespace from `registry.url`, `namespace` or the owner.
/// An image of the Docker registry lives under owner/repository: a namespace without the
/// repository cannot name it.
fn repository(
    root: &Node<'_>,
    package: &Node<'_>,
    url: &Option<PackageUrl>,
    docker_registry: bool,
) -> Result<Sourced, EventError> {
    let name = package.string("name")?;
    let registry_path = match package.get("registry") {
        Some(registry) => registry.opt_string("url")?.and_then(|url| {
            let path = split_host(&url.value).1.trim_matches('/');
            (!path.is_empty()).then(|| Sourced::new(path, url.path.as_str()))
        }),
        None => None,
    };
    let namespace = package.opt_string("namespace")?;
    let owner = match package.get("owner") {
        Some(owner) => Some(owner.string("login")?),
        None => root
            .get("organization")
            .and_then(|org| {
                org.lenient_str("login")
                    .map(|login| (org.path_of("login"), login))
            })
            .map(|(path, login)| Sourced::new(login, path)),
    };
    let Some(path) = registry_path
        .clone()
        .or(namespace.clone())
        .or(owner.clone())
    else {
        return Err(EventError::Unusable {
            provider: Provider::GitHub,
            problem: "the package names no owner (package.registry.url, package.namespace or package.owner.login)",
        });
    };
    let first = |field: Sourced| {
        let owner = field.value.split('/').next().unwrap_or_default().to_owned();
        Sourced::new(owner, field.path)
    };
    let owners = [registry_path, namespace, owner]
        .into_iter()
        .flatten()
        .map(first)
        .collect();
    agreed(Provider::GitHub, "owner", owners, str::eq_ignore_ascii_case)?;
    if docker_registry && !path.value.contains('/') {
        return Err(EventError::Unusable {
            provider: Provider::GitHub,
            problem: "a package of GitHub's Docker registry lives under owner/repository, and package.registry.url does not name the repository",
        });
    }
    let repository = Sourced::new(
        format!("{}/{}", path.value.to_ascii_lowercase(), name.value),
        format!("{}/{}", path.path, name.path),
    );
    let in_url = PackageUrl::part(url, |url| &url.repository);
    let names = [Some(repository.clone()), in_url].into_iter().flatten();
    agreed(
        Provider::GitHub,
        "repository",
        names.collect(),
        str::eq_ignore_ascii_case,
    )?;
    Ok(repository)
}

/// The manifest digest: every field that holds one (`container_metadata.tag.digest`,
/// `container_metadata.manifest.digest`, a digest in `version` or `name`, `package_url`'s)
/// must agree; malformed ones are dropped.
fn digest(version: &Node<'_>, url: &Option<PackageUrl>) -> Result<Option<Sourced>, EventError> {
    let mut fields = Vec::new();
    if let Some(metadata) = version.get("container_metadata") {
        for key in ["tag", "manifest"] {
            if let Some(node) = metadata.get(key) {
                fields.extend(node.opt_string("digest")?);
            }
        }
    }
    for key in ["version", "name"] {
        fields.extend(
            version
                .opt_string(key)?
                .filter(|value| is_digest_like(&value.value)),
        );
    }
    fields.extend(PackageUrl::part(url, |url| &url.digest));
    let valid = fields
        .into_iter()
        .filter_map(|field| usable_digest(Provider::GitHub, field))
        .collect();
    agreed(Provider::GitHub, "digest", valid, |a, b| a == b)
}

#[cfg(test)]
mod tests;
