#!/usr/bin/python3
"""The differential suite's hook command: records what it received, then answers as asked.

Writes one JSON record per run into $RECORDER_DIR (set differently for each server; commands
inherit the server's environment): the executed path and arguments, the environment variables
whose names start with HOOK_ or are listed in $RECORDER_ENV_NAMES (comma-separated), the working
directory, stdin, and for each variable listed in $RECORDER_FILE_VARS the path it names and
that file's content.

Arguments steer the answer: `exit=N` exits with N (default 0), `out=TEXT` / `err=TEXT` replace
the default stdout / stderr text, `repeat=N` writes stdout N times, `sleep=SECONDS` waits before
answering, `signal=N` ends by killing itself with signal N. Stdlib only.
"""

import base64
import json
import os
import sys
import time


def text(data):
    """Bytes as text when they are UTF-8, else tagged base64, so records stay JSON."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def environment():
    named = {n for n in os.environ.get("RECORDER_ENV_NAMES", "").split(",") if n}
    env = {}
    for key, value in os.environb.items():
        name = key.decode("utf-8", "replace")
        if name.startswith("HOOK_") or name in named:
            env[name] = text(value)
    return env


def files():
    out = {}
    for name in [n for n in os.environ.get("RECORDER_FILE_VARS", "").split(",") if n]:
        path = os.environ.get(name)
        if path is None:
            continue
        try:
            with open(path, "rb") as f:
                content = text(f.read())
        except OSError as e:
            content = "unreadable: " + e.strerror
        out[name] = {"path": path, "content": content}
    return out


def record():
    # The kernel replaces argv[0] of a script by the path it executed, so the server's argv[0]
    # (the hook's execute-command) cannot be seen here; the executed path can.
    return {
        "exec": text(os.fsencode(sys.argv[0])),
        "args": [text(os.fsencode(a)) for a in sys.argv[1:]],
        "env": environment(),
        "cwd": os.getcwd(),
        "stdin": text(sys.stdin.buffer.read()),
        "files": files(),
    }


def save(rec):
    folder = os.environ.get("RECORDER_DIR")
    if not folder:
        return
    name = "%d-%d.json" % (time.time_ns(), os.getpid())
    tmp = os.path.join(folder, "." + name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(rec, f, sort_keys=True)
    os.rename(tmp, os.path.join(folder, name))


def main():
    rec = record()
    save(rec)
    code, out, err, repeat, sig = 0, "recorder: ran\n", "recorder: stderr\n", 1, 0
    for arg in sys.argv[1:]:
        if arg.startswith("exit="):
            code = int(arg[5:] or "0")
        elif arg.startswith("out="):
            out = arg[4:]
        elif arg.startswith("err="):
            err = arg[4:]
        elif arg.startswith("signal="):
            sig = int(arg[7:])
        elif arg.startswith("repeat="):
            repeat = int(arg[7:])
        elif arg.startswith("sleep="):
            time.sleep(float(arg[6:]))
    sys.stdout.write(out * repeat)
    sys.stdout.flush()
    # Both servers capture stdout and stderr; a pause keeps their order unambiguous.
    time.sleep(0.03)
    sys.stderr.write(err)
    sys.stderr.flush()
    if sig:
        os.kill(os.getpid(), sig)
    sys.exit(code)


if __name__ == "__main__":
    main()
