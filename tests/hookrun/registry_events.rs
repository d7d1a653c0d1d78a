//! Registry push events through the real server: each provider's delivery becomes jobs whose
//! commands get validated `HOOKRUN_*` values; deliveries without a push run nothing; hostile
//! values are refused before any command runs.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{hookrun_bin, start, Server};

const DIGEST: &str = "sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917";

/// A recorder command: writes its HOOKRUN_* environment and argv to $RECORD_DIR/$HOOKRUN_JOB_ID.
fn recorder(dir: &Path) -> String {
    let path = dir.join("record.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\n{ env | grep '^HOOKRUN_' | sort; for a in \"$@\"; do echo \"ARG=$a\"; done; } > \"$RECORD_DIR/$HOOKRUN_JOB_ID.tmp\"\nmv \"$RECORD_DIR/$HOOKRUN_JOB_ID.tmp\" \"$RECORD_DIR/$HOOKRUN_JOB_ID\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&path)
        .status()
        .unwrap();
    path.display().to_string()
}

fn server(dir: &Path) -> Server {
    let cmd = recorder(dir);
    let hooks = format!(
        r#"[
  {{"id":"aliyun","execute-command":"{cmd}","registry-event":{{"provider":"aliyun","aliyun-network":"vpc"}},
    "response-message":"queued","success-http-response-code":202,
    "trigger-rule":{{"and":[
      {{"match":{{"type":"value","value":"k3y","parameter":{{"source":"url","name":"key"}}}}}},
      {{"match":{{"type":"regex","regex":"^(latest|v[0-9.]+)$","parameter":{{"source":"event","name":"tag"}}}}}}]}},
    "trigger-rule-mismatch-http-response-code":403}},
  {{"id":"auto","execute-command":"{cmd}","registry-event":"auto",
    "pass-arguments-to-command":[{{"source":"event","name":"image_pinned"}}]}},
  {{"id":"local","execute-command":"{cmd}","registry-event":{{"provider":"auto","registry-host":"127.0.0.1:5000"}}}}
]"#
    );
    std::fs::write(dir.join("hooks.json"), hooks).unwrap();
    let record = dir.join("records");
    std::fs::create_dir_all(&record).unwrap();
    start(
        &hookrun_bin(),
        &["-hooks", "hooks.json", "-verbose"],
        dir,
        &[("RECORD_DIR", record.to_str().unwrap())],
    )
}

fn wait_record(dir: &Path, job: &str) -> String {
    let path = dir.join("records").join(job);
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no record for job {job}");
}

async fn post(
    s: &Server,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<String>, String) {
    let mut req = reqwest::Client::new()
        .post(s.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let jobs = resp
        .headers()
        .get("hookrun-job-id")
        .map(|v| v.to_str().unwrap().split(", ").map(str::to_owned).collect())
        .unwrap_or_default();
    (status, jobs, resp.text().await.unwrap())
}

fn aliyun(tag: &str) -> String {
    format!(
        r#"{{"push_data":{{"digest":"{DIGEST}","pushed_at":"2016-11-29 12:25:46","tag":"{tag}"}},
           "repository":{{"date_created":"2016-10-28 21:31:42","name":"repoTest","namespace":"namespace",
           "region":"cn-hangzhou","repo_authentication_type":"NO_CERTIFIED","repo_full_name":"namespace/repoTest",
           "repo_origin_type":"NO_CERTIFIED","repo_type":"PUBLIC"}}}}"#
    )
}

#[tokio::test]
async fn aliyun_push_runs_the_command_with_normalised_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let (status, jobs, body) = post(&s, "/hooks/aliyun?key=k3y", &[], &aliyun("v1.2")).await;
    assert_eq!((status, body.as_str()), (202, "queued"));
    assert_eq!(jobs.len(), 1);
    let rec = wait_record(dir.path(), &jobs[0]);
    let host = "registry-vpc.cn-hangzhou.aliyuncs.com";
    for line in [
        format!("HOOKRUN_IMAGE={host}/namespace/repotest:v1.2"),
        format!("HOOKRUN_IMAGE_PINNED={host}/namespace/repotest@{DIGEST}"),
        format!("HOOKRUN_DIGEST={DIGEST}"),
        format!("HOOKRUN_REGISTRY={host}"),
        "HOOKRUN_REPOSITORY=namespace/repotest".to_string(),
        "HOOKRUN_TAG=v1.2".to_string(),
        "HOOKRUN_EVENT_PROVIDER=aliyun".to_string(),
        "HOOKRUN_HOOK_ID=aliyun".to_string(),
    ] {
        assert!(rec.lines().any(|l| l == line), "missing {line} in\n{rec}");
    }
}

#[tokio::test]
async fn rules_see_event_values_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let (status, jobs, _) = post(&s, "/hooks/aliyun?key=k3y", &[], &aliyun("dev")).await;
    assert_eq!((status, jobs.len()), (403, 0));
    let (status, jobs, _) = post(&s, "/hooks/aliyun?key=wrong", &[], &aliyun("latest")).await;
    assert_eq!((status, jobs.len()), (403, 0));
}

