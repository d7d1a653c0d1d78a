#!/usr/bin/python3
"""A loopback DingTalk custom-robot endpoint for hookrun's end-to-end tests.

Accepts POST /robot/send?access_token=TOKEN&timestamp=MS&sign=SIGN as DingTalk documents it
(加签: sign = Base64(HMAC-SHA256(key = secret, message = timestamp + "\\n" + secret))), checks
the token and recomputes the signature, and saves every request as DIR/NNNN.json:
{"path", "token_ok", "sign_ok", "fresh", "body"}. Answers {"errcode":0,"errmsg":"ok"} when all
checks pass, DingTalk's error codes otherwise (310000 for a bad signature or stale timestamp,
300001 for a bad token). Binds 127.0.0.1 only; prints "port N" once it accepts connections,
then serves until killed.

Usage: dingtalk-receiver.py --dir DIR --token TOKEN --secret-file FILE [--port N]
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    with open(args.secret_file, encoding="utf-8") as f:
        secret = f.read().rstrip("\r\n")
    lock = threading.Lock()
    count = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            ts = query.get("timestamp", "")
            want = base64.b64encode(
                hmac.new(
                    secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256
                ).digest()
            ).decode()
            sign_ok = hmac.compare_digest(want, query.get("sign", ""))
            token_ok = hmac.compare_digest(args.token, query.get("access_token", ""))
            fresh = ts.isdigit() and abs(time.time() * 1000 - int(ts)) < 3600 * 1000
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            with lock:
                n = count[0]
                count[0] += 1
            record = {
                "path": url.path,
                "token_ok": token_ok,
                "sign_ok": sign_ok,
                "fresh": fresh,
                "body": body,
            }
            base = os.path.join(args.dir, "%04d" % n)
            with open(base + ".tmp", "w", encoding="utf-8") as f:
                json.dump(record, f, ensure_ascii=False)
            os.rename(base + ".tmp", base + ".json")
            if not token_ok:
                reply = {"errcode": 300001, "errmsg": "token is not exist"}
            elif not (sign_ok and fresh):
                reply = {"errcode": 310000, "errmsg": "sign not match"}
            else:
                reply = {"errcode": 0, "errmsg": "ok"}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *fargs):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("port %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
