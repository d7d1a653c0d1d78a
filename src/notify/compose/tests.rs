//! Tests of the built-in words: subjects, image changes, both bodies, the user's subject and
//! body, cutting by characters.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

pub(crate) fn deploy(status: Status, values: &[(&str, &str)]) -> Message {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_603);
    Message {
        hook: "deploy-web".into(),
        job_id: "0123456789abcdef0123456789abcdef".into(),
        request_id: "req-1".into(),
        status,
        exit_code: Some(if status == Status::Success { 0 } else { 3 }),
        detail: None,
        started_at: start,
        finished_at: start + Duration::from_millis(12_300),
        result: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        output_tail: "pulling\nupdated".into(),
        host: "node-1".into(),
    }
}

#[test]
fn subject_says_what_changed() {
    let m = deploy(
        Status::Success,
        &[
            ("target", "swarm:web"),
            ("image_before", "nginx:1.26"),
            ("image_after", "nginx:1.27"),
        ],
    );
    assert_eq!(
        parts(&Notice::job(m)).subject,
        "[hookrun] deploy-web succeeded: swarm:web nginx:1.26 → nginx:1.27"
    );
    let m = deploy(
        Status::Failure,
        &[
            ("target", "swarm:web"),
            ("image_before", "nginx:1.27"),
            ("image_after", "nginx:1.28"),
            ("rolled_back", "true"),
        ],
    );
    assert_eq!(
        parts(&Notice::job(m)).subject,
        "[hookrun] deploy-web failed (rolled back): swarm:web nginx:1.27 → nginx:1.28"
    );
    let m = deploy(Status::Failure, &[]);
    assert_eq!(
        parts(&Notice::job(m)).subject,
        "[hookrun] deploy-web failed: exit code 3"
    );
    let m = deploy(Status::Timeout, &[]);
    assert_eq!(
        parts(&Notice::job(m)).subject,
        "[hookrun] deploy-web timed out: after 12.3s"
    );
}

#[test]
fn image_changes() {
    assert_eq!(
        image_change(Some("r/web:1@sha256:aa"), Some("r/web:2@sha256:bb")).unwrap(),
        "r/web:1 → r/web:2"
    );
    let (a, b) = (
        format!("web:latest@sha256:{}", "a".repeat(64)),
        format!("web:latest@sha256:{}", "b".repeat(64)),
    );
    assert_eq!(
        image_change(Some(&a), Some(&b)).unwrap(),
        "web:latest@sha256:aaaaaaaaaaaa → web:latest@sha256:bbbbbbbbbbbb"
    );
    assert_eq!(
        image_change(Some("localhost:5000/web@sha256:aa"), Some("x")).unwrap(),
        "localhost:5000/web@sha256:aa → x"
    );
    assert_eq!(image_change(None, Some("x:1")).unwrap(), "→ x:1");
    assert_eq!(
        image_change(Some("x:1"), Some("x:1")).unwrap(),
        "x:1 (unchanged)"
    );
    assert_eq!(image_change(None, None), None);
}

#[test]
fn bodies_name_everything_and_escape_values() {
    let m = deploy(
        Status::Failure,
        &[
            ("target", "container:web"),
            ("image_before", "web:1"),
            ("image_after", "web:2"),
            ("message", "<script>alert(1)</script> 回滚成功"),
            ("build_url", "https://ci/1"),
        ],
    );
    let p = parts(&Notice::job(m));
    let text = plain(&p);
    for want in [
        "deploy-web failed",
        "Image before:",
        "web:1",
        "web:2",
        "exit code 3",
        "build_url:",
        "回滚成功",
        "Output (last lines):\n  pulling\n  updated",
    ] {
        assert!(text.contains(want), "{want:?} missing in\n{text}");
    }
    let page = html(&p);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; 回滚成功"));
    assert!(!page.contains("<script>"));
    assert!(page.contains("#cf222e"));
}

#[test]
fn user_subject_and_body_replace_the_built_in_ones() {
    let mut n = Notice::job(deploy(Status::Success, &[]));
    n.subject = Some("部署完成\r\nBcc: x@y".into());
    n.body = Some("自定义正文".into());
    let p = parts(&n);
    assert_eq!(p.subject, "部署完成  Bcc: x@y");
    assert!(p.facts.is_empty() && p.output.is_none());
    assert_eq!(p.text.as_deref(), Some("自定义正文"));
}

#[test]
fn truncation_counts_characters() {
    assert_eq!(truncate_chars("部署完成了", 3), "部署…");
    assert_eq!(truncate_chars("abc", 3), "abc");
}
