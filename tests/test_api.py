"""The Python API for notebooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

import echolens
from tests.conftest import write_jsonl


def test_open_ingest_and_frames(tmp_path: Path, sample_rows: list[dict[str, Any]],
                                monkeypatch: Any) -> None:
    monkeypatch.setenv("ECHOLENS_DB", str(tmp_path / "env.duckdb"))
    with echolens.open() as db:
        assert db.path == str(tmp_path / "env.duckdb")
        db.ingest([str(write_jsonl(tmp_path / "a.jsonl", sample_rows))])
        items = db.items()
        assert isinstance(items, pl.DataFrame) and items.height == 4
        assert set(items["ecosystem"]) == {"russia-state", "china-state", "ukraine"}
        sources = db.sources()
        assert sources.filter(pl.col("id") == "tass")["items"].to_list() == [1]
        assert db.stats()["by_language"] == {"en": 1, "ru": 1, "uk": 1, "zh": 1}
