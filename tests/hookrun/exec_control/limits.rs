//! Request limits over raw TCP: a 1 GiB body is refused with 413 without being buffered, slow
//! headers (also an idle keep-alive connection's next head) and slow bodies are cut off,
//! `-max-connections` bounds open connections.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixture::{sh_hook, status_kib, with, Fixture};

const GIB: u64 = 1 << 30;

fn connect(f: &Fixture) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", f.server.port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s
}

/// Reads until the end of the response head or the connection's end; returns what came.
fn read_head(s: &mut TcpStream) -> std::io::Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if got.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// Sends a 1 GiB body (declared, or chunked) as fast as the server takes it, sampling the
/// server's RSS, and returns the response head and the peak RSS seen (KiB).
fn send_gigabyte(f: &Fixture, chunked: bool) -> (String, u64, u64) {
    let mut s = connect(f);
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {GIB}")
    };
    let head = format!(
        "POST /hooks/sink HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n{framing}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("writing the head");
    let mut w = s.try_clone().expect("cloning the stream");
    let pid = f.pid();
    // The writer never holds more than one 64 KiB chunk: nothing is buffered client-side.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let (mut sent, mut peak) = (0u64, 0u64);
        while sent < GIB {
            let ok = if chunked {
                w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .and_then(|()| w.write_all(&chunk))
                    .and_then(|()| w.write_all(b"\r\n"))
            } else {
                w.write_all(&chunk)
            };
            if ok.is_err() {
                break;
            }
            sent += chunk.len() as u64;
            if sent % (4 << 20) == 0 {
                peak = peak.max(status_kib(pid, "VmRSS"));
            }
        }
        (sent, peak)
    });
    let head = read_head(&mut s).unwrap_or_else(|e| format!("read error: {e}"));
    let _ = s.shutdown(std::net::Shutdown::Both);
    let (sent, peak) = writer.join().expect("writer");
    (head, sent, peak)
}

#[test]
fn gigabyte_body_is_refused_with_413_without_buffering() {
    let f = Fixture::start(&[sh_hook("sink", "true", &[])], &["-max-body-size", "1MiB"]);
    let pid = f.pid();
    let hwm_before = status_kib(pid, "VmHWM");
    for chunked in [false, true] {
        let t0 = Instant::now();
        let (head, sent, peak) = send_gigabyte(&f, chunked);
        eprintln!(
            "1 GiB body (chunked: {chunked}): {:?}, {} KiB sent before the server stopped \
             reading, peak VmRSS sampled {peak} KiB",
            t0.elapsed(),
            sent / 1024
        );
        assert!(
            head.starts_with("HTTP/1.1 413"),
            "chunked {chunked}: {head:?}"
        );
        assert!(sent < GIB, "the server read the whole body");
        assert!(t0.elapsed() < Duration::from_secs(10));
    }
    let hwm_after = status_kib(pid, "VmHWM");
    eprintln!("VmHWM before {hwm_before} KiB, after {hwm_after} KiB");
    assert!(
        hwm_after < hwm_before + 6 * 1024,
        "memory grew from {hwm_before} to {hwm_after} KiB"
    );
    // The server is still fine.
    let mut s = connect(&f);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    assert!(read_head(&mut s).expect("read").starts_with("HTTP/1.1 200"));
}

/// Expects the server to end the connection (EOF, reset, or an error status) within
/// `min..max` of `t0`; returns what it sent.
fn expect_cut_off(s: &mut TcpStream, t0: Instant, min: Duration, max: Duration) -> String {
    let got = read_head(s).unwrap_or_else(|e| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => panic!("never cut off"),
        _ => String::new(),
    });
    let took = t0.elapsed();
    assert!(took >= min && took < max, "cut off after {took:?}: {got:?}");
    got
}

#[test]
fn slow_headers_are_cut_off_after_header_timeout() {
    let f = Fixture::start(&[sh_hook("h", "true", &[])], &["-header-timeout", "500ms"]);
    let (min, max) = (Duration::from_millis(400), Duration::from_millis(2_500));
    // Each clock starts before the connection is made: the server's starts after it, so a
    // test thread descheduled in between (a loaded machine) cannot make the cut-off look early.
    // Half a request head, then nothing.
    let t0 = Instant::now();
    let mut s = connect(&f);
    s.write_all(b"POST /hooks/h HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let got = expect_cut_off(&mut s, t0, min, max);
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got:?}");
    // A byte every 100 ms: progress alone does not extend the deadline.
    let t0 = Instant::now();
    let mut s = connect(&f);
    let mut w = s.try_clone().expect("clone");
    let dribble = std::thread::spawn(move || {
        for b in b"POST /hooks/h HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if w.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    expect_cut_off(&mut s, t0, min, max);
    dribble.join().expect("dribbler");
    // A connection that never sends a byte.
    let t0 = Instant::now();
    let mut s = connect(&f);
    expect_cut_off(&mut s, t0, min, max);
}

#[test]
fn slow_body_gets_408_after_body_timeout() {
    let f = Fixture::start(&[sh_hook("h", "true", &[])], &["-body-timeout", "500ms"]);
    // The clock starts before the request is sent, as the server's can only start after it.
    let t0 = Instant::now();
    let mut s = connect(&f);
    s.write_all(b"POST /hooks/h HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .expect("write");
    let got = expect_cut_off(
        &mut s,
        t0,
        Duration::from_millis(400),
        Duration::from_millis(2_500),
    );
    assert!(got.starts_with("HTTP/1.1 408"), "{got:?}");
}

#[test]
fn max_connections_bounds_concurrent_connections() {
    let args = ["-max-connections", "2", "-header-timeout", "10s"];
    let f = Fixture::start(&[sh_hook("h", "true", &[])], &args);
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(&f);
            s.write_all(b"GET / HTTP/1.1\r\n").expect("write");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut third = connect(&f);
    third
        .set_read_timeout(Some(Duration::from_millis(600)))
        .expect("timeout");
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 64];
    let waited = third.read(&mut buf);
    assert!(
        waited
            .as_ref()
            .is_err_and(|e| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a third connection was served: {waited:?}"
    );
    // One held connection closes: the waiting one is served.
    drop(held.pop());
    third
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let head = read_head(&mut third).expect("read");
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
}

#[test]
fn keep_alive_connection_is_cut_off_after_header_timeout_between_requests() {
    let slow = with(
        sh_hook("slow", "sleep 1; echo done", &[]),
        json!({"include-command-output-in-response": true}),
    );
    let f = Fixture::start(&[slow], &["-header-timeout", "500ms"]);
    let mut s = connect(&f);
    // A request answered in 1 s, twice the header timeout: the time a request is being
    // answered does not count.
    s.write_all(b"GET /hooks/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let head = read_head(&mut s).expect("read");
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
    // The same connection serves the next request at once.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let head = read_head(&mut s).expect("read");
    assert!(head.contains("HTTP/1.1 200"), "{head:?}");
    // Then it waits for a head for the header timeout from the end of that response.
    let t0 = Instant::now();
    expect_cut_off(
        &mut s,
        t0,
        Duration::from_millis(400),
        Duration::from_millis(2_500),
    );
}
