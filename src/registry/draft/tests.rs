//! Unit tests of draft validation, the untagged and digest rules, agreement and the push list.

use super::*;

fn draft(registry: &str, repository: &str, tag: Option<&str>) -> Draft {
    let mut draft = Draft::new(
        Sourced::new(registry, "registry"),
        Sourced::new(repository, "repository"),
    );
    draft.tag = tag.map(|tag| Sourced::new(tag, "tag"));
    draft
}

const D1: &str = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf";
const D2: &str = "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d";

fn push(result: Result<Finished, EventError>) -> ImagePush {
    match result {
        Ok(Finished::Push(push)) => *push,
        other => panic!("expected a push, got {other:?}"),
    }
}

#[test]
fn finish_builds_image_strings_and_applies_override() {
    let mut opts = EventOptions::default();
    let mut tagged = draft("127.0.0.1:5000", "web", Some("v1"));
    let built = push(tagged.clone().finish(Provider::Quay, &opts));
    assert_eq!(built.image, "127.0.0.1:5000/web:v1");
    assert_eq!(built.image_pinned, None);
    tagged.digest = Some(Sourced::new(D1, "digest"));
    let built = push(tagged.clone().finish(Provider::Quay, &opts));
    assert_eq!(built.image, "127.0.0.1:5000/web:v1");
    assert_eq!(built.image_pinned, Some(format!("127.0.0.1:5000/web@{D1}")));
    opts.registry_host = Some("registry.internal:443".into());
    let built = push(tagged.finish(Provider::Quay, &opts));
    assert_eq!(built.registry, "registry.internal:443");
}

#[test]
fn untagged_drafts_are_not_deployed_unless_by_digest() {
    let opts = EventOptions::default();
    let mut untagged = draft("h", "r", None);
    untagged.digest = Some(Sourced::new(D1, "digest"));
    let result = untagged.clone().finish(Provider::Harbor, &opts);
    assert!(matches!(result, Ok(Finished::Untagged)), "{result:?}");
    untagged.deploy_by_digest = true;
    let built = push(untagged.clone().finish(Provider::Custom, &opts));
    assert_eq!(built.image, format!("h/r@{D1}"));
    assert_eq!(built.tag, None);
    untagged.digest = Some(Sourced::new("sha256:abc", "digest"));
    let err = untagged.clone().finish(Provider::Custom, &opts);
    assert!(
        matches!(&err, Err(EventError::Invalid { path, .. }) if path == "digest"),
        "{err:?}"
    );
    untagged.digest = None;
    let err = untagged
        .finish(Provider::Custom, &opts)
        .expect_err("nothing");
    assert_eq!(
        err.to_string(),
        "custom event: the push names neither a tag nor a digest"
    );
}

#[test]
fn malformed_digest_beside_a_tag_is_dropped_not_used() {
    for bad in [
        "sha256:0123456789abcdef0",
        "sha256:xxxx",
        "x;touch /tmp/p",
        "SHA256:AB",
    ] {
        let mut tagged = draft("h", "r", Some("v1"));
        tagged.digest = Some(Sourced::new(bad, "digest"));
        let built = push(tagged.finish(Provider::Aliyun, &EventOptions::default()));
        assert_eq!(built.image, "h/r:v1", "{bad:?}");
        assert_eq!((built.digest, built.image_pinned), (None, None), "{bad:?}");
    }
}

#[test]
fn finish_names_path_of_bad_value() {
    let err = draft("h", "r", Some("$(id)"))
        .finish(Provider::Quay, &EventOptions::default())
        .expect_err("hostile tag");
    assert_eq!(
        err.to_string(),
        r#"quay event: tag: invalid tag "$(id)": expected 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"#
    );
    let long = format!("{}/{}", "a".repeat(200), "b".repeat(50));
    let err = draft(&"h".repeat(10), &long, Some("t"))
        .finish(Provider::Quay, &EventOptions::default())
        .expect_err("name too long");
    assert!(err.to_string().contains("invalid name"), "{err}");
}