#[tokio::test]
async fn distribution_envelope_gives_one_job_per_manifest_push() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let event = |id: &str, action: &str, media: &str, tag: &str| {
        format!(
            r#"{{"id":"{id}","action":"{action}","target":{{"mediaType":"{media}","digest":"{DIGEST}","repository":"team/web"{tag}}},
               "request":{{"host":"registry.internal:5000","method":"PUT"}}}}"#
        )
    };
    let manifest = "application/vnd.docker.distribution.manifest.v2+json";
    let body = format!(
        r#"{{"events":[{},{},{},{}]}}"#,
        event("a", "push", "application/octet-stream", ""),
        event("b", "push", manifest, r#","tag":"v1""#),
        event("c", "pull", manifest, r#","tag":"v1""#),
        event("d", "push", manifest, r#","tag":"v2""#),
    );
    let (status, jobs, _) = post(
        &s,
        "/hooks/local",
        &[(
            "Content-Type",
            "application/vnd.docker.distribution.events.v2+json",
        )],
        &body,
    )
    .await;
    assert_eq!((status, jobs.len()), (200, 2), "{jobs:?}");
    let mut images: Vec<String> = jobs
        .iter()
        .map(|j| {
            let rec = wait_record(dir.path(), j);
            rec.lines()
                .find(|l| l.starts_with("HOOKRUN_IMAGE="))
                .unwrap()
                .to_string()
        })
        .collect();
    images.sort();
    assert_eq!(
        images,
        [
            "HOOKRUN_IMAGE=127.0.0.1:5000/team/web:v1",
            "HOOKRUN_IMAGE=127.0.0.1:5000/team/web:v2"
        ]
    );
}

#[tokio::test]
async fn delivery_without_a_push_answers_2xx_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let pull = r#"{"events":[{"id":"x","action":"pull","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","repository":"team/web","tag":"v1","digest":"sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917"},"request":{"host":"r:5000"}}]}"#;
    let (status, jobs, body) = post(&s, "/hooks/auto", &[], pull).await;
    assert_eq!((status, jobs.len()), (200, 0), "{body}");
    assert!(!body.is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(records(dir.path()), 0, "a command ran");
}

#[tokio::test]
async fn hostile_values_are_refused_before_any_command_runs() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let marker = dir.path().join("pwned");
    let tag = format!("x;touch {}", marker.display());
    for body in [
        aliyun(&tag).replace("k3y", ""),
        aliyun("--help"),
        aliyun("$(id)"),
        aliyun("latest").replace("namespace/repoTest", "namespace/../etc"),
        "{not json".to_string(),
        r#"{"image":"registry.example.com/web:1\nrm -rf /"}"#.to_string(),
    ] {
        let (status, jobs, text) = post(&s, "/hooks/auto", &[], &body).await;
        assert_eq!((status, jobs.len()), (400, 0), "{body} -> {text}");
        assert!(text.starts_with("Invalid registry event:"), "{text}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!marker.exists());
    assert_eq!(records(dir.path()), 0, "a command ran");
}

#[tokio::test]
async fn event_values_work_as_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let body = format!(r#"{{"image":"127.0.0.1:5000/team/web:v3","digest":"{DIGEST}"}}"#);
    let (status, jobs, _) = post(&s, "/hooks/auto", &[], &body).await;
    assert_eq!((status, jobs.len()), (200, 1));
    let rec = wait_record(dir.path(), &jobs[0]);
    assert!(
        rec.contains(&format!("ARG=127.0.0.1:5000/team/web@{DIGEST}")),
        "{rec}"
    );
    assert!(rec.contains("HOOKRUN_EVENT_PROVIDER=custom"), "{rec}");
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// A hundred pushes over a large body must not multiply the body in memory: rules that read no
/// event value are evaluated once, and nothing is copied per push.
#[tokio::test]
async fn many_pushes_in_a_large_delivery_stay_cheap() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = r#"[{"id":"signed","execute-command":"/bin/true","registry-event":"distribution",
        "trigger-rule":{"match":{"type":"payload-hmac-sha256","secret":"k",
        "parameter":{"source":"header","name":"X-Sig"}}},"trigger-rule-mismatch-http-response-code":403}]"#;
    std::fs::write(dir.path().join("hooks.json"), hooks).unwrap();
    let s = start(&hookrun_bin(), &["-hooks", "hooks.json"], dir.path(), &[]);
    let event = format!(
        r#"{{"id":"e","action":"push","target":{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{DIGEST}","repository":"team/web","tag":"v1"}},"request":{{"host":"r:5000"}}}}"#
    );
    let events = vec![event; 100].join(",");
    let padding = "0,".repeat(2_000_000);
    let body = format!(r#"{{"events":[{events}],"padding":[{padding}0]}}"#);
    let before = vm_hwm_kib(s.child.id());
    let (status, jobs, text) = post(&s, "/hooks/signed", &[("X-Sig", "sha256=00")], &body).await;
    assert_eq!((status, jobs.len()), (500, 0), "{text}");
    let grown = vm_hwm_kib(s.child.id()).saturating_sub(before);
    // The registry parser holds one tree of the 4 MB body; copies per push would be gigabytes.
    assert!(grown < 400 * 1024, "peak memory grew by {grown} KiB");
}

/// The image of a delivery's single job, as its command saw it.
async fn one_image(
    s: &Server,
    dir: &Path,
    hook: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let (status, jobs, text) = post(s, hook, headers, body).await;
    assert_eq!((status, jobs.len()), (200, 1), "{text}");
    let rec = wait_record(dir, &jobs[0]);
    rec.lines()
        .find_map(|l| l.strip_prefix("HOOKRUN_IMAGE="))
        .unwrap_or_else(|| panic!("no HOOKRUN_IMAGE in\n{rec}"))
        .to_string()
}

/// A `registry_package` delivery of an image from GitHub's Docker registry: the namespace is
/// owner/repository, so the image is never `ghcr.io/<owner>/<name>`.
#[tokio::test]
async fn github_docker_registry_package_keeps_the_repository_path() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let body = r#"{"action":"published","registry_package":{"id":501,"name":"worker",
        "package_type":"docker","owner":{"login":"Acme-Corp"},
        "package_version":{"id":7001,"version":"0.9.1","manifest":"","installation_command":""},
        "registry":{"name":"GitHub docker registry","type":"docker",
        "url":"https://ghcr.io/Acme-Corp/Billing","vendor":"GitHub Inc"}},
        "sender":{"login":"Acme-Corp"}}"#;
    let headers = [("X-GitHub-Event", "registry_package")];
    let image = one_image(&s, dir.path(), "/hooks/auto", &headers, body).await;
    assert_eq!(image, "ghcr.io/acme-corp/billing/worker:0.9.1");
}

