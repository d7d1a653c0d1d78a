//! Test-only: payload samples copied verbatim from shared/docs/REGISTRY-EVENTS.md, and the
//! helpers the unit tests share.

use super::{parse, Delivery, EventError, EventOptions, ImagePush, Provider};

/// §3.1 Docker Hub push.
pub(crate) const DOCKERHUB: &str = r##"{
  "callback_url": "https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
  "push_data": { "pushed_at": 1417566161, "pusher": "trustedbuilder", "tag": "latest" },
  "repository": {
    "comment_count": 0, "date_created": 1417494799, "description": "",
    "dockerfile": "#\n# BUILD\t\tdocker build -t svendowideit/apt-cacher .\n...",
    "full_description": "Docker Hub based automated build from a GitHub repo",
    "is_official": false, "is_private": true, "is_trusted": true,
    "name": "testhook", "namespace": "svendowideit", "owner": "svendowideit",
    "repo_name": "svendowideit/testhook",
    "repo_url": "https://registry.hub.docker.com/u/svendowideit/testhook/",
    "star_count": 0, "status": "Active"
  }
}"##;

/// §3.1 Docker Hub callback body (what hookrun sends, not an event).
pub(crate) const DOCKERHUB_CALLBACK: &str = r##"{ "state": "success", "description": "387 tests PASSED", "context": "Continuous integration by Acme CI", "target_url": "https://ci.acme.com/results/afd339c1c3d27" }"##;

/// §3.2 Aliyun ACR push.
pub(crate) const ALIYUN: &str = r##"{
  "push_data": {
    "digest": "sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917",
    "pushed_at": "2016-11-29 12:25:46",
    "tag": "latest"
  },
  "repository": {
    "date_created": "2016-10-28 21:31:42",
    "name": "repoTest",
    "namespace": "namespace",
    "region": "cn-hangzhou",
    "repo_authentication_type": "NO_CERTIFIED",
    "repo_full_name": "namespace/repoTest",
    "repo_origin_type": "NO_CERTIFIED",
    "repo_type": "PUBLIC"
  }
}"##;

/// §3.3 Harbor v2 `PUSH_ARTIFACT`.
pub(crate) const HARBOR: &str = r##"{
  "type": "PUSH_ARTIFACT",
  "occur_at": 1586922308,
  "operator": "admin",
  "event_data": {
    "resources": [
      {
        "digest": "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8",
        "tag": "latest",
        "resource_url": "hub.harbor.com/test-webhook/debian:latest"
      }
    ],
    "repository": {
      "date_created": 1586922308,
      "name": "debian",
      "namespace": "test-webhook",
      "repo_full_name": "test-webhook/debian",
      "repo_type": "private"
    }
  }
}"##;

/// §3.4 distribution notification envelope.
pub(crate) const DISTRIBUTION: &str = r##"{
  "events": [
    {
      "id": "320678d8-ca14-430f-8bb6-4ca139cd83f7",
      "timestamp": "2016-03-09T14:44:26.402973972-08:00",
      "action": "push",
      "target": {
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "digest": "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
        "size": 708,
        "length": 708,
        "repository": "hello-world",
        "url": "http://192.168.100.227:5000/v2/hello-world/manifests/sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
        "tag": "latest"
      },
      "request": { "id": "6df24a34-0959-4923-81ca-14f09767db19", "addr": "192.168.64.11:42961", "host": "192.168.100.227:5000", "method": "PUT", "useragent": "docker/24.0.7 go/go1.20.10" },
      "actor": { "name": "ci-bot" },
      "source": { "addr": "xtal.local:5000", "instanceID": "a53db899-3b4b-4a62-a067-8dd013beaca4" }
    }
  ]
}"##;

/// §3.5 Quay repository push.
pub(crate) const QUAY: &str = r##"{
  "name": "repository",
  "repository": "mynamespace/repository",
  "namespace": "mynamespace",
  "docker_url": "quay.io/mynamespace/repository",
  "homepage": "https://quay.io/repository/mynamespace/repository",
  "updated_tags": [ "latest" ]
}"##;

/// §3.6 GitLab push hook (carries no image).
pub(crate) const GITLAB_PUSH: &str = r##"{
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "ref": "refs/heads/main",
  "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "user_username": "jsmith",
  "project_id": 15,
  "project": { "id": 15, "name": "web", "path_with_namespace": "team/web", "default_branch": "main", "web_url": "https://gitlab.example.com/team/web" },
  "total_commits_count": 1
}"##;

/// §3.7 Gitea package event.
pub(crate) const GITEA: &str = r##"{
  "action": "created",
  "package": {
    "id": 42,
    "owner": { "id": 3, "login": "team" },
    "creator": { "id": 7, "login": "ci-bot" },
    "type": "container",
    "name": "web",
    "version": "1.4.2",
    "html_url": "https://gitea.example.com/team/-/packages/container/web/1.4.2",
    "created_at": "2026-05-01T10:00:00Z",
    "repository": null
  },
  "repository": null,
  "organization": { "id": 3, "login": "team" },
  "sender": { "id": 7, "login": "ci-bot" }
}"##;

/// §3.8 GitHub package event.
pub(crate) const GITHUB: &str = r##"{
  "action": "published",
  "package": {
    "id": 779666,
    "name": "web",
    "namespace": "team",
    "ecosystem": "CONTAINER",
    "package_type": "CONTAINER",
    "html_url": "https://github.com/team/packages/779666",
    "owner": { "login": "Team" },
    "package_version": {
      "id": 1284299,
      "name": "sha256:7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed",
      "version": "sha256:7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed",
      "container_metadata": {
        "tag": { "name": "3.2.1", "digest": "sha256:7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed" },
        "manifest": { "digest": "sha256:7d38…", "media_type": "application/vnd.docker.distribution.manifest.v2+json" }
      }
    },
    "registry": { "url": "https://ghcr.io/team" }
  },
  "sender": { "login": "ci-bot" }
}"##;

