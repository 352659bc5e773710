"""A process killed (SIGKILL) mid-import, then re-run, ends with the uninterrupted content."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from tests.conftest import write_jsonl

N_ITEMS = 6000


def _rows(n: int) -> list[dict[str, str]]:
    rng = random.Random(7)
    words = ["Kyiv", "Moscow", "biolab", "sanctions", "grain", "NATO", "Donbas", "talks",
             "Киев", "Москва", "санкции", "Україна", "生物实验室", "制裁", "乌克兰"]
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(12)) + f" #{i}"
        rows.append({"source": rng.choice(["tass.ru", "news.cn", "bbc.com", "pravda.com.ua"]),
                     "text": text, "published_at": f"2022-03-{1 + i % 28:02d}T10:00:00Z",
                     "lang": "en"})  # given, so the test times the store, not language id
    return rows + ["{not json"]


def _ingest(db: Path, path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "echolens.cli", "--db", str(db), "ingest", str(path),
         "--batch-size", "250"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _content(db: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    con = duckdb.connect(str(db), read_only=True)
    items = con.sql(
        "SELECT * EXCLUDE (fetched_at) FROM items ORDER BY id").pl()
    rejects = con.sql("SELECT * EXCLUDE (first_seen) FROM rejects ORDER BY id").pl()
    con.close()
    return items, rejects


def _count_items(db: Path) -> int:
    """Items committed so far (0 when killed before the schema existed)."""
    if not db.exists():
        return 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "items" not in tables:
            return 0
        row = con.execute("SELECT count(*) FROM items").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def test_kill_mid_import_then_rerun_matches_clean_run(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", _rows(N_ITEMS))  # type: ignore[arg-type]
    clean = tmp_path / "clean.duckdb"
    assert _ingest(clean, path).wait(timeout=300) == 0
    clean_items, clean_rejects = _content(clean)
    assert clean_items.height == N_ITEMS

    partial = 0
    for attempt, wal_bytes in enumerate((300_000, 600_000, 150_000, 1_000_000)):
        killed = tmp_path / f"killed-{attempt}.duckdb"
        wal = Path(f"{killed}.wal")
        process = _ingest(killed, path)
        deadline = time.monotonic() + 120
        # kill -9 once some batches are committed to the write-ahead log
        while process.poll() is None and time.monotonic() < deadline:
            if wal.exists() and wal.stat().st_size >= wal_bytes:
                break
            time.sleep(0.01)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        partial = _count_items(killed)
        if 0 < partial < N_ITEMS:
            break
    assert 0 < partial < N_ITEMS, "could not kill the import part-way"

    assert _ingest(killed, path).wait(timeout=300) == 0
    items, rejects = _content(killed)
    assert items.equals(clean_items)
    assert rejects.equals(clean_rejects)
