//! Aliyun ACR (Container Registry) triggers: the host comes from `repository.region` and the
//! configured network (or the Enterprise Edition instance host), the image from
//! `repo_full_name`, `push_data.tag` and `push_data.digest`. Aliyun signs nothing.

use super::draft::{self, Draft, INSTANCE_HOST_OPTION};
use super::image_ref::RefError;
use super::json::{Node, Sourced};
use super::{AliyunNetwork, Delivery, EventError, EventOptions, Provider};

/// Longest region name accepted (real ones are like `cn-hangzhou`, `ap-southeast-1`).
const REGION_MAX: usize = 63;

/// Reads a trigger payload. The repository is lower-cased: Aliyun payloads keep the name as
/// typed in the console (`namespace/repoTest`) while the registry serves it lower-case
/// (`namespace/repotest`), and a reference with upper-case letters would be rejected by docker.
pub(super) fn read(root: &Node<'_>, opts: &EventOptions) -> Result<Delivery, EventError> {
    let push_data = root.field("push_data")?;
    let repository = root.field("repository")?;
    let registry = match &opts.aliyun_instance_host {
        Some(host) => Sourced::new(host.as_str(), INSTANCE_HOST_OPTION),
        None => region_host(&repository, opts.aliyun_network)?,
    };
    let mut name = repository.string("repo_full_name")?;
    name.value.make_ascii_lowercase();
    let mut draft = Draft::new(registry, name);
    let tag = push_data.string("tag")?;
    draft.tag = (!tag.value.is_empty()).then_some(tag);
    draft.digest = push_data.opt_string("digest")?;
    draft::single(Provider::Aliyun, draft, opts)
}