/// §3.9 Azure ACR push.
pub(crate) const ACR: &str = r##"{
  "id": "cb8c3971-9adc-488b-bdd8-43cbb4974ff5",
  "timestamp": "2017-11-17T16:52:01.343145347Z",
  "action": "push",
  "target": {
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "size": 524,
    "digest": "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d",
    "length": 524,
    "repository": "hello-world",
    "tag": "v1"
  },
  "request": {
    "id": "3cbb6949-7549-4fa1-86cd-a6d5451dffc7",
    "host": "myregistry.azurecr.io",
    "method": "PUT",
    "useragent": "docker/17.09.0-ce go/go1.8.3 …"
  }
}"##;

/// §3.10 Google Artifact Registry Pub/Sub push (not supported).
pub(crate) const GOOGLE_PUBSUB: &str = r##"{
  "message": {
    "attributes": {},
    "data": "eyJhY3Rpb24iOiJJTlNFUlQiLCJkaWdlc3QiOiJ1cy1lYXN0MS1kb2NrZXIucGtnLmRldi9teS1wcm9qZWN0L215LXJlcG8vaGVsbG8td29ybGRAc2hhMjU2OjZlYzEyOGUyNmNkNS4uLiIsInRhZyI6InVzLWVhc3QxLWRvY2tlci5wa2cuZGV2L215LXByb2plY3QvbXktcmVwby9oZWxsby13b3JsZDoxLjEifQ==",
    "messageId": "2070443601311540",
    "publishTime": "2026-02-26T19:13:55.749Z"
  },
  "subscription": "projects/my-project/subscriptions/hookrunner-push"
}"##;

/// §3.10 Google Artifact Registry decoded `data` (not supported).
pub(crate) const GOOGLE_DATA: &str = r##"{
  "action": "INSERT",
  "digest": "us-east1-docker.pkg.dev/my-project/my-repo/hello-world@sha256:6ec128e26cd5...",
  "tag": "us-east1-docker.pkg.dev/my-project/my-repo/hello-world:1.1"
}"##;

/// §3.11 AWS ECR via EventBridge CloudEvents (not supported).
pub(crate) const ECR_CLOUDEVENT: &str = r##"{
  "specversion": "1.0",
  "id": "b5b2c5c8-…",
  "type": "com.amazon.ecr.image.push",
  "source": "urn:aws:ecr:eu-west-1:123456789012:repository/web",
  "subject": "web:1.4.2",
  "time": "2026-05-01T10:00:00Z",
  "datacontenttype": "application/json",
  "data": { "repositoryName": "web", "imageDigest": "sha256:…", "imageTag": "1.4.2", "registryId": "123456789012" }
}"##;

/// Values that no field's grammar accepts (a 300-character name is added by `hostile_values`;
/// the empty value, refused by the grammar too, is not here: a provider may read an empty
/// field as a test delivery, so `image_ref`'s test adds it).
pub(crate) const HOSTILE: &[&str] = &[
    "x;touch /tmp/p",
    "--help",
    "$(id)",
    "..",
    "../etc",
    "a/../b",
    "a b",
    "a\nb",
    "latest\n",
    " latest",
    "`id`",
    "a|b",
];

/// `HOSTILE` plus a 300-character value.
pub(crate) fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = HOSTILE.iter().map(|v| (*v).to_owned()).collect();
    values.push("a".repeat(300));
    values
}

/// Puts each hostile value, as a JSON string, in place of each `(from, path)` field's text in
/// `sample`, and checks that `provider` refuses the delivery as invalid at that path.
pub(crate) fn assert_hostile_fields_refused(
    provider: Provider,
    sample: &str,
    fields: &[(&str, &str)],
) {
    for value in hostile_values() {
        let quoted = serde_json::to_string(&value).expect("string");
        for (from, path) in fields {
            let body = with(sample, from, &quoted);
            let err = run(&opts(provider), &body).expect_err(&value);
            assert!(
                matches!(&err, EventError::Invalid { path: p, .. } if p == path),
                "{value:?} in {path}: {err}"
            );
        }
    }
}

/// Request headers as name/value pairs.
pub(crate) type Pairs<'a> = &'a [(&'a str, &'a str)];

/// A header lookup over fixed pairs, case-insensitive like the HTTP layer's.
pub(crate) fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned()))
        .collect();
    move |name: &str| {
        let name = name.to_ascii_lowercase();
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

/// Parses `body` with `opts` and no headers.
pub(crate) fn run(opts: &EventOptions, body: &str) -> Result<Delivery, EventError> {
    parse(opts, &|_: &str| None, body.as_bytes())
}

/// Options for a configured provider.
pub(crate) fn opts(provider: Provider) -> EventOptions {
    EventOptions {
        provider,
        ..EventOptions::default()
    }
}

/// The pushes of a delivery that must have some.
pub(crate) fn pushes(result: Result<Delivery, EventError>) -> Vec<ImagePush> {
    match result {
        Ok(Delivery::Pushes(pushes)) => pushes,
        other => panic!("expected pushes, got {other:?}"),
    }
}

/// The reason of a delivery that must be ignored.
pub(crate) fn ignored(result: Result<Delivery, EventError>) -> String {
    match result {
        Ok(Delivery::Ignored { reason }) => reason,
        other => panic!("expected an ignored delivery, got {other:?}"),
    }
}

/// Replaces the first occurrence of `from` in a sample.
pub(crate) fn with(sample: &str, from: &str, to: &str) -> String {
    assert!(sample.contains(from), "sample has no {from:?}");
    sample.replacen(from, to, 1)
}
