"""Incremental grouping of items into narratives with stable ids.

Items are taken in (published_at, id) order. Each one is scored against the narratives of
its nearest already-grouped items and joins the best one when the score reaches the join
threshold; otherwise it opens a new narrative whose id derives from its own id, so the same
data always gives the same ids. `refine()` then merges narratives whose average link
reaches the merge threshold; the older narrative keeps its id and both record the merge.
Untouched narratives never change id. The pairs refinement considers come from `add`: an
item whose best narratives score at least `merge` proposes its best one with each of the
next MERGE_CANDIDATES (a sparse candidate graph: each pair costs a link update at every
merge of either side, and all pairs of a dense region made refinement slow and big).

The score of item i against item j, in z units (see `calibration`):

    (cos(i, j) - mean[lang_i, lang_j]) / sd[lang_i, lang_j]  (+ cross_language_bonus)
    + lexical_weight * lexical_cosine(i, j)      (character 4-grams, transliterated)
    + anchor_weight * anchor_cosine(i, j)        (gazetteer concepts, any script)
    - time_weight * log1p(|days_i - days_j| / time_scale)

and a narrative's score for i is the mean of its top-m member scores among i's candidates:
its nearest neighbours by vector, plus the latest items sharing its rarest anchor concepts
(a translation whose vector is not among the nearest still meets its story that way).

Coherence gates stop chaining: the top-m score only needs a few members, so shared concepts
("talks", "U.S.") could pull an unrelated item into a big narrative, which then attracted
more. An item therefore joins a narrative only when, in addition, its mean *vector* z over
(a spread sample of) all the members reaches `centroid_join`, and two narratives merge only
when their mean member-pair vector z reaches `centroid_merge`. Anchors and dates rank the
candidates; they can no longer carry a join alone.

`refine()` also splits incoherent narratives: a narrative that changed in this run is cut in
two by average linkage over its member scores, and the cut is kept when the average link
between the halves falls below the split threshold (well under the merge threshold, so a
split is never undone by the next merge). The half holding the narrative's first item keeps
the id; the other half gets the id of its own first item; both record the split.

Mutual cross-language merges (`mutual_merge`): after the ordinary merges, two narratives of
different main languages that are each other's best link (each item's runner-up narrative
is a candidate) merge when that link reaches `mutual_merge`, below `merge`: a story told in
two languages often forms one narrative per language whose only close partner is the other.
Repeated up to MUTUAL_ROUNDS times, deterministically (best link first, ties by index)."""

from __future__ import annotations

import bisect
import collections
import contextlib
import hashlib
import heapq
import importlib
import itertools
import math
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from echolens.narratives.calibration import Calibration
from echolens.narratives.features import Prepared
from echolens.narratives.index import VectorIndex, make_index
from echolens.narratives.sparse_rows import SparseRows, find_sorted, pair_dots, products

BLOCK = 256
LINK_SAMPLE = 24  # members per side when averaging links between two narratives
LEXICAL_SAMPLE = 16  # of which this many per side for the lexical part
ANCHOR_CANDIDATES = 16  # latest items per rare concept added to an item's candidates
ANCHOR_RARE = 2  # concepts per item used to find candidates (its highest-weighted)
SPLIT_SAMPLE = 120  # members scored pairwise when checking a narrative for a split
GATE_SAMPLE = 48  # members an item is compared with for the coherence gate
MUTUAL_ROUNDS = 3  # passes of mutual cross-language merges per refine
MUTUAL_MIN_SIZE = 2  # members each side needs for a mutual merge
GATE_TRIES = 3  # narratives (best score first) tried before an item opens its own
MERGE_CANDIDATES = 4  # runner-up narratives per item proposed for a merge with its best
LINK_PAIRS = 4096  # pairs whose links are computed together (bounds the temporaries)
LINK_CELLS = 250_000  # ... and member pairs (one float64 each in ~10 temporaries)
SEARCH_STEP = 32  # queries per index call while the main thread is busy
RUN_AHEAD = 4  # blocks the index worker may search ahead of the decisions
SWITCH_INTERVAL = 5e-5  # seconds between GIL hand-overs during `add` (Python's: 5e-3)
PROFILE_CACHE = 10_000  # narratives whose sampled sums are kept (~1.5 kB each per language)
# ... and up to `FLOAT32_ITEMS` items: on the 40k headlines a third of the link sums were
# computed again after being trimmed; 50,000 sums are ~125 MB at most
PROFILE_CACHE_SMALL = 50_000
# items whose vectors are kept as float32 (holding float16 values); above, int8 with one
# float32 scale per vector (a million float32 vectors are 1.5 GB, float16 768 MB, int8 388 MB)
FLOAT32_ITEMS = 100_000
# refine's heap is rebuilt without its stale entries when it holds this many times the live
# links (a merge cascade of 87k merges on 100k near-duplicate items left ~1 GB of them)
HEAP_SLACK = 4

Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]  # positions, cosines, valid mask


def narrative_id(first_item_id: str) -> str:
    return "n" + hashlib.sha1(first_item_id.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)  # a million items leave about as many events
class Event:
    """One change to the narratives: `created`, `merged` (narrative kept, other absorbed) or
    `split` (narrative kept, other opened with the `items` moved out of it)."""

    kind: str
    narrative_id: str
    other_id: str | None = None
    item_id: str | None = None
    score: float | None = None
    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    item_id: str
    narrative_id: str
    score: float | None  # None when the item opened the narrative


class _Sums(NamedTuple):
    """Per language, the sum of the vectors of a narrative's sampled members: what every
    vector term of a link or a gate needs, since those terms are linear in each vector."""

    codes: np.ndarray  # the languages present (int64)
    counts: np.ndarray  # sampled members of each language (float64)
    sums: np.ndarray  # (len(codes), dim) float32, summed in member order


class _LinkProfile(NamedTuple):
    """A narrative's `LINK_SAMPLE` members as `average_links` reads them."""

    vectors: _Sums
    days: np.ndarray  # of the sampled members, in sample order
    anchors: tuple[np.ndarray, np.ndarray]  # summed sparse terms: sorted keys, weights
    lexical: tuple[np.ndarray, np.ndarray]


