"""Speed paths of the grouping that must not change its result: float32 vector storage,
the index worker running ahead of the decisions, larger sum caches, bulk sparse appends."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from echolens.narratives import grouping
from echolens.narratives.calibration import Calibration
from echolens.narratives.features import day_number, prepare
from echolens.narratives.grouping import Event, Grouper
from echolens.narratives.index import USearchIndex
from echolens.narratives.sparse_rows import SparseRows
from tests.test_narratives_fixtures import LANGS, WORDS, calibration, vector


def _group(records: list[dict[str, object]], cal: Calibration, usearch: bool = False
           ) -> tuple[dict[str, str], list[Event], Grouper]:
    """Group `records` from scratch (add, then refine), optionally on a usearch index."""
    prepared = prepare(np.stack([np.asarray(r["vector"]) for r in records]),
                       [str(r["lang"]) for r in records], [str(r["text"]) for r in records],
                       [day_number(str(r["published_at"])) for r in records], cal)
    grouper = Grouper(cal, dim=prepared.unit.shape[1])
    if usearch:
        grouper.use_index(USearchIndex(prepared.unit.shape[1]))
    grouper.add([str(r["id"]) for r in records], prepared)
    grouper.refine()
    return grouper.assignments(), grouper.events, grouper


def _many(seed: int = 5, n: int = 1800) -> list[dict[str, object]]:
    """`n` noisy items (seven blocks) of 6 topics and unrelated news in 3 languages over two
    months: with `_calibration` they make ~70 narratives, many joins and merges."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, object]] = []
    for k in range(n):
        topic, lang = int(rng.integers(0, 7)), LANGS[int(rng.integers(0, 3))]
        known = topic < len(WORDS)
        out.append({
            "id": f"m{k}", "lang": lang,
            "text": f"{WORDS[topic][lang] if known else 'other news'} {k}",
            "published_at": (date(2022, 3, 1) + timedelta(days=int(rng.integers(0, 60)))
                             ).isoformat(),
            "vector": vector(topic if known else None, lang, rng, noise=0.8),
        })
    return out


def _calibration() -> Calibration:
    """The test calibration with the coherence gates and mutual merges on, as shipped."""
    return calibration().with_thresholds(join=4.0, centroid_join=1.0, centroid_merge=1.0,
                                         mutual_merge=0.0)


def test_sparse_rows_extend_equals_appending_each_row() -> None:
    rng = np.random.default_rng(2)
    rows = [{int(k): float(rng.random()) for k in rng.choice(500, size=int(rng.integers(0, 6)),
                                                              replace=False)}
            for _ in range(3000)]  # a third or so empty; grows the offsets and the terms
    one, bulk = SparseRows(), SparseRows()
    for row in rows:
        one.append(row)
    for lo in range(0, len(rows), 700):
        bulk.extend(rows[lo:lo + 700])
    bulk.extend([])
    assert len(one) == len(bulk) == len(rows) and one.nnz == bulk.nnz
    assert np.array_equal(one._ptr[: len(rows) + 1], bulk._ptr[: len(rows) + 1])
    assert np.array_equal(one._keys[: one.nnz], bulk._keys[: bulk.nnz])
    assert np.array_equal(one._vals[: one.nnz], bulk._vals[: bulk.nnz])
    assert all(bulk.row(i) == row for i, row in enumerate(rows))


