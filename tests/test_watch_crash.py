"""`echolens watch` as a real process: kill -9 mid-poll or mid-re-check, restart, and nothing
is lost or duplicated (items, observations, evidence records); SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml
from warcio.archiveiterator import ArchiveIterator

import echolens
from echolens.watch import Watcher, load_config
from tests.httpserver import Route, Server
from tests.test_watch import PARAS, article, rss

FEEDS = 20
PER_FEED = 5


def _serve(server: Server, feeds: int = FEEDS) -> set[str]:
    urls = set()
    for f in range(feeds):
        slugs = [f"n{f}-{k}" for k in range(PER_FEED)]
        server.routes[f"/feed{f}.xml"] = Route(rss(server, slugs, f"feed {f}"))
        for slug in slugs:
            server.routes[f"/a/{slug}"] = Route(article(f"Story {slug}", PARAS[:3]))
            urls.add(server.url(f"/a/{slug}"))
    return urls


def _config(tmp_path: Path, server: Server, min_delay: float, interval: str = "1h",
            feeds: int = FEEDS) -> Path:
    path = tmp_path / "watch.yaml"
    path.write_text(yaml.safe_dump({
        "feeds": [server.url(f"/feed{f}.xml") for f in range(feeds)],
        "defaults": {"interval": interval, "jitter": 0, "timeout": 2},
        "politeness": {"min_delay": min_delay, "retries": 0},
        "recheck": {"intervals": [0, "1d"]},
        "pipeline": {"embedder": "none", "citations": False},
        "evidence_dir": str(tmp_path / "evidence"),
    }), encoding="utf-8")
    return path


def _watch(db: Path, config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "echolens.cli", "--db", str(db), "watch", "--config",
         str(config), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _restart(db: Path, config: Path) -> Any:
    """The restart runs in this process (a fresh Watcher on the killed store)."""
    with echolens.open(db) as database:
        return Watcher(database, load_config(config)).run(once=True)[0]


def _wait_for(process: subprocess.Popen[str], marker: str, timeout: float = 120) -> list[str]:
    """Read stderr lines until one contains `marker`; return the lines read."""
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"never saw {marker!r}: {lines[-5:]}")


def _check_store(db: Path, evidence: Path, urls: set[str]) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        items = con.execute("SELECT url FROM items").fetchall()
        assert sorted(r[0] for r in items) == sorted(urls)  # none lost, none twice
        per_item = con.execute("SELECT item_id, count(*) FROM observations GROUP BY 1").fetchall()
        assert len(per_item) == len(urls) and {r[1] for r in per_item} == {1}
        rows = con.execute("SELECT warc_file, warc_offset FROM evidence").fetchall()
        assert len(rows) == len(urls)
    finally:
        con.close()
    records = []
    for path in sorted(evidence.glob("*.warc.gz")):
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                records.append((path.name, record.rec_headers.get_header("WARC-Target-URI")))
    assert len(records) == len(urls)  # no orphan record left by the kill
    assert {r[1] for r in records} == urls


def test_kill_mid_poll_then_restart_loses_and_duplicates_nothing(
        server: Server, tmp_path: Path) -> None:
    urls = _serve(server)
    db = tmp_path / "w.duckdb"
    config = _config(tmp_path, server, min_delay=0.25)
    process = _watch(db, config)
    lines = _wait_for(process, "poll http")  # the first feeds are committed, most are not
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert len([line for line in lines if "poll http" in line]) < FEEDS
    con = duckdb.connect(str(db), read_only=True)
    partial = con.execute("SELECT count(*) FROM items").fetchone()[0]
    con.close()
    assert 0 < partial < len(urls)

    report = _restart(db, _config(tmp_path, server, min_delay=0))
    assert report.ingest.new == len(urls) - partial
    _check_store(db, tmp_path / "evidence", urls)


def test_kill_mid_recheck_then_restart_keeps_one_copy_each(
        server: Server, tmp_path: Path) -> None:
    urls = _serve(server)
    db = tmp_path / "w.duckdb"
    # polls are fast; re-checks (all on one host) wait 30 ms each: killed among them
    config = _config(tmp_path, server, min_delay=0.03)
    process = _watch(db, config)
    _wait_for(process, "first copies kept")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    con = duckdb.connect(str(db), read_only=True)
    kept = con.execute("SELECT count(*) FROM evidence").fetchone()[0]
    con.close()
    assert 0 < kept < len(urls)

    report = _restart(db, _config(tmp_path, server, min_delay=0))
    assert report.ingest.new == 0
    _check_store(db, tmp_path / "evidence", urls)


def test_sigterm_stops_cleanly(server: Server, tmp_path: Path) -> None:
    urls = _serve(server, feeds=3)
    db = tmp_path / "w.duckdb"
    process = _watch(db, _config(tmp_path, server, min_delay=0, interval="1s", feeds=3))
    _wait_for(process, "cycle:")
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors[-2000:]
    assert "stopping" in errors
    _check_store(db, tmp_path / "evidence", urls)
