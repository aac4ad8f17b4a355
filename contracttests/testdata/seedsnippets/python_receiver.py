"""Runs the API reference's Python snippet (verify.py) as a webhook receiver.

verify.py is read as text and used unchanged except for its placeholder secret,
which is replaced by the real signing secret from SEED_SECRET. A Flask app
calls the snippet's verify_webhook() for every POST: if it returns, the answer
is 200 {"ok": true, "event": <the envelope's event>}; its abort(401) goes out
as is.

Env: SEED_SECRET  the webhook's signing secret (required)
     PORT         port to listen on at 127.0.0.1 (default 0: any free port)
Prints "LISTENING <port>" on stdout once bound; logs every verdict to stderr.
"""

import os
import sys
import types

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

HERE = os.path.dirname(os.path.abspath(__file__))
SNIPPET = os.path.join(HERE, "verify.py")
PLACEHOLDER = "'whsec_seu_secret_aqui'"


def log(msg):
    print("python_receiver: " + msg, file=sys.stderr, flush=True)


def load_snippet(secret):
    with open(SNIPPET, encoding="utf-8") as f:
        src = f.read()
    n = src.count(PLACEHOLDER)
    if n != 1:
        sys.exit(
            "python_receiver: expected the literal %s exactly once in %s, found it %d times"
            % (PLACEHOLDER, SNIPPET, n)
        )
    src = src.replace(PLACEHOLDER, repr(secret))
    mod = types.ModuleType("seed_verify")
    mod.__file__ = SNIPPET
    exec(compile(src, SNIPPET, "exec"), mod.__dict__)
    if not callable(getattr(mod, "verify_webhook", None)):
        sys.exit("python_receiver: %s defines no verify_webhook()" % SNIPPET)
    return mod


def build_app(snippet):
    app = Flask("seed_python_receiver")

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def receive(path):
        from flask import request

        what = "%s /%s event=%s id=%s" % (
            request.method,
            path,
            request.headers.get("X-Webhook-Event"),
            request.headers.get("X-Webhook-Id"),
        )
        try:
            event = snippet.verify_webhook()
        except HTTPException as e:
            log("REJECTED %s: %d" % (what, e.code))
            raise
        except Exception as e:
            log("ERROR %s: %r" % (what, e))
            raise
        log("ACCEPTED %s" % what)
        return jsonify(ok=True, event=event["event"])

    return app


def main():
    secret = os.environ.get("SEED_SECRET")
    if not secret:
        sys.exit("python_receiver: SEED_SECRET is not set")
    port = int(os.environ.get("PORT") or "0")
    app = build_app(load_snippet(secret))
    srv = make_server("127.0.0.1", port, app, threaded=True)
    print("LISTENING %d" % srv.server_port, flush=True)
    log("serving %s with the snippet from %s" % ("http://127.0.0.1:%d/" % srv.server_port, SNIPPET))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
