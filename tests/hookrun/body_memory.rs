//! Memory under maximum-size bodies: the real binary with default flags, many 10 MiB bodies
//! at once (JSON, XML, forms, multipart) against hooks that read their payload, and the
//! server's peak resident memory (`VmHWM`) against the figure the README documents.
//!
//! The documented case is 8 bodies at a time, then 32, then 16 of all kinds, against the
//! binary that ships: scripts/test runs it against the release binary
//! (`HOOKRUN_BIN=target/release/hookrun`, after the cost budget built it). The debug binary a
//! plain `cargo test` builds parses a 10 MiB body in seconds rather than milliseconds (the
//! full case takes minutes there), so against that binary every burst is 8; the memory each
//! request holds is the same.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use serde_json::{json, Value};

use crate::fixture::{status_kib, Fixture};

/// The documented bound on the server's peak resident memory with default flags.
const PEAK_BOUND_KIB: u64 = 128 * 1024;
/// What a burst may leave resident once it is over, beyond the resident memory at start:
/// bodies go back to the kernel when freed (`hookrun::allocator`), and nothing keeps a body's
/// worth of memory (a job's command kept for reruns is bounded by its weight).
const LEFT_AFTER_BURST_KIB: u64 = 16 * 1024;
/// Just under the default `-max-body-size` (10 MiB).
const BODY: usize = 10 * 1024 * 1024 - 4096;

fn hook(id: &str, rule_name: &str, want: &str, arg: &str) -> Value {
    json!({
        "id": id,
        "execute-command": "/bin/true",
        "response-message": "ran",
        "pass-arguments-to-command": [
            {"source": "payload", "name": arg},
            {"source": "payload", "name": rule_name}
        ],
        "trigger-rule": {"match": {"type": "value", "value": want,
            "parameter": {"source": "payload", "name": rule_name}}}
    })
}

fn hooks() -> Vec<Value> {
    vec![
        hook("json", "ref", "refs/heads/main", "data.3"),
        hook("xml", "push.-ref", "main", "push.d.3"),
        hook("form", "ref", "main", "k0000003"),
        hook("multipart", "ref", "main", "notes"),
    ]
}

/// `{"ref":...,"data":[1,1,1,...]}`: the shape that cost 33 times its size as a tree.
fn json_body() -> Vec<u8> {
    let mut body = br#"{"ref":"refs/heads/main","data":[1"#.to_vec();
    while body.len() < BODY - 4 {
        body.extend_from_slice(b",1");
    }
    body.extend_from_slice(b"]}");
    body
}

/// One element with many repeated children, which are grouped into an array.
fn xml_body() -> Vec<u8> {
    let mut body = br#"<push ref="main">"#.to_vec();
    let child = format!("<d>{}</d>", "x".repeat(40));
    while body.len() + child.len() < BODY - 16 {
        body.extend_from_slice(child.as_bytes());
    }
    body.extend_from_slice(b"</push>");
    body
}

fn form_body() -> Vec<u8> {
    let mut body = b"ref=main".to_vec();
    let mut i = 0;
    while body.len() < BODY - 32 {
        body.extend_from_slice(format!("&k{i:07}=1").as_bytes());
        i += 1;
    }
    body
}

const BOUNDARY: &str = "memoryboundary";

fn multipart_body() -> Vec<u8> {
    let field = |name: &str, value: &str| {
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    };
    let mut body = field("ref", "main");
    let notes = "n".repeat(BODY - body.len() - 256);
    body.push_str(&field("notes", &notes));
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body.into_bytes()
}

/// Sends `count` requests at once, cycling through `kinds` (hook, content type, body file);
/// every one must run its hook. curl sends them: a request waiting for memory is not read for
/// a while, and curl simply waits, as a registry's client does. The budget serves waiting
/// requests in arrival order, so the last one waits for the parses of all the others: the
/// slowest answer is printed (a client with a shorter timeout than that gives up, as the
/// fixture's 20 s client did in a debug build).
async fn burst(f: &Fixture, kinds: &[(&str, &str, std::path::PathBuf)], count: usize) {
    let mut tasks = Vec::new();
    for i in 0..count {
        let (id, content_type, body) = kinds[i % kinds.len()].clone();
        let url = f.url(&format!("/hooks/{id}"));
        let content_type = format!("Content-Type: {content_type}");
        tasks.push(tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "600",
                    "-w",
                    " %{http_code} %{time_total}",
                ])
                .arg("-H")
                .arg(&content_type)
                .arg("--data-binary")
                .arg(format!("@{}", body.display()))
                .arg(&url)
                .output()
                .expect("running curl");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }));
    }
    let mut slowest = 0f64;
    for task in tasks {
        let out = task.await.expect("request task");
        let (answer, took) = out.rsplit_once(' ').unwrap_or((&out, ""));
        assert_eq!(answer, "ran 200");
        slowest = slowest.max(took.parse().unwrap_or(0.0));
    }
    eprintln!("{count} at once: the slowest answered after {slowest:.1} s");
}