class Grouper:
    """The in-memory state of the grouping; `restore` it from the store, `add` new items."""

    def __init__(self, calibration: Calibration, dim: int, expected: int = 0) -> None:
        self.cal = calibration
        self.th = calibration.thresholds
        self.dim = dim
        self.index: VectorIndex = make_index(dim, expected)
        self._vec = np.zeros((max(expected, 1024), dim), dtype=_vector_dtype(max(expected, 1024)))
        self._days = np.zeros(max(expected, 1024), dtype=np.float64)
        self._lang = np.zeros(max(expected, 1024), dtype=np.int16)
        self._nar = np.zeros(max(expected, 1024), dtype=np.int64)
        self._vec_scale = np.ones(max(expected, 1024), dtype=np.float32)  # of int8 vectors
        self.item_ids: list[str] = []
        self.lexical = SparseRows(expected)
        self.anchors = SparseRows(expected)
        self._postings: dict[int, list[int]] = {}  # concept -> items mentioning it
        self._unknown_days = False  # whether any item has no date (NaN day)
        self._touched: set[int] = set()  # narratives that changed since the last refine
        self.lang_codes: dict[str, int] = {}
        self._pair_mean = np.zeros((0, 0), dtype=np.float32)
        self._pair_sd = np.ones((0, 0), dtype=np.float32)
        self.nids: list[str] = []
        self._nid_first: dict[str, int] = {}  # id -> its first index in `nids`
        self.members: list[list[int]] = []
        self.parent: list[int] = []
        self.events: list[Event] = []
        self._merge_candidates: set[tuple[int, int]] = set()
        # sums of sampled members per narrative, dropped when the narrative changes
        # (`_changed`) and emptied after each `add` and `refine` (memory stays bounded)
        self._gate_cache: dict[int, _Sums] = {}
        self._link_cache: dict[int, _LinkProfile] = {}
        mutual = self.th.mutual_merge
        self._candidate_link = self.th.merge if mutual is None else min(self.th.merge, mutual)

    # -- bookkeeping -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.item_ids)

    def _code(self, lang: str) -> int:
        if lang not in self.lang_codes:
            self.lang_codes[lang] = len(self.lang_codes)
            names = list(self.lang_codes)
            n = len(names)
            self._pair_mean = np.zeros((n, n), dtype=np.float32)
            self._pair_sd = np.ones((n, n), dtype=np.float32)
            for a, la in enumerate(names):
                for b, lb in enumerate(names):
                    mean, sd = self.cal.adjusted_pair(la, lb)
                    # a cross-language bonus lowers the bar for translations of one story
                    bonus = self.th.cross_language_bonus if la != lb else 0.0
                    self._pair_mean[a, b], self._pair_sd[a, b] = mean - bonus * sd, sd
        return self.lang_codes[lang]

    def _grow(self, need: int) -> None:
        if need <= len(self._days):
            return
        size = max(need, 2 * len(self._days))
        dtype = _vector_dtype(size)
        if dtype != self._vec.dtype:  # crossing FLOAT32_ITEMS: the cached sums are float16's
            self._gate_cache.clear()
            self._link_cache.clear()
        vec = np.zeros((size, self.dim), dtype=dtype)
        n = len(self.item_ids)
        if dtype == self._vec.dtype:
            vec[:n] = self._vec[:n]
        else:
            vec[:n], self._vec_scale[:n] = _stored(self._vec32(np.arange(n)), dtype)
        self._vec = vec
        for name in ("_days", "_lang", "_nar", "_vec_scale"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _vec32(self, rows: np.ndarray | int) -> np.ndarray:
        """The stored vectors of `rows` as float32 (a copy when stored as int8)."""
        vectors = self._vec[rows]
        if vectors.dtype == np.int8:
            return np.asarray(vectors.astype(np.float32) * self._vec_scale[rows][..., None])
        return np.asarray(vectors, dtype=np.float32)

    def _cache_size(self) -> int:
        """How many narratives' sums each cache keeps (more for smaller groupings)."""
        return PROFILE_CACHE_SMALL if len(self.item_ids) <= FLOAT32_ITEMS else PROFILE_CACHE

    def find(self, narrative: int) -> int:
        root = narrative
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[narrative] != root:
            self.parent[narrative], narrative = root, self.parent[narrative]
        return root

    def _append_items(self, item_ids: Sequence[str], unit: np.ndarray, langs: np.ndarray,
                      days: np.ndarray, lexical: Sequence[dict[int, float]],
                      anchors: Sequence[dict[int, float]]) -> int:
        """Write new items after the current ones (their narratives are set by `_place`);
        return the position of the first. A block is written ahead of its decisions: what
        an item is compared with never depends on where the items before it went."""
        n, count = len(self.item_ids), len(item_ids)
        self._grow(n + count)
        self._vec[n:n + count], self._vec_scale[n:n + count] = _stored(np.asarray(unit),
                                                                      self._vec.dtype)
        self._lang[n:n + count] = langs
        self._days[n:n + count] = days
        self._unknown_days = self._unknown_days or bool(np.isnan(days).any())
        self.item_ids.extend(item_ids)
        self.lexical.extend(lexical)
        self.anchors.extend(anchors)
        for j, terms in enumerate(anchors):
            for concept in terms:
                self._postings.setdefault(concept, []).append(n + j)
        return n

    def _place(self, position: int, narrative: int) -> None:
        self._nar[position] = narrative
        members = self.members[narrative]
        members.append(position)
        self._link_cache.pop(narrative, None)
        gate = self._gate_cache.get(narrative)
        if gate is not None:
            lang = int(self._lang[position])
            if len(gate.codes) == 1:  # the common case, without a numpy search
                at = 0 if int(gate.codes[0]) == lang else 1
            else:
                at = int(np.searchsorted(gate.codes, lang))
            if (len(members) <= GATE_SAMPLE and at < len(gate.codes)
                    and gate.codes[at] == lang):
                # the sample is all the members: add the newcomer to its language's sum,
                # in the same order (and so to the same float32 value) as summing afresh
                gate.sums[at] += self._vec32(position)
                gate.counts[at] += 1.0
            else:
                del self._gate_cache[narrative]

    def _changed(self, narrative: int) -> None:
        """Forget the sums of `narrative` (its members changed)."""
        self._gate_cache.pop(narrative, None)
        self._link_cache.pop(narrative, None)

    def _new_narrative(self, item_id: str, nid: str | None = None) -> int:
        self.nids.append(nid or narrative_id(item_id))
        self._nid_first.setdefault(self.nids[-1], len(self.nids) - 1)
        self.members.append([])
        self.parent.append(len(self.parent))
        return len(self.nids) - 1

    # -- scoring ---------------------------------------------------------------------------
    def _base_scores(self, cos: np.ndarray, lang: np.ndarray | int, day: np.ndarray | float,
                     others: np.ndarray) -> np.ndarray:
        """Vector z and time terms of the score (see the module docstring) of items of
        language `lang` and day `day` against `others` (shapes broadcast: one item and a row
        of candidates, or a block of items and their rows)."""
        th = self.th
        langs = self._lang[others]
        z = (cos - self._pair_mean[lang, langs]) / self._pair_sd[lang, langs]
        apart = np.abs(self._days[others] - day)
        return np.asarray(z - th.time_weight * self._log_apart(apart), dtype=np.float64)

    def _log_apart(self, apart: np.ndarray) -> np.ndarray:
        """log1p(days apart / time scale) of a fresh float64 array of distances (computed
        in place); a distance to an unknown date (NaN) reads as `unknown_days`."""
        if self._unknown_days:
            apart[np.isnan(apart)] = self.th.unknown_days
        apart /= self.th.time_scale_days
        np.log1p(apart, out=apart)
        return apart

    def _block_candidates(self, queries: np.ndarray, base: int) -> Candidates:
        """For each query of a block (row j is the j-th item to decide, at position
        base + j): its `neighbours` most similar items among those already grouped and the
        block's earlier items, as (positions, cosines as float64, valid mask), one row per
        query."""
        old_idx, old_cos = self.index.search(queries, self.th.neighbours)
        return self._with_block(queries, base, old_idx, old_cos)

    def _search(self, queries: np.ndarray, decided: threading.Event
                ) -> tuple[np.ndarray, np.ndarray]:
        """The index's answer for a block (the worker's part of `add`): a few queries at a
        time on one thread while the main thread is still deciding earlier blocks, then the
        rest on every CPU once it waits for this one (`decided` is set). The index answers
        each query on its own, so the answers are those of one call."""
        k = self.th.neighbours
        if not self.index.splittable:
            return self.index.search(queries, k)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        start = 0
        while start < len(queries) and not decided.is_set():
            parts.append(self.index.search(queries[start:start + SEARCH_STEP], k))
            start += SEARCH_STEP
        if start < len(queries):
            parts.append(self.index.search(queries[start:], k, threads=0))
        if len(parts) == 1:
            return parts[0]
        return (np.concatenate([idx for idx, _ in parts]),
                np.concatenate([cos for _, cos in parts]))

    def _with_block(self, queries: np.ndarray, base: int, old_idx: np.ndarray,
                    old_cos: np.ndarray) -> Candidates:
        """`_block_candidates` from the index's answer (`old_idx`, `old_cos`)."""
        k = self.th.neighbours
        n = len(queries)
        inner = products(queries, queries)
        cand = np.concatenate([old_idx, np.broadcast_to(base + np.arange(n), (n, n))], axis=1)
        cos = np.concatenate([old_cos.astype(np.float32), inner], axis=1).astype(np.float64)
        valid = np.concatenate([old_idx >= 0, np.tri(n, n, -1, dtype=bool)], axis=1)
        if cand.shape[1] > k:
            top = np.argpartition(np.where(valid, -cos, np.inf), k - 1, axis=1)[:, :k]
            cand = np.take_along_axis(cand, top, axis=1)
            cos = np.take_along_axis(cos, top, axis=1)
            valid = np.take_along_axis(valid, top, axis=1)
        return np.where(valid, cand, 0), cos, valid

    def _anchor_candidates(self, anchors: dict[int, float], limit: int) -> list[int]:
        """The latest items (below `limit`) sharing this item's rarest concepts."""
        if not self.th.anchor_weight or not anchors:
            return []
        rare = sorted(anchors, key=lambda c: (-anchors[c], c))[:ANCHOR_RARE]
        out: list[int] = []
        for concept in rare:
            posting = self._postings.get(concept, [])  # ascending positions
            end = bisect.bisect_left(posting, limit)
            out.extend(posting[max(0, end - ANCHOR_CANDIDATES):end])
        return out

    def _block_scores(self, queries: np.ndarray, base: int, found: Candidates,
                      langs: np.ndarray, days: np.ndarray,
                      anchors: Sequence[dict[int, float]]) -> tuple[np.ndarray, np.ndarray,
                                                                    list[int]]:
        """The scores of a whole block's items (already written at base..) against their
        candidates: nearest neighbours plus the latest items sharing their rarest concepts.
        None of it depends on the block's decisions, so it is computed in a few calls for
        the block instead of some forty per item. Returns (candidate positions, scores),
        grouped by item and best score first within an item, and each item's bounds."""
        th = self.th
        cand_block, cos_block, valid_block = found
        z_block = self._base_scores(cos_block, langs[:, None], days[:, None], cand_block)
        owner, col = np.nonzero(valid_block)
        cand, z = cand_block[owner, col], z_block[owner, col]
        picked_owner: list[int] = []
        picked: list[int] = []
        for j, item_anchors in enumerate(anchors):
            shared = self._anchor_candidates(item_anchors, base + j)
            picked_owner.extend([j] * len(shared))
            picked.extend(shared)
        if picked:
            span = base + len(queries)
            key = np.unique(np.asarray(picked_owner, dtype=np.int64) * span
                            + np.asarray(picked, dtype=np.int64))
            known = np.sort(owner * span + cand)
            if len(known):  # not already a neighbour
                key = key[~find_sorted(known, key)[1]]
            more_owner, more = key // span, key % span
            more_cos = np.einsum("ij,ij->i", self._vec32(more),
                                 queries[more_owner]).astype(np.float64)
            owner = np.concatenate([owner, more_owner])
            cand = np.concatenate([cand, more])
            z = np.concatenate([z, self._base_scores(more_cos, langs[more_owner],
                                                     days[more_owner], more)])
        for weight, sparse in ((th.lexical_weight, self.lexical),
                               (th.anchor_weight, self.anchors)):
            if weight and sparse.nnz:
                z = z + weight * sparse.dot_pairs(base + owner, cand)
        order = _by_item_best_first(owner, z, len(queries))
        bounds = np.searchsorted(owner[order], np.arange(len(queries) + 1)).tolist()
        return cand[order], np.asarray(z[order], dtype=np.float64), bounds

    def _gate_sums(self, narrative: int) -> _Sums:
        """Per-language sums of (a spread sample of) `GATE_SAMPLE` members, cached."""
        sums = self._gate_cache.get(narrative)
        if sums is None:
            members = self.members[narrative]
            profile = self._link_cache.get(narrative) if len(members) <= LINK_SAMPLE else None
            if profile is not None:  # the same sample, all the members, summed in order
                sums = profile.vectors
            else:
                sums = self._language_sums(np.asarray(_sample(members, GATE_SAMPLE),
                                                      dtype=np.int64))
            _trim(self._gate_cache, 1, self._cache_size())
            self._gate_cache[narrative] = sums
        return sums

    def _language_sums(self, rows: np.ndarray) -> _Sums:
        vectors = self._vec32(rows)
        if len(self.lang_codes) == 1 and len(rows):  # one language: no grouping to do
            return _Sums(self._lang[rows[:1]].astype(np.int64),
                         np.asarray([len(rows)], dtype=np.float64),
                         vectors.sum(axis=0, dtype=np.float32)[None, :])
        langs = self._lang[rows].astype(np.int64)
        if not len(rows):
            return _Sums(langs, np.zeros(0), np.zeros((0, self.dim), dtype=np.float32))
        per_lang = np.bincount(langs)
        codes = np.flatnonzero(per_lang)
        counts = per_lang[codes]
        order = np.argsort(langs, kind="stable")  # by language, members in order
        return _Sums(codes, counts.astype(np.float64),
                     np.add.reduceat(vectors[order], np.cumsum(counts) - counts, axis=0,
                                     dtype=np.float32))

    def vector_link(self, query: np.ndarray, lang: int, narrative: int) -> float:
        """Mean vector z (no anchors, no time) of a unit vector against (a spread sample
        of) the members of `narrative`: how well the item agrees with the narrative as a
        whole rather than with its closest member. The z of a member is linear in its
        vector, so the mean is taken over the per-language sums of the sample."""
        s = self._gate_sums(narrative)
        if len(s.codes) == 1:  # the common case, in Python floats (a third of the time)
            code, count = int(s.codes[0]), float(s.counts[0])
            dot = float(np.dot(s.sums[0], query))
            return ((dot - count * float(self._pair_mean[lang, code]))
                    / float(self._pair_sd[lang, code]) / count)
        dots = s.sums.astype(np.float64) @ np.asarray(query, dtype=np.float64)
        mean = self._pair_mean[lang, s.codes].astype(np.float64)
        sd = self._pair_sd[lang, s.codes].astype(np.float64)
        return float(((dots - s.counts * mean) / sd).sum() / s.counts.sum())

    def _agrees(self, query: np.ndarray, lang: int, narrative: int, gate: float | None
                ) -> bool:
        return gate is None or self.vector_link(query, lang, narrative) >= gate

    def vector_average_link(self, a: int, b: int) -> float:
        """Mean vector z over (sampled) member pairs of narratives a and b (from the
        per-language sums of both samples, as in `vector_link`)."""
        sa, sb = self._gate_sums(a), self._gate_sums(b)
        if len(sa.codes) == 1 and len(sb.codes) == 1:  # the common case, in Python floats
            la_, lb_ = int(sa.codes[0]), int(sb.codes[0])
            na, nb = float(sa.counts[0]), float(sb.counts[0])
            dot = float(np.dot(sa.sums[0].astype(np.float64), sb.sums[0].astype(np.float64)))
            return ((dot - na * nb * float(self._pair_mean[la_, lb_]))
                    / float(self._pair_sd[la_, lb_]) / (na * nb))
        cross = sa.sums.astype(np.float64) @ sb.sums.astype(np.float64).T
        la, lb = sa.codes[:, None], sb.codes[None, :]
        mean = self._pair_mean[la, lb].astype(np.float64)
        sd = self._pair_sd[la, lb].astype(np.float64)
        expected = sa.counts[:, None] * sb.counts[None, :] * mean
        return float(((cross - expected) / sd).sum() / (sa.counts.sum() * sb.counts.sum()))

    # -- the two entry points --------------------------------------------------------------
    def restore(self, item_ids: Sequence[str], prepared: Prepared,
                narrative_ids: Sequence[str], add_to_index: bool = True) -> None:
        """Re-load items already grouped (in their original order) without re-deciding.
        Call it once per chunk for large stores; `add_to_index=False` when a saved index
        that already holds them will be given to `use_index`."""
        by_nid = {nid: i for i, nid in enumerate(self.nids)}
        codes = np.asarray([self._code(lang) for lang in prepared.langs], dtype=np.int16)
        first = self._append_items(item_ids, prepared.unit, codes, prepared.days,
                                   prepared.lexical, prepared.anchors)
        for row, (item_id, nid) in enumerate(zip(item_ids, narrative_ids, strict=True)):
            if nid not in by_nid:
                by_nid[nid] = self._new_narrative(item_id, nid)
            self._place(first + row, by_nid[nid])
        if add_to_index and len(item_ids):
            self.index.add(prepared.unit.astype(np.float32))

    def use_index(self, index: VectorIndex) -> None:
        """Search `index` (holding exactly the restored items, in order) from now on."""
        if len(index) != len(self.item_ids):
            raise ValueError(f"index holds {len(index)} vectors, not {len(self.item_ids)}")
        self.index.close()
        self.index = index

    def add(self, item_ids: Sequence[str], prepared: Prepared) -> list[Assignment]:
        """Group new items, in (published_at, id) order; return one assignment per item.

        Items are decided in blocks of `BLOCK`. The index is searched for a whole block at
        once, and a worker thread adds block b to the index and searches block b + 1 while
        earlier blocks are decided (the index releases the GIL), up to `RUN_AHEAD` blocks
        ahead: what the index holds never depends on the decisions, so the searches and their
        results are those of doing it all in turn."""
        order = sorted(range(len(item_ids)), key=lambda r: (
            math.inf if math.isnan(prepared.days[r]) else float(prepared.days[r]), item_ids[r]))
        out: list[Assignment] = []
        # narrative -> its current root (merges only happen in `refine`, not during `add`)
        roots = np.zeros(len(self.nids) + len(item_ids) + 1, dtype=np.int64)
        roots[: len(self.nids)] = [self.find(k) for k in range(len(self.nids))]
        blocks = [order[start:start + BLOCK] for start in range(0, len(order), BLOCK)]
        if not blocks:
            return out
        if len(blocks) > 1:
            _import_clustering_soon()

        def index_then_search(done: np.ndarray | None, queries: np.ndarray,
                              waited: threading.Event) -> tuple[np.ndarray, np.ndarray]:
            if done is not None:
                self.index.add(done)
            return self._search(queries, waited)

        # the index's part (search block b, add it, search block b + 1, ...) never depends on
        # the decisions, so the worker runs it up to RUN_AHEAD blocks ahead of them
        waited = [threading.Event() for _ in blocks]  # the main thread waits for block b
        pending: collections.deque[tuple[np.ndarray, Future[tuple[np.ndarray, np.ndarray]]]]
        pending = collections.deque()
        try:
            with _prompt_gil_handoff(), ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="narratives") as pool:
                indexed: Future[None] | None = None
                last: np.ndarray | None = None  # the queries of the last block submitted
                try:
                    base = len(self.item_ids)
                    for b, rows in enumerate(blocks):
                        while len(pending) + b < len(blocks) and len(pending) <= RUN_AHEAD:
                            ahead = b + len(pending)
                            queries = prepared.unit[blocks[ahead]].astype(np.float32)
                            pending.append((queries, pool.submit(index_then_search, last,
                                                                 queries, waited[ahead])))
                            last = queries
                        if indexed is None and last is not None and len(pending) + b == len(
                                blocks):
                            indexed = pool.submit(self.index.add, last)  # the last block
                        queries, found = pending.popleft()
                        waited[b].set()  # answer the rest of this block on every CPU
                        candidates = self._with_block(queries, base, *found.result())
                        out.extend(self._add_block([item_ids[r] for r in rows], prepared, rows,
                                                   queries, base, candidates, roots))
                        base += len(rows)
                    if indexed is not None:
                        indexed.result()
                except BaseException:
                    for _, future in pending:
                        future.cancel()
                    if indexed is not None:
                        indexed.cancel()
                    raise
        finally:
            self._gate_cache.clear()
        return out

    def _add_block(self, ids: list[str], prepared: Prepared, rows: list[int],
                   queries: np.ndarray, base: int, found: Candidates, roots: np.ndarray
                   ) -> list[Assignment]:
        """Decide one block's items in turn (`add`); `queries` are their unit vectors."""
        th = self.th
        langs = np.asarray([self._code(prepared.langs[r]) for r in rows], dtype=np.int16)
        days = prepared.days[rows]
        anchors = [prepared.anchors[r] for r in rows]
        self._append_items(ids, queries, langs, days, [prepared.lexical[r] for r in rows],
                           anchors)
        cand, score, bounds = self._block_scores(queries, base, found, langs, days, anchors)
        scores = score.tolist()
        # each candidate's narrative: known now for the items of earlier blocks (merges
        # only happen in `refine`), filled in as they are decided for this block's
        nars = roots[self._nar[cand]].tolist()
        inside = np.flatnonzero(cand >= base)
        inside_bounds = np.searchsorted(inside, bounds).tolist()
        inside_at, inside_item = inside.tolist(), (cand[inside] - base).tolist()
        placed: list[int] = []  # the narrative of each of this block's items so far
        top_m = th.top_m
        relevant = min(th.join, self._candidate_link)  # <= merge and mutual_merge too
        out: list[Assignment] = []
        for j, item_id in enumerate(ids):
            lo, hi = bounds[j], bounds[j + 1]
            best_nar, best_score = -1, -math.inf
            joined = -1
            for k in range(inside_bounds[j], inside_bounds[j + 1]):
                nars[inside_at[k]] = placed[inside_item[k]]
            if hi > lo:
                # each candidate narrative's mean of its top-m member scores (best first)
                sums: dict[int, float] = {}
                counts: dict[int, int] = {}
                for nar, value in zip(nars[lo:hi], scores[lo:hi], strict=True):
                    count = counts.get(nar, 0)
                    if count < top_m:
                        counts[nar] = count + 1
                        sums[nar] = sums.get(nar, 0.0) + value
                means = {nar: total / counts[nar] for nar, total in sums.items()}
                # best first, the older narrative on ties; a narrative below every
                # threshold that reads the ranking can never matter, so it is not ranked
                ranked = [nar for _, nar in sorted((-mean, nar) for nar, mean in means.items()
                                                   if mean >= relevant)]
                if not ranked:
                    best_nar, best_score = -1, -math.inf
                else:
                    best_nar, best_score = ranked[0], means[ranked[0]]
                # the item bridges its best narrative and the next ones that reach `merge`
                # (the nearest few only: a sparse candidate graph, as in k-NN graph
                # clustering; every extra pair costs a link at each merge of either side)
                for other in ranked[1:1 + MERGE_CANDIDATES]:
                    if means[other] < th.merge:
                        break
                    self._merge_candidates.add((min(best_nar, other), max(best_nar, other)))
                if (th.mutual_merge is not None and len(ranked) > 1
                        and means[ranked[1]] >= th.mutual_merge):
                    # the runner-up only: one candidate per item for mutual merges
                    other = ranked[1]
                    self._merge_candidates.add((min(best_nar, other), max(best_nar, other)))
                # the best narratives whose score reaches `join`, in order, until one
                # also agrees with the item as a whole (the coherence gate)
                for nar in ranked[:GATE_TRIES]:
                    if means[nar] < th.join:
                        break
                    if self._agrees(queries[j], int(langs[j]), nar, th.centroid_join):
                        joined, best_score = nar, means[nar]
                        break
            if joined >= 0:
                narrative = joined
                out.append(Assignment(item_id, self.nids[narrative], float(best_score)))
            else:
                if best_nar >= 0 and best_score >= self._candidate_link:
                    # close to a narrative without joining it: a merge to check later
                    self._merge_candidates.add((best_nar, len(self.nids)))
                narrative = self._new_narrative(item_id)
                roots[narrative] = narrative
                self.events.append(Event("created", self.nids[narrative], item_id=item_id))
                out.append(Assignment(item_id, self.nids[narrative], None))
            self._place(base + j, narrative)
            self._touched.add(narrative)
            placed.append(narrative)
        return out

    # -- refinement ------------------------------------------------------------------------
    def pair_scores(self, rows_a: Sequence[int], rows_b: Sequence[int]) -> np.ndarray:
        """The item-item score matrix (see the module docstring) of two lists of positions."""
        th = self.th
        ma, mb = np.asarray(rows_a, dtype=np.int64), np.asarray(rows_b, dtype=np.int64)
        cos = products(self._vec32(ma), self._vec32(mb))
        la, lb = self._lang[ma][:, None], self._lang[mb][None, :]
        z = (cos - self._pair_mean[la, lb]) / self._pair_sd[la, lb]
        apart = np.abs(self._days[ma][:, None] - self._days[mb][None, :])
        z = z.astype(np.float64) - th.time_weight * self._log_apart(apart)
        for weight, sparse in ((th.lexical_weight, self.lexical),
                               (th.anchor_weight, self.anchors)):
            if weight and sparse.nnz:
                z += weight * sparse.dot_matrix(ma, mb)
        return np.asarray(z, dtype=np.float64)

    def average_link(self, a: int, b: int) -> float:
        """Mean score over (sampled) member pairs of narratives a and b."""
        return float(self.pair_scores(_sample(self.members[a]), _sample(self.members[b])).mean())

    def average_links(self, pairs: Sequence[tuple[int, int]]) -> list[float]:
        """`average_link` of many pairs at once, without the 24 x 24 x dim products.

        The vector and sparse terms of the score are linear in each side's vectors, so
        their sum over all member pairs is a sum over language pairs of dot products of
        per-language sums of the sampled members: (sum a_i) . (sum b_j) per (la, lb),
        minus the pair mean times the counts, over the pair sd. Only the time term needs
        the member pairs (their days). Same value as `average_link` up to rounding. The
        sums of a narrative are kept until it changes: after a merge, only the merged
        narrative's are recomputed for its links to its neighbours."""
        out: list[float] = []
        # chunks of at most LINK_PAIRS pairs and LINK_CELLS member pairs (the time term's
        # temporaries are some ten arrays of one value per member pair)
        cells = [min(len(self.members[a]), LINK_SAMPLE) * min(len(self.members[b]), LINK_SAMPLE)
                 for a, b in pairs]
        lo = 0
        while lo < len(pairs):
            hi, used = lo, 0
            while hi < len(pairs) and hi - lo < LINK_PAIRS and (hi == lo
                                                                or used + cells[hi] <= LINK_CELLS):
                used += cells[hi]
                hi += 1
            out.extend(self._average_links(pairs[lo:hi]))
            lo = hi
        return out

    def _link_profiles(self, narratives: list[int]) -> list[_LinkProfile]:
        """The `_LinkProfile` of each narrative, computing the missing ones together."""
        todo = [n for n in dict.fromkeys(narratives) if n not in self._link_cache]
        if todo:
            _trim(self._link_cache, len(todo), self._cache_size())
            todo = [n for n in dict.fromkeys(narratives) if n not in self._link_cache]
            for n, profile in zip(todo, self._new_link_profiles(todo), strict=True):
                self._link_cache[n] = profile
        return [self._link_cache[n] for n in narratives]

    def _new_link_profiles(self, narratives: list[int]) -> list[_LinkProfile]:
        samples = [_sample(self.members[n]) for n in narratives]
        sizes = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
        flat = np.fromiter(itertools.chain.from_iterable(samples), dtype=np.int64,
                           count=int(sizes.sum()))
        owner = np.repeat(np.arange(len(samples), dtype=np.int64), sizes)
        n_lang = max(len(self.lang_codes), 1)
        group = owner * n_lang + self._lang[flat]
        # per narrative and language: the sum of the sampled members' vectors, in order
        order = np.argsort(group, kind="stable")
        ordered = group[order]
        new_group = np.empty(len(ordered), dtype=bool)
        new_group[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=new_group[1:])
        starts = np.flatnonzero(new_group)
        sums = np.add.reduceat(self._vec32(flat[order]), starts, axis=0, dtype=np.float32)
        groups = ordered[starts]
        counts = np.diff(starts, append=len(flat)).astype(np.float64)
        group_bounds = np.searchsorted(groups // n_lang, np.arange(len(samples) + 1)).tolist()
        codes = groups % n_lang
        day_bounds = [0, *np.cumsum(sizes).tolist()]
        days = self._days[flat]
        sparse_parts = []
        for weight, sparse in ((self.th.anchor_weight, self.anchors),
                               (self.th.lexical_weight, self.lexical)):
            if weight and sparse.nnz:
                nar, keys, vals = sparse.group_sums(flat, owner, len(samples))
                bounds = np.searchsorted(nar, np.arange(len(samples) + 1)).tolist()
                sparse_parts.append([(keys[bounds[k]:bounds[k + 1]], vals[bounds[k]:bounds[k + 1]])
                                     for k in range(len(samples))])
            else:
                sparse_parts.append([_NO_TERMS] * len(samples))
        out: list[_LinkProfile] = []
        for k in range(len(samples)):
            g0, g1 = group_bounds[k], group_bounds[k + 1]
            out.append(_LinkProfile(_Sums(codes[g0:g1], counts[g0:g1], sums[g0:g1]),
                                    days[day_bounds[k]:day_bounds[k + 1]],
                                    sparse_parts[0][k], sparse_parts[1][k]))
        return out

    def _link_profile(self, narrative: int) -> _LinkProfile:
        """The `_LinkProfile` of one narrative (after each merge, the merged one's): its
        per-language sums as the gate computes them, in fewer numpy calls than
        `_new_link_profiles` needs for many, to the same values (sums of the same rows)."""
        cached = self._link_cache.get(narrative)
        if cached is not None:
            return cached
        rows = np.asarray(_sample(self.members[narrative]), dtype=np.int64)
        _trim(self._link_cache, 1, self._cache_size())
        profile = _LinkProfile(self._language_sums(rows), self._days[rows],
                               _term_sums(self.anchors, self.th.anchor_weight, rows),
                               _term_sums(self.lexical, self.th.lexical_weight, rows))
        self._link_cache[narrative] = profile
        return profile

    def _links_from(self, keep: int, others: Sequence[int]) -> list[float]:
        """`average_links` of (keep, o) for every o in `others`: one narrative against
        many, as after a merge (the same terms in fewer, larger numpy calls)."""
        if not others:
            return []
        th = self.th
        own = self._link_profile(keep)
        profiles = self._link_profiles(list(others))
        count = len(profiles)
        sums_l, codes_l, counts_l, days_l = _profile_arrays(profiles)
        # vector term: per (language of an other, language of keep)
        sums = np.concatenate(sums_l)
        codes = np.concatenate(codes_l)
        counts = np.concatenate(counts_l)
        if len(sums) == count and len(own.vectors.codes) == 1:  # one language each
            code = int(own.vectors.codes[0])
            cross = np.einsum("gd,d->g", sums, own.vectors.sums[0]).astype(np.float64)
            expected = counts * float(own.vectors.counts[0]) * self._pair_mean[codes, code]
            total = (cross - expected) / self._pair_sd[codes, code].astype(np.float64)
        else:
            n_groups = np.fromiter(map(len, codes_l), dtype=np.int64, count=count)
            owner = np.repeat(np.arange(count, dtype=np.int64), n_groups)
            cross = np.einsum("gd,ld->gl", sums, own.vectors.sums).astype(np.float64)
            la, lb = codes[:, None], own.vectors.codes[None, :]
            expected = counts[:, None] * own.vectors.counts[None, :] * self._pair_mean[la, lb]
            z = (cross - expected) / self._pair_sd[la, lb].astype(np.float64)
            total = np.bincount(owner, weights=z.sum(axis=1), minlength=count).astype(
                np.float64)
        for k, weight in enumerate((th.anchor_weight, th.lexical_weight)):
            own_keys, own_vals = own.anchors if k == 0 else own.lexical
            if not weight or not len(own_keys):
                continue
            parts = [p.anchors if k == 0 else p.lexical for p in profiles]
            keys_l = [keys for keys, _ in parts]
            sizes = np.fromiter(map(len, keys_l), dtype=np.int64, count=count)
            keys = np.concatenate(keys_l)
            vals = np.concatenate([vals for _, vals in parts])
            pos, hit = find_sorted(own_keys, keys)
            term_owner = np.repeat(np.arange(count, dtype=np.int64), sizes)
            total += weight * np.bincount(term_owner[hit], weights=vals[hit] * own_vals[pos[hit]],
                                          minlength=count)
        # time term: over the member pairs (their days)
        n_days = np.fromiter(map(len, days_l), dtype=np.int64, count=count)
        days = np.concatenate(days_l)
        penalty = self._log_apart(np.abs(days[None, :] - own.days[:, None])).sum(axis=0)
        total -= th.time_weight * np.bincount(np.repeat(np.arange(count, dtype=np.int64), n_days),
                                              weights=penalty, minlength=count)
        links: list[float] = (total / (n_days * len(own.days))).tolist()
        return links

    def _average_links(self, pairs: Sequence[tuple[int, int]]) -> list[float]:
        if not pairs:
            return []
        th = self.th
        narratives = list(dict.fromkeys(n for pair in pairs for n in pair))
        local = {n: k for k, n in enumerate(narratives)}
        profiles = self._link_profiles(narratives)
        left = np.fromiter((local[a] for a, _ in pairs), dtype=np.int64, count=len(pairs))
        right = np.fromiter((local[b] for _, b in pairs), dtype=np.int64, count=len(pairs))
        sums_l, codes_l, counts_l, days_l = _profile_arrays(profiles)
        # vector term: every (language of a, language of b) pair of each narrative pair
        n_groups = np.fromiter(map(len, codes_l), dtype=np.int64, count=len(profiles))
        first_group = np.cumsum(n_groups) - n_groups
        sums = np.concatenate(sums_l)
        codes = np.concatenate(codes_l)
        counts = np.concatenate(counts_l)
        pair, ga, gb = _cross(first_group[left], n_groups[left], first_group[right],
                              n_groups[right])
        cross = np.einsum("ij,ij->i", sums[ga], sums[gb]).astype(np.float64)
        ca, cb = codes[ga], codes[gb]
        expected = counts[ga] * counts[gb] * self._pair_mean[ca, cb].astype(np.float64)
        total: np.ndarray = np.bincount(
            pair, weights=(cross - expected) / self._pair_sd[ca, cb].astype(np.float64),
            minlength=len(pairs)).astype(np.float64)
        for k, (weight, sparse) in enumerate(((th.anchor_weight, self.anchors),
                                              (th.lexical_weight, self.lexical))):
            if weight and sparse.nnz:
                parts = [p.anchors if k == 0 else p.lexical for p in profiles]
                sizes = np.fromiter((len(keys) for keys, _ in parts), dtype=np.int64,
                                    count=len(parts))
                owner = np.repeat(np.arange(len(parts), dtype=np.int64), sizes)
                keys = np.concatenate([keys for keys, _ in parts])
                vals = np.concatenate([vals for _, vals in parts])
                total += weight * pair_dots(owner, keys, vals, left, right)
        # time term: over the member pairs (their days)
        n_days = np.fromiter(map(len, days_l), dtype=np.int64, count=len(profiles))
        first_day = np.cumsum(n_days) - n_days
        days = np.concatenate(days_l)
        pair, da, db = _cross(first_day[left], n_days[left], first_day[right], n_days[right])
        penalty = np.bincount(pair, weights=self._log_apart(np.abs(days[da] - days[db])),
                              minlength=len(pairs))
        total -= th.time_weight * penalty
        links: list[float] = (total / (n_days[left] * n_days[right])).tolist()
        return links

    def _split(self, nar: int) -> Event | None:
        """Cut narrative `nar` in two when its halves are too far apart (see module doc)."""
        th = self.th
        members = self.members[nar]
        if th.min_split <= 0 or len(members) < 2 * th.min_split:
            return None  # (before the imports below: most narratives stop here)
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        sample = _sample(members, SPLIT_SAMPLE)
        scores = self.pair_scores(sample, sample)
        scores = (scores + scores.T) / 2
        if scores.min() >= th.split + 1e-9:
            return None  # every cut's average link is at least the smallest pair score
        dist = scores.max() - scores
        np.fill_diagonal(dist, 0.0)
        parts = fcluster(linkage(squareform(dist, checks=False), "average"), 2, "maxclust")
        keep_part = parts[0]  # the part holding the narrative's first item keeps its id
        in_a = parts == keep_part
        if in_a.all():
            return None
        link = float(scores[np.ix_(in_a, ~in_a)].mean())
        if link >= th.split:
            return None
        a_rows = [m for m, flag in zip(sample, in_a.tolist(), strict=True) if flag]
        b_rows = [m for m, flag in zip(sample, in_a.tolist(), strict=True) if not flag]
        sampled = set(sample)
        rest = [m for m in members if m not in sampled]
        if rest:  # members beyond the sample go to the half they are closer to on average
            closer_b = (self.pair_scores(rest, b_rows).mean(axis=1)
                        > self.pair_scores(rest, a_rows).mean(axis=1))
            b_rows += [m for m, flag in zip(rest, closer_b.tolist(), strict=True) if flag]
        moved = sorted(b_rows)
        kept = sorted(set(members) - set(moved))
        if len(moved) < th.min_split or len(kept) < th.min_split:
            return None
        new = self._new_narrative(self.item_ids[moved[0]])
        self.members[nar], self.members[new] = kept, moved
        self._changed(nar)
        self._changed(new)
        self._nar[np.asarray(moved)] = new
        return Event("split", self.nids[nar], other_id=self.nids[new], score=round(link, 4),
                     items=tuple(self.item_ids[m] for m in moved))

    def refine(self) -> list[Event]:
        """Merge narratives that converged (average link >= merge threshold), best first,
        then split the changed narratives that are incoherent; return the events.

        Candidate pairs are those seen close during `add`; after a merge, the merged
        narrative's links to the neighbours of both sides are recomputed. The links are
        kept as one dict per narrative (neighbour -> link, both directions), so a merge
        moves its neighbours' links with set operations on dict keys."""
        merged: list[Event] = []
        adj: dict[int, dict[int, float]] = {}
        for a, b in self._merge_candidates:
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                adj.setdefault(ra, {})[rb] = math.nan
                adj.setdefault(rb, {})[ra] = math.nan
        self._merge_candidates = set()  # read: free it before the links take their memory
        version = [0] * len(self.members)
        kept_by_merge: set[int] = set()
        merge_at = self.th.merge

        def merge(keep: int, gone: int, link: float) -> None:
            self.parent[gone] = keep  # the older narrative (lower index) keeps its id
            kept_by_merge.add(keep)
            self.members[keep] = sorted(self.members[keep] + self.members[gone])
            self.members[gone] = []
            self._changed(keep)
            self._changed(gone)
            version[keep] += 1
            event = Event("merged", self.nids[keep], other_id=self.nids[gone],
                          score=round(link, 4))
            merged.append(event)
            self.events.append(event)

        first = [(a, b) for a in sorted(adj) for b in sorted(adj[a]) if a < b]
        first_links = self.average_links(first)
        for (a, b), link in zip(first, first_links, strict=True):
            adj[a][b] = adj[b][a] = link
        n_links = len(first)
        # one heapify instead of a push per pair: the entries are distinct, so they come out
        # in the same order
        heap = [(-link, a, b, 0, 0) for (a, b), link in zip(first, first_links, strict=True)
                if link >= merge_at]
        heapq.heapify(heap)
        del first, first_links  # in `adj` and the heap now
        parent = self.parent

        def current(entry: tuple[float, int, int, int, int]) -> bool:
            _, a, b, va, vb = entry
            return (version[a] == va and version[b] == vb
                    and parent[a] == a and parent[b] == b)

        while heap:
            if len(heap) > HEAP_SLACK * (n_links + 1024):
                # drop the stale entries (each merge leaves its old links behind): their
                # removal changes no pop order, and a merge cascade no longer holds them all
                heap = [entry for entry in heap if current(entry)]
                heapq.heapify(heap)
                if not heap:
                    break
            entry = heapq.heappop(heap)
            if not current(entry):
                continue  # stale: one side changed or was merged since this link was computed
            neg, keep, gone = entry[0], entry[1], entry[2]
            gate = self.th.centroid_merge
            if gate is not None and self.vector_average_link(keep, gone) < gate:
                continue  # linked by anchors or dates, not by what the members say
            size_keep, size_gone = len(self.members[keep]), len(self.members[gone])
            with_keep, with_gone = adj.pop(keep, {}), adj.pop(gone, {})
            with_keep.pop(gone, None)
            with_gone.pop(keep, None)
            n_links -= len(with_keep) + len(with_gone) + 1
            merge(keep, gone, -neg)
            # average linkage update (Lance-Williams) where both sides had a link: no member
            # pairs recomputed; computed afresh where only one side had
            both = with_keep.keys() & with_gone.keys()
            total = size_keep + size_gone
            links = {o: (size_keep * with_keep[o] + size_gone * with_gone[o]) / total
                     for o in both}
            fresh = sorted(with_keep.keys() ^ with_gone.keys())
            links.update(zip(fresh, self._links_from(keep, fresh), strict=True))
            adj[keep] = links
            n_links += len(links)
            v_keep = version[keep]
            for other, link in links.items():
                theirs = adj[other]
                theirs.pop(gone, None)
                theirs[keep] = link
                if link >= merge_at:
                    if keep < other:
                        heapq.heappush(heap, (-link, keep, other, v_keep, version[other]))
                    else:
                        heapq.heappush(heap, (-link, other, keep, version[other], v_keep))
        if self.th.mutual_merge is not None:
            self._mutual_merges(adj, merge)
        touched = {self.find(n) for n in self._touched | kept_by_merge}
        self._touched = set()
        for nar in sorted(touched):
            cut = self._split(nar)
            if cut is not None:
                merged.append(cut)
                self.events.append(cut)
        self._gate_cache.clear()
        self._link_cache.clear()
        return merged

    def _mutual_merges(self, adj: dict[int, dict[int, float]],
                       merge: Callable[[int, int, float], None]) -> None:
        """Merge pairs of live narratives of different main languages that are each
        other's best link when that link reaches `mutual_merge` (and the vector gate), best
        link first; a merged narrative's links are recomputed and the pass repeated (at most
        `MUTUAL_ROUNDS` times). `adj` holds the links of the live narratives (both ways)."""
        floor = self.th.mutual_merge if self.th.mutual_merge is not None else math.inf
        gate = self.th.centroid_merge
        if len(self.lang_codes) < 2:
            return  # one language: no two narratives differ in main language
        # the neighbours of a merged narrative: those of both sides, as they were at the
        # merge (the links of a narrative absorbed later in the same pass are not followed)
        neighbours: dict[int, set[int]] = {}
        for _ in range(MUTUAL_ROUNDS):
            live = {(a, b): v for a, theirs in adj.items() if self.find(a) == a
                    for b, v in theirs.items()
                    if a < b and v >= floor and self.find(b) == b}
            best: dict[int, tuple[float, int]] = {}
            for (a, b), link in sorted(live.items()):
                for x, y in ((a, b), (b, a)):
                    if x not in best or (-link, y) < (-best[x][0], best[x][1]):
                        best[x] = (link, y)
            done: list[int] = []
            for (a, b), link in sorted(live.items(), key=lambda kv: (-kv[1], kv[0])):
                if best[a][1] != b or best[b][1] != a:
                    continue
                if self.find(a) != a or self.find(b) != b:
                    continue
                if min(len(self.members[a]), len(self.members[b])) < MUTUAL_MIN_SIZE:
                    continue  # a lone item's best match says little
                if self._main_language(a) == self._main_language(b):
                    continue  # one language: the ordinary merge threshold applies
                if gate is not None and self.vector_average_link(a, b) < gate:
                    continue
                merge(a, b, link)
                around = set()
                for x in (a, b):  # as of its last mutual merge, else as refinement left it
                    around |= neighbours.pop(x) if x in neighbours else set(adj.get(x, ()))
                adj.pop(b, None)
                neighbours[a] = {self.find(x) for x in around - {a, b}} - {a}
                done.append(a)
            if not done:
                return
            for keep in done:
                if self.find(keep) != keep:
                    continue
                others = [o for o in sorted(neighbours[keep]) if self.find(o) == o]
                links = dict(zip(others, self._links_from(keep, others), strict=True))
                adj[keep] = links
                for other, link in links.items():
                    adj[other][keep] = link

    def _main_language(self, narrative: int) -> int:
        counts = np.bincount(self._lang[np.asarray(self.members[narrative], dtype=np.int64)])
        return int(np.argmax(counts))

    # -- results ---------------------------------------------------------------------------
    def narrative_of(self, position: int) -> str:
        return self.nids[self.find(int(self._nar[position]))]

    def assignments(self) -> dict[str, str]:
        return {item: self.narrative_of(i) for i, item in enumerate(self.item_ids)}

    def vector(self, position: int) -> np.ndarray:
        return self._vec32(position)

    def centroid(self, narrative_id_: str) -> np.ndarray:
        """The unit mean vector of a narrative's members (`nids.index`, a scan of every id,
        made the centroids of 11.6k changed narratives take 6.5 s)."""
        nar = self._nid_first.get(narrative_id_)
        if nar is None:
            raise ValueError(f"no narrative {narrative_id_!r}")
        rows = self.members[self.find(nar)]
        mean = self._vec32(np.asarray(rows, dtype=np.int64)).mean(axis=0)
        return np.asarray(mean / (np.linalg.norm(mean) or 1.0), dtype=np.float32)


_NO_TERMS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


def _term_sums(sparse: SparseRows, weight: float, rows: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """The sum of the sparse rows `rows` as (sorted keys, weights); none when unweighted."""
    if not weight or not sparse.nnz:
        return _NO_TERMS
    return sparse.row_sum(rows)


def _vector_dtype(rows: int) -> type[np.floating[Any]] | type[np.int8]:
    """float32 (holding float16 values) for up to `FLOAT32_ITEMS` rows, else int8 with a
    scale per vector (a cosine moves by ~0.001, a score by a few hundredths of a z)."""
    return np.float32 if rows <= FLOAT32_ITEMS else np.int8


def _stored(unit: np.ndarray, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors at the stored precision and their scales: float16 values (scale 1), or
    int8 steps of a scale that fits each vector's largest component in 120-127 steps, the
    scale rounded up to 4 significant bits. Either way a value has at most 12 significant
    bits, so the sums of a sample (tens of members) are exact in float32 and do not depend
    on the order of addition (cached gate sums, updated member by member, equal fresh ones)."""
    if np.dtype(dtype) != np.int8:
        return unit.astype(np.float16), np.ones(len(unit), dtype=np.float32)
    peak = np.abs(unit).max(axis=1) if unit.size else np.zeros(len(unit))
    mantissa, exponent = np.frexp(np.where(peak > 0, peak, 1.0) / 127.0)
    scale = np.ldexp(np.ceil(mantissa * 16.0) / 16.0, exponent).astype(np.float32)
    return np.rint(unit / scale[:, None]).astype(np.int8), scale


def _by_item_best_first(owner: np.ndarray, z: np.ndarray, count: int) -> np.ndarray:
    """The order of `np.lexsort((-z, owner))` (by item, best score first, ties in their
    order) as two stable sorts, the second on small integers (a radix sort): ~3/4 of the
    time. `owner` holds 0..count-1."""
    by_score = np.argsort(-z, kind="stable")
    small = np.int16 if count <= 2**15 else np.int64
    order: np.ndarray = by_score[np.argsort(owner[by_score].astype(small), kind="stable")]
    return order


def _profile_arrays(profiles: Sequence[_LinkProfile]
                    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray],
                               list[np.ndarray]]:
    """The per-language sums, language codes, counts and member days of every profile, in
    one pass (fewer Python-level loops than one per array)."""
    sums, codes, counts, days = [], [], [], []
    for p in profiles:
        sums.append(p.vectors.sums)
        codes.append(p.vectors.codes)
        counts.append(p.vectors.counts)
        days.append(p.days)
    return sums, codes, counts, days


def _trim(cache: dict[int, Any], room: int, size: int = PROFILE_CACHE) -> None:
    """Make room for `room` more entries in a cache of sums: past `size`, keep only
    the newest half (the others are summed again, to the same values, when needed)."""
    if len(cache) + room > size:
        for key in list(itertools.islice(cache, max(0, len(cache) - size // 2))):
            del cache[key]


_SWITCH_LOCK = threading.Lock()
_SWITCH_USERS = [0, 0.0]  # `add` calls inside `_prompt_gil_handoff`, the interval before


@contextlib.contextmanager
def _prompt_gil_handoff() -> Iterator[None]:
    """Hand the GIL over every `SWITCH_INTERVAL` seconds instead of Python's 5 ms while the
    index worker runs. usearch releases the GIL while it works but takes it back many times
    per call, and while the main thread runs Python each of those waits up to the switch
    interval: 100 searches of 32 queries took 0.5-0.6 s alone, 4.3-8.2 s beside a thread
    running Python, 0.9-1.0 s so with a 0.05 ms interval (that thread no slower). Timing
    only: nothing decided depends on it. The previous interval is restored when the last
    `add` running in the process ends."""
    with _SWITCH_LOCK:
        if _SWITCH_USERS[0] == 0:
            _SWITCH_USERS[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL, _SWITCH_USERS[1]))
        _SWITCH_USERS[0] += 1
    try:
        yield
    finally:
        with _SWITCH_LOCK:
            _SWITCH_USERS[0] -= 1
            if _SWITCH_USERS[0] == 0:
                sys.setswitchinterval(_SWITCH_USERS[1])


def _import_clustering_soon() -> None:
    """Import scipy's clustering (for `_split`; ~0.5 s) on a spare thread: `add` mostly
    waits for its index worker, so the import costs `refine` nothing later."""
    if "scipy.cluster.hierarchy" not in sys.modules:
        threading.Thread(target=importlib.import_module, args=("scipy.cluster.hierarchy",),
                         daemon=True).start()


def _cross(a_start: np.ndarray, a_len: np.ndarray, b_start: np.ndarray, b_len: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i, j) of the ranges a_start[p] + [0, a_len[p]) and b_start[p] + [0, b_len[p]),
    for all p: (p, i, j), p ascending."""
    sizes = a_len * b_len
    total = int(sizes.sum())
    pair = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    step = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    width = b_len[pair]
    return pair, a_start[pair] + step // width, b_start[pair] + step % width


def _sample(members: list[int], size: int = LINK_SAMPLE) -> list[int]:
    """`size` members spread evenly over the list (the first member always included)."""
    if len(members) <= size:
        return members
    step = len(members) / size
    return [members[int(i * step)] for i in range(size)]
