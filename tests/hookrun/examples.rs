//! Every hooks file shipped in the repository passes `hookrun validate`: hooks.example.json and
//! each file in examples/, including the ConfigMap's keys and the templated files (rendered with
//! a credentials folder, as systemd or Kubernetes would provide it). The only warnings allowed
//! are for bundled scripts that the image installs in /usr/local/bin and this machine lacks.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::hookrun_bin;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `hookrun validate [-template] FILE` with a credentials folder; returns (ok, output).
fn validate(file: &Path, creds: &Path) -> (bool, String) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut cmd = Command::new(hookrun_bin());
    cmd.arg("validate");
    if text.contains("{{") {
        cmd.arg("-template");
    }
    // The server's mail settings, as the examples' stack and deployment files give them.
    cmd.args([
        "-smtp",
        "smtp://127.0.0.1",
        "-smtp-from",
        "hookrun@example.com",
    ]);
    let out = cmd
        .arg(file)
        .env("CREDENTIALS_DIRECTORY", creds)
        .output()
        .expect("running hookrun validate");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn hooks_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hooks_files(&path, out);
        } else if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("hooks."))
        {
            out.push(path);
        }
    }
}

/// The `data` keys of a ConfigMap manifest, written out as files.
fn configmap_files(manifest: &Path, into: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let doc: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    let data = doc["data"].as_object().expect("ConfigMap data");
    data.iter()
        .map(|(key, value)| {
            let path = into.join(key);
            std::fs::write(&path, value.as_str().unwrap()).unwrap();
            path
        })
        .collect()
}

#[test]
fn every_shipped_hooks_file_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let creds = tmp.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    for name in [
        "aliyun-hook-key",
        "ci-hook-secret",
        "web-token",
        "api-token",
        "dingtalk-token",
        "dingtalk-secret",
    ] {
        std::fs::write(creds.join(name), "s3cret").unwrap();
    }
    let mut files = vec![repo().join("hooks.example.json")];
    hooks_files(&repo().join("examples"), &mut files);
    files.extend(configmap_files(
        &repo().join("examples/kubernetes-rancher/configmap.yaml"),
        tmp.path(),
    ));
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let (ok, output) = validate(&file, &creds);
        assert!(ok, "{} does not validate:\n{output}", file.display());
        for line in output.lines().filter(|l| l.ends_with("(warning)")) {
            assert!(
                is_bundled_script_elsewhere(line),
                "{}: {line}\n{output}",
                file.display()
            );
        }
    }
}

/// Whether a validate warning is only that a bundled script is not installed here: the image
/// installs `scripts/NAME.sh` as `/usr/local/bin/NAME.sh`.
fn is_bundled_script_elsewhere(line: &str) -> bool {
    let Some(rest) = line.split("cannot run /usr/local/bin/").nth(1) else {
        return false;
    };
    let name = rest.split(':').next().unwrap_or_default();
    line.ends_with(&format!("/usr/local/bin/{name}: no such file (warning)"))
        && repo().join("scripts").join(name).is_file()
}

#[test]
fn validate_reports_every_problem_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("hooks.json");
    std::fs::write(
        &file,
        r#"[{"id":"a","execute-command":"/bin/true","trigger-rules":{}},
            {"id":"b","execute-command":"/bin/true","trigger-rule":{"and":[{"match":{"type":"value","value":"x","parameter":{"source":"url","name":"t"}}},{"match":{"type":"regex","regex":"(","parameter":{"source":"url","name":"t"}}}]}}]"#,
    )
    .unwrap();
    let (ok, output) = validate(&file, tmp.path());
    assert!(!ok);
    assert!(
        output.contains(r#"hook "a": unknown key "trigger-rules" (did you mean "trigger-rule"?)"#),
        "{output}"
    );
    assert!(
        output.contains(r#"hook "b": trigger-rule.and[1].match.regex: invalid regex"#),
        "{output}"
    );
}

/// The three-replica Kubernetes variant: three replicas without a volume, a disruption budget
/// that keeps two, a `-state` URL hookrun accepts (TLS checked), and a kill grace below half
/// the lease (a replica that loses the database stops its jobs in time).
#[test]
fn the_replicas_manifest_holds_together() {
    use serde::Deserialize;
    let text = std::fs::read_to_string(
        repo().join("examples/kubernetes-rancher/deployment-replicas.yaml"),
    )
    .unwrap();
    let docs: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let deployment = kind("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.get("persistentVolumeClaim").is_none()),
        "replicas share PostgreSQL, not a volume"
    );
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let flag = |name: &str| args[args.iter().position(|a| *a == name).unwrap() + 1];
    let Ok(hookrun::store::Location::Postgres(target)) = flag("-state").parse() else {
        panic!("-state is not a PostgreSQL URL hookrun accepts");
    };
    assert_eq!(target.tls.mode, hookrun::store::SslMode::VerifyFull);
    let secs = |d: &str| hookrun::config::parse_duration(d).unwrap();
    assert!(
        secs(flag("-kill-grace")) + std::time::Duration::from_secs(1)
            < secs(flag("-replica-lease")) / 2
    );
    let budget = kind("PodDisruptionBudget");
    assert_eq!(budget["spec"]["minAvailable"], 2);
    assert_eq!(budget["spec"]["selector"], deployment["spec"]["selector"]);
    // The same hookrun as deployment.yaml's but for where history lives: no flag drifts.
    let single: serde_json::Value = serde_yaml_ng::Deserializer::from_str(
        &std::fs::read_to_string(repo().join("examples/kubernetes-rancher/deployment.yaml"))
            .unwrap(),
    )
    .map(|d| serde_json::Value::deserialize(d).unwrap())
    .find(|d| d["kind"] == "Deployment")
    .expect("deployment.yaml has a Deployment");
    let single: Vec<&str> = single["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for (i, arg) in single.iter().enumerate() {
        let is_flag = arg.starts_with('-');
        let of_state = |a: &str| a.starts_with("-state");
        if is_flag && !of_state(arg) {
            assert!(args.contains(arg), "{arg} of deployment.yaml is missing");
            if let Some(value) = single.get(i + 1).filter(|v| !v.starts_with('-')) {
                assert_eq!(flag(arg), *value, "{arg}");
            }
        }
    }
}
