"""The `Store` protocol: everything the stages need from persistence, nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import polars as pl

from echolens.model import Item, Reject, Source


@dataclass(frozen=True)
class KnownItem:
    """What deduplication needs to know about an item already stored."""

    id: str
    source_id: str
    content_hash: str
    published_at: datetime
    duplicate_of: str | None


@dataclass(frozen=True)
class FeedState:
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class WriteBatch:
    """Everything one ingestion batch writes, committed in a single transaction."""

    items: list[Item]
    rejects: list[Reject]
    bands: list[tuple[int, str]]  # (band_key, item_id)
    signatures: list[tuple[str, np.ndarray]]  # (item_id, minhash signature)
    relinks: list[tuple[str, str]]  # (old root id, new root id): items of old root move to new


class Store(Protocol):
    path: str

    def close(self) -> None: ...

    # sources
    def upsert_sources(self, sources: Sequence[Source]) -> int: ...
    def list_sources(self) -> list[Source]: ...

    # deduplication look-ups
    def items_by_id(self, ids: Sequence[str]) -> dict[str, KnownItem]: ...
    def items_by_source_content(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]: ...
    def items_by_source_url(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]: ...
    def items_by_content(self, hashes: Sequence[str]) -> dict[str, list[KnownItem]]: ...
    def band_members(self, band_keys: Sequence[int]) -> dict[int, list[str]]: ...
    def signatures(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def known_items(self, item_ids: Sequence[str]) -> dict[str, KnownItem]: ...
    def known_rejects(self, reject_ids: Sequence[str]) -> set[str]: ...

    def write(self, batch: WriteBatch) -> None: ...

    # rejects
    def rejects(self, reason: str | None = None, status: str = "open") -> list[dict[str, Any]]: ...
    def resolve_rejects(self, reject_ids: Sequence[str]) -> None: ...

    # embeddings cache
    def texts_without_embedding(self, model_id: str) -> list[tuple[str, str]]: ...
    def put_embeddings(self, model_id: str, hashes: Sequence[str], vectors: np.ndarray) -> None: ...
    def embeddings(
        self, model_id: str, hashes: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]: ...
    def count_embeddings(self, model_id: str) -> int: ...

    # feeds
    def feed_state(self, location: str) -> FeedState: ...
    def set_feed_state(self, location: str, state: FeedState) -> None: ...

    # read side
    def items_frame(self) -> pl.DataFrame: ...
    def sources_frame(self) -> pl.DataFrame: ...
    def rejects_frame(self) -> pl.DataFrame: ...
    def stats(self) -> dict[str, Any]: ...
    def reset_data(self) -> None: ...
