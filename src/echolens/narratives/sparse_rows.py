"""Sparse weight vectors of many items (lexical 4-grams, gazetteer concepts) in flat arrays.

The grouping compares an item with its ~64 candidates, and two narratives over up to
24 x 24 member pairs. With one Python dict per item, every comparison was a Python loop
(half the refinement time on real text); here the rows of all items sit in three growing
numpy arrays (CSR: row offsets, keys, weights) and a comparison is a few vectorised calls.
Items without any term take no space beyond their offset, so a million items without text
cost 8 MB."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class SparseRows:
    """Append-only rows of `{key: weight}`; dot products of a query or of two row sets."""

    def __init__(self, expected_rows: int = 0) -> None:
        self._ptr = np.zeros(max(expected_rows, 1024) + 1, dtype=np.int64)
        self._keys = np.zeros(1024, dtype=np.int64)
        self._vals = np.zeros(1024, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def nnz(self) -> int:
        return int(self._ptr[self._n])

    def append(self, row: Mapping[int, float]) -> None:
        n, end = self._n, int(self._ptr[self._n])
        if n + 2 > len(self._ptr):
            self._ptr = np.concatenate([self._ptr, np.zeros(len(self._ptr), np.int64)])
        if row:
            need = end + len(row)
            if need > len(self._keys):
                size = max(need, 2 * len(self._keys))
                self._keys = np.concatenate([self._keys, np.zeros(size - len(self._keys),
                                                                  np.int64)])
                self._vals = np.concatenate([self._vals, np.zeros(size - len(self._vals),
                                                                  np.float64)])
            self._keys[end:need] = list(row.keys())
            self._vals[end:need] = list(row.values())
            end = need
        self._ptr[n + 1] = end
        self._n = n + 1

    def row(self, i: int) -> dict[int, float]:
        lo, hi = int(self._ptr[i]), int(self._ptr[i + 1])
        return dict(zip(self._keys[lo:hi].tolist(), self._vals[lo:hi].tolist(), strict=True))

    def _entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment of each entry = position in `rows`, keys, weights) of the given rows."""
        lo, hi = self._ptr[rows], self._ptr[rows + 1]
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=np.float64)
        seg = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        starts = np.cumsum(counts) - counts
        at = lo[seg] + (np.arange(total, dtype=np.int64) - starts[seg])
        return seg, self._keys[at], self._vals[at]

    def dot_query(self, query: Mapping[int, float], rows: np.ndarray) -> np.ndarray:
        """Dot product of the sparse `query` with each of `rows` (float64, len(rows))."""
        out = np.zeros(len(rows), dtype=np.float64)
        if not query or not len(rows):
            return out
        seg, keys, vals = self._entries(np.asarray(rows, dtype=np.int64))
        if not len(keys):
            return out
        qkeys = np.fromiter(query.keys(), dtype=np.int64, count=len(query))
        qvals = np.fromiter(query.values(), dtype=np.float64, count=len(query))
        order = np.argsort(qkeys)
        qkeys, qvals = qkeys[order], qvals[order]
        pos = np.minimum(np.searchsorted(qkeys, keys), len(qkeys) - 1)
        hit = qkeys[pos] == keys
        if hit.any():
            out += np.bincount(seg[hit], weights=vals[hit] * qvals[pos[hit]],
                               minlength=len(rows))
        return out

    def dot_matrix(self, rows_a: Sequence[int] | np.ndarray, rows_b: Sequence[int] | np.ndarray
                   ) -> np.ndarray:
        """(len(rows_a), len(rows_b)) dot products of two sets of rows (float64)."""
        ra, rb = np.asarray(rows_a, dtype=np.int64), np.asarray(rows_b, dtype=np.int64)
        out = np.zeros((len(ra), len(rb)), dtype=np.float64)
        sa, ka, va = self._entries(ra)
        sb, kb, vb = self._entries(rb)
        if not len(ka) or not len(kb):
            return out
        keys, inverse = np.unique(np.concatenate([ka, kb]), return_inverse=True)
        dense_a = np.zeros((len(ra), len(keys)), dtype=np.float64)
        dense_b = np.zeros((len(rb), len(keys)), dtype=np.float64)
        dense_a[sa, inverse[: len(ka)]] = va
        dense_b[sb, inverse[len(ka):]] = vb
        return np.asarray(dense_a @ dense_b.T, dtype=np.float64)

    def dense(self, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Rows as a dense (len(rows), len(keys)) float64 matrix over the sorted `keys`
        (entries whose key is not in `keys` are dropped)."""
        out = np.zeros((len(rows), len(keys)), dtype=np.float64)
        seg, k, v = self._entries(np.asarray(rows, dtype=np.int64))
        if len(k) and len(keys):
            pos = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
            hit = keys[pos] == k
            out[seg[hit], pos[hit]] = v[hit]
        return out

    def keys_of(self, rows: np.ndarray) -> np.ndarray:
        """The sorted distinct keys used by `rows`."""
        return np.unique(self._entries(np.asarray(rows, dtype=np.int64))[1])
