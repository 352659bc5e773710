"""The DuckDB store: named migrations, sources, the embeddings cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from echolens.model import Source
from echolens.store.duckdb_store import DuckDBStore
from echolens.store.migrations import load_migrations


def test_migrations_are_named_recorded_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = DuckDBStore(path)
    names = [m.name for m in load_migrations()]
    assert names and names[0] == "001_initial"
    assert store.applied_migrations() == names
    store.close()
    again = DuckDBStore(path)
    assert again.migrate() == []
    assert again.applied_migrations() == names
    again.close()


def test_sources_upsert_replaces(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.upsert_sources([Source(id="tass", name="TASS", ecosystem="russia-state",
                                 domain="tass.ru", aliases=("ТАСС", "塔斯社"))])
    store.upsert_sources([Source(id="tass", name="TASS agency", ecosystem="russia-state")])
    [source] = store.list_sources()
    assert source.name == "TASS agency" and source.aliases == ()


def test_embeddings_cache_round_trip(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    store.put_embeddings("m", ["h1", "h2"], vectors)
    store.put_embeddings("m", ["h1"], vectors[:1] + 100)  # ignored: cached already
    got = store.embeddings("m")
    assert np.array_equal(got["h1"], vectors[0]) and np.array_equal(got["h2"], vectors[1])
    assert store.embeddings("other") == {}
    assert store.count_embeddings("m") == 2
    # right after a read left unfinished (count_embeddings' fetchone): once refused by
    # DuckDB ("connection has an unfinished result")
    assert list(store.embeddings("m", ["h2"])) == ["h2"]
    store.count_embeddings("m")
    assert store.sources_frame().height == 0  # every whole-result read settles it
