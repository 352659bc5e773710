"""The watcher against real HTTP servers on 127.0.0.1: feeds that grow, pages that change,
vanish, get blocked, time out or hang, redirect loops, malformed XML, oversized bodies,
robots.txt, politeness, and a restart that continues where it stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import echolens
from echolens.database import Database
from echolens.errors import UsageError
from echolens.watch import Watcher, WatcherThread, config_from_mapping
from echolens.watch.config import WatchConfig, load_config, parse_duration
from echolens.watch.deletions import deletion_figures
from echolens.watch.evidence import EvidenceArchive
from echolens.watch.history import item_history
from tests.conftest import write_jsonl
from tests.httpserver import Route, Server

BASE_DATE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
WORDS = ("Officials in Kyiv said the grain corridor will reopen next week after talks "
         "with shipping companies and insurers, according to the ministry statement.")


def rss(server: Server, slugs: list[str], title: str = "Wire") -> bytes:
    """An RSS feed whose entries link to /a/<slug> on the server, newest first."""
    items = []
    for slug in slugs:
        number = int(slug.rsplit("-", 1)[-1])
        date = format_datetime(BASE_DATE + timedelta(hours=number))
        items.append(
            f"<item><title>Story {slug}</title><link>{server.url('/a/' + slug)}</link>"
            f"<guid>{server.url('/a/' + slug)}</guid><pubDate>{date}</pubDate>"
            f"<description>Story {slug}: {WORDS}</description></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>{server.url('/')}</link>"
            + "".join(reversed(items)) + "</channel></rss>").encode()


def article(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>{title}</title><meta property=\"article:published_time\" "
            f"content=\"2026-11-20T08:00:00Z\"></head><body><nav>Home | World</nav>"
            f"<article><h1>{title}</h1>{body}</article><footer>(c) wire</footer>"
            "</body></html>").encode()


PARAS = [f"Paragraph {i}: {WORDS} The delegation met again on day {i} to settle the details "
         "of the inspections and the schedule of the first convoys." for i in range(6)]


def config(tmp_path: Path, **sections: Any) -> WatchConfig:
    data: dict[str, Any] = {
        "defaults": {"interval": 0, "jitter": 0, "timeout": 1},
        "politeness": {"min_delay": 0, "retries": 1, "backoff": 0.01},
        "recheck": {"intervals": [0]},
        "pipeline": {"embedder": "none", "citations": False},
        "evidence_dir": str(tmp_path / "evidence"),
    }
    data.update(sections)
    return config_from_mapping(data)


def serve_articles(server: Server, slugs: list[str]) -> None:
    for slug in slugs:
        server.routes[f"/a/{slug}"] = Route(article(f"Story {slug}", PARAS),
                                            headers={"Content-Type": "text/html"})


def statuses(db: Database) -> dict[str, str]:
    rows = db.store.con.execute("SELECT url, status FROM items").fetchall()
    return {r[0].rsplit("/", 1)[-1]: r[1] for r in rows}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = echolens.open(tmp_path / "watch.duckdb")
    yield database
    database.close()


# -- feeds ------------------------------------------------------------------------------------
def test_growing_feed_adds_only_new_items_with_conditional_get(
        server: Server, db: Database, tmp_path: Path) -> None:
    slugs = ["s-1", "s-2", "s-3"]
    serve_articles(server, [f"s-{i}" for i in range(1, 6)])
    server.routes["/feed.xml"] = Route(rss(server, slugs), etag='"v1"',
                                       headers={"Content-Type": "application/rss+xml"})
    cfg = config(tmp_path, feeds=[{"url": server.url("/feed.xml"), "source": "tass"}],
                 recheck={"intervals": [0, "1d"]})
    watcher = Watcher(db, cfg)
    first = watcher.run(once=True)[0]
    assert (first.polled, first.ingest.new) == (1, 3)
    assert first.checks["present"] == 3 and first.evidence == 3  # first copies kept at once

    server.routes["/feed.xml"] = Route(rss(server, [*slugs, "s-4", "s-5"]), etag='"v2"')
    second = Watcher(db, cfg).run(once=True)[0]  # a new watcher: state comes from the store
    assert (second.ingest.new, second.ingest.duplicate) == (2, 3)
    assert second.checks["present"] == 2  # the three older items are not due for a day

    third = Watcher(db, cfg).run(once=True)[0]
    assert (third.not_modified, third.ingest.new) == (1, 0)
    feed_requests = [s for s in server.seen if s.path == "/feed.xml"]
    assert [s.status for s in feed_requests] == [200, 200, 304]
    assert feed_requests[2].headers.get("if-none-match") == '"v2"'
    rows = db.store.con.execute(
        "SELECT count(*), count(DISTINCT url), any_value(source_id) FROM items").fetchone()
    assert rows == (5, 5, "tass")
    polled = db.store.con.execute(
        "SELECT polls, new_items, last_outcome FROM watch_sources").fetchone()
    assert polled == (3, 5, "not-modified")


def test_broken_feeds_become_outcomes_not_crashes(server: Server, db: Database,
                                                 tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures" / "feeds"
    server.routes["/broken.xml"] = Route((fixtures / "broken.xml").read_bytes())
    server.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    server.routes["/huge.xml"] = Route(b"<rss>" + b" " * 200_000 + b"</rss>")
    server.routes["/hang.xml"] = Route(hang=True)
    server.routes["/down.xml"] = Route(b"oops", status=503)
    serve_articles(server, ["ok-1"])
    server.routes["/ok.xml"] = Route(rss(server, ["ok-1"]))
    names = ["broken.xml", "loop", "huge.xml", "hang.xml", "down.xml", "ok.xml"]
    cfg = config(tmp_path, feeds=[server.url("/" + n) for n in names],
                 defaults={"interval": "1h", "jitter": 0, "timeout": 0.5, "max_bytes": 100_000})
    report = Watcher(db, cfg).run(once=True)[0]
    assert (report.polled, report.failed, report.ingest.new) == (6, 5, 1)
    outcomes = dict(db.store.con.execute(
        "SELECT regexp_extract(location, '[^/]+$'), last_outcome FROM watch_sources").fetchall())
    assert outcomes == {"broken.xml": "error:bad-feed", "loop": "error:too-many-redirects",
                        "huge.xml": "error:too-large", "hang.xml": "error:timeout",
                        "down.xml": "error:http-error", "ok.xml": "ok"}
    # the 503 was retried once (politeness.retries: 1); the malformed feed is kept as a reject
    assert [s.status for s in server.seen if s.path == "/down.xml"] == [503, 503]
    assert [r["reason"] for r in db.rejects()] == ["bad-feed"]
    # failures back off: next poll of a failing feed is later than the plain interval
    backoff = db.store.con.execute(
        "SELECT failures, next_at - last_at FROM watch_sources WHERE location LIKE '%down.xml'"
    ).fetchone()
    assert backoff[0] == 1 and backoff[1] >= timedelta(hours=1)


def test_entry_removed_from_its_feed_is_observed_deleted(server: Server, db: Database,
                                                        tmp_path: Path) -> None:
    serve_articles(server, ["f-1", "f-2", "f-3"])
    server.routes["/feed.xml"] = Route(rss(server, ["f-1", "f-2", "f-3"]))
    cfg = config(tmp_path, feeds=[server.url("/feed.xml")], recheck={"intervals": [0, "1d"]})
    Watcher(db, cfg).run(once=True)
    # f-2 disappears although the older f-1 is still listed: removed, not rolled off
    server.routes["/feed.xml"] = Route(rss(server, ["f-1", "f-3"]))
    report = Watcher(db, cfg).run(once=True)[0]
    assert report.checks["feed-deleted"] == 1
    assert statuses(db) == {"f-1": "present", "f-2": "deleted", "f-3": "present"}
    # f-1 rolling off the bottom of the feed is not a deletion
    server.routes["/feed.xml"] = Route(rss(server, ["f-3"]))
    assert Watcher(db, cfg).run(once=True)[0].checks["feed-deleted"] == 0
    server.routes["/feed.xml"] = Route(rss(server, ["f-2", "f-3"]))  # restored
    assert Watcher(db, cfg).run(once=True)[0].checks["feed-present"] == 1
    assert statuses(db)["f-2"] == "present"


# -- re-checks --------------------------------------------------------------------------------
def test_rechecks_observe_change_deletion_blocking_and_outages(
        server: Server, db: Database, tmp_path: Path) -> None:
    slugs = ["p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7", "p-8"]
    serve_articles(server, slugs)
    server.routes["/feed.xml"] = Route(rss(server, slugs))
    cfg = config(tmp_path, feeds=[{"url": server.url("/feed.xml"), "interval": "1d"}],
                 defaults={"interval": 0, "jitter": 0, "timeout": 0.5})
    Watcher(db, cfg).run(once=True)
    assert set(statuses(db).values()) == {"present"}

    edited = [*PARAS[:3], "Correction: the ministry now says the corridor stays closed.",
              *PARAS[4:]]
    server.routes["/a/p-1"] = Route(article("Story p-1", edited))
    server.routes["/a/p-2"] = Route(b"gone", status=404)
    server.routes["/a/p-3"] = Route(b"gone for good", status=410)
    server.routes["/a/p-4"] = Route(b"unavailable for legal reasons", status=451)
    server.routes["/a/p-5"] = Route(
        "<html><body><p>该内容已被删除</p><p>Content not available</p></body></html>".encode())
    server.routes["/a/p-6"] = Route(b"busy", status=503)
    server.routes["/a/p-7"] = Route(hang=True)
    server.routes["/a/p-8"] = Route(status=301, headers={"Location": "/"})
    server.routes["/"] = Route(article("Front page", PARAS[:1]))
    report = Watcher(db, cfg).run(once=True)[0]
    assert dict(report.checks) == {"altered": 1, "deleted": 3, "blocked": 2, "unavailable": 2}
    assert statuses(db) == {"p-1": "altered", "p-2": "deleted", "p-3": "deleted",
                            "p-4": "blocked", "p-5": "blocked", "p-6": "unavailable",
                            "p-7": "unavailable", "p-8": "deleted"}
    diff = db.store.con.execute(
        "SELECT diff FROM observations WHERE result = 'altered'").fetchone()[0]
    assert "+Correction: the ministry now says the corridor stays closed." in diff
    assert "-Paragraph 3" in diff

    # the deleted item can still be shown: its first copy is in the WARC evidence
    item_id = db.store.con.execute(
        "SELECT id FROM items WHERE url LIKE '%/a/p-2'").fetchone()[0]
    history = item_history(db, cfg, item_id)
    assert history.status == "deleted" and history.copy is not None
    assert history.copy.status == 200 and b"Paragraph 5" in history.copy.body
    assert [o["result"] for o in history.observations] == ["present", "deleted"]

    figures = deletion_figures(db.store.con)
    row = figures.by_source.to_dicts()[0]
    assert (row["watched"], row["deleted"], row["altered"], row["blocked"]) == (8, 3, 1, 2)


def test_custom_markers_and_statuses(server: Server, db: Database, tmp_path: Path) -> None:
    serve_articles(server, ["m-1", "m-2"])
    server.routes["/feed.xml"] = Route(rss(server, ["m-1", "m-2"]))
    cfg = config(tmp_path, feeds=[{"url": server.url("/feed.xml"), "interval": "1d"}],
                 markers={"blocked": ["this post is hidden"], "deleted": []},
                 recheck={"intervals": [0], "blocked_statuses": [403, 451]})
    Watcher(db, cfg).run(once=True)
    server.routes["/a/m-1"] = Route(b"<html><body><p>This post is hidden.</p></body></html>")
    server.routes["/a/m-2"] = Route(b"no", status=403)
    Watcher(db, cfg).run(once=True)
    assert statuses(db) == {"m-1": "blocked", "m-2": "blocked"}


def test_decaying_schedule(server: Server, db: Database, tmp_path: Path) -> None:
    serve_articles(server, ["d-1"])
    server.routes["/feed.xml"] = Route(rss(server, ["d-1"]))
    now = [datetime(2026, 11, 29, 12, 0, tzinfo=UTC)]
    cfg = config(tmp_path, feeds=[{"url": server.url("/feed.xml"), "interval": "30d"}],
                 recheck={"intervals": [0, "1h", "1d", "7d"], "max_age": "20d"})
    watcher = Watcher(db, cfg, clock=lambda: now[0])
    gaps = []
    for _ in range(6):
        watcher.run(once=True)
        row = db.store.con.execute("SELECT next_check_at, checks FROM watch_items").fetchone()
        if row[0] is None:
            break
        gaps.append(row[0] - now[0])
        now[0] = row[0]
    assert gaps == [timedelta(hours=1), timedelta(days=1), timedelta(days=7),
                    timedelta(days=7), timedelta(days=7)]
    assert db.store.con.execute("SELECT checks FROM watch_items").fetchone()[0] == 6


# -- politeness -------------------------------------------------------------------------------
class _Timed(BaseHTTPRequestHandler):
    """Records when each request arrives and how many were in flight at once."""

    lock = threading.Lock()
    times: list[float] = []
    active = 0
    peak = 0
    feed = b""

    def do_GET(self) -> None:  # noqa: N802
        cls = type(self)
        with cls.lock:
            cls.times.append(time.monotonic())
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        time.sleep(0.02)
        body = cls.feed if self.path.endswith(".xml") else article("x", PARAS)
        if self.path == "/robots.txt":
            body, status = b"User-agent: *\nDisallow: /private\n", 200
        else:
            status = 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with cls.lock:
            cls.active -= 1

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_one_connection_per_host_with_a_delay_and_robots(db: Database, tmp_path: Path) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Timed)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    _Timed.times, _Timed.peak = [], 0
    _Timed.feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                   f"<item><title>a</title><link>{base}/x/1</link>"
                   f"<pubDate>{format_datetime(BASE_DATE)}</pubDate>"
                   f"<description>{WORDS}</description></item></channel></rss>").encode()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        feeds = [f"{base}/f{i}.xml" for i in range(4)] + [f"{base}/private/f.xml"]
        cfg = config(tmp_path, feeds=feeds,
                     politeness={"min_delay": 0.3, "workers": 4, "retries": 0})
        report = Watcher(db, cfg).run(once=True)[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert report.robots_skipped == 1  # /private is disallowed by robots.txt
    # robots.txt once, four feeds, one page re-check: six requests, one at a time
    assert len(_Timed.times) == 6 and _Timed.peak == 1
    gaps = [b - a for a, b in zip(_Timed.times, _Timed.times[1:], strict=False)]
    assert min(gaps) >= 0.2  # 0.3 s apart when sent; arrival may be a little sooner


# -- state, restart, background ----------------------------------------------------------------
def test_watcher_thread_runs_cycles_and_stops(server: Server, tmp_path: Path) -> None:
    serve_articles(server, ["t-1"])
    server.routes["/feed.xml"] = Route(rss(server, ["t-1"]))
    cfg = config(tmp_path, feeds=[{"url": server.url("/feed.xml"), "interval": 0.2}],
                 cycle_pause=0.2)
    path = tmp_path / "bg.duckdb"
    echolens.open(path).close()  # schema created up front, like `echolens serve` does
    thread = WatcherThread(path, cfg)
    thread.start()
    deadline = time.monotonic() + 30
    while thread.cycles < 3 and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    thread.stop()
    assert thread.error is None and not thread.is_alive()
    assert thread.cycles >= 3
    with echolens.open(path) as db:
        assert db.store.con.execute("SELECT count(*) FROM items").fetchone()[0] == 1


def test_evidence_recovery_drops_uncommitted_tail(tmp_path: Path) -> None:
    from echolens.watch.evidence import Capture

    archive = EvidenceArchive(tmp_path / "ev")
    when = datetime(2026, 11, 29, tzinfo=UTC)
    kept = archive.append([Capture("http://x/1", 200, {"content-type": "text/html"},
                                   b"<p>one</p>", when)])[0]
    lost = archive.append([Capture("http://x/2", 200, {}, b"<p>two</p>", when)])[0]
    assert lost.offset == kept.offset + kept.length
    dropped = archive.recover({kept.warc_file: kept.offset + kept.length})
    assert dropped == lost.length
    assert archive.read(kept.warc_file, kept.offset).body == b"<p>one</p>"
    assert (tmp_path / "ev" / kept.warc_file).stat().st_size == kept.length


# -- config -----------------------------------------------------------------------------------
def test_config_file_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "watch.yaml"
    path.write_text("feeds:\n  - https://example.org/rss\n  - {url: https://b.example/feed, "
                    "interval: 5m, source: rt}\npages: [https://example.org/a.html]\n"
                    "defaults: {interval: 15m, jitter: 0.2}\n", encoding="utf-8")
    cfg = load_config(path)
    assert [(s.url, s.kind, s.settings.interval, s.source) for s in cfg.sources] == [
        ("https://example.org/rss", "feed", 900.0, None),
        ("https://b.example/feed", "feed", 300.0, "rt"),
        ("https://example.org/a.html", "page", 0.0, None)]
    assert parse_duration("1.5h") == 5400 and parse_duration(30) == 30
    for bad in ("feedz: []\n", "feeds: [ftp://x]\n", "defaults: {interval: soon}\n",
                "defaults: {jitter: 2}\n", "feeds: [https://a.b/f, https://a.b/f]\n"):
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(UsageError):
            load_config(path)
    example = Path(__file__).resolve().parent.parent / "examples" / "watch.yaml"
    assert load_config(example).alerts["rules"]


def test_memory_limit_is_set_on_the_store(db: Database, tmp_path: Path) -> None:
    default = db.store.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    watcher = Watcher(db, config(tmp_path, memory_limit="300MB"))
    watcher.open()
    try:
        limit = db.store.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        watcher.close()
    assert limit != default and limit.startswith("286.1 MiB")  # 300 MB in DuckDB's units
    for bad in ("lots", "300 parsecs", "1GB'; DROP TABLE items; --"):
        with pytest.raises(UsageError):
            config(tmp_path, memory_limit=bad)


def test_per_host_state_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from echolens.watch import transport

    monkeypatch.setattr(transport, "MAX_HOSTS", 3)
    ports = []
    for _ in range(6):  # ports nobody listens on: robots.txt unreachable, quickly
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    client = transport.polite_client(min_delay=0, retries=0, backoff=0, timeout=1,
                                     user_agent="t", connections=2)
    robots = transport.RobotsCache(client, user_agent="t", timeout=1)
    try:
        for port in ports:
            allowed, why = robots.allowed(f"http://127.0.0.1:{port}/feed.xml")
            assert not allowed and "unreachable" in why
    finally:
        client.close()
    assert 0 < len(robots._rules) <= 3
    assert f"127.0.0.1:{ports[-1]}" in robots._rules  # the newest kept
    polite = client._transport
    assert isinstance(polite, transport.PoliteTransport)
    assert polite.requests == 6 and len(polite._next_slot) <= 3 + 1


# -- pipeline and CLI ---------------------------------------------------------------------------
def test_new_items_go_through_the_pipeline(server: Server, db: Database,
                                           tmp_path: Path) -> None:
    serve_articles(server, ["c-1", "c-2"])
    feed = rss(server, ["c-1", "c-2"]).replace(b"according to the ministry statement",
                                               b"according to TASS")
    server.routes["/feed.xml"] = Route(feed)
    cfg = config(tmp_path, feeds=[server.url("/feed.xml")],
                 pipeline={"embedder": "hashing", "citations": True})
    report = Watcher(db, cfg).run(once=True)[0]
    # hashing vectors have no narrative calibration: that stage is skipped, not failed
    assert report.pipeline == {"citations": 2, "embedded": 2}
    con = db.store.con
    assert con.execute("SELECT count(*) FROM embeddings").fetchall() == [(2,)]
    assert con.execute("SELECT DISTINCT name, ecosystem FROM citations").fetchall() == [
        ("TASS", "russia-state")]
    assert Watcher(db, cfg).run(once=True)[0].pipeline == {}  # nothing new, nothing run


def test_cli_watch_once_and_evidence(server: Server, tmp_path: Path, cli: Any) -> None:
    import json

    import yaml

    serve_articles(server, ["e-1"])
    server.routes["/feed.xml"] = Route(rss(server, ["e-1"]))
    path = tmp_path / "watch.yaml"
    path.write_text(yaml.safe_dump({
        "feeds": [server.url("/feed.xml")], "politeness": {"min_delay": 0},
        "recheck": {"intervals": [0]}, "pipeline": {"embedder": "none", "citations": False}}),
        encoding="utf-8")
    reports = cli.json("watch", "--once", "--config", str(path))
    assert reports[0]["ingest"]["new"] == 1 and reports[0]["evidence"] == 1
    server.routes["/a/e-1"] = Route(b"gone", status=410)
    assert "1 re-checks" in cli("watch", "--once", "--config", str(path)).stdout
    item_id = server.url("/a/e-1")  # a feed entry's guid is its id
    shown = cli.json("evidence", item_id, "--output", str(tmp_path / "copy.html"))
    assert shown["status"] == "deleted" and shown["copy"]["status"] == 200
    assert [o["result"] for o in shown["observations"]] == ["present", "deleted"]
    assert b"Paragraph 0" in (tmp_path / "copy.html").read_bytes()
    assert (tmp_path / "cli.evidence").is_dir()  # beside the store by default
    assert "no item" in cli("evidence", "nope", expect=2).stderr
    assert json.loads(cli("deletions", "--json").stdout)["by_source"][0]["watched"] == 1


def test_pages_store_feeds_and_all_items(server: Server, db: Database, tmp_path: Path) -> None:
    serve_articles(server, ["page-1", "reg-1", "file-1"])
    server.routes["/registry.xml"] = Route(rss(server, ["reg-1"]))
    con = db.store.con
    db.load_curated_sources()
    # an item from a file, re-checked only with recheck.all_items
    db.ingest([str(write_jsonl(tmp_path / "items.jsonl", [{
        "source": "bbc.com", "url": server.url("/a/file-1"), "text": WORDS,
        "published_at": "2026-11-01T00:00:00Z"}]))])
    # a source registry that records feed URLs (a column a registry may add) is polled too
    con.execute("ALTER TABLE sources ADD COLUMN feed_url VARCHAR")
    con.execute("UPDATE sources SET feed_url = ? WHERE id = 'tass'", [server.url("/registry.xml")])
    cfg = config(tmp_path, pages=[{"url": server.url("/a/page-1"), "source": "bbc"}],
                 recheck={"intervals": [0], "all_items": True})
    report = Watcher(db, cfg).run(once=True)[0]
    assert (report.polled, report.ingest.new, report.checks["present"]) == (2, 2, 3)
    sources = dict(con.execute("SELECT url, source_id FROM items").fetchall())
    assert sources[server.url("/a/reg-1")] == "tass"
    assert sources[server.url("/a/page-1")] == "bbc"
    # a page is read once; afterwards only its re-checks fetch it
    server.routes["/a/page-1"] = Route(article("Story page-1", PARAS[:2]))
    again = Watcher(db, cfg).run(once=True)[0]
    assert again.polled == 1 and again.checks["altered"] == 1  # the registry feed only
    # a page whose item is rejected is a failed poll, tried again later
    server.routes["/undated"] = Route(b"<html><body><article><p>" + WORDS.encode() * 5
                                      + b"</p></article></body></html>")
    cfg = config(tmp_path, pages=[{"url": server.url("/undated"), "source": "bbc"}],
                 store_feeds=False)
    assert Watcher(db, cfg).run(once=True)[0].failed == 1
    assert con.execute("SELECT last_outcome, failures FROM watch_sources WHERE location "
                       "LIKE '%undated'").fetchall() == [("error:rejected-missing-date", 1)]


def test_digest_on_a_schedule(server: Server, db: Database, tmp_path: Path) -> None:
    serve_articles(server, ["w-1"])
    server.routes["/feed.xml"] = Route(rss(server, ["w-1"]))
    now = [datetime(2026, 11, 29, 12, 0, tzinfo=UTC)]
    cfg = config(tmp_path, feeds=[server.url("/feed.xml")],
                 digest={"every": "7d", "out": str(tmp_path / "briefs")})
    Watcher(db, cfg, clock=lambda: now[0]).run(once=True)
    assert sorted(p.name for p in (tmp_path / "briefs").iterdir()) == [
        "digest-2026-11-29.html", "digest-2026-11-29.txt"]
    now[0] += timedelta(days=3)
    Watcher(db, cfg, clock=lambda: now[0]).run(once=True)
    assert len(list((tmp_path / "briefs").iterdir())) == 2  # not due yet
    now[0] += timedelta(days=4)
    Watcher(db, cfg, clock=lambda: now[0]).run(once=True)
    assert len(list((tmp_path / "briefs").iterdir())) == 4


def test_free_memory_goes_back_to_the_system() -> None:
    """Blocks freed in the middle of malloc's heap stay resident until `malloc_trim`."""
    from echolens.watch import memory

    if memory._glibc() is None:  # nothing to trim: both calls say they did nothing
        assert memory.release_free_memory() is False
        assert memory.limit_malloc_arenas() is False
        return

    def resident_mb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * 4096 / 2**20

    memory.release_free_memory()
    blocks = [bytes(16_000) for _ in range(6_000)]  # ~96 MB of malloc'd Python bytes
    kept = blocks[::8]  # every 8th block stays: the freed ones are holes, not the heap's top
    del blocks
    held = resident_mb()
    assert memory.release_free_memory()
    released = held - resident_mb()
    assert released > 40, f"only {released:.0f} MB returned"
    del kept  # kept alive until measured
    memory.limit_malloc_arenas()
    assert memory.limit_malloc_arenas() is False  # once per process


