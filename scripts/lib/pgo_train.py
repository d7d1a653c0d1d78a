#!/usr/bin/env python3
"""The training run of hookrun's profile-guided build (scripts/build-release): drives a binary
built with `-Cprofile-generate` through what a user's server does, so that the profile it writes
(one .profraw per process, in the folder the build named) tells the optimised build which code
is hot and which is cold.

Usage: scripts/lib/pgo_train.py BINARY WORKDIR [--rounds N]

What it runs, each server on 127.0.0.1 and stopped with SIGTERM (the profile is written when the
process exits normally):

  1. a server with default flags over a hooks file with a hook for each feature: rules of every
     kind (value, regex, HMAC SHA-1/256/512, IP ranges, and/or/not, JSONPath, soft signature
     failures), parameters from every source, commands with arguments, environment and files,
     output in the response, on error and streamed, serial hooks, response headers and codes;
     then, round after round on keep-alive connections from two client threads, the same mix of
     requests: JSON (object, array, nested, 1 MiB), form, multipart (fields and a JSON file) and
     XML bodies, chunked bodies, HTTP/1.0, rules that hold and that do not, wrong signatures,
     unknown hooks, wrong methods, a malformed body, GET /, health and metrics; and a reload
     (SIGHUP) of a rewritten hooks file every few rounds;
  2. a server with `-hotreload -verbose -state DIR` (logs, job history on disk, a reload by the
     file watch) with a shorter run of the same mix;
  3. a server with `-secure` (HTTPS, a certificate openssl makes for the run; skipped with a
     note when openssl is missing) with a shorter run of the same mix;
  4. start-up with 5,000 hooks (as the cost budget's start-up figure) and a few requests.

Every kind of request gets the same number of rounds: no row of scripts/bench is favoured, the
bench's rule-rejected request is one kind in about thirty. Every answer is checked, so that a
change of behaviour cannot turn the training into a run of error paths unnoticed.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perfkit  # noqa: E402  (after its directory is on the path)
from perfkit import REJECTED, RELEASE_PUSH, fail, free_port, log, wait_ready  # noqa: E402

perfkit.PROG = "scripts/lib/pgo_train.py"
SECRET = "training-secret"


def payload(name):
    return {"source": "payload", "name": name}


def match(kind, param, **fields):
    return {"match": {"type": kind, "parameter": param, **fields}}


def feature_hooks(work):
    """A hook for each feature the README lists, on top of the bench's eight."""
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    sig = {"source": "header", "name": "X-Hub-Signature-256"}
    return perfkit.small_hooks() + [
        {"id": "push", "execute-command": "/bin/sh", "include-command-output-in-response": True,
         "pass-arguments-to-command": [
             {"source": "string", "name": "-c"},
             {"source": "string",
              "name": 'echo "$1 $2 $HOOK_PUSHER"; cat "$PAYLOAD_FILE" >/dev/null'},
             {"source": "string", "name": "sh"},
             payload("repository.full_name"), payload("head_commit.id")],
         "pass-environment-to-command": [payload("pusher.name") | {"envname": "HOOK_PUSHER"}],
         "pass-file-to-command": [{"source": "entire-payload", "envname": "PAYLOAD_FILE"}],
         "response-headers": [{"name": "X-Deploy", "value": "yes"}],
         "trigger-rule": {"and": [
             match("payload-hmac-sha256", sig, secret=SECRET),
             match("regex", payload("ref"), regex="^refs/heads/(main|release/[0-9.]+)$"),
             {"not": match("value", payload("pusher.name"), value="blocked")}]}},
        {"id": "signed-or", "execute-command": "/bin/true", "response-message": "signed",
         "trigger-signature-soft-failures": True,
         "trigger-rule": {"or": [
             match("payload-hmac-sha1", {"source": "header", "name": "X-Hub-Signature"},
                   secret=SECRET),
             match("payload-hmac-sha512", {"source": "header", "name": "X-Signature-512"},
                   secret=SECRET),
             match("value", {"source": "url", "name": "token"}, value="open-sesame")]}},
        {"id": "form", "execute-command": "/bin/echo", "include-command-output-in-response": True,
         "http-methods": ["POST"],
         "pass-arguments-to-command": [payload("branch"), payload("meta.tag")],
         "parse-parameters-as-json": [payload("meta")],
         "trigger-rule": {"and": [
             match("value", payload("branch"), value="main"),
             {"match": {"type": "ip-whitelist", "ip-range": "10.0.0.0/8 127.0.0.1/8 ::1/128"}}]}},
        {"id": "multipart", "execute-command": "/bin/echo",
         "include-command-output-in-response": True,
         "pass-arguments-to-command": [payload("field"), payload("file.image")],
         "trigger-rule": match("regex", payload("file.image"), regex=r"^[a-z./]+:[0-9.]+$")},
        {"id": "xml", "execute-command": "/bin/true", "response-message": "xml accepted",
         "success-http-response-code": 202, "trigger-rule-mismatch-http-response-code": 412,
         "trigger-rule": match("value", payload("event.-kind"), value="push")},
        {"id": "jsonpath", "execute-command": "/bin/echo",
         "include-command-output-in-response": True,
         "pass-arguments-to-command": [payload("$.events[?(@.action=='push')].target.tag")],
         "trigger-rule": match("regex", payload("root.0.id"), regex="^[0-9]+$")},
        {"id": "fails", "execute-command": "/bin/sh",
         "include-command-output-in-response": True,
         "include-command-output-in-response-on-error": True,
         "pass-arguments-to-command": [{"source": "string", "name": "-c"},
                                       {"source": "string", "name": "echo failing >&2; exit 3"}]},
        {"id": "stream", "execute-command": "/bin/sh", "stream-command-output": True,
         "pass-arguments-to-command": [{"source": "string", "name": "-c"},
                                       {"source": "string", "name": "echo one; echo two"}]},
        {"id": "serial", "execute-command": "/bin/true", "concurrency": "serial",
         "response-message": "queued", "command-working-directory": out,
         "pass-environment-to-command": [{"source": "entire-headers", "envname": "HEADERS"},
                                         {"source": "entire-query", "envname": "QUERY"},
                                         {"source": "request", "name": "remote-addr"}]},
        {"id": "get-only", "execute-command": "/bin/echo", "http-methods": ["GET"],
         "include-command-output-in-response": True,
         "pass-arguments-to-command": [{"source": "url", "name": "name"},
                                       {"source": "request", "name": "method"}]},
        {"id": "files", "execute-command": "/bin/true", "response-message": "files",
         "pass-file-to-command": [{"source": "payload", "name": "blob", "base64decode": True},
                                  {"source": "raw-request-body", "envname": "RAW"}]},
    ]


