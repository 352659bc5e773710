"""What each page and report shows, assembled from the library's read functions (the same
dicts back the JSON API, the HTML pages and the reports). Sections whose stage has produced
no data are empty, and the pages leave them out."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import duckdb
import polars as pl

from echolens.api import queries
from echolens.api.charts import Marker, Point, period_start, stacked_bars
from echolens.api.queries import first_row
from echolens.database import Database
from echolens.errors import NotFound

ITEMS_ON_PAGE = 300


class _CursorDb:
    """A `Database`-shaped view of one cursor, for library functions that take a Database
    but only read `db.store.con`."""

    class _Store:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self.con = con

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.store = self._Store(con)


def as_database(con: duckdb.DuckDBPyConnection) -> Database:
    return cast(Database, _CursorDb(con))


def _utc(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day_after(day: date | None) -> datetime | None:
    return None if day is None else _utc(day + timedelta(days=1))


def has_citations(con: duckdb.DuckDBPyConnection) -> bool:
    from echolens.echo.timing import citation_status

    return citation_status(con) == "ok"


# -- overview ------------------------------------------------------------------------------
def overview(con: duckdb.DuckDBPyConnection, *, since: date | None = None,
             until: date | None = None) -> dict[str, Any]:
    stats = first_row(con.execute("SELECT (SELECT count(*) FROM items WHERE duplicate_of IS NULL),"
                        " (SELECT count(*) FROM narratives WHERE status = 'active'),"
                        " (SELECT count(*) FROM sources),"
                        " (SELECT count(*) FROM factchecks)").fetchall())
    assert stats is not None
    act = queries.activity(con, since=since, until=until)
    return {
        "totals": {"items": int(stats[0]), "narratives": int(stats[1]),
                   "sources": int(stats[2]), "factchecks": int(stats[3])},
        "activity": act,
        "crossed": [c.__dict__ for c in queries.crossed_narratives(con, limit=12)],
        "recent_matches": queries.recent_matches(con, limit=12),
        "ecosystems": queries.ecosystems(con),
    }


def activity_chart(act: dict[str, Any], *, link_base: str | None = "/search",
                   chart_id: str = "activity") -> str:
    """The overview's stacked bars; each bar links to its items unless `link_base` is None
    (reports)."""
    unit = act["unit"]
    points = [Point(p["period"], p["ecosystem"], p["items"]) for p in act["points"]]

    def link(day: date, series: str) -> str:
        from urllib.parse import urlencode

        end = _period_end(day, unit)
        return f"{link_base}?" + urlencode({"ecosystem": series, "since": day.isoformat(),
                                            "until": end.isoformat()})

    return stacked_bars(points, unit=unit, chart_id=chart_id,
                        title=f"Items in narratives per {unit}, by ecosystem",
                        description=_describe(points, unit),
                        link=link if link_base is not None else None)


def _period_end(day: date, unit: str) -> date:
    from echolens.api.charts import next_period

    return next_period(day, unit) - timedelta(days=1)


def _describe(points: list[Point], unit: str) -> str:
    if not points:
        return "no data"
    totals: dict[str, float] = defaultdict(float)
    for p in points:
        totals[p.series] += p.value
    parts = ", ".join(f"{s} {v:g}" for s, v in sorted(totals.items(), key=lambda x: -x[1]))
    first = min(p.period for p in points)
    last = max(p.period for p in points)
    return (f"Stacked bars per {unit} from {first.isoformat()} to {last.isoformat()}; "
            f"items by ecosystem: {parts}. The same figures are in the table below the chart.")


# -- narratives ----------------------------------------------------------------------------
def narratives(con: duckdb.DuckDBPyConnection, *, ecosystem: str | None = None,
               ecosystems: list[str] | None = None, first: str | None = None,
               since: date | None = None, until: date | None = None,
               pair: tuple[str, str] | None = None, which: str = "shared",
               limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Active narratives, filtered; `pair` + `which` gives those behind a matrix cell."""
    from echolens.narratives.storage import list_narratives

    note = ""
    if pair is not None:
        from echolens.echo.convergence import convergence

        cell = convergence(con, pair[0], pair[1], _utc(since), _day_after(until),
                           permutations=0)
        ids = {"shared": cell.lead.a_first_ids + cell.lead.b_first_ids + cell.lead.tie_ids,
               "a_first": cell.lead.a_first_ids, "b_first": cell.lead.b_first_ids,
               "ties": cell.lead.tie_ids}.get(which, ())
        wanted = set(ids)
        rows = [n for n in list_narratives(con, model_id=cell.model_id) if n["id"] in wanted]
        note = {"shared": f"carried by both {pair[0]} and {pair[1]}",
                "a_first": f"carried by both, {pair[0]} first",
                "b_first": f"carried by both, {pair[1]} first",
                "ties": "carried by both, first items at the same time"}.get(which, "")
    elif ecosystems:
        rows = queries.narratives_carried_by(con, ecosystems, since=since, until=until,
                                             first=first)
        note = "carried by " + " and ".join(ecosystems) + (f", {first} first" if first else "")
    else:
        rows = list_narratives(con, ecosystem=ecosystem, since=_utc(since))
        if until:
            end = _day_after(until)
            rows = [r for r in rows if r["first_seen"] is None or end is None
                    or r["first_seen"] < end]
    total = len(rows)
    return {"narratives": rows[offset:offset + limit], "total": total, "note": note}


