"""Grouping on tiny synthetic corpora: cross-lingual recovery, determinism, bad input."""

from __future__ import annotations

import random

import numpy as np
import pytest

from echolens.narratives.batch import BatchItem, group_batch, skip_reason
from echolens.narratives.grouping import Grouper, narrative_id
from echolens.narratives.metrics import score
from tests.test_narratives_fixtures import calibration, corpus


def _batch(records: list[dict[str, object]]) -> tuple[list[BatchItem], np.ndarray]:
    items = [BatchItem(str(r["id"]), str(r["text"]), str(r["lang"]), str(r["published_at"]))
             for r in records]
    return items, np.stack([np.asarray(r["vector"]) for r in records])


def test_groups_each_story_across_languages() -> None:
    records = corpus([0, 1, 2])
    items, vectors = _batch(records)
    outcomes, _ = group_batch(items, vectors, calibration())
    labels = [o.narrative for o in outcomes]
    s = score([i.id for i in items], [f"t{r['topic']}" for r in records],
              [i.lang for i in items], labels)
    assert s.f1 == 1.0
    assert s.crosslingual_recall == 1.0


def test_same_narratives_whatever_the_input_order() -> None:
    records = corpus([0, 1, 2, 3])
    cal = calibration()
    first, _ = group_batch(*_batch(records), cal)
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    second, _ = group_batch(*_batch(shuffled), cal)
    assert {o.item_id: o.narrative for o in first} == {o.item_id: o.narrative for o in second}


def test_ids_come_from_the_first_item_in_published_order() -> None:
    records = corpus([4], per_lang=2)
    outcomes, events = group_batch(*_batch(records), calibration())
    first = min(records, key=lambda r: (str(r["published_at"]), str(r["id"])))
    assert {o.narrative for o in outcomes} == {narrative_id(str(first["id"]))}
    assert [e.kind for e in events] == ["created"]


def test_empty_and_one_word_texts_get_a_reason_not_a_narrative() -> None:
    records = corpus([0], per_lang=2)
    items, vectors = _batch(records)
    items += [BatchItem("empty", "  ", "en"), BatchItem("word", "Kherson", "en")]
    vectors = np.vstack([vectors, np.zeros((2, vectors.shape[1]), np.float32)])
    outcomes = {o.item_id: o for o in group_batch(items, vectors, calibration())[0]}
    assert (outcomes["empty"].narrative, outcomes["empty"].reason) == (None, "empty-text")
    assert (outcomes["word"].narrative, outcomes["word"].reason) == (None, "too-short")
    assert skip_reason("赫尔松解放", 2) is None


def test_refine_merges_converged_narratives_and_keeps_the_older_id() -> None:
    cal = calibration().with_thresholds(join=50.0, merge=1.5)  # nothing joins: all singles
    records = corpus([5], per_lang=2)
    items, vectors = _batch(records)
    from echolens.narratives.features import day_number, prepare

    grouper = Grouper(cal, dim=vectors.shape[1])
    prepared = prepare(vectors, [i.lang for i in items], [i.text for i in items],
                       [day_number(i.published_at) for i in items], cal)
    grouper.add([i.id for i in items], prepared)
    assert len(set(grouper.assignments().values())) == len(items)
    merges = grouper.refine()
    assert merges and all(m.kind == "merged" for m in merges)
    assert len(set(grouper.assignments().values())) == 1
    oldest = grouper.nids[0]
    assert set(grouper.assignments().values()) == {oldest}


def test_metrics_match_the_scorer_conventions() -> None:
    ids = ["a", "b", "c", "d"]
    gold = ["x", "x", "other:1", "other:2"]
    langs = ["en", "ru", "en", "zh"]
    perfect = score(ids, gold, langs, ["1", "1", None, None])
    assert (perfect.f1, perfect.ari, perfect.crosslingual_recall) == (1.0, 1.0, 1.0)
    lumped = score(ids, gold, langs, ["1", "1", "1", "1"])
    assert lumped.recall == 1.0 and lumped.precision < 1.0


