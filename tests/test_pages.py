"""HTML article pages via trafilatura, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from echolens.ingest.http import new_client
from echolens.ingest.pages import read_page
from echolens.model import RawItem, Reject

FIXTURES = Path(__file__).parent / "fixtures" / "pages"
ARTICLE = (FIXTURES / "article.html").read_bytes()
EMPTY = (FIXTURES / "empty.html").read_bytes()
HTML = {"Content-Type": "text/html; charset=utf-8"}
CANONICAL = "https://news.example.org/world/2023/07/grain-corridor-talks"


# --- a tiny configurable HTTP server -------------------------------------------------------


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


def _one(records: list[RawItem | Reject]) -> RawItem | Reject:
    assert len(records) == 1
    return records[0]


def test_article_over_http(server: Server) -> None:
    server.routes["/world/grain"] = Route(ARTICLE, headers=HTML)
    url = server.url("/world/grain")
    item = _one(read_page(url))
    assert isinstance(item, RawItem)
    assert item.title == "Grain corridor talks resume in Istanbul"
    assert item.author == "Jane Roe"
    assert item.published_at == "2023-07-14T09:30:00+0300"  # time and offset kept
    assert item.text is not None
    assert "Negotiators from four delegations met in Istanbul" in item.text
    assert "continue through the autumn" in item.text
    for boilerplate in ("Subscribe to our newsletter", "Cookie settings", "Home"):
        assert boilerplate not in item.text
    assert item.external_id == CANONICAL  # canonical link wins for the id
    assert item.url == url  # the address actually read
    assert item.source == "127.0.0.1"  # the page's host
    assert item.provenance.connector == "page"
    assert item.provenance.location == url
    assert item.payload["canonical_url"] == CANONICAL
    assert item.payload["status"] == 200
    assert item.payload["lang"] == "en"
    json.dumps(item.payload)


def test_article_without_canonical_uses_url_and_given_source(server: Server) -> None:
    page = ARTICLE.replace(b'<link rel="canonical"', b'<link rel="alternate"')
    server.routes["/a"] = Route(page, headers=HTML)
    item = _one(read_page(server.url("/a"), client=server.client, source="example-news"))
    assert isinstance(item, RawItem)
    assert item.external_id == server.url("/a")
    assert item.source == "example-news"


def test_charset_from_http_header(server: Server) -> None:
    paragraph = (
        "Переговоры о зерновом коридоре возобновились в Стамбуле в пятницу, сообщили "
        "официальные лица. Делегации обсудили процедуры досмотра судов и гарантии для портов."
    )
    page = (
        "<html><head><title>Переговоры о зерне</title></head><body><article>"
        f"<h1>Переговоры о зерне</h1><p>{paragraph}</p><p>{paragraph}</p></article></body></html>"
    ).encode("windows-1251")
    server.routes["/ru"] = Route(page, headers={"Content-Type": "text/html; charset=windows-1251"})
    item = _one(read_page(server.url("/ru"), client=server.client))
    assert isinstance(item, RawItem)
    assert item.text is not None
    assert "Переговоры о зерновом коридоре возобновились" in item.text
    assert item.title == "Переговоры о зерне"


def test_article_from_local_file() -> None:
    path = FIXTURES / "article.html"
    item = _one(read_page(str(path)))
    assert isinstance(item, RawItem)
    assert item.external_id == CANONICAL
    assert item.url == CANONICAL  # no fetched address: the canonical one
    assert item.source == "news.example.org"
    assert item.provenance.location == str(path)


def test_empty_page_is_empty_text(server: Server) -> None:
    server.routes["/app"] = Route(EMPTY, headers=HTML)
    reject = _one(read_page(server.url("/app"), client=server.client))
    assert isinstance(reject, Reject)
    assert reject.reason == "empty-text"
    assert "JavaScript" in reject.detail
    assert 'id="root"' in reject.payload
    local = _one(read_page(str(FIXTURES / "empty.html")))
    assert isinstance(local, Reject)
    assert local.reason == "empty-text"


def test_oversize_page_is_too_large(server: Server, tmp_path: Path) -> None:
    big = ARTICLE.replace(b"</body>", b"<!--" + b"x" * 20_000 + b"--></body>")
    server.routes["/declared"] = Route(big, headers=HTML)
    server.routes["/streamed"] = Route(big, headers=HTML, send_length=False)
    for path in ("/declared", "/streamed"):
        reject = _one(read_page(server.url(path), max_bytes=10_000))
        assert isinstance(reject, Reject)
        assert reject.reason == "too-large"
        assert "10000" in reject.detail
    assert isinstance(
        _one(read_page(server.url("/streamed"), client=server.client, max_bytes=50_000)), RawItem
    )
    local = tmp_path / "big.html"
    local.write_bytes(big)
    reject = _one(read_page(str(local), max_bytes=10_000))
    assert isinstance(reject, Reject)
    assert reject.reason == "too-large"


def test_hanging_server_is_fetch_timeout(server: Server) -> None:
    server.routes["/hang"] = Route(hang=True)
    start = time.monotonic()
    reject = _one(read_page(server.url("/hang"), client=server.client, timeout=0.3))
    assert time.monotonic() - start < 3
    assert isinstance(reject, Reject)
    assert reject.reason == "fetch-timeout"
    assert server.url("/hang") in reject.detail


def test_404_is_fetch_http_error(server: Server) -> None:
    reject = _one(read_page(server.url("/gone"), client=server.client))
    assert isinstance(reject, Reject)
    assert reject.reason == "fetch-http-error"
    assert "404" in reject.detail


def test_non_html_is_rejected(server: Server) -> None:
    server.routes["/report.pdf"] = Route(
        b"%PDF-1.7 ...", headers={"Content-Type": "application/pdf"}
    )
    reject = _one(read_page(server.url("/report.pdf"), client=server.client))
    assert isinstance(reject, Reject)
    assert reject.reason == "not-html"
    assert "application/pdf" in reject.detail
