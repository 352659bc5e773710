"""A tiny configurable HTTP server on 127.0.0.1 for connector tests (real sockets, no mocks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from echolens.ingest.http import new_client


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    send_length: bool = True  # False: no Content-Length, body ends when the connection closes
    hang: bool = False  # never answer (until the test ends)
    trickle: bool = False  # answer 200, then one byte every 50 ms for 5 s


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int


class _Server(ThreadingHTTPServer):
    routes: dict[str, Route]
    seen: list[Seen]
    release: threading.Event

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up early (timeouts, size caps) are expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        route = self.server.routes.get(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if route is None:
            route = Route(body=b"not found", status=404)
        if route.hang:
            self.server.seen.append(Seen(self.path, headers, 0))
            self.server.release.wait(10)
            return
        if route.trickle:
            self.server.seen.append(Seen(self.path, headers, 200))
            self.send_response(200)
            self.end_headers()
            self.close_connection = True
            for _ in range(100):  # at most 5 s, even if the client never gives up
                if self.server.release.wait(0.05):
                    break
                self.wfile.write(b" ")
                self.wfile.flush()
            return
        fresh = (route.etag is not None and headers.get("if-none-match") == route.etag) or (
            route.last_modified is not None
            and headers.get("if-modified-since") == route.last_modified
        )
        status = 304 if fresh else route.status
        self.server.seen.append(Seen(self.path, headers, status))
        self.send_response(status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        if status == 304:
            self.end_headers()
            return
        if route.send_length:
            self.send_header("Content-Length", str(len(route.body)))
        else:
            self.close_connection = True
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    seen: list[Seen]
    client: httpx.Client  # shared: a new client costs ~0.1 s of TLS setup

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def http_client() -> Iterator[httpx.Client]:
    with new_client() as client:
        yield client


@pytest.fixture
def server(http_client: httpx.Client) -> Iterator[Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.routes = {}
    httpd.seen = []
    httpd.release = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    host, port = httpd.server_address[:2]
    try:
        yield Server(f"http://{host!s}:{port}", httpd.routes, httpd.seen, http_client)
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