# -- speed paths that must not change the result -----------------------------------------------
@pytest.mark.parametrize("float32_items", [10**9, 0])  # float32 storage; int8 storage
def test_cached_gate_sums_equal_fresh_ones_as_members_join(
        float32_items: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`_place` adds a joining member to a narrative's cached gate sums instead of summing
    the sample again; the cached value must be the fresh one (bit for bit: the gate compares
    it with a threshold), in every language, whatever the vector storage, and be dropped
    once the sample is no longer all the members."""
    from echolens.narratives import grouping
    from echolens.narratives.features import day_number, prepare
    from echolens.narratives.grouping import GATE_SAMPLE

    monkeypatch.setattr(grouping, "FLOAT32_ITEMS", float32_items)

    records = corpus([0, 1, 2], per_lang=8, seed=3)
    first = {}
    for k, r in enumerate(records):
        first.setdefault(r["lang"], k)
    order = sorted(first.values()) + [k for k in range(len(records)) if k not in first.values()]
    items, vectors = _batch([records[k] for k in order])
    cal = calibration()
    prepared = prepare(vectors, [i.lang for i in items], [i.text for i in items],
                       [day_number(i.published_at) for i in items], cal)
    grouper = Grouper(cal, dim=vectors.shape[1])
    langs = len(first)
    assert langs > 1
    grouper.restore([i.id for i in items[:langs]], prepared_slice(prepared, 0, langs),
                    ["nA"] * langs)
    nar = grouper.nids.index("nA")
    grouper._gate_sums(nar)  # cached from now on
    upto = GATE_SAMPLE - 4
    grouper.restore([i.id for i in items[langs:upto]], prepared_slice(prepared, langs, upto),
                    ["nA"] * (upto - langs))
    cached = grouper._gate_cache[nar]
    fresh = grouper._language_sums(np.asarray(grouper.members[nar]))
    assert cached.counts.sum() == upto and len(cached.codes) == langs
    assert np.array_equal(cached.codes, fresh.codes)
    assert np.array_equal(cached.counts, fresh.counts)
    assert np.array_equal(cached.sums, fresh.sums)
    grouper.restore([i.id for i in items[upto:]], prepared_slice(prepared, upto, len(items)),
                    ["nA"] * (len(items) - upto))
    assert len(items) > GATE_SAMPLE and nar not in grouper._gate_cache


@pytest.mark.parametrize("float32_items", [10**9, 0])  # float32 storage; int8 storage
def test_gate_sums_of_a_small_narrative_are_its_link_profile_sums(
        float32_items: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refinement takes the gate sums of a narrative of at most `LINK_SAMPLE` members from
    its link profile (both sample every member): the profile's per-language sums, built
    for many narratives at once or for one, must be those the gate computes, bit for bit."""
    from echolens.narratives import grouping
    from echolens.narratives.features import day_number, prepare
    from echolens.narratives.grouping import LINK_SAMPLE

    monkeypatch.setattr(grouping, "FLOAT32_ITEMS", float32_items)
    records = corpus([0, 1, 2], per_lang=8, seed=5)
    items, vectors = _batch(records)
    cal = calibration()
    prepared = prepare(vectors, [i.lang for i in items], [i.text for i in items],
                       [day_number(i.published_at) for i in items], cal)
    grouper = Grouper(cal, dim=vectors.shape[1])
    names = [f"n{k % 3}" for k in range(len(items))]  # three narratives of mixed languages
    grouper.restore([i.id for i in items], prepared, names)
    nars = [grouper.nids.index(name) for name in ("n0", "n1", "n2")]
    assert all(0 < len(grouper.members[n]) <= LINK_SAMPLE for n in nars)
    assert len({int(grouper._lang[m]) for m in grouper.members[nars[0]]}) > 1
    together = grouper._link_profiles(nars[:2])  # the batch path
    alone = [grouper._link_profile(nars[2])]  # the one-narrative path
    for nar, profile in zip(nars, together + alone, strict=True):
        fresh = grouper._language_sums(np.asarray(grouper.members[nar]))
        assert np.array_equal(profile.vectors.codes, fresh.codes)
        assert np.array_equal(profile.vectors.counts, fresh.counts)
        assert np.array_equal(profile.vectors.sums, fresh.sums)
        assert grouper._gate_sums(nar) is profile.vectors  # taken, not summed again


def prepared_slice(prepared: object, lo: int, hi: int) -> object:
    from echolens.narratives.features import Prepared

    assert isinstance(prepared, Prepared)
    return Prepared(prepared.unit[lo:hi], prepared.langs[lo:hi], prepared.days[lo:hi],
                    list(prepared.lexical[lo:hi]), list(prepared.anchors[lo:hi]))


def test_usearch_answers_each_query_whatever_the_split() -> None:
    """`add` searches a block a few queries at a time, then the rest on every CPU
    (`splittable`): each query's answer must not depend on the split."""
    from echolens.narratives.index import USearchIndex

    rng = np.random.default_rng(4)
    data = rng.normal(size=(3000, 32)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = USearchIndex(32)
    index.add(data[:2800])
    queries = data[2800:]
    whole = index.search(queries, 16)
    parts = [index.search(queries[:7], 16), index.search(queries[7:50], 16, threads=2),
             index.search(queries[50:], 16, threads=0)]
    assert USearchIndex.splittable
    assert np.array_equal(whole[0], np.concatenate([p[0] for p in parts]))
    assert np.array_equal(whole[1], np.concatenate([p[1] for p in parts]))
