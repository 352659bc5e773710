"""The dashboard's narrative view reads a narrative's members and their citations once and
derives the timelines, the timing and the item list from them: what it shows must be what
the library's own functions (`narrative_timing`, `storage.timeline`) compute from the store."""

from __future__ import annotations

import pytest

from echolens.api import queries, views
from echolens.echo.timing import narrative_timing
from echolens.narratives import storage
from tests.test_echo_timing import MODEL, Plant, at, plant  # noqa: F401 - the fixture

__all__ = ["plant"]


def _planted(plant: Plant) -> None:  # noqa: F811 - the fixture
    plant.item("ru1", "tass", at(0), "N")
    plant.item("ru2", "rt", at(1, 5), "N")
    plant.item("ru3", "tass", at(9), "N")  # another week
    plant.item("cn1", "xinhua", at(2), "N", title="据塔斯社报道")
    plant.item("cn2", "cgtn", at(2), "N")  # same time as cn1: the id orders them
    plant.item("ua1", "pravda", at(3), "N", undated=True)  # excluded from timing only
    plant.item("west1", "bbc", at(2), "N")  # tied with China's first item
    plant.item("west2", "bbc", at(12, 23), "N")
    plant.item("other", "tass", at(1), "M")
    plant.commit()
    plant.cite("cn1", "TASS", "tass", "russia-state", ordinal=1)
    plant.cite("cn1", "Reuters", None, "west", ordinal=0)
    plant.cite("west1", "RT", "rt", "russia-state")
    plant.cite("west2", "Xinhua", "xinhua", "china-state", ordinal=2)
    plant.cite("other", "BBC", "bbc", "west")


@pytest.mark.parametrize("citations", ["ok", "empty", "missing"])
def test_the_narrative_view_agrees_with_the_library(plant: Plant,  # noqa: F811
                                                    citations: str) -> None:
    _planted(plant)
    con = plant.db.store.con
    if citations == "empty":
        con.execute("DELETE FROM citations")
    elif citations == "missing":
        con.execute("DROP TABLE citations")
    detail = views.narrative(con, "N")
    assert detail["timeline"] == storage.timeline(con, "N", MODEL, "day")
    assert detail["timeline_weekly"] == storage.timeline(con, "N", MODEL, "week")
    assert len(detail["timeline_weekly"]) >= 2
    assert detail["timing"] == narrative_timing(con, "N", MODEL).to_dict()
    steps = detail["timing"]["chain"]["steps"]
    assert any(step["citations"] for step in steps) == (citations == "ok")
    # the items as the dashboard's item listings read them (`_ITEM_SELECT`), in the
    # narrative page's order: same fields, same values, same key order
    listed = queries._rows(con, queries._ITEM_SELECT + " JOIN narrative_members m"
                           " ON m.item_id = i.id WHERE m.narrative_id = 'N' ORDER BY 4,"
                           " i.lang, i.published_at, i.id")
    expected = [r["id"] for r in listed]
    assert [i["id"] for i in detail["items"]] == expected
    assert [list(i.items())[:-1] for i in detail["items"]] == [list(r.items()) for r in listed]
    assert "undated" not in detail["items"][0]
    cited = {i["id"]: i["citations"] for i in detail["items"] if i["citations"]}
    assert cited == ({"cn1": ["Reuters", "TASS"], "west1": ["RT"], "west2": ["Xinhua"]}
                     if citations == "ok" else {})
    assert detail["citations_available"] == (citations == "ok")
    shown = views.narrative(con, "N", item_limit=3)
    assert [i["id"] for i in shown["items"]] == expected[:3]
    assert shown["timing"] == detail["timing"]


def test_the_view_of_an_unknown_narrative_is_not_found(plant: Plant) -> None:  # noqa: F811
    _planted(plant)
    from echolens.errors import NotFound

    with pytest.raises(NotFound, match="no narrative 'nope'"):
        views.narrative(plant.db.store.con, "nope")


@pytest.mark.parametrize("extra", [
    None, "{}", '{"date_assumed": true}', '{"date_unknown":true}', '{"date_assumed": false}',
    '{"note": "date_assumed: true"}', '{"a": 1, "date_unknown" :\n true}',
    '{"date_unknownx": true}',
])
def test_undated_in_python_is_undated_in_sql(extra: str | None) -> None:
    import duckdb

    from echolens.echo.timing import UNDATED_SQL, is_undated

    con = duckdb.connect()
    con.execute("CREATE TABLE items (published_at TIMESTAMPTZ, extra JSON)")
    con.execute("INSERT INTO items VALUES (now(), ?), (NULL, ?)", [extra, extra])
    rows = con.execute(f"SELECT published_at, CAST(extra AS VARCHAR), {UNDATED_SQL}"
                       " FROM items i").fetchall()
    for published_at, text, in_sql in rows:
        assert is_undated(published_at, text) == in_sql
    assert rows[1][2] is True
