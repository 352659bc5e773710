"""Alert rules over a real store, delivered to a local webhook receiver (signature checked)
and a local SMTP server (aiosmtpd); de-duplication, rate limit, `echolens alerts test`."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message as MailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

import echolens
from echolens.database import Database
from echolens.watch import state
from echolens.watch.alerts import AlertConfig, evaluate, run_alerts
from echolens.watch.deliveries import SIGNATURE_HEADER, verify_signature
from echolens.watch.observe import Observation
from tests.conftest import Cli, write_jsonl

SECRET = "s3cret-for-tests"
NOW = datetime.now(UTC).replace(microsecond=0)


# -- local receivers ----------------------------------------------------------------------------
@dataclass
class Hook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def hook() -> Iterator[Hook]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"body": json.loads(body), "event": self.headers["X-Echolens-Event"],
                             "valid": verify_signature(SECRET, body,
                                                       self.headers[SIGNATURE_HEADER])})
            self.send_response(target.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    target = Hook(f"http://127.0.0.1:{httpd.server_address[1]}/hook", received)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield target
    httpd.shutdown()
    httpd.server_close()


class _Sink:
    def __init__(self) -> None:
        self.messages: list[MailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class Smtp:
    port: int
    sink: _Sink


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield Smtp(port, sink)
    controller.stop()


def deliveries(hook: Hook, smtp: Smtp) -> list[dict[str, Any]]:
    return [{"type": "webhook", "url": hook.url, "secret": SECRET},
            {"type": "email", "host": "127.0.0.1", "port": smtp.port,
             "from": "echolens@example.org", "to": ["desk@example.org"]},
            {"type": "log"}]


# -- a store where every rule has something to find ---------------------------------------------
def _store(tmp_path: Path) -> Database:
    db = echolens.open(tmp_path / "alerts.duckdb")
    recent = NOW - timedelta(hours=6)
    rows = [
        {"id": "ru-1", "source": "tass.ru", "url": "https://tass.ru/1", "lang": "en",
         "title": "Biolabs in Ukraine", "text": "Moscow says US-funded biolabs operate in Ukraine.",
         "published_at": "2022-03-06T09:00:00Z"},
        {"id": "cn-1", "source": "news.cn", "url": "https://news.cn/1", "lang": "en",
         "text": "Beijing asks Washington to explain the biolabs in Ukraine.",
         "published_at": "2022-03-08T10:00:00Z"},
        *({"id": f"gt-{i}", "source": "globaltimes.cn", "url": f"https://globaltimes.cn/{i}",
           "lang": "en", "published_at": (recent - timedelta(hours=i)).isoformat(),
           "text": f"Russian forces advanced near town {i}, according to TASS."}
          for i in range(6)),
    ]
    db.ingest([str(write_jsonl(tmp_path / "items.jsonl", rows))])
    db.extract_citations()  # the real extractor: "according to TASS" -> russia-state
    con = db.store.con
    con.execute("INSERT INTO narratives VALUES ('n-bio', 'm', 'active', NULL, 'US biolabs in "
                "Ukraine', NULL, NULL, 2, NULL, NULL, ?, ?)", [NOW, NOW])
    con.executemany("INSERT INTO narrative_members VALUES ('m', ?, 'n-bio', ?, ?, NULL, 0.9, ?)",
                    [("ru-1", 0, "opened", NOW - timedelta(days=30)),
                     ("cn-1", 1, "joined", NOW - timedelta(hours=1))])
    con.execute("INSERT INTO factchecks (id, text, title, lang, url, organization, "
                "source_format, location, locator, claim_key, imported_at) VALUES ('fc-1', "
                "'Claim: the US runs biolabs in Ukraine', 'US biolabs in Ukraine', 'en', "
                "'https://euvsdisinfo.eu/report/biolabs', 'EUvsDisinfo', 'jsonl', 'f', '1', "
                "'k', ?)", [NOW])
    con.execute("INSERT INTO claim_matches VALUES ('item', 'cn-1', 'fc-1', 0.82, 0.9, 1, "
                "'hybrid', NULL, NULL, true, ?)", [NOW - timedelta(minutes=30)])
    con.execute("INSERT INTO watch_items VALUES ('ru-1', 'https://tass.ru/1', ?, NULL, 1, "
                "'present', NULL, NULL, NULL, NULL)", [NOW - timedelta(days=2)])
    state.write_checks(con, [state.CheckWrite(
        Observation("ru-1", NOW - timedelta(minutes=5), "page", "deleted", 404,
                    detail="http-error: HTTP 404"), None, None, None, None)])
    return db


RULES = [
    {"id": "ru-then-cn", "type": "narrative-crosses", "from": "russia-state",
     "to": "china-state"},
    {"id": "debunked", "type": "debunked-claim", "min_score": 0.8},
    {"id": "cites-ru", "type": "citation-spike", "cited_ecosystem": "russia-state",
     "window": "7d", "baseline": "28d", "factor": 3, "min_count": 5},
    {"id": "bio-deleted", "type": "watched-narrative-deleted", "label_contains": ["biolab"]},
]


def test_each_rule_finds_its_event(tmp_path: Path) -> None:
    with _store(tmp_path) as db:
        alerts = evaluate(db.store.con, AlertConfig.from_mapping({"rules": RULES}), NOW)
        keys = sorted(a.key for a in alerts)
        assert keys == sorted(["ru-then-cn:n-bio", "debunked:cn-1:fc-1",
                               f"cites-ru:global-times:russia-state:{NOW:%Y-%m-%d}",
                               "bio-deleted:ru-1:deleted"])
        crossed = next(a for a in alerts if a.rule_id == "ru-then-cn")
        assert crossed.links == ("https://tass.ru/1", "https://news.cn/1")
        assert crossed.data["lag_hours"] == 49.0
        spike = next(a for a in alerts if a.rule_id == "cites-ru")
        assert spike.data["recent"] == 6 and spike.data["expected"] == 0
        # thresholds hold: a higher score bar, a higher count bar and old events find nothing
        stricter = AlertConfig.from_mapping({"rules": [
            {**RULES[1], "min_score": 0.9}, {**RULES[2], "min_count": 7}]})
        assert evaluate(db.store.con, stricter, NOW) == []
        assert evaluate(db.store.con, AlertConfig.from_mapping(
            {"rules": RULES[:2] + RULES[3:], "lookback": "1m"}), NOW) == []


def test_alerts_are_delivered_signed_once_and_rate_limited(
        tmp_path: Path, hook: Hook, smtp: Smtp) -> None:
    config = AlertConfig.from_mapping({"rules": RULES, "deliveries": deliveries(hook, smtp),
                                       "max_per_hour": 3})
    with _store(tmp_path) as db:
        first = run_alerts(db.store.con, config, now=NOW)
        assert len(first) == 3  # four are due, the hourly limit lets three through
        assert all(s.ok for f in first for s in f.sent)
        assert len(hook.received) == 3 and all(r["valid"] for r in hook.received)
        assert {r["body"]["key"] for r in hook.received} == {f.alert.key for f in first}
        assert len(smtp.sink.messages) == 3
        assert smtp.sink.messages[0]["Subject"].startswith("[echolens] ")
        assert run_alerts(db.store.con, config, now=NOW + timedelta(minutes=5)) == []
        later = run_alerts(db.store.con, config, now=NOW + timedelta(minutes=61))
        assert len(later) == 1  # the held one, once the hour has passed; nothing twice
        assert len(hook.received) == 4
        assert len({r["body"]["key"] for r in hook.received}) == 4


def test_failed_deliveries_are_retried_next_time(tmp_path: Path, hook: Hook) -> None:
    config = AlertConfig.from_mapping({"rules": RULES[1:2], "deliveries": [
        {"type": "webhook", "url": hook.url, "secret": SECRET}]})
    hook.status = 500
    with _store(tmp_path) as db:
        assert run_alerts(db.store.con, config, now=NOW) == []
        hook.status = 200
        assert len(run_alerts(db.store.con, config, now=NOW)) == 1
    assert [r["body"]["key"] for r in hook.received] == ["debunked:cn-1:fc-1"] * 2


def test_cli_alerts_test_check_and_list(tmp_path: Path, hook: Hook, smtp: Smtp,
                                        cli: Cli) -> None:
    config = tmp_path / "watch.yaml"
    config.write_text(yaml.safe_dump({"alerts": {"rules": RULES,
                                                 "deliveries": deliveries(hook, smtp)}}),
                      encoding="utf-8")
    result = cli("alerts", "test", "--config", str(config))
    assert "webhook-1: ok" in result.stdout and "email-2: ok" in result.stdout
    assert hook.received[0]["event"] == "test" and hook.received[0]["valid"]
    assert smtp.sink.messages[0]["Subject"] == "[echolens] test alert"

    _store(tmp_path).close()
    cli.db_path = tmp_path / "alerts.duckdb"
    fired = cli.json("alerts", "check", "--config", str(config))
    assert len(fired) == 4  # every rule's event is within the default 2-day lookback
    assert cli.json("alerts", "check", "--config", str(config)) == []
    listed = cli.json("alerts", "list")
    assert sorted(r["key"] for r in listed) == sorted(f["key"] for f in fired)

    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({"alerts": {"deliveries": [
        {"type": "webhook", "url": "http://127.0.0.1:9/none", "secret": SECRET}]}}),
        encoding="utf-8")
    assert "failed" in cli("alerts", "test", "--config", str(broken), expect=1).stdout
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n", encoding="utf-8")
    assert "no alert deliveries" in cli("alerts", "test", "--config", str(empty),
                                        expect=2).stderr


def test_watcher_alerts_when_an_item_of_a_watched_narrative_is_deleted(
        tmp_path: Path, hook: Hook, server: Any) -> None:
    from echolens.watch import Watcher, config_from_mapping
    from tests.httpserver import Route
    from tests.test_watch import rss, serve_articles

    serve_articles(server, ["v-1", "v-2"])
    server.routes["/feed.xml"] = Route(rss(server, ["v-1", "v-2"]))
    cfg = config_from_mapping({
        "feeds": [{"url": server.url("/feed.xml"), "interval": "1h"}],
        "politeness": {"min_delay": 0, "retries": 0}, "recheck": {"intervals": [0]},
        "pipeline": {"embedder": "none", "citations": False},
        "evidence_dir": str(tmp_path / "evidence"),
        "alerts": {"deliveries": [{"type": "webhook", "url": hook.url, "secret": SECRET}],
                   "rules": [{"id": "watched", "type": "watched-narrative-deleted",
                              "narratives": ["n-grain"]}]},
    })
    with echolens.open(tmp_path / "w.duckdb") as db:
        assert Watcher(db, cfg).run(once=True)[0].alerts == 0
        v1 = server.url("/a/v-1")
        db.store.con.execute(  # the grouping stage put v-1 in the watched narrative
            "INSERT INTO narrative_members VALUES ('m', ?, 'n-grain', 0, 'opened', NULL, 1.0, "
            "?)", [v1, datetime.now(UTC)])
        server.routes["/a/v-1"] = Route(b"", status=404)
        server.routes["/a/v-2"] = Route(b"", status=404)  # deleted too, but not watched
        report = Watcher(db, cfg).run(once=True)[0]
        assert report.alerts == 1
        assert Watcher(db, cfg).run(once=True)[0].alerts == 0  # fired once
    (received,) = hook.received
    assert received["valid"] and received["body"]["data"]["item_id"] == v1
    assert received["body"]["data"]["evidence"] is True  # the first copy was kept