/// Whether the server under test is the unoptimised binary built with this test crate.
fn debug_binary() -> bool {
    cfg!(debug_assertions) && std::env::var_os("HOOKRUN_BIN").is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_maximum_size_bodies_stay_within_the_documented_peak() {
    let f = Fixture::start(&hooks(), &[]);
    let multipart_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let file = |name: &str, body: Vec<u8>| {
        let path = f.path(name);
        std::fs::write(&path, body).expect("writing a body");
        path
    };
    let (json, xml) = (file("body.json", json_body()), file("body.xml", xml_body()));
    let json_xml = [
        ("json", "application/json", json.clone()),
        ("xml", "application/xml", xml.clone()),
    ];
    let all = [
        ("json", "application/json", json),
        ("xml", "application/xml", xml),
        (
            "form",
            "application/x-www-form-urlencoded",
            file("body.form", form_body()),
        ),
        (
            "multipart",
            multipart_type.as_str(),
            file("body.multipart", multipart_body()),
        ),
    ];
    let (large, mixed) = if debug_binary() { (8, 8) } else { (32, 16) };
    let rss_start = status_kib(f.pid(), "VmRSS");
    let started = Instant::now();
    burst(&f, &json_xml, 8).await;
    let after_8 = status_kib(f.pid(), "VmHWM");
    burst(&f, &json_xml, large).await;
    let after_32 = status_kib(f.pid(), "VmHWM");
    burst(&f, &all, mixed).await;
    let after_mix = status_kib(f.pid(), "VmHWM");
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = status_kib(f.pid(), "VmRSS");
    eprintln!(
        "peak RSS: {after_8} KiB after 8, {after_32} KiB after {large} JSON/XML bodies, \
         {after_mix} KiB after {mixed} of all kinds ({took:?}); {rss_after} KiB resident \
         afterwards, {rss_start} KiB at start"
    );
    assert!(after_32 <= PEAK_BOUND_KIB, "peak {after_32} KiB");
    assert!(after_mix <= PEAK_BOUND_KIB, "peak {after_mix} KiB");
    assert!(
        rss_after <= rss_start + LEFT_AFTER_BURST_KIB,
        "{rss_after} KiB resident after the bursts, {rss_start} KiB at start"
    );
}

/// A request written by hand on its own connection, so that a test decides when each part of
/// its body is sent.
struct RawRequest {
    stream: tokio::net::TcpStream,
}

impl RawRequest {
    /// Sends the head of `POST path` with an XML body, framed by `framing` (a
    /// `Content-Length` or `Transfer-Encoding` header).
    async fn open(f: &Fixture, path: &str, framing: &str) -> RawRequest {
        let addr = f.url("").trim_start_matches("http://").to_string();
        let addr = addr.trim_end_matches('/');
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connecting to the server");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml\r\n{framing}\r\n\r\n"
        );
        stream
            .write_all(head.as_bytes())
            .await
            .expect("sending a head");
        RawRequest { stream }
    }

    async fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(data).await
    }

    /// Sends `data` as one chunk.
    async fn chunk(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.send(format!("{:x}\r\n", data.len()).as_bytes())
            .await?;
        self.send(data).await?;
        self.send(b"\r\n").await
    }

    /// The response's status line and headers.
    async fn response_head(&mut self) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        let read = async {
            while !head.ends_with(b"\r\n\r\n") {
                match self.stream.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("a response within 30 s");
        String::from_utf8_lossy(&head).into_owned()
    }
}

