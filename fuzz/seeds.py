#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/seeds/<target>/ (never committed).

Seeds come from this repository only: the string literals of its tests and unit tests (bodies,
registry payload samples, hooks files), its example hooks files, and a few large inputs made
here that reach size-dependent costs (many attributes, deep nesting, many fields) which short
literals cannot. Each seed starts with the selector bytes its target reads (see the target's
doc comment).

Usage: fuzz/seeds.py [OUT]   (OUT defaults to fuzz/seeds)
"""

import hashlib
import json
import pathlib
import re
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz" / "seeds"

# body_rules: indexes into CONTENT_TYPES (fuzz_targets/body_rules.rs).
JSON, FORM, XML, TEXT_XML, MULTIPART, API_JSON = 0, 1, 2, 3, 4, 5
BOUNDARY = b"fuzzboundary"
# registry_events: Provider::ALL has 9 entries, HEADERS 6.
PROVIDERS, HEADER_SETS = 9, 6
# hooks_file: option bits.
TEMPLATE, LENIENT, YAML = 1, 2, 8

RAW_STRING = re.compile(r'r(#+)"(.*?)"\1', re.S)
PLAIN_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def rust_sources(*globs):
    for pattern in globs:
        yield from sorted(ROOT.glob(pattern))


def literals(path):
    """Raw string literals, and plain ones long enough to be payloads, of a Rust file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    for m in RAW_STRING.finditer(text):
        yield m.group(2)
    for m in PLAIN_STRING.finditer(text):
        value = m.group(1)
        if len(value) >= 8:
            try:
                yield json.loads('"' + value + '"')
            except ValueError:
                continue


def kind(text):
    s = text.strip()
    if not s:
        return None
    if "execute-command" in s:
        return "hooks"
    if s[0] in "{[":
        try:
            json.loads(s)
            return "json"
        except ValueError:
            return "json-ish" if len(s) > 2 else None
    if s.startswith("<"):
        return "xml"
    if "=" in s and not any(c.isspace() for c in s):
        return "form"
    return None


class Corpus:
    def __init__(self, target):
        self.dir = OUT / target
        self.dir.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, data):
        name = hashlib.sha1(data).hexdigest()
        path = self.dir / name
        if not path.exists():
            path.write_bytes(data)
            self.count += 1


def body_seed(content_type, body, query=b"q=1&sig=sha1%3D00"):
    return bytes([content_type, len(query)]) + query + body


def multipart(fields):
    out = b""
    for name, value in fields:
        out += b"--" + BOUNDARY + b"\r\n"
        out += b'Content-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


def large_bodies():
    """Inputs that make a non-linear parser or a per-value allocation show."""
    yield JSON, b"[" + b",".join([b"1"] * 100_000) + b"]"
    yield JSON, b'{"a":' * 5_000 + b"1" + b"}" * 5_000
    yield JSON, b"[" * 20_000 + b"]" * 20_000
    yield JSON, json.dumps({"items": [{"id": i, "name": "n%d" % i} for i in range(20_000)]}).encode()
    yield JSON, json.dumps({"text": "ab" * 200_000 + "cc"}).encode()
    attrs = b" ".join(b'a%d="v"' % i for i in range(50_000))
    yield XML, b"<root " + attrs + b"/>"
    yield XML, b"<a>" * 10_000 + b"x" + b"</a>" * 10_000
    yield XML, b"<root>" + b"".join(b"<item id=\"%d\">v</item>" % i for i in range(30_000)) + b"</root>"
    yield FORM, b"&".join(b"k%d=v" % i for i in range(50_000))
    yield FORM, b"&".join([b"same=v"] * 50_000)
    yield MULTIPART, multipart([(b"f%d" % i, b"v") for i in range(5_000)])
    yield MULTIPART, multipart([(b"payload", json.dumps({"ref": "refs/heads/main"}).encode())])


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    bodies, events, hooks = Corpus("body_rules"), Corpus("registry_events"), Corpus("hooks_file")
    readings = Corpus("hooks_read")

    request_sources = rust_sources(
        "src/request/**/*.rs", "src/rules/*.rs", "tests/hookrun/*.rs",
        "tests/hookrun/differential/*.rs",
    )
    for path in request_sources:
        for text in literals(path):
            data = text.encode("utf-8", "surrogatepass")
            k = kind(text)
            if k in ("json", "json-ish"):
                bodies.add(body_seed(JSON, data))
                bodies.add(body_seed(API_JSON, data))
                bodies.add(body_seed(MULTIPART, multipart([(b"payload", data)])))
            elif k == "xml":
                bodies.add(body_seed(XML, data))
                bodies.add(body_seed(TEXT_XML, data))
            elif k == "form":
                bodies.add(body_seed(FORM, data))
                bodies.add(body_seed(MULTIPART, multipart(
                    [tuple(p.split(b"=", 1)) for p in data.split(b"&") if b"=" in p])))
            elif k == "hooks":
                flags = TEMPLATE if "{{" in text else 0
                yaml = 0 if text.lstrip().startswith("[") else YAML
                hooks.add(bytes([flags | yaml]) + data)
                hooks.add(bytes([flags | yaml | LENIENT]) + data)
    for content_type, body in large_bodies():
        bodies.add(body_seed(content_type, body))

    for path in rust_sources("src/registry/**/*.rs", "tests/hookrun/registry_events.rs"):
        for text in literals(path):
            if kind(text) != "json":
                continue
            data = text.encode("utf-8", "surrogatepass")
            for headers in range(HEADER_SETS):
                events.add(bytes([0, headers]) + data)
            for provider in range(1, PROVIDERS):
                events.add(bytes([provider, 0x80]) + data)
            bodies.add(body_seed(JSON, data))

    examples = sorted(
        p for p in ROOT.glob("examples/**/*")
        if p.suffix in (".json", ".yaml", ".yml") and "execute-command" in p.read_text(errors="replace")
    )
    for path in [ROOT / "hooks.example.json", *examples]:
        data = path.read_bytes()
        flags = TEMPLATE if b"{{" in data else 0
        yaml = YAML if path.suffix in (".yaml", ".yml") else 0
        hooks.add(bytes([flags | yaml]) + data)
        hooks.add(bytes([flags | yaml | LENIENT]) + data)
    many = [{"id": "h%d" % i, "execute-command": "/bin/true",
             "trigger-rule": {"match": {"type": "value", "value": "x",
                                        "parameter": {"source": "payload", "name": "a.b"}}}}
            for i in range(5_000)]
    hooks.add(bytes([0]) + json.dumps(many).encode())
    hooks.add(bytes([TEMPLATE]) + b"[" + b",".join(
        b'{"id":"t%d","execute-command":"{{ getenv \\"HOST\\" }}"}' % i for i in range(3_000)) + b"]")

    # hooks_read: the JSON files among them, without the option byte.
    for path in sorted(hooks.dir.iterdir()):
        seed = path.read_bytes()
        if seed and not seed[0] & YAML:
            readings.add(seed[1:])

    for corpus in (bodies, events, hooks, readings):
        print(f"{corpus.dir.relative_to(ROOT)}: {corpus.count} seeds")


if __name__ == "__main__":
    main()