/// Harbor 1.10's documented shape names no host: the hook's registry-host supplies it.
#[tokio::test]
async fn harbor_documented_shape_with_the_hooks_registry_host() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let body = r#"{"event_type":"pushImage","events":[{"project":"team","repo_name":"web",
        "tag":"1.2.0","full_name":"team/web","trigger_time":1714557600,"image_id":"5d1c0ae8",
        "project_type":"Private"}]}"#;
    let image = one_image(&s, dir.path(), "/hooks/local", &[], body).await;
    assert_eq!(image, "127.0.0.1:5000/team/web:1.2.0");
    let (status, jobs, text) = post(&s, "/hooks/auto", &[], body).await;
    assert_eq!((status, jobs.len()), (400, 0), "{text}");
    assert!(
        text.contains("set the hook's registry-host option"),
        "{text}"
    );
}

/// Deliveries that deploy nothing answer 2xx (registries retry anything else) and run nothing;
/// ambiguous ones answer 400 naming both fields and run nothing.
#[tokio::test]
async fn untagged_build_and_ambiguous_deliveries_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let by_digest = format!(
        r#"{{"type":"PUSH_ARTIFACT","occur_at":1714557600,"operator":"ci-robot","event_data":{{
        "resources":[{{"digest":"{DIGEST}","tag":"{DIGEST}","resource_url":"harbor.example.com/team/web@{DIGEST}"}}],
        "repository":{{"name":"web","namespace":"team","repo_full_name":"team/web"}}}}}}"#
    );
    let quay_build = r#"{"build_id":"b-1","name":"shop","repository":"acme/shop","namespace":"acme",
        "docker_url":"quay.io/acme/shop","docker_tags":["latest"],"homepage":"https://quay.io/repository/acme/shop/build/b-1"}"#;
    for (body, reason) in [
        (by_digest.as_str(), "push names no tag"),
        (quay_build, "quay build notification"),
    ] {
        let (status, jobs, text) = post(&s, "/hooks/auto", &[], body).await;
        assert_eq!((status, jobs.len()), (200, 0), "{text}");
        assert!(text.contains(reason), "{text}");
    }
    let ambiguous = r#"{"events":[{"id":"e","action":"push","target":{
        "mediaType":"application/vnd.docker.distribution.manifest.v2+json","repository":"team/web",
        "tag":"v2","url":"http://r:5000/v2/team/web/manifests/v1"},"request":{"host":"r:5000"}}]}"#;
    let (status, jobs, text) = post(&s, "/hooks/auto", &[], ambiguous).await;
    assert_eq!((status, jobs.len()), (400, 0), "{text}");
    assert!(
        text.contains(r#"the tag is ambiguous: events[0].target.tag says "v2", events[0].target.url says "v1""#),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(records(dir.path()), 0, "a command ran");
}

/// How many runs the recording command has recorded in `dir`.
fn records(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("records"))
        .expect("the records folder")
        .count()
}