def push_event(extra_size=0, **over):
    doc = {"ref": "refs/heads/main", "before": "9b2f0f7c3d1e4a5b6c7d8e9f0a1b2c3d4e5f6a7b",
           "after": "1e4a5b6c7d8e9f0a1b2c3d4e5f6a7b9b2f0f7c3d",
           "repository": {"id": 1296269, "name": "app", "full_name": "example/app",
                          "private": False, "owner": {"login": "example", "id": 1},
                          "html_url": "https://git.example/example/app",
                          "default_branch": "main"},
           "pusher": {"name": "dev", "email": "dev@example.org"},
           "head_commit": {"id": "1e4a5b6c7d8e9f0a1b2c3d4e5f6a7b9b2f0f7c3d",
                           "message": "Fix the thing\n\nLonger text. " + "x" * extra_size,
                           "timestamp": "2026-11-30T08:00:00Z",
                           "added": ["src/new.rs"], "removed": [],
                           "modified": ["src/main.rs", "README.md"]}}
    doc.update(over)
    return json.dumps(doc).encode()


def nested_document(size):
    items, i = [], 0
    doc = {"meta": {"build": {"token": "mismatch", "number": 42}}, "items": items}
    while len(items) * 80 < size:
        items.append({"id": i, "name": f"item-{i}", "tags": ["a", "b"], "ok": i % 2 == 0,
                      "score": i * 1.5, "text": "caf\u00e9 \\\"quoted\\\" \u2713"})
        i += 1
    return json.dumps(doc).encode()


def multipart(boundary):
    parts = [
        ("field", None, "text/plain", b"value from a form"),
        ("file", "event.json", "application/json",
         json.dumps({"image": "registry.example/app:1.4.2", "n": 3}).encode()),
        ("note", "note.txt", "application/octet-stream", b"binary\x00\x01" * 64),
    ]
    out = b""
    for name, filename, ctype, body in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
                f"Content-Type: {ctype}\r\n\r\n").encode() + body + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def sign(algo, body):
    return hmac.new(SECRET.encode(), body, algo).hexdigest()


def github(body):
    """The signature header a source host sends with `body`."""
    return {"X-Hub-Signature-256": "sha256=" + sign(hashlib.sha256, body)}