/// An XML document of exactly `len` bytes for the `xml` hook.
fn xml_of(len: usize) -> Vec<u8> {
    let mut body = br#"<push ref="main">"#.to_vec();
    body.resize(len - b"<d></d></push>".len(), b'x');
    body.splice(17..17, b"<d>".iter().copied());
    body.truncate(len - b"</d></push>".len());
    body.extend_from_slice(b"</d></push>");
    body
}

/// Waits until the server's log has `count` lines holding `text`.
async fn wait_log(f: &Fixture, text: &str, count: usize) {
    let end = Instant::now() + Duration::from_secs(20);
    while f.log().matches(text).count() < count {
        assert!(
            Instant::now() < end,
            "no {count}× {text:?} in:\n{}",
            f.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Bodies of unknown length (chunked) are read as they arrive: a small one gets memory
/// however much others hold, one that outgrows the free memory is refused with a retryable
/// 503 (never waiting while it holds memory), and one that trickles holds only its first part,
/// so a body of the largest size is read beside it.
#[tokio::test]
async fn chunked_bodies_grow_their_memory_as_they_arrive() {
    // XML costs six times its size: one 256 KiB body takes 1.5 MiB of the 2 MiB bodies pool.
    let f = Fixture::start(
        &hooks(),
        &[
            "-max-body-size",
            "256KiB",
            "-max-body-memory",
            "3MiB",
            "-debug",
        ],
    );
    let reserved = "memory for the body reserved";
    let first_part = "memory for the first part of a body of unknown length reserved";
    let largest = xml_of(256 * 1024);
    let mut slow = RawRequest::open(&f, "/hooks/xml", "Content-Length: 262144").await;
    slow.send(&largest[..1024]).await.expect("sending");
    wait_log(&f, reserved, 1).await;

    let mut small = RawRequest::open(&f, "/hooks/xml", "Transfer-Encoding: chunked").await;
    small.chunk(&xml_of(2000)).await.expect("sending");
    small.send(b"0\r\n\r\n").await.expect("sending");
    let head = small.response_head().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let mut large = RawRequest::open(&f, "/hooks/xml", "Transfer-Encoding: chunked").await;
    for part in xml_of(200 * 1024).chunks(16 * 1024) {
        if large.chunk(part).await.is_err() {
            break; // refused: the server stopped reading
        }
    }
    let _ = large.send(b"0\r\n\r\n").await;
    let head = large.response_head().await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.contains("Retry-After: "), "{head}");

    slow.send(&largest[1024..]).await.expect("sending");
    let head = slow.response_head().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // A chunked body that trickles holds the memory of its first part only.
    let mut trickle = RawRequest::open(&f, "/hooks/xml", "Transfer-Encoding: chunked").await;
    trickle.chunk(&largest[..1024]).await.expect("sending");
    wait_log(&f, first_part, 2).await;
    let mut full = RawRequest::open(&f, "/hooks/xml", "Content-Length: 262144").await;
    full.send(&largest).await.expect("sending");
    let head = full.response_head().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    trickle.chunk(&largest[1024..]).await.expect("sending");
    trickle.send(b"0\r\n\r\n").await.expect("sending");
    let head = trickle.response_head().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let _ = trickle.stream.shutdown().await;
}

#[tokio::test]
async fn rule_values_are_priced_only_when_the_rules_reach_them() {
    // A 3 MiB budget: the work pool, where rendered values are reserved, is 1 MiB.
    let hook = json!({
        "id": "lazy",
        "execute-command": "/bin/true",
        "response-message": "ran",
        "trigger-rule": {"and": [
            {"match": {"type": "value", "value": "yes",
                "parameter": {"source": "payload", "name": "a"}}},
            {"match": {"type": "value", "value": "x",
                "parameter": {"source": "payload", "name": "big"}}}
        ]}
    });
    let f = Fixture::start(&[hook], &["-max-body-memory", "3MiB"]);
    let big = "x".repeat(1536 * 1024);
    // The `and` stops at its first value, as the reference's does: the value larger than the
    // work pool is never rendered, so it is not refused for its memory.
    let resp = f.trigger("lazy", json!({"a": "no", "big": big})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.expect("body"),
        "Hook rules were not satisfied."
    );
    // Reached, it is.
    let resp = f.trigger("lazy", json!({"a": "yes", "big": big})).await;
    assert_eq!(resp.status(), 413);
}
