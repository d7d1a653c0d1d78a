//! Registry and forge push events: turns one webhook delivery into normalised, validated image
//! pushes. Knows no HTTP: the caller passes a header lookup and the raw body. The per-hook
//! options (`EventOptions`, `Provider`, `AliyunNetwork`) belong to `config::registry_event`
//! and are re-exported here.
//!
//! # Theory of operation
//! [`parse`] reads the body as JSON once, takes the configured provider or detects it (headers
//! first, then the payload's shape: `detect`), and hands the tree to that provider's reader. A
//! reader only reads: it returns drafts (values plus the JSON path they came from) and checks
//! that every field naming the same thing agrees (a GitHub `registry.url` against
//! `package.namespace`, a distribution `target.url` against `target.repository`, a Harbor
//! `resource_url` against its `tag`); two fields that disagree are an error naming both, never
//! a choice. `draft` then puts every registry, repository, tag and digest through the
//! image-reference grammar before anything becomes an [`ImagePush`], so a command never sees
//! `x;touch /tmp/p`, `--help` or a newline as an image. One bad value fails the whole delivery
//! (never a partial deploy), and the error names the JSON path (`events[2].target.tag`) and
//! shows the value escaped and cut to 64 characters.
//!
//! What is deployed, and what is not:
//! - Only tagged pushes, except in the custom format. A push by digest alone is one platform
//!   of a multi-arch image, an attestation or a replica far more often than a release (buildx,
//!   Harbor, GitHub and Gitea all announce each of those), so it is [`Delivery::Ignored`].
//! - A digest that does not fit the digest grammar (a truncated or redacted value) is not used
//!   and the push is deployed by its tag without a pin, as for senders that never send one; the
//!   log says which field was dropped. Two well-formed digests that disagree are an error.
//! - A valid delivery that carries no image push (Docker Hub's test message, a pull, a delete,
//!   a blob push, a build notification, a non-container package) is [`Delivery::Ignored`] with
//!   a short reason that is safe to show to the sender: registries retry non-2xx answers.
//! - One delivery yields at most 100 pushes; the same image twice in one delivery is one push.
//!
//! Normalisation: Docker Hub names without a namespace get `library/`; Aliyun repositories, GitHub
//! namespaces and Gitea owner/name are lower-cased (see each module); nothing else is changed —
//! other values with upper-case letters in a repository are rejected, as registries reject them.
//!
//! # Layout
//! - `image_ref`: the reference grammar (host, repository, tag, digest); `image_ref/reference`:
//!   `ImageRef` and `parse_reference`.
//! - `json`: path-tracking access to the payload.
//! - `draft`: validation of what a provider read, the host override, the untagged and digest
//!   rules, agreement between fields, the push limit.
//! - `detect`: which provider sent an `Auto` delivery.
//! - `dockerhub`, `aliyun`, `harbor`, `distribution` (also GitLab's registry and Azure ACR),
//!   `quay`, `github`, `gitea`, `custom`: one reader per payload format.
//!
//! # Custom JSON format (for CI jobs)
//! A CI job that pushed an image posts one of these (unknown fields are ignored):
//! ```json
//! {"image": "registry.example.com/team/web:1.4.2"}
//! {"image": "registry.example.com/team/web@sha256:<64 hex>"}
//! {"image": "registry.example.com/team/web:1.4.2@sha256:<64 hex>"}
//! {"image": "registry.example.com/team/web:1.4.2", "digest": "sha256:<64 hex>"}
//! {"registry": "registry.example.com", "repository": "team/web", "tag": "1.4.2", "digest": "sha256:<64 hex>"}
//! ```
//! `image` is read like `docker pull` reads a reference: without a host (`team/web:1`) it is on
//! `docker.io`, and a single-component name there gets `library/` (`nginx:1.27` is
//! `docker.io/library/nginx:1.27`). In the second form `registry` and `repository` are required,
//! `tag` and `digest` optional. Either form needs a tag or a digest (there is no implicit
//! `latest`); `image` cannot be combined with `registry`, `repository` or `tag`; a `digest`
//! field that contradicts the digest inside `image` is an error. The hook's `registry-host`
//! option replaces the host in both forms.

pub mod image_ref;

mod aliyun;
mod custom;
mod detect;
mod distribution;
mod dockerhub;
mod draft;
mod gitea;
mod github;
mod harbor;
mod json;
mod quay;
#[cfg(test)]
mod samples;

use serde::Serialize;
use serde_json::Value;

pub use crate::config::registry_event::{
    AliyunNetwork, BadHostOption, EventOptions, Provider, UnknownName,
};
pub use image_ref::{ImageRef, RefError};

