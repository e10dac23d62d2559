"""A stand-in for a Dynamo process in the local platform's unit tests (not Dynamo itself).

``python tests/standin_pod.py PORT MODEL BEHAVIOUR``: BEHAVIOUR ``serve`` answers like a ready
frontend or worker on 127.0.0.1:PORT (``/v1/models`` lists MODEL, ``/health`` says ready,
``/metrics``), and also binds 0.0.0.0 as Dynamo's event publishers do; ``crash`` prints what the
mocker prints on a bad argument and exits 2. On SIGTERM it prints a line and exits 0.
"""

import json
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, model, behaviour = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print(f"standin starting on port {port} ({behaviour})", flush=True)
if behaviour == "crash":
    print("Unknown arguments specified: --bogus", flush=True)
    sys.exit(2)


def on_sigterm(signum, frame):
    print("standin got SIGTERM, exiting", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_sigterm)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        bodies = {"/v1/models": {"data": [{"id": model}]}, "/health": {"status": "ready"}}
        body = json.dumps(bodies.get(self.path, {})).encode() if self.path != "/metrics" else b"standin_up 1\n"
        self.send_response(200 if self.path in bodies or self.path == "/metrics" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


publisher = socket.create_server(("0.0.0.0", 0))  # like Dynamo's ZMQ publishers
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("standin ready", flush=True)
server.serve_forever()
