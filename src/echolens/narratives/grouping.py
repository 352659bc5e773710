"""Incremental grouping of items into narratives with stable ids.

Items are taken in (published_at, id) order. Each one is scored against the narratives of
its nearest already-grouped items and joins the best one when the score reaches the join
threshold; otherwise it opens a new narrative whose id derives from its own id, so the same
data always gives the same ids. `refine()` then merges narratives whose average link
reaches the merge threshold; the older narrative keeps its id and both record the merge.
Untouched narratives never change id.

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

import hashlib
import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from echolens.narratives.calibration import Calibration
from echolens.narratives.features import Prepared
from echolens.narratives.index import VectorIndex, make_index
from echolens.narratives.sparse_rows import SparseRows

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
LINK_BATCH_CELLS = 2_000_000  # floats per batch of average links computed together
LINK_PAIRS = 4096  # pairs whose narratives' per-language sums are held at once
FEW_LINKS = 4  # up to this many pairs, links are computed one by one


def narrative_id(first_item_id: str) -> str:
    return "n" + hashlib.sha1(first_item_id.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Event:
    """One change to the narratives: `created`, `merged` (narrative kept, other absorbed) or
    `split` (narrative kept, other opened with the `items` moved out of it)."""

    kind: str
    narrative_id: str
    other_id: str | None = None
    item_id: str | None = None
    score: float | None = None
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assignment:
    item_id: str
    narrative_id: str
    score: float | None  # None when the item opened the narrative


class Grouper:
    """The in-memory state of the grouping; `restore` it from the store, `add` new items."""

    def __init__(self, calibration: Calibration, dim: int, expected: int = 0) -> None:
        self.cal = calibration
        self.th = calibration.thresholds
        self.dim = dim
        self.index: VectorIndex = make_index(dim, expected)
        self._vec = np.zeros((max(expected, 1024), dim), dtype=np.float16)
        self._days = np.zeros(max(expected, 1024), dtype=np.float64)
        self._lang = np.zeros(max(expected, 1024), dtype=np.int16)
        self._nar = np.zeros(max(expected, 1024), dtype=np.int64)
        self.item_ids: list[str] = []
        self.lexical = SparseRows(expected)
        self.anchors = SparseRows(expected)
        self._postings: dict[int, list[int]] = {}  # concept -> items mentioning it
        self._touched: set[int] = set()  # narratives that changed since the last refine
        self.lang_codes: dict[str, int] = {}
        self._pair_mean = np.zeros((0, 0), dtype=np.float32)
        self._pair_sd = np.ones((0, 0), dtype=np.float32)
        self.nids: list[str] = []
        self.members: list[list[int]] = []
        self.parent: list[int] = []
        self.events: list[Event] = []
        self._merge_candidates: set[tuple[int, int]] = set()
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
        vec = np.zeros((size, self.dim), dtype=np.float16)
        vec[: len(self.item_ids)] = self._vec[: len(self.item_ids)]
        self._vec = vec
        for name in ("_days", "_lang", "_nar"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def find(self, narrative: int) -> int:
        root = narrative
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[narrative] != root:
            self.parent[narrative], narrative = root, self.parent[narrative]
        return root

    def _append(self, item_id: str, unit: np.ndarray, lang: int, day: float,
                lexical: dict[int, float], anchors: dict[int, float], narrative: int) -> None:
        n = len(self.item_ids)
        self._grow(n + 1)
        self._vec[n] = unit
        self._lang[n] = lang
        self._days[n] = day
        self._nar[n] = narrative
        self.item_ids.append(item_id)
        self.lexical.append(lexical)
        self.anchors.append(anchors)
        for concept in anchors:
            self._postings.setdefault(concept, []).append(n)
        self.members[narrative].append(n)

    def _new_narrative(self, item_id: str, nid: str | None = None) -> int:
        self.nids.append(nid or narrative_id(item_id))
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
        apart = np.where(np.isnan(apart), th.unknown_days, apart)
        return np.asarray(z - th.time_weight * np.log1p(apart / th.time_scale_days),
                          dtype=np.float64)

    def _block_candidates(self, queries: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each query of a block (row j is the j-th item to decide): its `neighbours`
        most similar items among those already grouped and the block's earlier items, as
        (positions, cosines as float64, valid mask), one row per query."""
        k = self.th.neighbours
        old_idx, old_cos = self.index.search(queries, k)
        base, n = len(self.item_ids), len(queries)
        inner = queries @ queries.T
        cand = np.concatenate([old_idx, np.broadcast_to(base + np.arange(n), (n, n))], axis=1)
        cos = np.concatenate([old_cos.astype(np.float32), inner], axis=1).astype(np.float64)
        valid = np.concatenate([old_idx >= 0, np.tri(n, n, -1, dtype=bool)], axis=1)
        if cand.shape[1] > k:
            top = np.argpartition(np.where(valid, -cos, np.inf), k - 1, axis=1)[:, :k]
            cand = np.take_along_axis(cand, top, axis=1)
            cos = np.take_along_axis(cos, top, axis=1)
            valid = np.take_along_axis(valid, top, axis=1)
        return np.where(valid, cand, 0), cos, valid

    def _sparse_scores(self, z: np.ndarray, lexical: dict[int, float],
                       anchors: dict[int, float], others: np.ndarray) -> np.ndarray:
        """`z` (the base scores against `others`) plus the lexical and anchor terms."""
        th = self.th
        if th.lexical_weight and lexical:
            z = z + th.lexical_weight * self.lexical.dot_query(lexical, others)
        if th.anchor_weight and anchors:
            z = z + th.anchor_weight * self.anchors.dot_query(anchors, others)
        return np.asarray(z, dtype=np.float64)

    def _anchor_candidates(self, anchors: dict[int, float], limit: int) -> list[int]:
        """The latest items (below `limit`) sharing this item's rarest concepts."""
        if not self.th.anchor_weight or not anchors:
            return []
        rare = sorted(anchors, key=lambda c: (-anchors[c], c))[:ANCHOR_RARE]
        out: list[int] = []
        for concept in rare:
            posting = self._postings.get(concept, [])
            end = len(posting)
            while end and posting[end - 1] >= limit:
                end -= 1
            out.extend(posting[max(0, end - ANCHOR_CANDIDATES):end])
        return out

    def vector_link(self, query: np.ndarray, lang: int, narrative: int) -> float:
        """Mean vector z (no anchors, no time) of a unit vector against (a spread sample
        of) the members of `narrative`: how well the item agrees with the narrative as a
        whole rather than with its closest member."""
        rows = np.asarray(_sample(self.members[narrative], GATE_SAMPLE), dtype=np.int64)
        cos = self._vec[rows].astype(np.float32) @ query.astype(np.float32)
        langs = self._lang[rows]
        return float(((cos - self._pair_mean[lang, langs]) / self._pair_sd[lang, langs]).mean())

    def _agrees(self, query: np.ndarray, lang: int, narrative: int, gate: float | None
                ) -> bool:
        return gate is None or self.vector_link(query, lang, narrative) >= gate

    def vector_average_link(self, a: int, b: int) -> float:
        """Mean vector z over (sampled) member pairs of narratives a and b."""
        ra = np.asarray(_sample(self.members[a], GATE_SAMPLE), dtype=np.int64)
        rb = np.asarray(_sample(self.members[b], GATE_SAMPLE), dtype=np.int64)
        cos = self._vec[ra].astype(np.float32) @ self._vec[rb].astype(np.float32).T
        la, lb = self._lang[ra][:, None], self._lang[rb][None, :]
        return float(((cos - self._pair_mean[la, lb]) / self._pair_sd[la, lb]).mean())

    # -- the two entry points --------------------------------------------------------------
    def restore(self, item_ids: Sequence[str], prepared: Prepared,
                narrative_ids: Sequence[str], add_to_index: bool = True) -> None:
        """Re-load items already grouped (in their original order) without re-deciding.
        Call it once per chunk for large stores; `add_to_index=False` when a saved index
        that already holds them will be given to `use_index`."""
        by_nid = {nid: i for i, nid in enumerate(self.nids)}
        for row, (item_id, nid) in enumerate(zip(item_ids, narrative_ids, strict=True)):
            if nid not in by_nid:
                by_nid[nid] = self._new_narrative(item_id, nid)
            self._append(item_id, prepared.unit[row], self._code(prepared.langs[row]),
                         float(prepared.days[row]), prepared.lexical[row],
                         prepared.anchors[row], by_nid[nid])
        if add_to_index and len(item_ids):
            self.index.add(prepared.unit.astype(np.float32))

    def use_index(self, index: VectorIndex) -> None:
        """Search `index` (holding exactly the restored items, in order) from now on."""
        if len(index) != len(self.item_ids):
            raise ValueError(f"index holds {len(index)} vectors, not {len(self.item_ids)}")
        self.index = index

    def add(self, item_ids: Sequence[str], prepared: Prepared) -> list[Assignment]:
        """Group new items, in (published_at, id) order; return one assignment per item."""
        th = self.th
        order = sorted(range(len(item_ids)), key=lambda r: (
            math.inf if math.isnan(prepared.days[r]) else float(prepared.days[r]), item_ids[r]))
        out: list[Assignment] = []
        # narrative -> its current root (merges only happen in `refine`, not during `add`)
        roots = np.zeros(len(self.nids) + len(item_ids) + 1, dtype=np.int64)
        roots[: len(self.nids)] = [self.find(k) for k in range(len(self.nids))]
        for start in range(0, len(order), BLOCK):
            rows = order[start:start + BLOCK]
            queries = prepared.unit[rows].astype(np.float32)
            base = len(self.item_ids)
            cand_block, cos_block, valid_block = self._block_candidates(queries)
            # the block's languages and days, written ahead so that its items' scores
            # against each other are computed in one go (rows still decide one by one)
            self._grow(base + len(rows))
            langs = np.asarray([self._code(prepared.langs[r]) for r in rows], dtype=np.int16)
            self._lang[base:base + len(rows)] = langs
            self._days[base:base + len(rows)] = prepared.days[rows]
            z_block = self._base_scores(cos_block, langs[:, None],
                                        prepared.days[rows][:, None], cand_block)
            for j, row in enumerate(rows):
                valid = valid_block[j]
                cand, cos, base_z = cand_block[j][valid], cos_block[j][valid], z_block[j][valid]
                anchors = prepared.anchors[row]
                extra = sorted(set(self._anchor_candidates(anchors, base + j)) - set(
                    cand.tolist()))
                if extra:
                    more = np.asarray(extra, dtype=np.int64)
                    more_cos = (self._vec[more].astype(np.float32) @ queries[j]).astype(
                        np.float64)
                    cand = np.concatenate([cand, more])
                    cos = np.concatenate([cos, more_cos])
                    base_z = np.concatenate([base_z, self._base_scores(
                        more_cos, langs[j], prepared.days[row], more)])
                lang = self._code(prepared.langs[row])
                day = float(prepared.days[row])
                lexical = prepared.lexical[row]
                item_id = item_ids[row]
                best_nar, best_score = -1, -math.inf
                joined = -1
                if len(cand):
                    scores = self._sparse_scores(base_z, lexical, anchors, cand)
                    nars, means = _top_m_means(roots[self._nar[cand]], scores, th.top_m)
                    ranked = np.lexsort((nars, -means))  # best mean, then older narrative
                    best_nar, best_score = int(nars[ranked[0]]), float(means[ranked[0]])
                    for k in ranked[1:].tolist():
                        if means[k] < th.merge:
                            break
                        other = int(nars[k])
                        self._merge_candidates.add((min(best_nar, other), max(best_nar, other)))
                    if (th.mutual_merge is not None and len(ranked) > 1
                            and means[ranked[1]] >= th.mutual_merge):
                        # the runner-up only: one candidate per item for mutual merges
                        other = int(nars[ranked[1]])
                        self._merge_candidates.add((min(best_nar, other), max(best_nar, other)))
                    # the best narratives whose score reaches `join`, in order, until one
                    # also agrees with the item as a whole (the coherence gate)
                    for k in ranked[:GATE_TRIES].tolist():
                        if means[k] < th.join:
                            break
                        if self._agrees(queries[j], lang, int(nars[k]), th.centroid_join):
                            joined, best_score = int(nars[k]), float(means[k])
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
                self._append(item_id, prepared.unit[row], lang, day, lexical, anchors,
                             narrative)
                self._touched.add(narrative)
            self.index.add(queries)
        return out

    # -- refinement ------------------------------------------------------------------------
    def pair_scores(self, rows_a: Sequence[int], rows_b: Sequence[int]) -> np.ndarray:
        """The item-item score matrix (see the module docstring) of two lists of positions."""
        th = self.th
        ma, mb = np.asarray(rows_a, dtype=np.int64), np.asarray(rows_b, dtype=np.int64)
        cos = self._vec[ma].astype(np.float32) @ self._vec[mb].astype(np.float32).T
        la, lb = self._lang[ma][:, None], self._lang[mb][None, :]
        z = (cos - self._pair_mean[la, lb]) / self._pair_sd[la, lb]
        apart = np.abs(self._days[ma][:, None] - self._days[mb][None, :])
        apart = np.where(np.isnan(apart), th.unknown_days, apart)
        z = z.astype(np.float64) - th.time_weight * np.log1p(apart / th.time_scale_days)
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
        the member pairs (their days). Same value as `average_link` up to rounding."""
        if len(pairs) <= FEW_LINKS:  # a batch costs ~0.4 ms of numpy calls, a pair ~0.1 ms
            return [self.average_link(a, b) for a, b in pairs]
        out: list[float] = []
        for lo in range(0, len(pairs), LINK_PAIRS):  # bounded memory for the sums
            out.extend(self._average_links(pairs[lo:lo + LINK_PAIRS]))
        return out

    def _average_links(self, pairs: Sequence[tuple[int, int]]) -> list[float]:
        out: list[float] = []
        if not pairs:
            return out
        local: dict[int, int] = {}  # narrative -> its row in `rows`
        samples: list[list[int]] = []
        for pair in pairs:
            for n in pair:
                if n not in local:
                    local[n] = len(samples)
                    samples.append(_sample(self.members[n]))
        width = max(len(v) for v in samples)
        rows = np.zeros((len(samples), width), dtype=np.int64)
        mask = np.zeros((len(samples), width), dtype=bool)
        for k, sample in enumerate(samples):
            rows[k, : len(sample)] = sample
            mask[k, : len(sample)] = True
        flat = rows[mask]
        owner = np.nonzero(mask)[0]
        n_lang = max(len(self.lang_codes), 1)
        group = owner * n_lang + self._lang[flat]
        # per narrative and language: sum of the sampled members' vectors, and their count
        flat_sums = np.zeros((len(samples) * n_lang, self.dim), dtype=np.float32)
        order = np.argsort(group, kind="stable")
        starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
        flat_sums[group[order][starts]] = np.add.reduceat(
            self._vec[flat[order]], starts, axis=0, dtype=np.float32)
        sums = flat_sums.reshape(len(samples), n_lang, self.dim)
        counts = np.bincount(group, minlength=len(samples) * n_lang).reshape(
            len(samples), n_lang).astype(np.float64)
        mean = self._pair_mean[:n_lang, :n_lang].astype(np.float64)
        inv_sd = 1.0 / self._pair_sd[:n_lang, :n_lang].astype(np.float64)
        sparse_sums = []
        for weight, sparse in ((self.th.lexical_weight, self.lexical),
                               (self.th.anchor_weight, self.anchors)):
            if weight and sparse.nnz:
                keys = sparse.keys_of(flat)
                dense = np.zeros((len(samples), len(keys)), dtype=np.float64)
                np.add.at(dense, owner, sparse.dense(flat, keys))
                sparse_sums.append((weight, dense))
        th = self.th
        left = np.asarray([local[a] for a, _ in pairs], dtype=np.int64)
        right = np.asarray([local[b] for _, b in pairs], dtype=np.int64)
        step = max(1, LINK_BATCH_CELLS // (width * width + n_lang * self.dim))
        for lo in range(0, len(pairs), step):
            la, lb = left[lo:lo + step], right[lo:lo + step]
            cross = np.einsum("pld,pmd->plm", sums[la], sums[lb]).astype(np.float64)
            expected = counts[la][:, :, None] * counts[lb][:, None, :] * mean
            total = ((cross - expected) * inv_sd).sum(axis=(1, 2))
            for weight, dense in sparse_sums:
                total += weight * np.einsum("pk,pk->p", dense[la], dense[lb])
            da, db = self._days[rows[la]], self._days[rows[lb]]
            apart = np.abs(da[:, :, None] - db[:, None, :])
            apart = np.where(np.isnan(apart), th.unknown_days, apart)
            both = mask[la][:, :, None] & mask[lb][:, None, :]
            penalty = np.where(both, np.log1p(apart / th.time_scale_days), 0.0)
            total -= th.time_weight * penalty.sum(axis=(1, 2))
            out.extend((total / both.sum(axis=(1, 2))).tolist())
        return out

    def _split(self, nar: int) -> Event | None:
        """Cut narrative `nar` in two when its halves are too far apart (see module doc)."""
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        th = self.th
        members = self.members[nar]
        if th.min_split <= 0 or len(members) < 2 * th.min_split:
            return None
        sample = _sample(members, SPLIT_SAMPLE)
        scores = self.pair_scores(sample, sample)
        scores = (scores + scores.T) / 2
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
        self._nar[np.asarray(moved)] = new
        return Event("split", self.nids[nar], other_id=self.nids[new], score=round(link, 4),
                     items=tuple(self.item_ids[m] for m in moved))

    def refine(self) -> list[Event]:
        """Merge narratives that converged (average link >= merge threshold), best first,
        then split the changed narratives that are incoherent; return the events.

        Candidate pairs are those seen close during `add`; after a merge, the merged
        narrative's links to the neighbours of both sides are recomputed."""
        merged: list[Event] = []
        neighbours: dict[int, set[int]] = {}
        for a, b in self._merge_candidates:
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                neighbours.setdefault(ra, set()).add(rb)
                neighbours.setdefault(rb, set()).add(ra)
        version: dict[int, int] = {}
        kept_by_merge: set[int] = set()
        heap: list[tuple[float, int, int, int, int]] = []
        links: dict[tuple[int, int], float] = {}

        def push(a: int, b: int, link: float | None = None) -> None:
            a, b = min(a, b), max(a, b)
            if link is None:
                link = self.average_link(a, b)
            links[(a, b)] = link
            if link >= self.th.merge:
                heapq.heappush(heap, (-link, a, b, version.get(a, 0), version.get(b, 0)))

        def merge(keep: int, gone: int, link: float) -> None:
            self.parent[gone] = keep  # the older narrative (lower index) keeps its id
            kept_by_merge.add(keep)
            self.members[keep] = sorted(self.members[keep] + self.members[gone])
            self.members[gone] = []
            version[keep] = version.get(keep, 0) + 1
            event = Event("merged", self.nids[keep], other_id=self.nids[gone],
                          score=round(link, 4))
            merged.append(event)
            self.events.append(event)

        first = [(a, b) for a in sorted(neighbours) for b in sorted(neighbours[a]) if a < b]
        for (a, b), link in zip(first, self.average_links(first), strict=True):
            push(a, b, link)
        while heap:
            neg, keep, gone, va, vb = heapq.heappop(heap)
            if version.get(keep, 0) != va or version.get(gone, 0) != vb:
                continue  # stale: one side changed since this link was computed
            if self.find(keep) != keep or self.find(gone) != gone:
                continue
            gate = self.th.centroid_merge
            if gate is not None and self.vector_average_link(keep, gone) < gate:
                continue  # linked by anchors or dates, not by what the members say
            size_keep, size_gone = len(self.members[keep]), len(self.members[gone])
            old_links = {o: (links.get((min(keep, o), max(keep, o))),
                             links.get((min(gone, o), max(gone, o))))
                         for o in neighbours.get(keep, set()) | neighbours.get(gone, set())}
            merge(keep, gone, -neg)
            around = (neighbours.pop(keep, set()) | neighbours.pop(gone, set())) - {keep, gone}
            around = {self.find(x) for x in around} - {keep}
            neighbours[keep] = around
            fresh = [o for o in sorted(around) if None in old_links.get(o, (None, None))]
            computed = dict(zip(fresh, self.average_links([(keep, o) for o in fresh]),
                                strict=True))
            for other in sorted(around):
                neighbours.setdefault(other, set()).discard(gone)
                neighbours[other].add(keep)
                with_keep, with_gone = old_links.get(other, (None, None))
                if with_keep is not None and with_gone is not None:
                    # average linkage update (Lance-Williams): no member pairs recomputed
                    push(keep, other, (size_keep * with_keep + size_gone * with_gone)
                         / (size_keep + size_gone))
                else:
                    push(keep, other, computed[other])
        if self.th.mutual_merge is not None:
            self._mutual_merges(links, neighbours, merge)
        self._merge_candidates = set()
        touched = {self.find(n) for n in self._touched | kept_by_merge}
        self._touched = set()
        for nar in sorted(touched):
            cut = self._split(nar)
            if cut is not None:
                merged.append(cut)
                self.events.append(cut)
        return merged

    def _mutual_merges(self, links: dict[tuple[int, int], float],
                       neighbours: dict[int, set[int]],
                       merge: Callable[[int, int, float], None]) -> None:
        """Merge pairs of live narratives of different main languages that are each
        other's best link when that link reaches `mutual_merge` (and the vector gate), best
        link first; a merged narrative's links are recomputed and the pass repeated (at most
        `MUTUAL_ROUNDS` times)."""
        floor = self.th.mutual_merge if self.th.mutual_merge is not None else math.inf
        gate = self.th.centroid_merge
        for _ in range(MUTUAL_ROUNDS):
            live = {k: v for k, v in links.items()
                    if v >= floor and self.find(k[0]) == k[0] and self.find(k[1]) == k[1]}
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
                around = (neighbours.pop(a, set()) | neighbours.pop(b, set())) - {a, b}
                neighbours[a] = {self.find(x) for x in around} - {a}
                done.append(a)
            if not done:
                return
            todo = [(keep, other) for keep in done
                    for other in sorted(neighbours.get(keep, set()))
                    if self.find(other) == other and self.find(keep) == keep]
            for (keep, other), link in zip(todo, self.average_links(todo), strict=True):
                links[(min(keep, other), max(keep, other))] = link

    def _main_language(self, narrative: int) -> int:
        counts = np.bincount(self._lang[np.asarray(self.members[narrative], dtype=np.int64)])
        return int(np.argmax(counts))

    # -- results ---------------------------------------------------------------------------
    def narrative_of(self, position: int) -> str:
        return self.nids[self.find(int(self._nar[position]))]

    def assignments(self) -> dict[str, str]:
        return {item: self.narrative_of(i) for i, item in enumerate(self.item_ids)}

    def vector(self, position: int) -> np.ndarray:
        return np.asarray(self._vec[position], dtype=np.float32)

    def centroid(self, narrative_id_: str) -> np.ndarray:
        nar = self.nids.index(narrative_id_)
        rows = self.members[self.find(nar)]
        mean = self._vec[rows].astype(np.float32).mean(axis=0)
        return np.asarray(mean / (np.linalg.norm(mean) or 1.0), dtype=np.float32)


def _top_m_means(nars: np.ndarray, scores: np.ndarray, top_m: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct narrative of `nars` (ascending) and the mean of its top-`top_m`
    `scores`, summed best first. A plain loop: an item has ~64 candidates, and numpy's
    per-call overhead made the vectorised form the slowest step of `add`."""
    order = np.argsort(-scores, kind="stable")
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for nar, value in zip(nars[order].tolist(), scores[order].tolist(), strict=True):
        count = counts.get(nar, 0)
        if count < top_m:
            counts[nar] = count + 1
            sums[nar] = sums.get(nar, 0.0) + value
    keys = sorted(sums)
    return (np.asarray(keys, dtype=np.int64),
            np.asarray([sums[k] / counts[k] for k in keys], dtype=np.float64))


def _sample(members: list[int], size: int = LINK_SAMPLE) -> list[int]:
    """`size` members spread evenly over the list (the first member always included)."""
    if len(members) <= size:
        return members
    step = len(members) / size
    return [members[int(i * step)] for i in range(size)]