/// One normalised image push; every field already validated against the image-reference
/// grammar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImagePush {
    /// The detected provider when `Auto` was configured.
    pub provider: Provider,
    /// e.g. "registry.cn-hangzhou.aliyuncs.com", "docker.io", "127.0.0.1:5000"
    pub registry: String,
    /// e.g. "namespace/repotest"
    pub repository: String,
    pub tag: Option<String>,
    /// "sha256:<64 hex>" (or sha512)
    pub digest: Option<String>,
    /// `registry/repository:tag`, or `registry/repository@digest` when there is no tag.
    pub image: String,
    /// `registry/repository@digest` when the digest is known.
    pub image_pinned: Option<String>,
    /// Informational values: this one and the next two are kept only when made of
    /// `[A-Za-z0-9._@:+=/-]` (at most 128 characters); odd values are dropped, never passed on.
    pub delivery_id: Option<String>,
    pub actor: Option<String>,
    pub media_type: Option<String>,
    /// Docker Hub's `callback_url`, validated as an `https://host[:port]/…` URL.
    pub callback_url: Option<String>,
}

impl ImagePush {
    /// Normalised values by name for the `{"source":"event","name":...}` parameter source:
    /// "registry", "repository", "tag", "digest", "image", "image_pinned", "provider",
    /// "delivery_id", "actor", "media_type", "callback_url".
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "registry" => Some(&self.registry),
            "repository" => Some(&self.repository),
            "tag" => self.tag.as_deref(),
            "digest" => self.digest.as_deref(),
            "image" => Some(&self.image),
            "image_pinned" => self.image_pinned.as_deref(),
            "provider" => Some(self.provider.as_str()),
            "delivery_id" => self.delivery_id.as_deref(),
            "actor" => self.actor.as_deref(),
            "media_type" => self.media_type.as_deref(),
            "callback_url" => self.callback_url.as_deref(),
            _ => None,
        }
    }

    /// The environment for commands; unset and empty values are left out.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let vars = [
            ("HOOKRUN_REGISTRY", Some(&self.registry)),
            ("HOOKRUN_REPOSITORY", Some(&self.repository)),
            ("HOOKRUN_TAG", self.tag.as_ref()),
            ("HOOKRUN_DIGEST", self.digest.as_ref()),
            ("HOOKRUN_IMAGE", Some(&self.image)),
            ("HOOKRUN_IMAGE_PINNED", self.image_pinned.as_ref()),
        ];
        let mut env: Vec<(&'static str, String)> = vars
            .into_iter()
            .filter_map(|(name, value)| value.filter(|v| !v.is_empty()).map(|v| (name, v.clone())))
            .collect();
        env.push(("HOOKRUN_EVENT_PROVIDER", self.provider.as_str().to_owned()));
        env
    }
}

/// What a delivery amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// At least one image push (at most 100).
    Pushes(Vec<ImagePush>),
    /// A valid delivery with no image push; `reason` is a short lower-case sentence safe to show
    /// to the sender.
    Ignored { reason: String },
}

impl Delivery {
    pub(crate) fn ignored(reason: impl Into<String>) -> Self {
        Delivery::Ignored {
            reason: reason.into(),
        }
    }
}

/// Why a delivery could not be read. Values from the payload appear only escaped and cut to 64
/// characters (inside `RefError`, or shown by `Contradiction`); paths are built from fixed field
/// names and indexes, and object keys from the payload are quoted escaped.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("malformed JSON body: {error}")]
    Json { error: serde_json::Error },
    #[error("event body is not a JSON object")]
    NotAnObject,
    #[error("cannot detect the registry event format: {reason}")]
    Undetectable { reason: &'static str },
    #[error("{provider} event: missing field {path}")]
    Missing { provider: Provider, path: String },
    #[error("{provider} event: field {path} must be {expected}")]
    WrongType {
        provider: Provider,
        path: String,
        expected: &'static str,
    },
    #[error("{provider} event: {path}: {problem}")]
    Invalid {
        provider: Provider,
        path: String,
        problem: RefError,
    },
    #[error(
        "{provider} event: the {what} is ambiguous: {first_path} says {first_value}, {second_path} says {second_value}"
    )]
    Contradiction {
        provider: Provider,
        /// What the two fields name: "tag", "repository", "owner", ...
        what: &'static str,
        first_path: String,
        /// Escaped and cut like every shown value.
        first_value: String,
        second_path: String,
        second_value: String,
    },
    #[error(
        "{provider} event: {path}: the payload does not name the registry host; set the hook's registry-host option"
    )]
    NoHost { provider: Provider, path: String },
    #[error("{provider} event: {problem}")]
    Unusable {
        provider: Provider,
        problem: &'static str,
    },
    #[error("{provider} event: more than {max} image pushes in one delivery")]
    TooManyPushes { provider: Provider, max: usize },
    #[error("{0}")]
    BadOption(BadHostOption),
}

