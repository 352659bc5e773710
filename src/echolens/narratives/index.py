"""Nearest-neighbour search over the items already grouped: exact (numpy) for small stores,
`usearch` HNSW for large ones. Both answer a block of queries at once.

A store keeps its index in a file beside the database (`index_path`) so that a run does
not rebuild the HNSW graph of every item it already holds. The file is a cache of the store,
never the truth: `load_index` checks it against the store's grouped items (count, dimension
and a digest of their ids in assignment order) and the caller rebuilds it from the store,
with a warning, when it is missing, unreadable or stale."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

EXACT_LIMIT = 20_000  # above this many items, approximate search pays off
SELECT_ROWS = 16  # queries whose nearest items are selected together (exact search)


class VectorIndex(Protocol):
    # whether a query's answer is the same however the queries are split into calls (and
    # so a block's search may be split across calls and threads)
    splittable: bool

    def __len__(self) -> int: ...

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
        """(indices, cosines), each (len(queries), <=k), best first; -1 pads missing.
        `threads`: at most this many threads (0: one per CPU)."""
        ...

    def save(self, path: Path) -> None: ...


class ExactIndex:
    """Brute force on a growing float32 matrix: exact and deterministic."""

    splittable = False  # a product's last bits may depend on its number of rows

    def __init__(self, dim: int) -> None:
        self._data = np.zeros((1024, dim), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray) -> None:
        need = self._n + len(vectors)
        if need > len(self._data):
            grown = np.zeros((max(need, 2 * len(self._data)), self._data.shape[1]), np.float32)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n:need] = vectors
        self._n = need

    def search(self, queries: np.ndarray, k: int, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._n)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        sims = queries @ self._data[: self._n].T
        if k < self._n:  # a few rows at a time: the full (queries x items) int64 selection
            top = np.empty((len(queries), k), dtype=np.int64)  # was 2x the product's size
            for lo in range(0, len(queries), SELECT_ROWS):
                top[lo:lo + SELECT_ROWS] = np.argpartition(
                    -sims[lo:lo + SELECT_ROWS], k - 1, axis=1)[:, :k]
        else:
            top = np.tile(np.arange(self._n), (len(queries), 1))
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.save(handle, self._data[: self._n])

    @classmethod
    def load(cls, path: Path, dim: int) -> ExactIndex:
        data = np.load(path, allow_pickle=False)
        if data.ndim != 2 or data.shape[1] != dim:
            raise ValueError(f"shape {data.shape} is not (n, {dim})")
        index = cls(dim)
        index.add(np.asarray(data, dtype=np.float32))
        return index


class USearchIndex:
    """HNSW in `usearch` with int8 storage (a quarter of float32), single-threaded adds so
    the graph, and so the result, is the same on every run. Each query is answered on its
    own, whatever the calls and threads of its search."""

    splittable = True

    def __init__(self, dim: int) -> None:
        try:
            from usearch.index import Index
        except ImportError as exc:  # pragma: no cover - depends on the install
            from echolens.errors import NotInstalled

            raise NotInstalled("usearch is needed for large narrative indexes",
                               "pip install usearch==2.26.6") from exc
        # measured on 40k items (k=64): connectivity 16 / expansion 64 / 96 added 4.5k
        # vectors per CPU-second and answered 3.4k queries per CPU-second at 0.963 recall of
        # the exact 64 nearest; 12 / 32 / 80 adds 9.4k and answers 6.4k at 0.944
        self._index = Index(ndim=dim, metric="cos", dtype="i8", connectivity=12,
                            expansion_add=32, expansion_search=80)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray) -> None:
        keys = np.arange(self._n, self._n + len(vectors), dtype=np.uint64)
        self._index.add(keys, np.asarray(vectors, dtype=np.float32), threads=1)
        self._n += len(vectors)

    def search(self, queries: np.ndarray, k: int, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._n)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        found: Any = self._index.search(np.asarray(queries, dtype=np.float32), k,
                                        threads=threads)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)
        dist = np.asarray(found.distances, dtype=np.float32).reshape(len(queries), -1)
        counts = np.asarray(found.counts).reshape(-1, 1)
        keys[np.arange(keys.shape[1])[None, :] >= counts] = -1
        return keys, 1.0 - dist

    def save(self, path: Path) -> None:
        self._index.save(str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> USearchIndex:
        index = cls(dim)
        index._index.load(str(path))
        if index._index.ndim != dim:
            raise ValueError(f"dimension {index._index.ndim} is not {dim}")
        index._n = len(index._index)
        return index


def make_index(dim: int, expected: int) -> VectorIndex:
    return ExactIndex(dim) if expected <= EXACT_LIMIT else USearchIndex(dim)


# -- the index file of a store ----------------------------------------------------------------
def index_path(store_path: str, model_id: str) -> Path | None:
    """Where a store keeps its narrative index for `model_id` (None for in-memory stores)."""
    if store_path in ("", ":memory:"):
        return None
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", model_id)
    return Path(f"{store_path}.narratives") / f"{slug}.index"


def ids_digest(item_ids: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for item_id in item_ids:
        digest.update(item_id.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def save_index(index: VectorIndex, path: Path, item_ids: Sequence[str], dim: int) -> None:
    """Write the index and its manifest (written last: a crash leaves a stale file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = path.with_suffix(".json")
    manifest.unlink(missing_ok=True)
    index.save(path)
    manifest.write_text(json.dumps({
        "kind": type(index).__name__, "dim": dim, "count": len(item_ids),
        "ids_sha256": ids_digest(item_ids)}))


def load_index(path: Path, item_ids: Sequence[str], dim: int) -> tuple[VectorIndex | None, str]:
    """The saved index when it matches `item_ids` (in order), else (None, why not)."""
    manifest = path.with_suffix(".json")
    if not path.exists() or not manifest.exists():
        return None, "missing"
    try:
        meta = json.loads(manifest.read_text())
        if meta.get("count") != len(item_ids) or meta.get("dim") != dim:
            return None, "stale (item count or dimension differs from the store)"
        if meta.get("ids_sha256") != ids_digest(item_ids):
            return None, "stale (items differ from the store)"
        kind = meta.get("kind")
        index: VectorIndex
        if kind == "ExactIndex":
            index = ExactIndex.load(path, dim)
        elif kind == "USearchIndex":
            index = USearchIndex.load(path, dim)
        else:
            return None, f"unknown index kind {kind!r}"
    except (OSError, EOFError, ValueError, RuntimeError) as exc:
        return None, f"unreadable ({exc})"
    if len(index) != len(item_ids):
        return None, "corrupted (holds a different number of vectors)"
    return index, "ok"
