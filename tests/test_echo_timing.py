"""First-seen per ecosystem, lags and echo chains on planted timelines in a real store.

`Plant` (also used by the other test_echo_* files) writes sources, items, embeddings,
narratives and citations into a real DuckDB store through the store's own writers, so each
test knows the truth by construction."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import echolens
from echolens.database import Database
from echolens.echo.timing import narrative_timing
from echolens.model import Item, Source
from echolens.store.base import WriteBatch
from tests.conftest import Cli

MODEL = "plant-model"
T0 = datetime(2022, 3, 1, tzinfo=UTC)

SOURCES = {
    "tass": "russia-state", "rt": "russia-state", "xinhua": "china-state",
    "cgtn": "china-state", "bbc": "west", "pravda": "ukraine",
}


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


class Plant:
    """Planted items in a real store: `item(...)` queues one, `commit()` writes them all."""

    def __init__(self, db: Database, sources: dict[str, str] | None = None) -> None:
        self.db = db
        self.items: list[Item] = []
        self.members: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
        self.vectors: dict[str, list[float]] = {}
        self.undated: set[str] = set()
        db.add_sources([Source(id=sid, name=sid.upper(), ecosystem=eco, domain=f"{sid}.test",
                               platform="web", kind="outlet", origin="test")
                        for sid, eco in (sources or SOURCES).items()])

    def item(self, item_id: str, source: str, when: datetime, narrative: str | None,
             *, title: str | None = None, undated: bool = False,
             vector: list[float] | None = None) -> str:
        extra: dict[str, Any] = {"date_assumed": True} if undated else {}
        self.items.append(Item(
            id=item_id, source_id=source, text=f"text of {item_id}", lang="en",
            published_at=when, fetched_at=when, content_hash=f"h-{item_id}",
            title=title or f"title of {item_id}", connector="test", location="plant",
            locator=item_id, extra=extra))
        if narrative is not None:
            self.members[narrative].append((item_id, when))
        if vector is not None:
            self.vectors[f"h-{item_id}"] = vector
        return item_id

    def commit(self) -> None:
        store = self.db.store
        store.write(WriteBatch(items=self.items, rejects=[], bands=[], signatures=[],
                               relinks=[]))
        if self.vectors:
            hashes = sorted(self.vectors)
            store.put_embeddings(MODEL, hashes, np.array([self.vectors[h] for h in hashes],
                                                          dtype=np.float32))
        # the same rows `narratives.storage.write_outcomes` writes, in bulk (its row-by-row
        # inserts take seconds for the thousands of members some tests plant)
        ordered = [(nid, item_id) for nid, members in sorted(self.members.items())
                   for item_id, _ in members]
        offset = int(store.con.execute("SELECT count(*) FROM narrative_members").fetchall()[0][0])
        now = datetime.now(UTC)
        members = pa.table({
            "model_id": [MODEL] * len(ordered), "item_id": [i for _, i in ordered],
            "narrative_id": [n for n, _ in ordered],
            "position": list(range(offset, offset + len(ordered))),
            "outcome": ["joined"] * len(ordered), "reason": pa.nulls(len(ordered), pa.string()),
            "score": [1.0] * len(ordered), "assigned_at": [now] * len(ordered)})
        store.con.register("planted_members", members)
        store.con.execute("INSERT INTO narrative_members SELECT * FROM planted_members")
        store.con.unregister("planted_members")
        summaries = [{"id": nid, "label": f"label {nid}", "keywords": {}, "representatives": {},
                      "size": len(members), "first_seen": min(t for _, t in members),
                      "last_seen": max(t for _, t in members)}
                     for nid, members in sorted(self.members.items())]
        narratives = pa.table({
            "id": [s["id"] for s in summaries], "model_id": [MODEL] * len(summaries),
            "label": [s["label"] for s in summaries], "size": [s["size"] for s in summaries],
            "first_seen": [s["first_seen"] for s in summaries],
            "last_seen": [s["last_seen"] for s in summaries]})
        store.con.register("planted_narratives", narratives)
        store.con.execute(
            "INSERT OR REPLACE INTO narratives SELECT id, model_id, 'active', NULL, label, '{}',"
            " '{}', size, first_seen, last_seen, now(), now() FROM planted_narratives")
        store.con.unregister("planted_narratives")
        self.items, self.vectors, self.members = [], {}, defaultdict(list)

    def cite(self, item_id: str, name: str, source_id: str | None, ecosystem: str | None,
             ordinal: int = 0, kind: str = "media") -> None:
        self.db.store.con.execute(
            "INSERT INTO citations (item_id, ordinal, name, kind, source_id, ecosystem, cue, "
            "lang, resolved, field, start_offset, end_offset) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'zh', true, 'title', 0, 3)",
            [item_id, ordinal, name, kind, source_id, ecosystem, f"据{name}报道"])


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[Plant]:
    database = echolens.open(tmp_path / "echo.duckdb")
    yield Plant(database)
    database.close()


def _chain_narrative(plant: Plant) -> None:
    plant.item("ru1", "tass", at(0), "N")
    plant.item("ru2", "rt", at(1), "N")
    plant.item("ru3", "tass", at(4), "N")  # after China's first: not an origin item
    plant.item("cn1", "xinhua", at(2), "N")
    plant.item("cn2", "cgtn", at(3), "N")
    plant.item("west1", "bbc", at(5), "N")
    plant.commit()


def test_first_seen_lags_and_chain_with_the_connecting_citation(plant: Plant) -> None:
    _chain_narrative(plant)
    plant.cite("cn2", "TASS", "tass", "russia-state")
    plant.cite("cn1", "Reuters", None, "west")  # not an earlier ecosystem: does not connect
    timing = narrative_timing(plant.db, "N")
    assert [f.ecosystem for f in timing.first_seen] == ["russia-state", "china-state", "west"]
    assert [f.item.item_id for f in timing.first_seen] == ["ru1", "cn1", "west1"]
    assert [f.items for f in timing.first_seen] == [3, 2, 1]
    assert {(lag.earlier, lag.later): lag.hours for lag in timing.lags} == {
        ("russia-state", "china-state"): 48.0, ("russia-state", "west"): 120.0,
        ("china-state", "west"): 72.0}
    chain = timing.chain
    assert chain is not None and chain.origin == "russia-state"
    assert [i.item_id for i in chain.origin_items] == ["ru1", "ru2"]
    china, west = chain.steps
    assert (china.first.ecosystem, china.lag_hours, china.after_previous_hours) == (
        "china-state", 48.0, 48.0)
    assert [(c.item_id, c.name, c.ecosystem) for c in china.citations] == [
        ("cn2", "TASS", "russia-state")]
    assert (west.lag_hours, west.after_previous_hours, west.citations) == (120.0, 72.0, ())
    assert timing.undated == 0 and timing.dated == 6


def test_a_citation_of_an_earlier_items_source_connects_without_an_ecosystem(
        plant: Plant) -> None:
    _chain_narrative(plant)
    plant.cite("west1", "Xinhua", "xinhua", None)
    chain = narrative_timing(plant.db, "N").chain
    assert chain is not None
    assert [c.name for c in chain.steps[1].citations] == ["Xinhua"]


def test_a_single_ecosystem_narrative_has_no_chain_and_says_so(plant: Plant) -> None:
    plant.item("a", "tass", at(0), "SOLO")
    plant.item("b", "rt", at(1), "SOLO")
    plant.commit()
    timing = narrative_timing(plant.db, "SOLO")
    assert timing.chain is None and timing.lags == ()
    assert [f.ecosystem for f in timing.first_seen] == ["russia-state"]
    assert any("one ecosystem" in n and "no echo chain" in n for n in timing.notes)


def test_undated_items_are_excluded_from_timing_and_counted(plant: Plant) -> None:
    plant.item("rt-old", "rt", datetime(2016, 1, 1, tzinfo=UTC), "N", undated=True)
    plant.item("cn1", "xinhua", at(1), "N")
    plant.item("ru1", "tass", at(2), "N")
    plant.commit()
    timing = narrative_timing(plant.db, "N")
    assert timing.undated == 1 and timing.dated == 2
    assert [f.item.item_id for f in timing.first_seen] == ["cn1", "ru1"]
    assert any("1 item(s) with no known date excluded" in n for n in timing.notes)


def test_ties_are_flagged_with_zero_lag(plant: Plant) -> None:
    plant.item("ru1", "tass", at(3), "N")
    plant.item("cn1", "xinhua", at(3), "N")
    plant.item("west1", "bbc", at(4), "N")
    plant.commit()
    timing = narrative_timing(plant.db, "N")
    first = {f.ecosystem: f for f in timing.first_seen}
    assert first["china-state"].tied_with == ("russia-state",)
    assert first["russia-state"].tied_with == ("china-state",)
    assert first["west"].tied_with == ()
    assert timing.lags[0].hours == 0.0


@pytest.mark.parametrize("state", ["empty", "missing"])
def test_chain_without_citations_says_why(plant: Plant, state: str) -> None:
    _chain_narrative(plant)
    if state == "missing":
        plant.db.store.con.execute("DROP TABLE citations")
    timing = narrative_timing(plant.db, "N")
    assert timing.chain is not None
    assert all(step.citations == () for step in timing.chain.steps)
    assert any(("citations table is empty" if state == "empty" else "no citations table") in n
               for n in timing.notes)


def test_narratives_show_includes_first_seen_and_chain(tmp_path: Path) -> None:
    path = tmp_path / "cli.duckdb"
    with echolens.open(path) as database:
        plant = Plant(database)
        _chain_narrative(plant)
        plant.cite("cn1", "TASS", "tass", "russia-state")
        plant.item("solo1", "bbc", at(0), "SOLO")
        plant.commit()
    cli = Cli(path)
    data = cli.json("narratives", "show", "N")
    echo = data["echo"]
    assert [f["ecosystem"] for f in echo["first_seen"]] == ["russia-state", "china-state",
                                                            "west"]
    assert echo["chain"]["steps"][0]["citations"][0]["name"] == "TASS"
    text = cli("narratives", "show", "N").stdout
    assert "first seen per ecosystem" in text and "echo chain" in text
    assert "russia-state -> china-state" in text and "cites TASS" in text
    solo = cli("narratives", "show", "SOLO").stdout
    assert "no echo chain" in solo
    assert json.loads(cli("narratives", "show", "SOLO", "--json").stdout)["echo"]["chain"] is None