/// Reads one delivery. `headers` looks a request header up by name, case-insensitively.
pub fn parse(
    opts: &EventOptions,
    headers: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<Delivery, EventError> {
    opts.validate().map_err(EventError::BadOption)?;
    let value: Value = serde_json::from_slice(body).map_err(|error| EventError::Json { error })?;
    if !value.is_object() {
        return Err(EventError::NotAnObject);
    }
    let provider = match opts.provider {
        Provider::Auto => detect::detect(headers, &value)?,
        configured => configured,
    };
    let root = json::Node::root(provider, &value);
    match provider {
        Provider::DockerHub => dockerhub::read(&root, opts),
        Provider::Aliyun => aliyun::read(&root, opts),
        Provider::Harbor => harbor::read(&root, opts),
        Provider::Distribution => distribution::read(&root, opts),
        Provider::Quay => quay::read(&root, opts),
        Provider::GitHub => github::read(&root, headers, opts),
        Provider::Gitea => gitea::read(&root, headers, opts),
        Provider::Custom => custom::read(&root, opts),
        // `detect` never answers `Auto`; say so rather than panic if that ever changes.
        Provider::Auto => Err(EventError::Undetectable {
            reason: "no provider matched",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_headers(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let cases: &[&[u8]] = &[b"", b"{", b"not json", b"{\"a\":1}}", b"\xff\xfe"];
        for body in cases {
            let err = parse(&EventOptions::default(), &no_headers, body).expect_err("malformed");
            assert!(matches!(err, EventError::Json { .. }), "{err}");
            assert!(err.to_string().starts_with("malformed JSON body: "));
        }
        for body in [&b"[]"[..], b"\"x\"", b"1", b"null"] {
            let err = parse(&EventOptions::default(), &no_headers, body).expect_err("not object");
            assert!(matches!(err, EventError::NotAnObject), "{err}");
        }
    }

    #[test]
    fn bad_option_hosts_fail_every_delivery() {
        for host in ["x;touch /tmp/p", "--help", "$(id)", "", "a\nb"] {
            let opts = EventOptions {
                registry_host: Some(host.into()),
                ..EventOptions::default()
            };
            let err = parse(&opts, &no_headers, br#"{"image": "nginx:1"}"#).expect_err(host);
            assert!(
                matches!(&err, EventError::BadOption(bad) if bad.option == "registry-host"),
                "{host:?}: {err}"
            );
            assert!(err
                .to_string()
                .starts_with("registry-host option: invalid registry "));
        }
    }

    #[test]
    fn get_and_env_expose_normalised_values() {
        let delivery = parse(
            &EventOptions::default(),
            &no_headers,
            br#"{"image": "127.0.0.1:5000/web:v1", "digest": "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"}"#,
        )
        .expect("valid");
        let Delivery::Pushes(pushes) = delivery else {
            panic!("expected a push, got {delivery:?}");
        };
        let push = &pushes[0];
        let digest = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf";
        let pinned = format!("127.0.0.1:5000/web@{digest}");
        let expected: &[(&str, &str, Option<&str>)] = &[
            ("registry", "HOOKRUN_REGISTRY", Some("127.0.0.1:5000")),
            ("repository", "HOOKRUN_REPOSITORY", Some("web")),
            ("tag", "HOOKRUN_TAG", Some("v1")),
            ("digest", "HOOKRUN_DIGEST", Some(digest)),
            ("image", "HOOKRUN_IMAGE", Some("127.0.0.1:5000/web:v1")),
            ("image_pinned", "HOOKRUN_IMAGE_PINNED", Some(&pinned)),
            ("provider", "HOOKRUN_EVENT_PROVIDER", Some("custom")),
            ("delivery_id", "", None),
            ("actor", "", None),
        ];
        let env = push.env();
        for (name, var, value) in expected {
            assert_eq!(push.get(name), *value, "{name}");
            let in_env = env.iter().find(|(n, _)| n == var).map(|(_, v)| v.as_str());
            if !var.is_empty() {
                assert_eq!(in_env, *value, "{var}");
            }
        }
        assert_eq!(env.len(), 7);
        assert_eq!(push.get("nope"), None);
    }

    #[test]
    fn env_leaves_out_missing_values() {
        let delivery = parse(
            &EventOptions::default(),
            &no_headers,
            br#"{"image": "nginx:1"}"#,
        )
        .expect("valid");
        let Delivery::Pushes(pushes) = delivery else {
            panic!("expected a push, got {delivery:?}");
        };
        let names: Vec<&str> = pushes[0].env().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "HOOKRUN_REGISTRY",
                "HOOKRUN_REPOSITORY",
                "HOOKRUN_TAG",
                "HOOKRUN_IMAGE",
                "HOOKRUN_EVENT_PROVIDER"
            ]
        );
    }
}