def test_a_source_added_between_cycles_is_scheduled(server: Server, db: Database,
                                                    tmp_path: Path) -> None:
    """Idle cycles skip re-scheduling known sources; one that appears is still picked up."""
    serve_articles(server, ["one-1", "two-1"])
    server.routes["/one.xml"] = Route(rss(server, ["one-1"]))
    server.routes["/two.xml"] = Route(rss(server, ["two-1"]))
    con = db.store.con
    db.load_curated_sources()
    watcher = Watcher(db, config(tmp_path, feeds=[server.url("/one.xml")],
                                 defaults={"interval": "1h", "jitter": 0, "timeout": 1}))
    watcher.open()
    try:
        assert watcher.run_cycle().polled == 1
        assert watcher.run_cycle().polled == 0  # nothing due, nothing new
        con.execute("ALTER TABLE sources ADD COLUMN feed_url VARCHAR")
        con.execute("UPDATE sources SET feed_url = ? WHERE id = 'tass'", [server.url("/two.xml")])
        report = watcher.run_cycle()
    finally:
        watcher.close()
    assert (report.polled, report.ingest.new) == (1, 1)
    assert con.execute("SELECT count(*) FROM watch_sources").fetchone()[0] == 2


def test_items_stored_but_never_enrolled_are_enrolled_on_restart(
        server: Server, db: Database, tmp_path: Path) -> None:
    """A run that stored a feed's items and stopped before scheduling their re-checks: the
    next watcher finds them, although its poll of the feed stores nothing new."""
    serve_articles(server, ["r-1", "r-2"])
    server.routes["/feed.xml"] = Route(rss(server, ["r-1", "r-2"]))
    url = server.url("/feed.xml")
    assert db.ingest([url], fmt="rss").new == 2  # stored, not enrolled
    report = Watcher(db, config(tmp_path, feeds=[url], recheck={"intervals": [0, "1d"]})
                     ).run(once=True)[0]
    assert (report.ingest.new, report.ingest.duplicate) == (0, 2)
    assert report.checks["present"] == 2
    assert db.store.con.execute("SELECT count(*) FROM watch_items").fetchone()[0] == 2


