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

ONE_THREAD = 500_000  # cells of a product OpenBLAS computes on the calling thread


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
        self.extend([row])

    def extend(self, rows: Sequence[Mapping[int, float]]) -> None:
        """`append` each of `rows` (the same arrays, in a few numpy calls for the lot)."""
        n, end = self._n, int(self._ptr[self._n])
        if n + len(rows) + 1 > len(self._ptr):
            grown = np.zeros(max(n + len(rows) + 1, 2 * len(self._ptr)), np.int64)
            grown[: n + 1] = self._ptr[: n + 1]
            self._ptr = grown
        lengths = [len(row) for row in rows]
        need = end + sum(lengths)
        if need > end:
            if need > len(self._keys):
                size = max(need, 2 * len(self._keys))
                self._keys = np.concatenate([self._keys, np.zeros(size - len(self._keys),
                                                                  np.int64)])
                self._vals = np.concatenate([self._vals, np.zeros(size - len(self._vals),
                                                                  np.float64)])
            self._keys[end:need] = [key for row in rows for key in row]
            self._vals[end:need] = [val for row in rows for val in row.values()]
        self._ptr[n + 1:n + len(rows) + 1] = end + np.cumsum(lengths, dtype=np.int64)
        self._n = n + len(rows)

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
        pos, hit = find_sorted(qkeys, keys)
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
        return products(dense_a, dense_b)

    def dense(self, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Rows as a dense (len(rows), len(keys)) float64 matrix over the sorted `keys`
        (entries whose key is not in `keys` are dropped)."""
        out = np.zeros((len(rows), len(keys)), dtype=np.float64)
        seg, k, v = self._entries(np.asarray(rows, dtype=np.int64))
        if len(k) and len(keys):
            pos, hit = find_sorted(keys, k)
            out[seg[hit], pos[hit]] = v[hit]
        return out

    def keys_of(self, rows: np.ndarray) -> np.ndarray:
        """The sorted distinct keys used by `rows`."""
        return np.unique(self._entries(np.asarray(rows, dtype=np.int64))[1])

    def dot_pairs(self, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Dot product of row `queries[p]` with row `rows[p]` for every p (float64): the
        `dot_query` of many queries at once, each term summed in the same order (that of
        the entries of `rows[p]`), so each value is the one `dot_query` gives."""
        queries = np.asarray(queries, dtype=np.int64)
        out = np.zeros(len(queries), dtype=np.float64)
        seg, keys, vals = self._entries(np.asarray(rows, dtype=np.int64))
        if not len(keys):
            return out
        distinct, inverse = np.unique(queries, return_inverse=True)
        q_seg, q_keys, q_vals = self._entries(distinct)
        if not len(q_keys):
            return out
        span = int(max(int(keys.max()), int(q_keys.max()))) + 1
        table = q_seg * span + q_keys  # a row's keys are in insertion order: sort them
        order = np.argsort(table)
        table, q_vals = table[order], q_vals[order]
        pos, hit = find_sorted(table, inverse[seg] * span + keys)
        if hit.any():
            out += np.bincount(seg[hit], weights=vals[hit] * q_vals[pos[hit]],
                               minlength=len(queries))
        return out

    def row_sum(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sum of `rows` as (sorted keys, weights), each weight summed in the order of
        `rows`: `group_sums` with one group, in half the numpy calls."""
        _, keys, vals = self._entries(np.asarray(rows, dtype=np.int64))
        if not len(keys):
            return keys, vals
        unique, inverse = np.unique(keys, return_inverse=True)
        return unique, np.bincount(inverse, weights=vals, minlength=len(unique))

    def group_sums(self, rows: np.ndarray, owner: np.ndarray, groups: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per group (`owner[i]` is the group of `rows[i]`, groups 0..groups-1), the sum of
        its rows as (group, key, weight) entries sorted by group then key; each weight is
        summed in the order of `rows`."""
        seg, keys, vals = self._entries(np.asarray(rows, dtype=np.int64))
        if not len(keys):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=np.float64)
        span = int(keys.max()) + 1
        combined, inverse = np.unique(np.asarray(owner, dtype=np.int64)[seg] * span + keys,
                                      return_inverse=True)
        sums = np.bincount(inverse, weights=vals, minlength=len(combined))
        return combined // span, combined % span, sums


def pair_dots(group: np.ndarray, keys: np.ndarray, vals: np.ndarray, left: np.ndarray,
              right: np.ndarray) -> np.ndarray:
    """Dot products of sparse vectors given as (group, key, weight) entries sorted by group
    then key: entry p of the result is vector `left[p]` . vector `right[p]`."""
    out = np.zeros(len(left), dtype=np.float64)
    if not len(keys) or not len(left):
        return out
    n_groups = int(max(int(group.max()), int(left.max()), int(right.max()))) + 1
    starts = np.searchsorted(group, np.arange(n_groups + 1))
    counts = (starts[1:] - starts[:-1])[left]
    total = int(counts.sum())
    if total == 0:
        return out
    pair = np.repeat(np.arange(len(left), dtype=np.int64), counts)
    at = starts[left][pair] + (np.arange(total, dtype=np.int64)
                               - np.repeat(np.cumsum(counts) - counts, counts))
    span = int(keys.max()) + 1
    table = group * span + keys
    wanted = right[pair] * span + keys[at]
    pos, hit = find_sorted(table, wanted)
    if hit.any():
        out += np.bincount(pair[hit], weights=vals[at[hit]] * vals[pos[hit]],
                           minlength=len(left))
    return out


def find_sorted(table: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of `wanted`, its position in the sorted, non-empty `table` and whether it
    is there (where it is not, the position is only a valid index)."""
    pos = np.minimum(np.searchsorted(table, wanted), len(table) - 1)
    return pos, table[pos] == wanted


def products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b.T in blocks of rows small enough for OpenBLAS to compute each on the calling
    thread: waking its second thread for a 120 x 120 product took 5-25x the product itself
    on a shared 2-core machine (and the other core runs the index worker during `add`)."""
    if len(a) * len(b) * a.shape[1] < ONE_THREAD:
        return np.asarray(a @ b.T)
    rows = max(1, ONE_THREAD // max(1, len(b) * a.shape[1]))
    out = np.empty((len(a), len(b)), dtype=np.result_type(a, b))
    for lo in range(0, len(a), rows):
        out[lo:lo + rows] = a[lo:lo + rows] @ b.T
    return out
