"""HTML article pages via trafilatura, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path

from echolens.ingest.pages import read_page
from echolens.model import RawItem, Reject
from tests.httpserver import Route, Server

FIXTURES = Path(__file__).parent / "fixtures" / "pages"
ARTICLE = (FIXTURES / "article.html").read_bytes()
EMPTY = (FIXTURES / "empty.html").read_bytes()
HTML = {"Content-Type": "text/html; charset=utf-8"}
CANONICAL = "https://news.example.org/world/2023/07/grain-corridor-talks"


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
