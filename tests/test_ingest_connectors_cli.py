"""`echolens ingest` end to end for feeds, pages and Telegram exports, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.conftest import Cli
from tests.httpserver import Route, Server

FIXTURES = Path(__file__).parent / "fixtures"


def test_feed_by_url_is_conditional_on_rerun(server: Server, cli: Cli, tmp_path: Path) -> None:
    server.routes["/feed.xml"] = Route(
        body=(FIXTURES / "feeds" / "rss_multilang.xml").read_bytes(),
        headers={"Content-Type": "application/rss+xml"},
        etag='"v1"', last_modified="Wed, 09 Mar 2022 10:00:00 GMT",
    )
    url = server.url("/feed.xml")
    first = cli.json("ingest", url)
    assert first["new"] == 3 and first["reasons"] == {"missing-date": 1}  # item 4 has no date
    second = cli.json("ingest", url)
    assert second["new"] == 0 and second["duplicate"] == 0  # 304: nothing re-read
    assert server.seen[-1].status == 304
    assert server.seen[-1].headers.get("if-none-match") == '"v1"'
    export = tmp_path / "items.jsonl"
    cli("export", "items", "--output", str(export))
    langs = set(pl.read_ndjson(export)["lang"])
    assert {"en", "ru", "zh"} <= langs


def test_broken_feed_and_404_are_rejects_not_crashes(server: Server, cli: Cli) -> None:
    server.routes["/broken.xml"] = Route(body=(FIXTURES / "feeds" / "broken.xml").read_bytes())
    result = cli("ingest", server.url("/broken.xml"), "--json", expect=1)
    assert '"bad-feed": 1' in result.stdout
    result = cli("ingest", server.url("/missing.rss"), "--json", expect=1)
    assert '"fetch-http-error": 1' in result.stdout


def test_html_page_by_url(server: Server, cli: Cli) -> None:
    server.routes["/news/article.html"] = Route(
        body=(FIXTURES / "pages" / "article.html").read_bytes(),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    out = cli.json("ingest", server.url("/news/article.html"), "--source", "example-wire")
    assert out["new"] == 1
    assert cli.json("stats")["by_source"] == {"example-wire": 1}


def test_telegram_export(cli: Cli) -> None:
    out = cli.json("ingest", str(FIXTURES / "telegram" / "result.json"))
    assert out["new"] >= 2
    assert out["reasons"] == {"empty-text": 1}  # the photo-only message
    again = cli.json("ingest", str(FIXTURES / "telegram" / "result.json"))
    assert again["new"] == 0 and again["duplicate"] == out["new"]
