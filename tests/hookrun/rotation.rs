//! Secrets rotated where templates read them: a Kubernetes Secret mounted as a folder (the
//! kubelet swaps its `..data` symlink) reaches the hooks without SIGHUP under `-hotreload`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{hookrun_bin, start};
use crate::fixture::{client, sh_hook, with, write_json};

/// A new version of the secret folder `dir` holding `tok` = `value`, swapped in as the
/// kubelet does (a new timestamped folder, a new `..data` link renamed over the old one).
fn secret_version(dir: &Path, version: &str, value: &str) {
    let data = dir.join(version);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("tok"), value).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    if std::fs::symlink_metadata(dir.join("tok")).is_err() {
        std::os::unix::fs::symlink("..data/tok", dir.join("tok")).unwrap();
    }
}

#[tokio::test]
async fn a_rotated_secret_reaches_the_rules_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    secret_version(&secrets, "..2026_01_01_00_00_00.1", "first-token");
    let rule = json!({"match": {"type": "value", "value": "{{ credential `tok` }}",
        "parameter": {"source": "url", "name": "token"}}});
    write_json(
        &dir.path().join("hooks.json"),
        &json!([with(
            sh_hook("deploy", "exit 0", &[]),
            json!({"trigger-rule": rule})
        )]),
    );
    let creds = secrets.display().to_string();
    let server = start(
        &hookrun_bin(),
        &["-hooks", "hooks.json", "-template", "-hotreload"],
        dir.path(),
        &[("CREDENTIALS_DIRECTORY", creds.as_str())],
    );
    let http = client();
    // A mismatch answers 200 too: a request triggered when it names a job.
    let triggers = |token: &'static str| {
        let req = http.post(server.url(&format!("/hooks/deploy?token={token}")));
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.headers().get("hookrun-job-id").is_some()
        }
    };
    assert!(triggers("first-token").await);
    assert!(!triggers("second-token").await);
    secret_version(&secrets, "..2026_01_01_00_01_00.2", "second-token");
    let end = Instant::now() + Duration::from_secs(10);
    while !triggers("second-token").await {
        assert!(
            Instant::now() < end,
            "the rotated secret never reached the rules:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!triggers("first-token").await, "the old token still works");
}
