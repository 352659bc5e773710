"""`echolens serve --watch`: the dashboard and the watcher in one process on one store; an
item published on a feed (served on 127.0.0.1) shows up in the dashboard's API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

import echolens
from tests.httpserver import Route, Server
from tests.test_watch import rss, serve_articles


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_watch_shows_new_feed_items(server: Server, tmp_path: Path) -> None:
    store = tmp_path / "live.duckdb"
    echolens.open(store).close()
    serve_articles(server, ["live-1", "live-2"])
    server.routes["/feed.xml"] = Route(rss(server, ["live-1", "live-2"]))
    config = tmp_path / "watch.yaml"
    config.write_text(yaml.safe_dump({
        "feeds": [server.url("/feed.xml")],
        "defaults": {"interval": 1, "jitter": 0, "timeout": 2},
        "politeness": {"min_delay": 0},
        "pipeline": {"embedder": "none", "citations": False},
        "evidence_dir": str(tmp_path / "evidence")}), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "ECHOLENS_DB": str(store)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "echolens.cli", "serve", "--watch", "--config", str(config),
         "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        items = 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and items < 2:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/stats", timeout=5)
                if response.status_code == 200:
                    items = int(response.json()["items"])
            except httpx.TransportError:
                pass  # not listening yet
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.5)
        assert items == 2
        # The dashboard still refuses writes: no token was given.
        item = {"source": "example.org", "text": "A statement.", "published_at": "2026-11-20"}
        refused = httpx.post(f"http://127.0.0.1:{port}/api/ingest", json={"items": [item]},
                             timeout=5)
        assert refused.status_code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    with echolens.open(store) as db:  # the store was closed cleanly and holds the items once
        assert db.store.con.execute("SELECT count(*) FROM items").fetchone() == (2,)
