"""A tiny fake Roster API over real HTTP on 127.0.0.1: GET /<workspace>/people."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeRoster:
    def __init__(self, *, api_key: str, workspace: str, people: list[dict], groups: list[dict]):
        self.api_key, self.workspace = api_key, workspace
        self.people, self.groups = people, groups
        self.requests: list[tuple[str, str]] = []  # (method, path)

    def __enter__(self) -> "FakeRoster":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.requests.append(("GET", self.path))
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._send(401, {"error": "bad key"})
                if self.path != f"/{fake.workspace}/people":
                    return self._send(404, {"error": "not found"})
                self._send(200, {"people": fake.people, "groups": fake.groups})

            def _send(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
