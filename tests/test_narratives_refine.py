"""Refinement splits, the index file of a store, and cross-script anchors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from echolens.narratives.anchors import (
    Gazetteer,
    anchor_vector,
    load_gazetteer,
    parse_gazetteer,
)
from echolens.narratives.assign import assign_new_items
from echolens.narratives.batch import BatchItem
from echolens.narratives.calibration import Calibration
from echolens.narratives.features import day_number, lexical_cosine, prepare
from echolens.narratives.grouping import Grouper, narrative_id
from echolens.narratives.index import index_path
from tests.test_narratives_fixtures import (
    MODEL,
    add_items,
    calibration,
    corpus,
    make_store,
    members_of,
)


def _prepared(records: list[dict[str, object]], cal: Calibration
              ) -> tuple[list[str], object]:
    items = [BatchItem(str(r["id"]), str(r["text"]), str(r["lang"]), str(r["published_at"]))
             for r in records]
    vectors = np.stack([np.asarray(r["vector"]) for r in records])
    return [i.id for i in items], prepare(vectors, [i.lang for i in items],
                                          [i.text for i in items],
                                          [day_number(i.published_at) for i in items], cal)


def _drifted_grouper(cal: Calibration) -> tuple[Grouper, list[dict[str, object]],
                                                list[dict[str, object]]]:
    """Stories 0 and 1 stored as ONE narrative (as after a bad merge), story 2 apart; then a
    new item of story 0 arrives."""
    mixed = corpus([0, 1], seed=1)
    apart = corpus([2], seed=1)
    grouper = Grouper(cal, dim=np.asarray(mixed[0]["vector"]).shape[0])
    ids, prepared = _prepared(mixed + apart, cal)
    grouper.restore(ids, prepared,  # type: ignore[arg-type]
                    ["nMIXED"] * len(mixed) + ["nAPART"] * len(apart))
    new = corpus([0], per_lang=1, seed=9)
    new_ids, new_prepared = _prepared(new, cal)
    grouper.add(new_ids, new_prepared)  # type: ignore[arg-type]
    return grouper, mixed, apart


def test_refine_splits_an_incoherent_narrative_and_leaves_the_others_alone() -> None:
    cal = calibration().with_thresholds(split=1.0)
    grouper, mixed, apart = _drifted_grouper(cal)
    events = grouper.refine()
    splits = [e for e in events if e.kind == "split"]
    assert len(splits) == 1
    split = splits[0]
    story1 = [str(r["id"]) for r in mixed if r["topic"] == 1]
    assert split.narrative_id == "nMIXED"  # the half with the first item keeps the id
    assert sorted(split.items) == sorted(story1)
    assert split.other_id == narrative_id(story1[0])  # first moved item, in stored order
    final = grouper.assignments()
    assert {final[str(r["id"])] for r in mixed if r["topic"] == 0} == {"nMIXED"}
    assert {final[i] for i in story1} == {split.other_id}
    assert {final[str(r["id"])] for r in apart} == {"nAPART"}  # untouched: same id
    again, _, _ = _drifted_grouper(cal)  # re-running gives the same narratives and events
    assert again.refine() == events and again.assignments() == final


def test_no_split_when_the_halves_stay_close_or_splitting_is_off() -> None:
    cal = calibration()
    grouper, _, _ = _drifted_grouper(cal.with_thresholds(split=-50.0))
    assert not [e for e in grouper.refine() if e.kind == "split"]
    grouper, _, _ = _drifted_grouper(cal.with_thresholds(split=1.0, min_split=0))
    assert not [e for e in grouper.refine() if e.kind == "split"]


# -- the store ---------------------------------------------------------------------------------


def test_split_in_the_store_relinks_members_and_records_history(tmp_path: Path) -> None:
    cal = calibration().with_thresholds(split=1.0)
    store = make_store(tmp_path / "s.duckdb")
    first = corpus([0, 1], seed=1)
    add_items(store, first)
    assign_new_items(store, MODEL, cal)
    members = members_of(store)
    kept = members[str(first[0]["id"])]
    assert kept is not None
    # a narrative that drifted: both stories under one id
    store.con.execute("UPDATE narrative_members SET narrative_id = ? WHERE model_id = ?",
                      [kept, MODEL])
    add_items(store, corpus([0], per_lang=1, seed=5))
    report = assign_new_items(store, MODEL, cal)
    assert report.split == 1
    after = members_of(store)
    story0 = {after[str(r["id"])] for r in first if r["topic"] == 0}
    story1 = {after[str(r["id"])] for r in first if r["topic"] == 1}
    assert story0 == {kept} and len(story1) == 1 and story1 != story0
    (other,) = story1
    history = store.con.execute(
        "SELECT narrative_id, event, other_id FROM narrative_history "
        "WHERE event LIKE 'split%' ORDER BY event").fetchall()
    assert history == [(other, "split_from", kept), (kept, "split_into", other)]
    status = dict(store.con.execute("SELECT id, status FROM narratives").fetchall())
    assert status[kept] == status[other] == "active"
    store.close()


def test_missing_or_corrupted_index_file_is_rebuilt_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cal = calibration()
    batches = [corpus([0, 1], seed=1), corpus([0, 2], seed=2), corpus([1, 3], seed=3)]
    reference = make_store(tmp_path / "ref.duckdb")  # index file left alone
    store = make_store(tmp_path / "s.duckdb")
    path = index_path(store.path, MODEL)
    assert path is not None
    for k, batch in enumerate(batches):
        for target in (reference, store):
            add_items(target, batch)
        assert assign_new_items(reference, MODEL, cal).index_rebuilt is None
        if k == 1:
            path.write_bytes(b"not an index")
        if k == 2:
            path.unlink()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="echolens.narratives.assign"):
            report = assign_new_items(store, MODEL, cal)
        if k == 0:
            assert report.index_rebuilt is None and not caplog.records
        else:
            assert report.index_rebuilt is not None
            assert ("unreadable" if k == 1 else "missing") in report.index_rebuilt
            assert any("rebuilding it from the store" in r.getMessage()
                       for r in caplog.records)
        assert path.exists()
        assert members_of(store) == members_of(reference)  # rebuilt, never silently emptied
    reference.close()
    store.close()


def test_stale_index_file_is_not_trusted(tmp_path: Path) -> None:
    cal = calibration()
    store = make_store(tmp_path / "s.duckdb")
    add_items(store, corpus([0], seed=1))
    assign_new_items(store, MODEL, cal)
    store.con.execute("DELETE FROM narrative_members WHERE model_id = ? AND item_id = ?",
                      [MODEL, str(corpus([0], seed=1)[0]["id"])])
    add_items(store, corpus([1], seed=2))
    report = assign_new_items(store, MODEL, cal)
    assert report.index_rebuilt is not None and "stale" in report.index_rebuilt
    store.close()


# -- anchors -----------------------------------------------------------------------------------
def test_gazetteer_maps_names_across_scripts_to_one_concept() -> None:
    gaz = load_gazetteer()

    def concepts(text: str) -> set[str]:
        return {gaz.concepts[c] for c in gaz.find(text)}

    for text in ("Бои за Бахмут продолжаются", "Wagner near Artemovsk", "巴赫穆特战事",
                 "Бахмуті тривають бої"):
        assert "bakhmut" in concepts(text), text
    assert "azovstal" in concepts("Azovstal plant") and "azov" not in concepts("Azovstal")
    assert "azov" in concepts("the Azov regiment")
    assert "iaea" in concepts("МАГАТЭ") and "iaea" in concepts("国际原子能机构")


def test_parse_gazetteer_skips_comments_and_prefers_the_longest_form() -> None:
    gaz = parse_gazetteer(["# comment\tline", "sea\tsea$", "black_sea\tblack sea|黑海", ""])
    assert gaz.concepts == ("sea", "black_sea")
    assert {gaz.concepts[c] for c in gaz.find("The Black Sea")} == {"black_sea"}
    assert {gaz.concepts[c] for c in gaz.find("a sea, seaside")} == {"sea"}


def _by_pattern(gaz: Gazetteer, text: str) -> set[int]:
    """The concepts of `text` through the gazetteer's regex itself: its definition, which
    `Gazetteer.find` reads without the regex engine."""
    found: set[int] = set()
    for match in gaz.pattern.finditer(text.lower()):
        found.update(gaz.form_concepts.get(match.group(0), ()))
    return found


def test_gazetteer_find_gives_the_matches_of_its_pattern() -> None:
    """`find` reads the gazetteer without the regex engine; `pattern` is the definition:
    random mixes of (partial, upper-case) forms and separators must match the same way."""
    import random

    gaz = load_gazetteer()
    forms = sorted(gaz.form_rules)
    rng = random.Random(7)
    seps = [" ", "", "-", "_", ".", "«", "»", '"', "\u201c", "a", "1", "ы", "中", "\n", "$"]
    texts = ["Бои за Бахмут", "Azovstal plant", "the Azov regiment", "U.S. and E.U.", ""]
    for _ in range(20_000):
        parts = []
        for _ in range(rng.randint(1, 5)):
            form = rng.choice(forms)
            form = form[:rng.randint(1, len(form))] if rng.random() < 0.3 else form
            parts += [form.upper() if rng.random() < 0.2 else form,
                      rng.choice(seps) * rng.randint(0, 2)]
        texts.append("".join(parts))
    found = [gaz.find(t) for t in texts]
    assert found == [_by_pattern(gaz, t) for t in texts]
    assert sum(bool(f) for f in found) > 10_000  # the mixes do contain concepts


def test_gazetteer_find_reads_one_letter_forms_beside_longer_ones() -> None:
    """`find` looks forms up by a word's first two letters; a one-letter form must still
    match where longer forms share those two letters but not the rest, as the regex does."""
    gaz = parse_gazetteer(["x_prefix\tx", "xinhua\txinhua", "china\t中|中国人|china"])
    texts = ["xi", "xinhua says", "x", "maxi", "中国", "中国人", "中方", "x-y 中国 xin"]
    for text in texts:
        assert gaz.find(text) == _by_pattern(gaz, text), text
    assert {gaz.concepts[c] for c in gaz.find("xi")} == {"x_prefix"}
    assert {gaz.concepts[c] for c in gaz.find("中国")} == {"china"}


def test_common_concepts_alone_give_a_small_anchor_cosine() -> None:
    idf = {"russia": 1.1, "ukraine": 1.1, "bakhmut": 6.0}
    common = lexical_cosine(anchor_vector("Russia and Ukraine", idf),
                            anchor_vector("Россия и Украина", idf))
    rare = lexical_cosine(anchor_vector("Russia: Bakhmut", idf), anchor_vector("巴赫穆特", idf))
    assert 0 < common < 0.2 < rare


def test_chunked_preparation_gives_the_same_narratives(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from echolens.narratives import assign

    cal = calibration()
    results = []
    for chunk in (assign.CHUNK, 4):
        monkeypatch.setattr(assign, "CHUNK", chunk)
        store = make_store(tmp_path / f"c{chunk}.duckdb")
        for seed, topics in ((1, [0, 1]), (2, [0, 2, 3])):
            add_items(store, corpus(topics, seed=seed))
            assign_new_items(store, MODEL, cal)
        results.append(members_of(store))
        store.close()
    assert results[0] == results[1] and len(set(results[0].values())) == 4


# -- batched links (speed path) ---------------------------------------------------------------
def test_batched_average_links_equal_the_member_pair_means() -> None:
    """`average_links` sums per-language vector sums instead of scoring every member pair;
    it must give the same links as `average_link`, with lexical and anchor terms, several
    languages, unknown dates and narratives larger than the link sample."""
    cal = calibration().with_thresholds(lexical_weight=4.0, anchor_weight=6.0)
    records = corpus([0, 1, 2, 3], per_lang=3, seed=5) + corpus([4], per_lang=12, seed=6)
    records[1]["published_at"] = ""  # an unknown date
    records[2]["text"] = "Бахмут Bakhmut 巴赫穆特 " + str(records[2]["text"])
    ids, prepared = _prepared(records, cal)
    grouper = Grouper(cal, dim=np.asarray(records[0]["vector"]).shape[0])
    by_topic = [f"n{r['topic']}-{r['lang']}" if r["topic"] != 4 else "nBIG" for r in records]
    grouper.restore(ids, prepared, by_topic)  # type: ignore[arg-type]
    narratives = range(len(grouper.nids))
    pairs = [(a, b) for a in narratives for b in narratives if a < b]
    assert len(grouper.members[grouper.nids.index("nBIG")]) > 24  # sampled, not all members
    assert grouper.anchors.nnz and grouper.lexical.nnz
    batched = grouper.average_links(pairs)
    single = [grouper.average_link(a, b) for a, b in pairs]
    assert len(set(np.round(single, 6))) > 10  # the pairs differ
    # the member-pair path rounds cosines to float32: equal to ~1e-6 z
    np.testing.assert_allclose(batched, single, rtol=1e-6, atol=1e-5)


def test_sparse_rows_match_the_dict_cosine() -> None:
    from echolens.narratives.sparse_rows import SparseRows

    rng = np.random.default_rng(3)
    rows = [{int(k): float(rng.random()) for k in rng.choice(50, size=rng.integers(0, 6),
                                                             replace=False)}
            for _ in range(40)]
    sparse = SparseRows()
    for row in rows:
        sparse.append(row)
    assert len(sparse) == 40 and sparse.row(7) == rows[7]
    picks = np.arange(0, 40, 3)
    expected = [lexical_cosine(rows[5], rows[p]) for p in picks]
    np.testing.assert_allclose(sparse.dot_query(rows[5], picks), expected, atol=1e-12)
    matrix = sparse.dot_matrix(picks, picks[::-1])
    np.testing.assert_allclose(matrix, [[lexical_cosine(rows[a], rows[b])
                                         for b in picks[::-1]] for a in picks], atol=1e-12)



def test_an_item_proposes_merges_with_its_nearest_narratives_only() -> None:
    """An item near many narratives proposes merging its best one with the next
    MERGE_CANDIDATES of them (a sparse candidate graph), not with all of them."""
    from echolens.narratives.grouping import MERGE_CANDIDATES

    # never join on arrival; every narrative in reach is close enough to propose a merge
    cal = calibration().with_thresholds(join=1e9, merge=-1e9, mutual_merge=None,
                                        centroid_join=None)
    stored = corpus(list(range(6)), per_lang=1, seed=3)  # 18 items, one narrative each
    grouper = Grouper(cal, dim=np.asarray(stored[0]["vector"]).shape[0])
    ids, prepared = _prepared(stored, cal)
    grouper.restore(ids, prepared, [f"n{item_id}" for item_id in ids])  # type: ignore[arg-type]
    new_ids, new_prepared = _prepared(corpus([0], per_lang=1, seed=9)[:1], cal)
    grouper.add(new_ids, new_prepared)  # type: ignore[arg-type]
    opened = len(grouper.nids) - 1  # the item opened a narrative of its own
    pairs = grouper._merge_candidates
    (best,) = [a for a, b in pairs if b == opened]
    bridged = {b if a == best else a for a, b in pairs if opened not in (a, b)}
    assert all(best in pair for pair in pairs)
    assert len(bridged) == MERGE_CANDIDATES < len(stored) - 1


def test_writing_a_run_applies_chains_of_merges_and_splits_as_one_event_at_a_time(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from echolens.narratives.grouping import Event
    from echolens.narratives.storage import write_outcomes
    from echolens.store.duckdb_store import DuckDBStore

    store = DuckDBStore(tmp_path / "s.duckdb")
    con = store.con
    day = datetime(2022, 3, 10, tzinfo=UTC)
    # an earlier run: narrative "nb" with one member
    write_outcomes(con, MODEL, [("i0", "nb", "opened", None, None)],
                   [Event("created", "nb", item_id="i0")],
                   [{"id": "nb", "label": "b", "keywords": {}, "representatives": {},
                     "size": 1, "first_seen": day, "last_seen": day}])
    created = con.execute("SELECT created_at FROM narratives WHERE id = 'nb'").fetchall()
    outcomes = [("i1", "na", "opened", None, None), ("i2", "nb", "joined", None, 9.0),
                ("i3", "nc", "opened", None, None), ("i4", None, "skipped", "too-short", None)]
    events = [Event("created", "na", item_id="i1"), Event("created", "nc", item_id="i3"),
              # nb into na, then na into nc: nb's members (old and new) end in nc
              Event("merged", "na", other_id="nb", score=8.5),
              Event("merged", "nc", other_id="na", score=8.1),
              # then nc splits twice: i1 to nd, then i1 and i2 to ne (the last one wins)
              Event("split", "nc", other_id="nd", score=1.0, items=("i1",)),
              Event("split", "nc", other_id="ne", score=1.0, items=("i1", "i2")),
              Event("merged", "nc", other_id="nd", score=7.9)]
    summaries = [{"id": n, "label": n, "keywords": {"en": ["x"]}, "representatives": {},
                  "size": 1, "first_seen": day, "last_seen": None} for n in ("nb", "nc", "ne")]
    write_outcomes(con, MODEL, outcomes, events, summaries)
    members = dict(con.execute("SELECT item_id, narrative_id FROM narrative_members").fetchall())
    assert members == {"i0": "nc", "i1": "ne", "i2": "ne", "i3": "nc", "i4": None}
    positions = con.execute("SELECT item_id, position FROM narrative_members "
                            "ORDER BY position").fetchall()
    assert [p for _, p in positions] == list(range(5)) and positions[1][0] == "i1"
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT id, status, merged_into, label FROM narratives").fetchall()}
    assert rows == {"na": ("merged", "nc", None), "nd": ("merged", "nc", None),
                    "nb": ("active", None, "nb"), "nc": ("active", None, "nc"),
                    "ne": ("active", None, "ne")}
    # a narrative summarised again keeps its creation time
    assert con.execute("SELECT created_at FROM narratives WHERE id = 'nb'").fetchall() == created
    history = con.execute("SELECT narrative_id, event, other_id, item_id, score "
                          "FROM narrative_history ORDER BY rowid").fetchall()
    assert history == [
        ("nb", "created", None, "i0", None), ("na", "created", None, "i1", None),
        ("nc", "created", None, "i3", None),
        ("na", "merged_from", "nb", None, 8.5), ("nb", "merged_into", "na", None, 8.5),
        ("nc", "merged_from", "na", None, 8.1), ("na", "merged_into", "nc", None, 8.1),
        ("nc", "split_into", "nd", None, 1.0), ("nd", "split_from", "nc", None, 1.0),
        ("nc", "split_into", "ne", None, 1.0), ("ne", "split_from", "nc", None, 1.0),
        ("nc", "merged_from", "nd", None, 7.9), ("nd", "merged_into", "nc", None, 7.9)]
    assert con.execute("SELECT keywords FROM narratives WHERE id = 'ne'").fetchall() == [
        ('{"en": ["x"]}',)]
    store.close()