/// `registry[-vpc|-internal].<region>.aliyuncs.com` (personal edition addresses).
fn region_host(repository: &Node<'_>, network: AliyunNetwork) -> Result<Sourced, EventError> {
    let region = repository.string("region")?;
    let valid = !region.value.is_empty()
        && region.value.len() <= REGION_MAX
        && region
            .value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(EventError::Invalid {
            provider: Provider::Aliyun,
            path: region.path,
            problem: RefError::new("region", &region.value, "expected [a-z0-9-]+"),
        });
    }
    let prefix = match network {
        AliyunNetwork::Public => "registry",
        AliyunNetwork::Vpc => "registry-vpc",
        AliyunNetwork::Internal => "registry-internal",
    };
    Ok(Sourced::new(
        format!("{prefix}.{}.aliyuncs.com", region.value),
        region.path,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::draft::UNTAGGED;
    use super::super::samples::{
        self, assert_hostile_fields_refused, ignored, opts, pushes, run, with,
    };
    use super::*;

    const DIGEST: &str = "sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917";

    #[test]
    fn sample_push_for_each_network() {
        let cases = [
            (AliyunNetwork::Public, "registry.cn-hangzhou.aliyuncs.com"),
            (AliyunNetwork::Vpc, "registry-vpc.cn-hangzhou.aliyuncs.com"),
            (
                AliyunNetwork::Internal,
                "registry-internal.cn-hangzhou.aliyuncs.com",
            ),
        ];
        for (network, host) in cases {
            let mut options = opts(Provider::Aliyun);
            options.aliyun_network = network;
            let pushes = pushes(run(&options, samples::ALIYUN));
            assert_eq!(pushes.len(), 1);
            let push = &pushes[0];
            assert_eq!(push.provider, Provider::Aliyun);
            assert_eq!(push.registry, host);
            assert_eq!(push.repository, "namespace/repotest");
            assert_eq!(push.tag.as_deref(), Some("latest"));
            assert_eq!(push.digest.as_deref(), Some(DIGEST));
            assert_eq!(push.image, format!("{host}/namespace/repotest:latest"));
            assert_eq!(
                push.image_pinned,
                Some(format!("{host}/namespace/repotest@{DIGEST}"))
            );
        }
    }

    #[test]
    fn instance_host_replaces_computed_host_and_registry_host_wins() {
        let mut options = opts(Provider::Aliyun);
        options.aliyun_network = AliyunNetwork::Vpc;
        options.aliyun_instance_host = Some("acme-registry-vpc.cn-hangzhou.cr.aliyuncs.com".into());
        let pushes_ee = pushes(run(&options, samples::ALIYUN));
        assert_eq!(
            pushes_ee[0].image,
            "acme-registry-vpc.cn-hangzhou.cr.aliyuncs.com/namespace/repotest:latest"
        );
        // The instance host makes the region irrelevant, even a bad one.
        let bad_region = with(samples::ALIYUN, "cn-hangzhou", "CN_HZ");
        assert_eq!(pushes(run(&options, &bad_region)).len(), 1);
        options.registry_host = Some("10.0.0.5:5000".into());
        let pushes_override = pushes(run(&options, samples::ALIYUN));
        assert_eq!(pushes_override[0].registry, "10.0.0.5:5000");
    }

    #[test]
    fn untagged_push_deploys_nothing_and_a_missing_tag_is_an_error() {
        let body = with(samples::ALIYUN, r#""tag": "latest""#, r#""tag": """#);
        assert_eq!(ignored(run(&opts(Provider::Aliyun), &body)), UNTAGGED);
        let body = with(
            samples::ALIYUN,
            r#""2016-11-29 12:25:46",
    "tag": "latest""#,
            r#""2016-11-29 12:25:46""#,
        );
        let err = run(&opts(Provider::Aliyun), &body).expect_err("no tag");
        assert_eq!(err.to_string(), "aliyun event: missing field push_data.tag");
    }

    /// Copies of Aliyun's message in blogs and docs are not always what Aliyun sends: a digest
    /// with a space copied into it, a redacted placeholder, `//` annotations. The first two
    /// still name the image by its tag, which is deployed without a pin; the third is not JSON.
    #[test]
    fn blog_copies_of_the_message() {
        let spaced = with(samples::ALIYUN, "c58d48bbb4917", "c58d48bbb 4917");
        let placeholder = with(samples::ALIYUN, DIGEST, "sha256:xxxxxxxxxxxxxxxx");
        for body in [spaced, placeholder] {
            let list = pushes(run(&opts(Provider::Aliyun), &body));
            assert_eq!(
                list[0].image,
                "registry.cn-hangzhou.aliyuncs.com/namespace/repotest:latest"
            );
            assert_eq!(
                (list[0].digest.as_deref(), list[0].image_pinned.as_deref()),
                (None, None)
            );
        }
        let annotated = with(
            samples::ALIYUN,
            r#""tag": "latest""#,
            r#""tag": "latest"   // image tag"#,
        );
        let err = run(&opts(Provider::Aliyun), &annotated).expect_err("not JSON");
        assert!(
            err.to_string().starts_with("malformed JSON body: "),
            "{err}"
        );
    }

    #[test]
    fn bad_regions_are_rejected() {
        for region in [
            "CN-HANGZHOU",
            "cn_hangzhou",
            "",
            "cn-hangzhou.evil.com",
            "a b",
        ] {
            let body = with(samples::ALIYUN, "\"cn-hangzhou\"", &format!("{region:?}"));
            let err = run(&opts(Provider::Aliyun), &body).expect_err(region);
            assert!(
                err.to_string()
                    .starts_with("aliyun event: repository.region: invalid region"),
                "{region:?}: {err}"
            );
        }
    }

    #[test]
    fn hostile_values_are_rejected() {
        let fields = [
            (r#""latest""#, "push_data.tag"),
            (r#""namespace/repoTest""#, "repository.repo_full_name"),
            (r#""cn-hangzhou""#, "repository.region"),
        ];
        assert_hostile_fields_refused(Provider::Aliyun, samples::ALIYUN, &fields);
    }

    #[test]
    fn pushed_at_as_string_or_number_is_fine() {
        let body = with(
            samples::ALIYUN,
            r#""pushed_at": "2016-11-29 12:25:46""#,
            r#""pushed_at": 1480393546.000000000000001"#,
        );
        assert_eq!(pushes(run(&opts(Provider::Aliyun), &body)).len(), 1);
    }
}