def test_feed_presence_reads_only_the_entries_still_in_reach(
        server: Server, db: Database, tmp_path: Path) -> None:
    """A feed's old entries, gone from its end long ago, are not read back at every poll;
    an entry missing from between listed ones still is."""
    from echolens.watch import state

    slugs = [f"h-{i}" for i in range(1, 9)]
    serve_articles(server, slugs)
    url = server.url("/feed.xml")
    server.routes["/feed.xml"] = Route(rss(server, slugs))
    cfg = config(tmp_path, feeds=[url], recheck={"intervals": ["1d"]})
    Watcher(db, cfg).run(once=True)
    listed = {server.url(f"/a/h-{i}") for i in (5, 7, 8)}  # h-6 removed, h-1..h-4 rolled off
    rows = state.feed_items(db.store.con, {url: listed})
    assert sorted(r[2].rsplit("/", 1)[-1] for r in rows) == ["h-5", "h-6", "h-7", "h-8"]
    assert state.feed_items(db.store.con, {url: set()}) == []
    server.routes["/feed.xml"] = Route(rss(server, ["h-5", "h-7", "h-8"]))
    report = Watcher(db, cfg).run(once=True)[0]
    assert report.checks["feed-deleted"] == 1
    assert statuses(db)["h-6"] == "deleted" and statuses(db)["h-1"] == "present"


