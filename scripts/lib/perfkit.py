"""Shared by hookrun's measuring scripts: scripts/bench (its python helper), scripts/cost-budget
and scripts/symbol-order. The hooks files they start the server with (so that the idle memory
the bench reports is measured on the same start-up that symbol-order lays the binary out for,
and cost-budget's start-up figure is the bench's start-up row), and the small pieces each of
them needs to talk to a server on 127.0.0.1.

Standard library only. A script imports it with scripts/lib on sys.path and sets PROG first.
"""

import json
import socket
import sys
import time

# The name error messages start with ("scripts/bench").
PROG = "scripts"

# What the `echo` hook prints (scripts/bench's C spawner runs /bin/echo with the same text).
ECHO = "deployed example/app:1.4.2 to production"

# The answer of a hook whose trigger rules refuse the request.
REJECTED = "Hook rules were not satisfied."

# The push event the `reject` hook's rules expect: another branch or repository is refused.
RELEASE_PUSH = {"repository.full_name": "example/app", "ref": "refs/heads/release"}


def fail(msg):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def small_hooks():
    """The eight hooks of the bench's idle row and its loads: rules on the payload, commands with
    and without output in the response, arguments, a long command."""
    return [
        {"id": "reject", "execute-command": "/bin/true", "response-message": "reject matched",
         "trigger-rule": {"and": [
             {"match": {"type": "value", "value": value,
                        "parameter": {"source": "payload", "name": name}}}
             for name, value in RELEASE_PUSH.items()]}},
        {"id": "true", "execute-command": "/bin/true", "include-command-output-in-response": True},
        {"id": "echo", "execute-command": "/bin/echo", "include-command-output-in-response": True,
         "pass-arguments-to-command": [{"source": "string", "name": ECHO}]},
        {"id": "large", "execute-command": "/bin/true", "response-message": "large matched",
         "trigger-rule": {"match": {"type": "value", "value": "expected",
                                    "parameter": {"source": "payload",
                                                  "name": "meta.build.token"}}}},
        {"id": "burst", "execute-command": "/bin/sleep", "response-message": "burst accepted",
         "pass-arguments-to-command": [{"source": "string", "name": "2"}]},
        {"id": "wait-done", "execute-command": "/bin/sh",
         "include-command-output-in-response": True,
         "pass-arguments-to-command": [{"source": "string", "name": "-c"},
                                       {"source": "string", "name": "sleep 0.2; echo done"}]},
        {"id": "forget-true", "execute-command": "/bin/true", "response-message": "accepted"},
        {"id": "flood", "execute-command": "/bin/sleep", "response-message": "accepted",
         "pass-arguments-to-command": [{"source": "string", "name": "30"}]},
    ]


def big_hooks():
    """5,000 hooks as a generator writes them: one token each, and the same branch pattern."""
    return [{"id": f"hook-{i}", "execute-command": "/bin/true", "response-message": f"hook {i}",
             "trigger-rule": {"and": [
                 {"match": {"type": "value", "value": f"secret-{i}",
                            "parameter": {"source": "url", "name": "token"}}},
                 {"match": {"type": "regex", "regex": "^refs/heads/(main|release/[0-9.]+)$",
                            "parameter": {"source": "payload", "name": "ref"}}}]}}
            for i in range(5000)]


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=1.0):
    """GET over HTTP/1.0 on 127.0.0.1: (status, body as text). Raises OSError when the server
    does not answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), body.decode(errors="replace")
    except (IndexError, ValueError):
        raise ConnectionError(f"not an HTTP answer: {data[:80]!r}") from None


def wait_ready(proc, port, logfile, limit=120.0):
    """Polls GET / until the server started as proc answers OK; fails when it exits first, gives
    another answer or does not answer within `limit` seconds (valgrind makes start-up slow)."""
    deadline = time.time() + limit
    while True:
        if proc.poll() is not None:
            fail(f"hookrun exited with {proc.returncode} before answering; log: {logfile}")
        try:
            status, body = get(port, "/", 30)
            if (status, body) == (200, "OK"):
                return
            fail(f"GET / answered {status} {body!r}; log: {logfile}")
        except OSError:
            pass
        if time.time() > deadline:
            fail(f"hookrun did not answer GET / within {limit:.0f} s; log: {logfile}")
        time.sleep(0.01)
