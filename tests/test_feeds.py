"""RSS/Atom connector and the fetch helper, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from echolens.ingest.feeds import FeedState, html_to_text, read_feed
from echolens.ingest.http import FetchError, fetch
from echolens.model import RawItem, Reject
from tests.httpserver import Route, Server

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
RSS = (FIXTURES / "rss_multilang.xml").read_bytes()
ATOM = (FIXTURES / "atom.xml").read_bytes()
BROKEN = (FIXTURES / "broken.xml").read_bytes()
ETAG = '"v1-abc"'
LAST_MODIFIED = "Wed, 01 Mar 2023 10:00:00 GMT"


def _items(records: list[RawItem | Reject]) -> list[RawItem]:
    items = [r for r in records if isinstance(r, RawItem)]
    assert len(items) == len(records), [r for r in records if isinstance(r, Reject)]
    return items


# --- feeds over HTTP -----------------------------------------------------------------------


def test_rss_over_http_maps_entries(server: Server) -> None:
    server.routes["/rss"] = Route(RSS, headers={"Content-Type": "application/rss+xml"})
    read = read_feed(server.url("/rss"))
    assert not read.not_modified
    items = _items(read.records)
    assert [i.title for i in items] == [
        "Ports reopen after storm",
        "Порты снова открыты после шторма",
        "风暴过后港口重新开放",
        "Headline only & nothing else",
    ]
    en, ru, zh, bare = items
    # content:encoded wins over the excerpt; HTML stripped; <script> dropped; <br> a line break
    assert en.text == (
        "The three main ports reopened on Tuesday after the storm.\n\n"
        "Shipping lines expect delays\nuntil Friday."
    )
    assert en.external_id == "wire-0001"
    assert en.url == "https://www.wire.example.com/en/ports-reopen"
    assert en.published_at == "2022-03-08T07:11:12+00:00"  # +0300 converted to UTC
    assert en.author == "Alex Smith"
    assert en.source == "wire.example.com"  # channel link domain, "www." dropped
    assert en.provenance.connector == "rss"
    assert en.provenance.location == server.url("/rss")
    assert en.provenance.locator == "entry 0"
    assert en.payload["tags"] == ["shipping"]
    assert en.payload["feed_language"] == "en-us"
    assert en.lang is None  # declared feed language is only a hint in the payload

    assert ru.text == "Три главных порта возобновили работу во вторник."
    assert ru.author == "Мария Иванова"
    assert ru.external_id == "https://www.wire.example.com/ru/porty"
    assert ru.published_at == "2022-03-09T08:00:00+00:00"

    assert zh.text == "三个主要港口在周二恢复运营。"
    assert zh.external_id == "https://www.wire.example.com/zh/gangkou"  # no guid: the link
    assert zh.published_at == "2022-03-10T04:30:00+00:00"
    assert zh.provenance.locator == "entry 2"

    assert bare.text == "Headline only & nothing else"  # no summary: falls back to the title
    assert bare.published_at is None
    for item in items:
        json.dumps(item.payload)  # JSON-serialisable


def test_atom_over_http(server: Server) -> None:
    server.routes["/atom"] = Route(ATOM, headers={"Content-Type": "application/atom+xml"})
    items = _items(read_feed(server.url("/atom"), client=server.client, source="monitor").records)
    assert [i.external_id for i in items] == [
        "tag:monitor.example.net,2023:1",
        "tag:monitor.example.net,2023:2",
        "tag:monitor.example.net,2023:3",
    ]
    en, ru, zh = items
    assert {i.source for i in items} == {"monitor"}
    assert en.text == "The claim that exports stopped is false."
    assert en.published_at == "2023-05-01T07:15:00+00:00"  # published preferred over updated
    assert en.author == "Dana Lee"
    assert ru.text == "Заявление о прекращении экспорта не соответствует действительности."
    assert ru.published_at == "2023-05-02T11:00:00+00:00"  # only <updated>
    assert ru.payload["language"] == "ru"
    assert zh.text == "出口停止的说法是错误的。"
    assert zh.url == "https://monitor.example.net/zh/liangshi"


def test_conditional_get_returns_304_second_time(server: Server) -> None:
    server.routes["/rss"] = Route(RSS, etag=ETAG, last_modified=LAST_MODIFIED)
    first = read_feed(server.url("/rss"), client=server.client)
    assert len(first.records) == 4
    assert first.state == FeedState(etag=ETAG, last_modified=LAST_MODIFIED)
    assert "if-none-match" not in server.seen[0].headers

    second = read_feed(server.url("/rss"), client=server.client, state=first.state)
    assert second.not_modified is True
    assert second.records == []
    assert second.state == first.state
    assert server.seen[1].headers["if-none-match"] == ETAG
    assert server.seen[1].headers["if-modified-since"] == LAST_MODIFIED
    assert server.seen[1].status == 304


def test_conditional_get_with_last_modified_only(server: Server) -> None:
    server.routes["/rss"] = Route(RSS, last_modified=LAST_MODIFIED)
    first = read_feed(server.url("/rss"), client=server.client)
    assert first.state == FeedState(etag=None, last_modified=LAST_MODIFIED)
    second = read_feed(server.url("/rss"), client=server.client, state=first.state)
    assert second.not_modified
    assert "if-none-match" not in server.seen[1].headers


def test_changed_feed_is_read_again(server: Server) -> None:
    server.routes["/rss"] = Route(RSS, etag='"v2"')
    read = read_feed(server.url("/rss"), client=server.client, state=FeedState(etag=ETAG))
    assert not read.not_modified
    assert len(read.records) == 4
    assert read.state.etag == '"v2"'


def test_broken_xml_is_one_bad_feed_reject(server: Server) -> None:
    server.routes["/broken"] = Route(BROKEN, headers={"Content-Type": "application/rss+xml"})
    read = read_feed(server.url("/broken"), client=server.client)
    assert len(read.records) == 1
    reject = read.records[0]
    assert isinstance(reject, Reject)
    assert reject.reason == "bad-feed"
    assert "mismatched tag" in reject.detail
    assert "well-formed" in reject.detail  # says what to fix
    assert "Half-written feed" in reject.payload


def test_html_page_instead_of_feed_is_bad_feed(server: Server) -> None:
    html = b"<html><head><title>Home</title></head><body><p>Welcome</p></body></html>"
    server.routes["/home"] = Route(html, headers={"Content-Type": "text/html"})
    (reject,) = read_feed(server.url("/home"), client=server.client).records
    assert isinstance(reject, Reject)
    assert reject.reason == "bad-feed"
    assert "not RSS or Atom" in reject.detail


def test_malformed_feed_with_entries_keeps_entries() -> None:
    read = read_feed(str(FIXTURES / "recoverable.xml"))
    items = _items(read.records)
    assert [i.title for i in items] == ["Salt & pepper shortage", "Second story"]
    assert items[0].source == "sloppy.example.org"


def test_404_is_fetch_http_error(server: Server) -> None:
    url = server.url("/missing")
    state = FeedState(etag='"old"')
    read = read_feed(url, state=state)
    (reject,) = read.records
    assert isinstance(reject, Reject)
    assert reject.reason == "fetch-http-error"
    assert url in reject.detail
    assert "404" in reject.detail
    assert read.state == state  # validators kept for the next try


def test_oversize_feed_is_fetch_too_large(server: Server) -> None:
    big = RSS + b"<!--" + b"x" * 5000 + b"-->"
    server.routes["/declared"] = Route(big)
    server.routes["/streamed"] = Route(big, send_length=False)
    for path, words in (("/declared", "Content-Length"), ("/streamed", "sent more than")):
        (reject,) = read_feed(server.url(path), max_bytes=4000).records
        assert isinstance(reject, Reject)
        assert reject.reason == "fetch-too-large"
        assert words in reject.detail
        assert server.url(path) in reject.detail
    # the same body fits under a larger cap
    assert (
        len(read_feed(server.url("/streamed"), client=server.client, max_bytes=20_000).records) == 4
    )


def test_timeout_is_fetch_timeout(server: Server) -> None:
    server.routes["/slow"] = Route(hang=True)
    start = time.monotonic()
    (reject,) = read_feed(server.url("/slow"), client=server.client, timeout=0.3).records
    assert time.monotonic() - start < 3
    assert isinstance(reject, Reject)
    assert reject.reason == "fetch-timeout"


def test_trickling_server_hits_the_overall_deadline(server: Server) -> None:
    server.routes["/drip"] = Route(trickle=True)
    start = time.monotonic()
    (reject,) = read_feed(server.url("/drip"), client=server.client, timeout=0.5).records
    assert time.monotonic() - start < 3
    assert isinstance(reject, Reject)
    assert reject.reason == "fetch-timeout"
    assert "took longer than 0.5s" in reject.detail


# --- feeds from local files ----------------------------------------------------------------


def test_feed_from_local_file() -> None:
    path = FIXTURES / "atom.xml"
    read = read_feed(str(path))
    items = _items(read.records)
    assert len(items) == 3
    assert read.state == FeedState()
    assert not read.not_modified
    assert items[1].provenance.location == str(path)
    assert items[1].provenance.locator == "entry 1"
    assert items[0].source == "monitor.example.net"
    # file:// URLs work too
    assert len(read_feed(path.as_uri()).records) == 3


def test_local_file_in_legacy_encoding(tmp_path: Path) -> None:
    xml = (
        '<?xml version="1.0" encoding="windows-1251"?>'
        '<rss version="2.0"><channel><title>Лента</title><link>https://lenta.example.ru/</link>'
        "<item><title>Новости дня</title><guid>n1</guid><description>Текст новости.</description>"
        "</item></channel></rss>"
    )
    path = tmp_path / "cp1251.xml"
    path.write_bytes(xml.encode("windows-1251"))
    (item,) = _items(read_feed(str(path)).records)
    assert item.title == "Новости дня"
    assert item.text == "Текст новости."
    assert item.url is None  # guid "n1" is not a link


def test_missing_local_file_is_not_found(tmp_path: Path) -> None:
    (reject,) = read_feed(str(tmp_path / "nope.xml")).records
    assert isinstance(reject, Reject)
    assert reject.reason == "not-found"


def test_html_to_text() -> None:
    assert html_to_text("<div><p>a <i>b</i></p><ul><li>c</li><li>d</li></ul></div>") == (
        "a b\n\nc\n\nd"
    )
    assert html_to_text("x &amp; y") == "x & y"
    assert html_to_text("<style>p{}</style><p>kept</p>") == "kept"


# --- the fetch helper directly -------------------------------------------------------------


def test_fetch_follows_redirects_and_sends_user_agent(server: Server) -> None:
    server.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    server.routes["/new"] = Route(b"hello", headers={"Content-Type": "text/plain"}, etag='"e"')
    result = fetch(server.url("/old"), user_agent="echolens-test/1")
    assert result.status == 200
    assert result.body == b"hello"
    assert result.url == server.url("/old")
    assert result.final_url == server.url("/new")
    assert result.etag == '"e"'
    assert result.headers["content-type"] == "text/plain"
    assert not result.not_modified
    assert server.seen[0].headers["user-agent"] == "echolens-test/1"


def test_fetch_too_many_redirects(server: Server) -> None:
    server.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError) as info:
        fetch(server.url("/loop"))
    assert info.value.reason == "too-many-redirects"
    assert len(server.seen) == 6  # the first request plus five redirects


def test_fetch_http_error_has_status(server: Server) -> None:
    server.routes["/boom"] = Route(b"oops", status=503)
    with pytest.raises(FetchError) as info:
        fetch(server.url("/boom"), client=server.client)
    assert info.value.reason == "http-error"
    assert info.value.status == 503
    assert "503" in info.value.detail


def test_fetch_connection_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError) as info:
        fetch(f"http://127.0.0.1:{port}/feed", timeout=2)
    assert info.value.reason == "connection-error"


def test_fetch_bad_url() -> None:
    with pytest.raises(FetchError) as info:
        fetch("ftp://example.org/feed.xml")
    assert info.value.reason == "bad-url"