def narrative(con: duckdb.DuckDBPyConnection, narrative_id: str,
              item_limit: int | None = ITEMS_ON_PAGE, *, citations: str | None = None
              ) -> dict[str, Any]:
    """One narrative with timeline, first-seen, echo chain, items, fact-checks, keywords.
    `citations`: the store's `citation_status`, when known.

    The members are read once (items, timelines and timing come from that read) and so are
    their citations: a narrative page took ~15 queries (~80 ms on the demo store) before."""
    from echolens.echo.timing import citation_status, citations_by_item, timing_of
    from echolens.narratives.storage import narrative_detail

    sources = queries.source_map(con)
    members: list[dict[str, Any]] = []

    def read_members(model: str) -> list[dict[str, Any]]:
        members.extend(queries.narrative_members(con, narrative_id, model, sources))
        return members

    detail = narrative_detail(con, narrative_id, read_members=read_members)
    if detail is None:
        raise NotFound(f"no narrative {narrative_id!r}",
                       "pick one from /narratives (or `echolens narratives list`)")
    model = detail["model_id"]
    status = citations or citation_status(con)
    cited = (citations_by_item(con, [m["id"] for m in members],
                               {k: v[1] for k, v in sources.items()})
             if status == "ok" else {})
    timing = timing_of(detail["id"], model,
                       [(m["id"], m["ecosystem"], m["source"], m["published_at"],
                         m["title"] if m["title"] is not None else m["text"], m["undated"])
                        for m in members],
                       lambda: status, lambda: cited)
    items = sorted(members, key=lambda m: (m["ecosystem"], m["lang"], m["published_at"], m["id"]))
    items = items[:item_limit] if item_limit is not None else items
    for row in items:
        del row["undated"]
        row["citations"] = [c[1] for c in cited.get(row["id"], ())]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in items:
        groups[(row["ecosystem"], row["lang"])].append(row)
    detail["timing"] = timing.to_dict()
    detail["items"] = items
    detail["item_groups"] = [{"ecosystem": e, "lang": lang, "items": rows}
                             for (e, lang), rows in groups.items()]
    detail["languages"] = sorted({r["lang"] for r in items})
    detail["items_shown"] = len(items)
    detail["citations_available"] = status == "ok"
    return detail


def _citations_of(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, list[str]]:
    """The names each of `ids` cites, in their order."""
    from echolens.echo.timing import citations_by_item

    if not ids or not queries.table_exists(con, "citations"):
        return {}
    return {item: [c[1] for c in rows] for item, rows in citations_by_item(con, ids).items()}


