"""Nearest-neighbour search over the items already grouped: exact (numpy) for small stores,
`usearch` HNSW for large ones. Both answer a block of queries at once."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

EXACT_LIMIT = 20_000  # above this many items, approximate search pays off


class VectorIndex(Protocol):
    def __len__(self) -> int: ...

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, cosines), each (len(queries), <=k), best first; -1 pads missing."""
        ...


class ExactIndex:
    """Brute force on a growing float32 matrix: exact and deterministic."""

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

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._n)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        sims = queries @ self._data[: self._n].T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < self._n else np.tile(
            np.arange(self._n), (len(queries), 1))
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)


class USearchIndex:
    """HNSW in `usearch` with int8 storage (a quarter of float32), single-threaded adds so
    the graph, and so the result, is the same on every run."""

    def __init__(self, dim: int) -> None:
        try:
            from usearch.index import Index
        except ImportError as exc:  # pragma: no cover - depends on the install
            from echolens.errors import NotInstalled

            raise NotInstalled("usearch is needed for large narrative indexes",
                               "pip install usearch==2.26.6") from exc
        self._index = Index(ndim=dim, metric="cos", dtype="i8", connectivity=16,
                            expansion_add=64, expansion_search=96)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray) -> None:
        keys = np.arange(self._n, self._n + len(vectors), dtype=np.uint64)
        self._index.add(keys, np.asarray(vectors, dtype=np.float32), threads=1)
        self._n += len(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._n)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        found: Any = self._index.search(np.asarray(queries, dtype=np.float32), k, threads=0)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)
        dist = np.asarray(found.distances, dtype=np.float32).reshape(len(queries), -1)
        counts = np.asarray(found.counts).reshape(-1)
        for row, count in enumerate(counts):
            keys[row, count:] = -1
        return keys, 1.0 - dist


def make_index(dim: int, expected: int) -> VectorIndex:
    return ExactIndex(dim) if expected <= EXACT_LIMIT else USearchIndex(dim)
