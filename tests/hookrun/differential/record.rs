//! The recorder's side in the tests: where it lives, collecting its records from a server's
//! record folder (polling, since fire-and-forget hooks run after the response), and normalising
//! what legitimately differs between two runs (temporary file names).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The recorder program, run by `/usr/bin/python3` through its shebang.
pub fn recorder() -> PathBuf {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/hookrun/differential/recorder.py"
    ));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path)
        .expect("recorder.py exists")
        .permissions()
        .mode();
    assert!(
        mode & 0o111 != 0,
        "{} must be executable (chmod +x)",
        path.display()
    );
    path
}

/// Removes and returns the records in `dir`, oldest first.
pub fn take(dir: &Path) -> Vec<Value> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "json")
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            let _ = std::fs::remove_file(p);
            serde_json::from_str(&text).ok()
        })
        .collect()
}

/// Waits until `dir` holds at least `count` records (or `timeout` passes) and takes them.
pub fn wait(dir: &Path, count: usize, timeout: Duration) -> Vec<Value> {
    let end = Instant::now() + timeout;
    let mut got = take(dir);
    while got.len() < count && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(15));
        got.extend(take(dir));
    }
    got
}

/// The paths of the files a record says it was passed.
pub fn passed_files(record: &Value) -> Vec<PathBuf> {
    record["files"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|f| f["path"].as_str().map(PathBuf::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A record reduced to what both servers must agree on. Temporary files become their folder,
/// whether the name starts with the variable's name (Go's `ioutil.TempFile(dir, envname)`) and
/// the content; the variables holding those paths are replaced the same way. The client's port
/// in a remote address differs between the two connections, so it is masked.
pub fn normalise(record: &Value) -> Value {
    let mut out = mask_ports(record);
    let Some(files) = record["files"].as_object() else {
        return out;
    };
    for (var, file) in files {
        let path = PathBuf::from(file["path"].as_str().unwrap_or_default());
        let shape = json!({
            "folder": path.parent().map(|p| p.display().to_string()),
            "named-after-variable": path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(var.as_str())),
            "content": file["content"],
        });
        out["files"][var] = shape.clone();
        if out["env"].get(var).is_some() {
            out["env"][var] = json!("<temporary file>");
        }
    }
    out
}

fn mask_ports(value: &Value) -> Value {
    static PORT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = PORT.get_or_init(|| regex::Regex::new(r"127\.0\.0\.1:[0-9]+").expect("valid regex"));
    match value {
        Value::String(s) => Value::String(re.replace_all(s, "127.0.0.1:<port>").into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(mask_ports).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask_ports(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Waits until none of `paths` exists; returns those still there after `timeout`.
pub fn wait_removed(paths: &[PathBuf], timeout: Duration) -> Vec<PathBuf> {
    let end = Instant::now() + timeout;
    loop {
        let left: Vec<PathBuf> = paths.iter().filter(|p| p.exists()).cloned().collect();
        if left.is_empty() || Instant::now() >= end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(15));
    }
}