def test_cycles_due_at_once_wait_the_minimum_pause(server: Server, db: Database,
                                                  tmp_path: Path) -> None:
    """Sources due again right away are polled in the next cycle after the configured pause
    (5 s unless set), not in a tight loop of one-source cycles."""
    serve_articles(server, ["p-1"])
    server.routes["/feed.xml"] = Route(rss(server, ["p-1"]))
    for extra, pause in (({}, 5.0), ({"cycle_pause": "2s"}, 2.0)):
        watcher = Watcher(db, config(tmp_path, feeds=[server.url("/feed.xml")], **extra))
        watcher.open()  # interval 0: due again at once
        try:
            watcher.run_cycle()
            assert watcher.seconds_to_next() == pause
        finally:
            watcher.close()


# -- statements per cycle (DuckDB keeps a handle of every buffer a statement frees) -----------
class Statements:
    """Stands in for the store's connection and records the statements run through it."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.run: list[str] = []

    def execute(self, query: str, *args: Any) -> Any:
        self.run.append(" ".join(query.split()))
        return self.con.execute(query, *args)

    def executemany(self, query: str, *args: Any) -> Any:
        self.run.append(" ".join(query.split()))
        return self.con.executemany(query, *args)

    def sql(self, query: str, *args: Any) -> Any:
        self.run.append(" ".join(query.split()))
        return self.con.sql(query, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)

    def writes(self) -> list[str]:
        return [q for q in self.run if not q.upper().startswith(("SELECT", "WITH"))]


@pytest.fixture
def statements(db: Database) -> Iterator[Statements]:
    counting = Statements(db.store.con)
    db.store.con = counting  # type: ignore[assignment]
    yield counting
    db.store.con = counting.con


def test_a_cycle_with_nothing_due_writes_nothing(server: Server, db: Database,
                                                 statements: Statements,
                                                 tmp_path: Path) -> None:
    serve_articles(server, ["q-1", "q-2"])
    server.routes["/feed.xml"] = Route(rss(server, ["q-1", "q-2"]), etag='"q"')
    cfg = config(tmp_path, feeds=[server.url("/feed.xml")],
                 defaults={"interval": "1h", "jitter": 0, "timeout": 1},
                 recheck={"intervals": ["1d"]})
    watcher = Watcher(db, cfg)
    watcher.open()
    try:
        first = watcher.run_cycle()
        assert (first.polled, first.ingest.new) == (1, 2)
        assert statements.writes()  # the first cycle stored what it read
        statements.run.clear()
        idle = watcher.run_cycle()
        watcher.seconds_to_next()
    finally:
        watcher.close()
    assert (idle.polled, sum(idle.checks.values())) == (0, 0)
    assert statements.writes() == [] and len(statements.run) <= 4  # due polls, checks, wait


def test_polls_read_within_the_flush_interval_are_written_at_once(
        server: Server, db: Database, statements: Statements, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Sixty feeds read in one cycle are stored by one write (one UPDATE of the schedule,
    one ingestion), with the same state per feed as feed-by-feed writes would leave."""
    from echolens.watch import watcher as watcher_module

    monkeypatch.setattr(watcher_module, "FLUSH_SECONDS", 60.0)  # a slow machine: still one
    feeds = [f"/feed{f}.xml" for f in range(60)]
    for f, path in enumerate(feeds):
        slugs = [f"b{f}-1", f"b{f}-2"]
        serve_articles(server, slugs)
        server.routes[path] = Route(rss(server, slugs, f"feed {f}"), etag=f'"b{f}"')
    cfg = config(tmp_path, feeds=[server.url(p) for p in feeds],
                 defaults={"interval": "1h", "jitter": 0, "timeout": 2},
                 recheck={"intervals": ["1d"]})
    report = Watcher(db, cfg).run(once=True)[0]
    assert (report.polled, report.ingest.new) == (60, 120)
    updates = [q for q in statements.run if q.startswith("UPDATE watch_sources")]
    assert len(updates) == 1
    rows = db.store.con.execute(
        "SELECT w.polls, w.new_items, w.last_outcome, w.failures, f.etag FROM watch_sources w "
        "JOIN feed_state f USING (location) ORDER BY w.location").fetchall()
    assert len(rows) == 60
    assert {r[:4] for r in rows} == {(1, 2, "ok", 0)}
    assert sorted(r[4] for r in rows) == sorted(f'"b{f}"' for f in range(60))
    assert db.store.con.execute("SELECT count(*) FROM watch_items").fetchone()[0] == 120


def test_due_sources_are_the_listed_ones_due_in_schedule_order(db: Database) -> None:
    from echolens.watch import state

    now = BASE_DATE
    con = db.store.con
    state.sync_sources(con, [("https://a/f", "feed"), ("https://b/f", "feed"),
                             ("https://c/f", "feed"), ("https://d/p", "page")], now)
    con.execute("UPDATE watch_sources SET next_at = ? WHERE location = 'https://a/f'",
                [now - timedelta(minutes=1)])
    con.execute("UPDATE watch_sources SET next_at = ? WHERE location = 'https://c/f'",
                [now + timedelta(minutes=1)])
    con.execute("INSERT INTO feed_state VALUES ('https://a/f', '\"e\"', NULL, ?)", [now])
    listed = ["https://a/f", "https://c/f", "https://d/p"]  # b is due but no longer listed
    assert state.due_sources(con, listed, now) == [
        ("https://a/f", '"e"', None), ("https://d/p", None, None)]
    assert state.due_sources(con, [], now) == []
    later = now + timedelta(minutes=2)
    assert [r[0] for r in state.due_sources(con, listed, later)] == [
        "https://a/f", "https://d/p", "https://c/f"]