#[test]
fn agreement_between_fields() {
    let exact = |a: &str, b: &str| a == b;
    let none = agreed(Provider::GitHub, "tag", vec![], exact).expect("nothing to compare");
    assert_eq!(none, None);
    let fields = vec![
        Sourced::new("1.0", "a.tag"),
        Sourced::new("1.0", "b.version"),
    ];
    let one = agreed(Provider::GitHub, "tag", fields, exact).expect("same");
    assert_eq!(one, Some(Sourced::new("1.0", "a.tag")));
    let fields = vec![Sourced::new("1.0", "a.tag"), Sourced::new("1.1\n", "b")];
    let err = agreed(Provider::GitHub, "tag", fields, exact).expect_err("differ");
    assert_eq!(
        err.to_string(),
        r#"github event: the tag is ambiguous: a.tag says "1.0", b says "1.1\n""#
    );
    let fields = vec![Sourced::new("Team", "owner"), Sourced::new("team", "ns")];
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    assert!(agreed(Provider::GitHub, "owner", fields, same).is_ok());
}

#[test]
fn pushes_deduplicate_and_report_untagged() {
    let opts = EventOptions::default();
    let mut pushes = Pushes::new(Provider::Distribution);
    for tag in ["v1", "v1", "v2"] {
        pushes
            .add(draft("h", "r", Some(tag)), &opts)
            .expect("valid");
    }
    let mut pinned = draft("h", "r", Some("v1"));
    pinned.digest = Some(Sourced::new(D2, "digest"));
    pushes.add(pinned, &opts).expect("valid");
    let Delivery::Pushes(list) = pushes.into_delivery("nothing") else {
        panic!("expected pushes");
    };
    let images: Vec<_> = list
        .iter()
        .map(|p| (p.image.as_str(), p.digest.is_some()))
        .collect();
    assert_eq!(
        images,
        [("h/r:v1", false), ("h/r:v2", false), ("h/r:v1", true)]
    );
    let mut pushes = Pushes::new(Provider::Distribution);
    assert_eq!(pushes_reason(&pushes), "nothing");
    pushes.add(draft("h", "r", None), &opts).expect("untagged");
    assert_eq!(pushes_reason(&pushes), UNTAGGED);
}

fn pushes_reason(pushes: &Pushes) -> String {
    let copy = Pushes {
        provider: pushes.provider,
        list: pushes.list.clone(),
        untagged: pushes.untagged,
    };
    match copy.into_delivery("nothing") {
        Delivery::Ignored { reason } => reason,
        other => panic!("expected ignored, got {other:?}"),
    }
}

#[test]
fn labels_keep_safe_values_only() {
    let cases: &[(&str, bool)] = &[
        ("ci-bot", true),
        ("320678d8-ca14-430f-8bb6-4ca139cd83f7", true),
        ("application/vnd.docker.distribution.manifest.v2+json", true),
        ("a@b.example", true),
        ("John Doe", false),
        ("$(id)", false),
        ("--help", false),
        ("a\nb", false),
        ("", false),
    ];
    for (value, kept) in cases {
        assert_eq!(label((*value).to_owned()).is_some(), *kept, "{value:?}");
    }
    assert!(label("x".repeat(129)).is_none());
}

#[test]
fn callback_urls() {
    let cases: &[(&str, bool)] = &[
        ("https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/", true),
        ("https://ci.example.com:8443/cb?x=1", true),
        ("https://ci.example.com", true),
        ("http://ci.example.com/cb", false),
        ("https://user:pw@ci.example.com/cb", false),
        ("https://ci.example.com/a b", false),
        ("https://ci.example.com/a\nb", false),
        ("https:///path", false),
        ("file:///etc/passwd", false),
        ("https://$(id)/", false),
    ];
    for (url, ok) in cases {
        assert_eq!(validate_callback_url(url).is_ok(), *ok, "{url:?}");
    }
}

#[test]
fn push_limit_is_enforced() {
    let opts = EventOptions::default();
    let mut pushes = Pushes::new(Provider::Quay);
    for i in 0..MAX_PUSHES {
        pushes
            .add(draft("h", "r", Some(&format!("t{i}"))), &opts)
            .expect("under the limit");
    }
    let err = pushes
        .add(draft("h", "r", Some("one-more")), &opts)
        .expect_err("over the limit");
    assert!(matches!(err, EventError::TooManyPushes { max: 100, .. }));
}

#[test]
fn split_host_strips_scheme() {
    assert_eq!(split_host("quay.io/ns/repo"), ("quay.io", "ns/repo"));
    assert_eq!(
        split_host("https://gitea.example.com/team/-/packages"),
        ("gitea.example.com", "team/-/packages")
    );
    assert_eq!(split_host("host"), ("host", ""));
}
