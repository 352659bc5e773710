"""Coherence gates (anchors cannot chain unrelated stories), mutual cross-language merges,
the per-language-pair adjustment of the calibration, and rebuilding a store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from echolens.errors import UsageError
from echolens.narratives.assign import assign_new_items, rebuild_narratives
from echolens.narratives.batch import BatchItem, group_batch
from echolens.narratives.calibration import Calibration, fit_pair_adjust
from echolens.narratives.index import index_path
from echolens.store.duckdb_store import DuckDBStore
from tests.test_narratives_fixtures import (
    LANGS,
    MODEL,
    add_items,
    calibration,
    corpus,
    make_store,
    members_of,
    vector,
)


def _group(records: list[dict[str, object]], cal: Calibration) -> dict[str, str | None]:
    items = [BatchItem(str(r["id"]), str(r["text"]), str(r["lang"]), str(r["published_at"]))
             for r in records]
    vectors = np.stack([np.asarray(r["vector"]) for r in records])
    outcomes, _ = group_batch(items, vectors, cal)
    return {o.item_id: o.narrative for o in outcomes}


def _shared_concept(records: list[dict[str, object]]) -> list[dict[str, object]]:
    """The same records, every text naming one rare concept (the biolab case)."""
    return [{**r, "text": f"biolab {r['text']}"} for r in records]


def test_a_shared_concept_alone_no_longer_chains_two_stories() -> None:
    records = _shared_concept(corpus([4, 5], seed=3))
    loose = calibration().with_thresholds(anchor_weight=60.0)
    got = _group(records, loose)
    assert len(set(got.values())) == 1  # without the gate the concept carries every join
    gated = loose.with_thresholds(centroid_join=1.0, centroid_merge=1.0)
    got = _group(records, gated)
    story = {t: {got[str(r["id"])] for r in records if r["topic"] == t} for t in (4, 5)}
    assert len(story[4]) == 1 and len(story[5]) == 1  # each story stays whole...
    assert story[4] != story[5]  # ...and apart


def test_the_merge_gate_stops_merges_carried_by_anchors() -> None:
    records = _shared_concept(corpus([4, 5], seed=4))
    # joins are impossible, so only refinement could bring the items together
    loose = calibration().with_thresholds(anchor_weight=60.0, join=500.0, merge=20.0)
    assert len(set(_group(records, loose).values())) < len(records)
    gated = loose.with_thresholds(centroid_merge=1.0)
    got = _group(records, gated)
    for r in records:
        for s in records:
            if r["topic"] != s["topic"]:
                assert got[str(r["id"])] != got[str(s["id"])]


def _two_languages_apart(seed: int) -> list[dict[str, object]]:
    """One story told in en and in ru, the two halves a month apart."""
    story = [r for r in corpus([2], per_lang=3, seed=seed) if r["lang"] in ("en", "ru")]
    return [{**r, "published_at": f"2022-0{3 if r['lang'] == 'en' else 4}-0{1 + i % 3}"}
            for i, r in enumerate(story)]


def test_mutual_best_narratives_in_two_languages_merge_below_the_merge_threshold() -> None:
    records = _two_languages_apart(5)
    cal = calibration().with_thresholds(join=4.0, merge=50.0, time_weight=20.0)
    apart = _group(records, cal)
    by_lang = {lang: {apart[str(r["id"])] for r in records if r["lang"] == lang}
               for lang in ("en", "ru")}
    assert all(len(v) == 1 for v in by_lang.values()) and by_lang["en"] != by_lang["ru"]
    mutual = cal.with_thresholds(mutual_merge=-50.0)
    together = _group(records, mutual)
    assert len(set(together.values())) == 1
    # the older narrative (the English half, first in published order) keeps its id
    assert set(together.values()) == by_lang["en"]
    assert _group(records, mutual) == together  # deterministic


def test_mutual_merges_need_two_languages_and_two_members() -> None:
    cal = calibration().with_thresholds(join=4.0, merge=50.0, time_weight=20.0,
                                        mutual_merge=-50.0)
    rng = np.random.default_rng(11)
    # two English halves of one story, a month apart: one language, no mutual merge
    records = [{"id": f"e{k}", "text": f"Leopard tanks Germany {k}", "lang": "en",
                "published_at": f"2022-0{3 + k // 3}-0{1 + k % 3}", "topic": 2,
                "vector": vector(2, "en", rng)} for k in range(6)]
    got = _group(records, cal)
    assert len({got[f"e{k}"] for k in range(3)} | {got[f"e{k}"] for k in range(3, 6)}) == 2


def test_pair_adjust_puts_every_language_pair_on_one_footing() -> None:
    cal = calibration()
    rng = np.random.default_rng(2)
    langs, labels, rows = [], [], []
    for topic in range(4):
        for lang in LANGS:
            for _ in range(4):
                rows.append(vector(topic, lang, rng))
                langs.append(lang)
                labels.append(f"t{topic}")
    for lang in LANGS:  # unlabelled items: no story
        for _ in range(6):
            rows.append(vector(None, lang, rng))
            langs.append(lang)
            labels.append(None)
    adjust = fit_pair_adjust(cal, np.stack(rows), langs, labels, prior_pairs=0.0)
    assert set(adjust) == {"en|en", "en|ru", "en|uk", "ru|ru", "ru|uk", "uk|uk"}
    adjusted = dataclasses.replace(cal, pair_adjust=adjust)
    from echolens.narratives.features import center

    unit = center(np.stack(rows), langs, cal)
    gaps = {}
    for key in adjust:
        a, b = key.split("|")
        mean, sd = adjusted.adjusted_pair(a, b)
        z = (unit @ unit.T - mean) / sd
        pos = [z[i, j] for i in range(len(rows)) for j in range(i + 1, len(rows))
               if sorted((langs[i], langs[j])) == [a, b] and labels[i] is not None
               and labels[i] == labels[j]]
        neg = [z[i, j] for i in range(len(rows)) for j in range(i + 1, len(rows))
               if sorted((langs[i], langs[j])) == [a, b]
               and (labels[i] is None or labels[i] != labels[j])]
        assert abs(float(np.mean(neg))) < 1e-3  # unrelated pairs of the domain: 0
        gaps[key] = float(np.mean(pos))
    assert max(gaps.values()) - min(gaps.values()) < 1e-3  # same story: one level
    # saved and loaded unchanged; no adjustment means the background z
    again = Calibration.from_json(adjusted.to_json())
    assert np.allclose(again.adjusted_pair("en", "ru"), adjusted.adjusted_pair("en", "ru"),
                       atol=1e-3)  # saved to 4 decimals
    assert cal.adjusted_pair("en", "ru") == cal.pair("en", "ru")


# -- rebuilding a store grouped with an older calibration ------------------------------------
def test_rebuild_regroups_a_store_from_its_embeddings(tmp_path: Path) -> None:

    store = make_store(tmp_path / "s.duckdb")
    records = corpus([0, 4], seed=6)
    add_items(store, records)
    old = calibration().with_thresholds(join=500.0, merge=500.0)  # every item alone
    assign_new_items(store, MODEL, old)
    assert len(set(members_of(store).values())) == len(records)
    index = index_path(store.path, MODEL)
    assert index is not None and index.exists()
    report = rebuild_narratives(store, None, calibration())  # the only model: found
    after = members_of(store)
    assert set(after) == {str(r["id"]) for r in records}
    for topic in (0, 4):
        assert len({after[str(r["id"])] for r in records if r["topic"] == topic}) == 1
    assert len(set(after.values())) == 2 and report.opened >= 2
    active = {r[0] for r in store.con.execute(
        "SELECT id FROM narratives WHERE model_id = ? AND status = 'active'", [MODEL]
    ).fetchall()}
    assert active == set(after.values())  # no narrative of the old grouping is left
    assert rebuild_narratives(store, MODEL, calibration()) and members_of(store) == after
    store.close()


def test_rebuild_without_narratives_asks_for_the_model(tmp_path: Path) -> None:

    store = make_store(tmp_path / "s.duckdb")
    with pytest.raises(UsageError, match="0 models"):
        rebuild_narratives(store, None, calibration())
    store.close()


def test_rebuild_command_is_wired_and_reports_a_missing_calibration(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from echolens.narratives import commands

    path = tmp_path / "s.duckdb"
    store = make_store(path)
    add_items(store, corpus([0], seed=2))
    assign_new_items(store, MODEL, calibration())
    before = members_of(store)
    store.close()
    app = typer.Typer()
    commands.register(app)
    result = CliRunner().invoke(app, ["narratives", "rebuild", "--db", str(path)])
    # the fixture model has no shipped calibration: a clear error, and nothing is lost
    assert result.exit_code == 2 and "no narrative calibration" in result.output
    store = DuckDBStore(path)
    assert members_of(store) == before
    store.close()