def narrative_chart(detail: dict[str, Any], chart_id: str = "timeline", *,
                    links: bool = True) -> str:
    """The narrative timeline stacked by ecosystem with first-seen markers; bars and markers
    link to their items unless `links` is False (reports)."""
    points_raw = detail["timeline"]
    unit = "day"
    if points_raw:
        first = date.fromisoformat(points_raw[0]["period"])
        last = date.fromisoformat(points_raw[-1]["period"])
        unit = queries.unit_for_span(first, last)
    values: dict[tuple[date, str], float] = defaultdict(float)
    for p in points_raw:
        values[(period_start(date.fromisoformat(p["period"]), unit), p["ecosystem"])] += \
            p["items"]
    points = [Point(d, s, v) for (d, s), v in sorted(values.items())]
    markers = []
    for f in detail["timing"]["first_seen"]:
        at = datetime.fromisoformat(f["published_at"])
        markers.append(Marker(at.date(), f["ecosystem"],
                              f"first seen in {f['ecosystem']}: {at:%Y-%m-%d %H:%M} UTC, "
                              f"{f['source_id']}: {f['title'][:80]}",
                              href=f"/items/{f['item_id']}" if links else None))

    def link(day: date, series: str) -> str:
        from urllib.parse import urlencode

        return "/search?" + urlencode({"narrative": detail["id"], "ecosystem": series,
                                       "since": day.isoformat(),
                                       "until": _period_end(day, unit).isoformat()})

    return stacked_bars(points, unit=unit, chart_id=chart_id, markers=markers,
                        link=link if links else None,
                        title=f"Timeline of narrative {detail['id']}: items per {unit} by "
                              "ecosystem, with first-seen markers",
                        description=_describe(points, unit)
                        + (" Dashed lines mark where each ecosystem first carried it."
                           if markers else ""))


def timeline_rows(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"period": p["period"], "ecosystem": p["ecosystem"], "items": p["items"]}
            for p in detail["timeline"]]


# -- ecosystems ----------------------------------------------------------------------------
MATRIX_PERMUTATIONS = 500


def ecosystems_matrix(con: duckdb.DuckDBPyConnection, *, names: list[str] | None = None,
                      since: date | None = None, until: date | None = None) -> dict[str, Any]:
    """The pairwise convergence matrix of the echo stage (share echoed, median lag, citation
    flow) for the ecosystems with items (or `names`), over a period."""
    from echolens.echo.convergence import convergence_matrix

    known = [e["ecosystem"] for e in queries.ecosystems(con) if e["ecosystem"] != "unknown"]
    chosen = names or known
    has_narratives = first_row(con.execute(
        "SELECT count(*) FROM narratives WHERE status = 'active'").fetchall())
    if not chosen or not has_narratives or not has_narratives[0]:
        return {"ecosystems": chosen, "cells": [], "available": known,
                "citations": has_citations(con)}
    matrix = convergence_matrix(con, chosen, _utc(since), _day_after(until),
                                permutations=MATRIX_PERMUTATIONS)
    out = matrix.to_dict()
    for cell in out["cells"]:
        conv = matrix.cell(cell["from"], cell["to"])
        cell["verdict"] = conv.verdict
        cell["citing_items"] = conv.citations.b_items_citing_a
        cell["citation_status"] = conv.citations.status
        cell["b_narratives"] = conv.b_narratives
    out["available"] = known
    out["citations"] = has_citations(con)
    return out


def matrix_rows(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "narrative_ids"} for c in matrix["cells"]]


# -- sources -------------------------------------------------------------------------------
def source(con: duckdb.DuckDBPyConnection, source_id: str) -> dict[str, Any]:
    row = queries.source(con, source_id)
    if row is None:
        raise NotFound(f"no source {source_id!r}", "pick one from /sources")
    row["cites"], row["cited_by"] = [], []
    if has_citations(con):
        from echolens.echo.citation_store import citation_flow

        fresh = con.cursor()  # con.sql needs a connection without pending results
        try:
            flow = citation_flow(as_database(fresh))
        finally:
            fresh.close()
        row["cites"] = (flow.filter(flow["citing_source"] == source_id)
                        .group_by("cited_name", "cited_ecosystem", "cited_source_id")
                        .agg(pl.col("items").sum())
                        .sort("items", descending=True).head(30).to_dicts())
        row["cited_by"] = (flow.filter(flow["cited_source_id"] == source_id)
                           .group_by("citing_source", "citing_ecosystem")
                           .agg(pl.col("items").sum())
                           .sort("items", descending=True).head(30).to_dicts())
    return row
