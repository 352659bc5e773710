"""Embed every stored content that has no vector yet for the model; never embed twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from echolens.embed.base import Embedder
from echolens.store.base import Store

DEFAULT_BATCH = 64


@dataclass(frozen=True)
class EmbedReport:
    model_id: str
    embedded: int
    cached: int


def embed_pending(
    store: Store,
    embedder: Embedder,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedReport:
    """Embed the distinct contents lacking a vector, committing batch by batch.

    `progress(done, total)` is called after each batch."""
    todo = store.texts_without_embedding(embedder.model_id)
    cached = store.count_embeddings(embedder.model_id)
    for _ in embed_batches(
            todo, embedder.embed,
            lambda keys, vectors: store.put_embeddings(embedder.model_id, keys, vectors),
            batch_size=batch_size, progress=progress):
        pass
    return EmbedReport(model_id=embedder.model_id, embedded=len(todo), cached=cached)


def embed_batches(
    todo: Sequence[tuple[str, str]],
    embed: Callable[[list[str]], np.ndarray],
    keep: Callable[[list[str], np.ndarray], None] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[list[str], np.ndarray]]:
    """Embed (key, text) pairs a batch at a time: each batch is passed to `keep` (a cache)
    before the next is embedded, so a run stopped midway keeps what it embedded, then
    yielded as (keys, vectors); `progress(done, total)` after each batch."""
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        keys = [key for key, _ in chunk]
        vectors = embed([text for _, text in chunk])
        if keep is not None:
            keep(keys, vectors)
        if progress is not None:
            progress(start + len(chunk), len(todo))
        yield keys, vectors
