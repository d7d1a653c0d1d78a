#!/usr/bin/python3
"""A loopback SMTP server for hookrun's notification tests, on Debian's aiosmtpd.

Modes: plain, STARTTLS (required) or implicit TLS, optionally with AUTH (PLAIN/LOGIN) checked
against a user and a password file. Every message is saved as DIR/NNNN.eml (as received) and
DIR/NNNN.json (envelope, decoded subject, recipients, text and HTML parts). Prints
"port N" on standard output once it accepts connections, then serves until killed.

Usage: smtp_server.py --dir DIR [--tls starttls|implicit --cert F --key F]
                      [--user U --password-file F]
"""
import argparse
import json
import os
import signal
import socket
import ssl
import sys
import threading
import warnings
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Saver:
    def __init__(self, out):
        self.out = out
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = self.count
            self.count += 1
        raw = envelope.original_content or envelope.content
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "auto_submitted": str(msg.get("Auto-Submitted", "")),
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            # aiosmtpd sets session.ssl for STARTTLS only; implicit TLS shows on the transport.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(getattr(session, "authenticated", False)),
        }
        base = os.path.join(self.out, "%04d" % n)
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    # aiosmtpd 1.4 warns about its own use of Session.login_data.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls", choices=["starttls", "implicit"])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    args = ap.parse_args()

    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    smtp_args = {}
    if args.user:
        with open(args.password_file, encoding="utf-8") as f:
            password = f.read().rstrip("\n")
        smtp_args["authenticator"] = authenticator(args.user, password)
        # aiosmtpd only knows of STARTTLS: with implicit TLS the session is already encrypted.
        smtp_args["auth_require_tls"] = args.tls == "starttls"
        smtp_args["auth_required"] = True
    if args.tls == "starttls":
        smtp_args["tls_context"] = context
        smtp_args["require_starttls"] = True

    port = free_port()
    controller = Controller(
        Saver(args.dir),
        hostname="127.0.0.1",
        port=port,
        ssl_context=context if args.tls == "implicit" else None,
        server_hostname="127.0.0.1",
        **smtp_args,
    )
    controller.start()
    print("port %d" % port, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    sys.exit(main())