def test_vectors_are_int8_above_the_float32_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vectors are kept as float32 (float16 values) up to FLOAT32_ITEMS items, as int8 with
    a scale per vector above, and converted when a growing store crosses the limit: each
    stored value within half a step of the float one, grouping deterministic, and about the
    same narratives as with float32."""
    from echolens.narratives.metrics import score

    records, cal = _many(), _calibration()
    runs = {}
    for limit in (10**9, 0, 0, 1500):  # float32; int8 (twice); int8 from 2,048 rows
        monkeypatch.setattr(grouping, "FLOAT32_ITEMS", limit)
        assignments, events, grouper = _group(records, cal)
        assert grouper._vec.dtype == (np.float32 if limit > len(records) else np.int8)
        runs.setdefault(limit, []).append((assignments, events, grouper))
    (floats, _, by_float), = runs[10**9]
    first, again = runs[0]
    assert first[:2] == again[:2]
    rows = np.arange(len(records))
    step = np.abs(by_float._vec32(rows)).max(axis=1, keepdims=True) / 127
    for _, _, grouper in (first, runs[1500][0]):
        assert (np.abs(grouper._vec32(rows) - by_float._vec32(rows)) <= step / 2 + 1e-3).all()
    for ints, _, _ in (first, runs[1500][0]):
        ids = list(floats)
        agreement = score(ids, [floats[i] for i in ids], ["en"] * len(ids),
                          [ints[i] for i in ids])
        assert agreement.f1 >= 0.98, agreement
    assert any(e.kind == "merged" for e in first[1])

def test_index_worker_running_ahead_groups_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker searches and adds blocks up to RUN_AHEAD blocks before they are decided:
    the index sees the same additions and searches in the same order, so the result is the
    one of searching each block just before deciding it."""
    records, cal = _many(), _calibration()
    results = []
    for ahead in (0, 4, 50):
        monkeypatch.setattr(grouping, "RUN_AHEAD", ahead)
        assignments, events, grouper = _group(records, cal, usearch=True)
        assert len(grouper.index) == len(records)  # the last block is indexed too
        results.append((assignments, events))
    assert results[0] == results[1] == results[2]


def test_an_error_while_deciding_stops_the_index_worker(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    records, cal = _many(), _calibration()
    calls = []

    def failing(*args: object, **kwargs: object) -> list[object]:
        calls.append(1)
        raise RuntimeError("deciding failed")

    monkeypatch.setattr(Grouper, "_add_block", failing)
    with pytest.raises(RuntimeError, match="deciding failed"):
        _group(records, cal, usearch=True)
    assert len(calls) == 1


def test_trimmed_sum_caches_refine_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trimming the caches of sampled sums (PROFILE_CACHE_SMALL) only makes the sums be
    computed again, to the same values."""
    records, cal = _many(), _calibration()
    full = _group(records, cal)
    monkeypatch.setattr(grouping, "PROFILE_CACHE_SMALL", 8)
    tiny = _group(records, cal)
    assert full[:2] == tiny[:2]


def test_the_switch_interval_is_lowered_during_add_and_restored(monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    import sys

    seen: list[float] = []
    search = USearchIndex.search

    def spying(self: USearchIndex, *args: object, **kwargs: object) -> object:
        seen.append(sys.getswitchinterval())
        return search(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(USearchIndex, "search", spying)
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        _group(_many(n=600), _calibration(), usearch=True)
        assert seen and max(seen) <= grouping.SWITCH_INTERVAL
        assert sys.getswitchinterval() == 0.004
    finally:
        sys.setswitchinterval(before)


def test_candidates_are_ordered_as_lexsort_orders_them() -> None:
    rng = np.random.default_rng(8)
    for count, size in ((256, 20_000), (40_000, 50_000), (3, 10)):
        owner = rng.integers(0, count, size=size)
        z = rng.normal(size=size).round(1)  # many ties
        assert np.array_equal(grouping._by_item_best_first(owner, z, count),
                              np.lexsort((-z, owner)))


def test_one_narrative_link_profile_equals_the_general_one() -> None:
    """The merged narrative's profile is built on a short path (the gate's per-language
    sums); it must hold the same values as the path for many narratives, with one language
    or several."""
    cal = _calibration()
    for records in ([r for r in _many(n=900) if r["lang"] == "en"], _many(n=900)):
        _, _, grouper = _group(records, cal)
        checked = 0
        for nar, members in enumerate(grouper.members):
            if len(members) < 2:
                continue
            grouper._link_cache.clear()
            short = grouper._link_profile(nar)
            general = grouper._new_link_profiles([nar])[0]
            for a, b in ((short.vectors.codes, general.vectors.codes),
                         (short.vectors.counts, general.vectors.counts),
                         (short.vectors.sums, general.vectors.sums), (short.days, general.days),
                         *zip(short.anchors, general.anchors, strict=True),
                         *zip(short.lexical, general.lexical, strict=True)):
                assert a.dtype == b.dtype and np.array_equal(a, b)
            checked += 1
        assert checked >= 5
