"""Embed every stored content that has no vector yet for the model; never embed twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    total = len(todo)
    cached = store.count_embeddings(embedder.model_id)
    done = 0
    for start in range(0, total, batch_size):
        chunk = todo[start:start + batch_size]
        vectors = embedder.embed([text for _, text in chunk])
        store.put_embeddings(embedder.model_id, [h for h, _ in chunk], vectors)
        done += len(chunk)
        if progress:
            progress(done, total)
    return EmbedReport(model_id=embedder.model_id, embedded=total, cached=cached)