def requests():
    """(method, path, headers, body, expected status, text the answer contains) of one round."""
    push = push_event(200)
    big_push = push_event(20000)
    other = push_event(200, ref="refs/heads/feature/x")
    wrong_repo = json.dumps(perfkit.RELEASE_PUSH | {"repository.full_name": "x"}).encode()
    release = push_event(0, ref=RELEASE_PUSH["ref"])
    form = b"branch=main&meta=%7B%22tag%22%3A%22v1.4.2%22%7D&extra=a+b%26c"
    bad_form = b"branch=feature&meta=%7B%7D"
    xml = (b'<?xml version="1.0"?><event kind="push"><repo name="example/app"/>'
           b"<commits><c id=\"1\">one &amp; two</c><c id=\"2\"><![CDATA[x<y]]></c></commits>"
           b"</event>")
    xml_other = b'<event kind="tag"><repo name="example/app"/></event>'
    array = json.dumps([{"id": 7, "events": "x"}, {"id": 8}]).encode()
    events = json.dumps({"events": [{"action": "pull", "target": {"tag": "a"}},
                                    {"action": "push", "target": {"tag": "1.4.2"}}]}).encode()
    boundary = "----hookrun-training-7MA4YWxkTrZu0gW"
    blob = json.dumps({"blob": base64.b64encode(b"#!/bin/sh\necho hi\n" * 20).decode()}).encode()
    j = {"Content-Type": "application/json"}
    return [
        ("POST", "/hooks/reject", j, push, 200, REJECTED),
        ("POST", "/hooks/reject", j, wrong_repo, 200, REJECTED),
        ("POST", "/hooks/reject", j, release, 200, "reject matched"),
        ("POST", "/hooks/echo", j, push, 200, perfkit.ECHO),
        ("POST", "/hooks/true", {}, b"", 200, ""),
        ("POST", "/hooks/forget-true", j, push, 200, "accepted"),
        ("POST", "/hooks/push", j | github(push), push, 200, "example/app"),
        ("POST", "/hooks/push", j | github(big_push), big_push, 200, "example/app"),
        ("POST", "/hooks/push", j | github(other), other, 200, REJECTED),
        ("POST", "/hooks/push", j | {"X-Hub-Signature-256": "sha256=" + "0" * 64},
         push, 500, "Error occurred while evaluating hook rules."),
        ("POST", "/hooks/signed-or", j | {"X-Hub-Signature": "sha1=" + sign(hashlib.sha1, push)},
         push, 200, "signed"),
        ("POST", "/hooks/signed-or", j | {"X-Signature-512": sign(hashlib.sha512, push)},
         push, 200, "signed"),
        ("POST", "/hooks/signed-or?token=open-sesame", j | {"X-Hub-Signature": "sha1=00"},
         push, 200, "signed"),
        ("POST", "/hooks/signed-or?token=no", j, push, 200, REJECTED),
        ("POST", "/hooks/form", {"Content-Type": "application/x-www-form-urlencoded"}, form,
         200, "main v1.4.2"),
        ("POST", "/hooks/form", {"Content-Type": "application/x-www-form-urlencoded"}, bad_form,
         200, REJECTED),
        ("GET", "/hooks/form", {}, None, 405, ""),
        ("POST", "/hooks/multipart", {"Content-Type": f"multipart/form-data; boundary={boundary}"},
         multipart(boundary), 200, "value from a form registry.example/app:1.4.2"),
        ("POST", "/hooks/xml", {"Content-Type": "application/xml"}, xml, 202, "xml accepted"),
        ("POST", "/hooks/xml", {"Content-Type": "text/xml"}, xml_other, 412, REJECTED),
        ("POST", "/hooks/jsonpath", j, array, 200, ""),
        ("POST", "/hooks/jsonpath", j, events, 200, REJECTED),
        ("POST", "/hooks/fails", {}, b"", 500, "failing"),
        ("POST", "/hooks/stream", {}, b"", 200, "one\ntwo"),
        ("POST", "/hooks/serial?a=1&b=two", {"X-Custom": "yes"}, b"", 200, "queued"),
        ("GET", "/hooks/get-only?name=world", {}, None, 200, "world GET"),
        ("POST", "/hooks/files", j, blob, 200, "files"),
        ("POST", "/hooks/nosuchhook", {}, None, 404, "Hook not found."),
        ("POST", "/hooks/reject", j, b'{"repository": {"full_name": "example/app"', 200, ""),
        ("GET", "/", {}, None, 200, "OK"),
        ("GET", "/healthz", {}, None, 200, ""),
        ("GET", "/metrics", {}, None, 200, ""),
    ]


def large_requests():
    """Bodies of a mebibyte, sent once every few rounds as such a server would get them."""
    big = nested_document(1 << 20)
    return [("POST", "/hooks/large", {"Content-Type": "application/json"}, big, 200, REJECTED),
            ("POST", "/hooks/echo", {"Content-Type": "application/json"}, big, 200, perfkit.ECHO)]


def send(conn, req, chunked=False):
    method, path, headers, body, status, text = req
    try:
        # Only to a hook that reads the body: one that answers before reading it (404) closes
        # the connection rather than read a chunked body of unknown length.
        if chunked and body and status == 200:
            conn.request(method, path, body=iter([body[:100], body[100:]]), headers=headers,
                         encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read().decode(errors="replace")
    except OSError as e:
        fail(f"{method} {path} (chunked: {chunked}): {e}")
    if resp.status != status or text not in data:
        fail(f"{method} {path} answered {resp.status} {data[:200]!r}, expected {status} "
             f"with {text!r}")


def drive(port, rounds, offset, errors, tls=False):
    """One client thread: `rounds` rounds of every request, on one keep-alive connection."""
    try:
        if tls:
            context = ssl._create_unverified_context()  # the training's own certificate
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        reqs = requests()
        for r in range(rounds):
            for i, req in enumerate(reqs):
                send(conn, req, chunked=(i + r + offset) % 7 == 0)
            if r % 10 == offset and not tls:
                for req in large_requests():
                    send(conn, req)
                status, _ = perfkit.get(port, "/hooks/reject", 10)  # HTTP/1.0, no keep-alive
                if status != 200:
                    fail(f"GET /hooks/reject over HTTP/1.0 answered {status}")
        conn.close()
    except BaseException as e:  # noqa: BLE001  (reported by the main thread)
        errors.append(e)


def start(binary, work, name, hooks, flags=(), tls=False):
    port = free_port()
    logfile = os.path.join(work, f"{name}.log")
    with open(logfile, "w") as out:
        proc = subprocess.Popen([binary, "-ip", "127.0.0.1", "-port", str(port), "-hooks", hooks,
                                 *flags], stdout=out, stderr=subprocess.STDOUT)
    if tls:
        wait_ready_tls(proc, port, logfile)
    else:
        wait_ready(proc, port, logfile)
    return proc, port, logfile


def wait_ready_tls(proc, port, logfile):
    deadline = time.time() + 120
    context = ssl._create_unverified_context()
    while True:
        if proc.poll() is not None:
            fail(f"hookrun exited with {proc.returncode} before answering; log: {logfile}")
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        if time.time() > deadline:
            fail(f"hookrun did not answer GET / over TLS within 120 s; log: {logfile}")
        time.sleep(0.05)


def train_tls(binary, work, rounds):
    """The same mix over HTTPS (rustls), with a certificate made by openssl for the run."""
    if shutil.which("openssl") is None:
        log("training: openssl not found, so no certificate: TLS is not trained")
        return
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
                    "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    hooks = perfkit.write_json(os.path.join(work, "tls-hooks.json"), feature_hooks(work))
    proc, port, logfile = start(binary, work, "tls", hooks,
                                ("-secure", "-cert", cert, "-key", key), tls=True)
    errors = []
    threads = [threading.Thread(target=drive, args=(port, rounds, t, errors, True))
               for t in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop(proc, logfile)
    if errors:
        raise errors[0]


def stop(proc, logfile):
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail(f"hookrun did not stop within 60 s of SIGTERM; log: {logfile}")
    if code != 0:
        fail(f"hookrun exited with {code} (no profile is written then); log: {logfile}")


def serve_and_drive(binary, work, name, flags, rounds, reload_every):
    hooks = perfkit.write_json(os.path.join(work, f"{name}-hooks.json"), feature_hooks(work))
    proc, port, logfile = start(binary, work, name, hooks, flags)
    done = 0
    while done < rounds:
        batch = min(reload_every, rounds - done)
        errors = []
        threads = [threading.Thread(target=drive, args=(port, batch, t, errors)) for t in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            stop(proc, logfile)
            raise errors[0]
        done += batch
        # A rewritten file (one hook's message changed), read again by a reload.
        changed = feature_hooks(work)
        changed[1]["response-message"] = f"reload {done}"
        perfkit.write_json(hooks + ".tmp", changed)
        os.replace(hooks + ".tmp", hooks)
        if "-hotreload" not in flags:
            proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
    stop(proc, logfile)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary")
    parser.add_argument("work")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    binary, work = os.path.abspath(args.binary), os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    log(f"training: default flags, {args.rounds} rounds of {len(requests())} kinds of request")
    serve_and_drive(binary, work, "default", (), args.rounds, 20)
    log("training: -hotreload -verbose -state")
    state = os.path.join(work, "state")
    serve_and_drive(binary, work, "state", ("-hotreload", "-verbose", "-state", state),
                    max(args.rounds // 4, 1), 5)
    log("training: -secure (HTTPS)")
    train_tls(binary, work, max(args.rounds // 4, 1))
    log("training: start-up with 5,000 hooks")
    big = perfkit.write_json(os.path.join(work, "big-hooks.json"),
                             perfkit.big_hooks() + feature_hooks(work))
    for _ in range(2):
        proc, port, logfile = start(binary, work, "startup", big)
        errors = []
        drive(port, 2, 0, errors)
        if errors:
            stop(proc, logfile)
            raise errors[0]
        stop(proc, logfile)
    log(f"training: done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
