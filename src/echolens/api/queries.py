"""Read queries the dashboard, the JSON API and the reports share (SQL on a DuckDB connection
or cursor; no web types). The narrative, fact-check and echo stages own their own queries
(`narratives.storage`, `claims.storage`, `echo.*`); these add what only the dashboard needs:
activity over time, item listings, outlets with their reach."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

UNITS = ("day", "week", "month")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
          ) -> list[dict[str, Any]]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def first_row(rows: list[Any]) -> Any:
    """The first row of a `fetchall()`, or None. (`fetchone()` leaves the result open, and
    DuckDB then refuses `con.sql` on that connection.)"""
    return rows[0] if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = first_row(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
        [name]).fetchall())
    return bool(row and row[0])


def unit_for_span(first: datetime | date | None, last: datetime | date | None) -> str:
    """Bars of a readable width: days up to two months, weeks up to two years, else months."""
    if first is None or last is None:
        return "week"
    days = (last - first).days if isinstance(last, date) else 0
    if days <= 62:
        return "day"
    if days <= 730:
        return "week"
    return "month"


def _day_bounds(since: date | None, until: date | None) -> tuple[str, list[Any]]:
    """Dated items (an assumed or unknown date is left out of every time figure, as the echo
    stage does) inside [since, until]."""
    from echolens.echo.timing import UNDATED_SQL

    parts, params = [f"NOT {UNDATED_SQL}"], []
    if since:
        parts.append("i.published_at >= ?")
        params.append(datetime(since.year, since.month, since.day))
    if until:
        end = until + timedelta(days=1)
        parts.append("i.published_at < ?")
        params.append(datetime(end.year, end.month, end.day))
    return " AND ".join(parts), params


# -- overview ------------------------------------------------------------------------------
def activity(con: duckdb.DuckDBPyConnection, *, since: date | None = None,
             until: date | None = None, unit: str | None = None) -> dict[str, Any]:
    """Items that belong to a narrative, per period and ecosystem, and the narratives active
    in each (the overview's chart). `unit` is chosen from the span when None."""
    where, params = _day_bounds(since, until)
    member = ("FROM narrative_members m JOIN items i ON i.id = m.item_id "
              "LEFT JOIN sources s ON s.id = i.source_id "
              f"WHERE m.narrative_id IS NOT NULL AND {where}")
    span = first_row(con.execute(f"SELECT min(i.published_at), max(i.published_at) {member}",
                       params).fetchall())
    chosen = unit or unit_for_span(span[0] if span else None, span[1] if span else None)
    if chosen not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}")
    rows = _rows(con,
                 f"SELECT CAST(date_trunc('{chosen}', i.published_at) AS DATE) AS period, "
                 "coalesce(s.ecosystem, 'unknown') AS ecosystem, count(*) AS items, "
                 f"count(DISTINCT m.narrative_id) AS narratives {member} "
                 "GROUP BY 1, 2 ORDER BY 1, 2", params)
    return {"unit": chosen, "points": rows}


@dataclass(frozen=True)
class Crossing:
    narrative_id: str
    label: str | None
    size: int
    origin: str  # the ecosystem that carried it first
    origin_at: datetime
    reached: str  # the next ecosystem it reached
    reached_at: datetime
    ecosystems: int


def crossed_narratives(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[Crossing]:
    """Narratives carried by two or more known ecosystems, those that crossed most recently
    first: when the second ecosystem's first item appeared (dated items only)."""
    from echolens.echo.timing import UNDATED_SQL

    rows = con.execute(
        "WITH firsts AS ("
        " SELECT m.model_id, m.narrative_id, s.ecosystem AS eco, min(i.published_at) AS t_first"
        " FROM narrative_members m JOIN items i ON i.id = m.item_id"
        " JOIN sources s ON s.id = i.source_id"
        " WHERE m.narrative_id IS NOT NULL AND s.ecosystem <> 'unknown'"
        f" AND NOT {UNDATED_SQL} GROUP BY 1, 2, 3),"
        " ranked AS (SELECT *, row_number() OVER (PARTITION BY model_id, narrative_id"
        "  ORDER BY t_first, eco) AS k, count(*) OVER (PARTITION BY model_id, narrative_id) AS n"
        "  FROM firsts)"
        " SELECT n.id, n.label, n.size, a.eco, a.t_first, b.eco, b.t_first, b.n"
        " FROM ranked a JOIN ranked b ON a.model_id = b.model_id"
        "  AND a.narrative_id = b.narrative_id AND a.k = 1 AND b.k = 2"
        " JOIN narratives n ON n.model_id = b.model_id AND n.id = b.narrative_id"
        " WHERE n.status = 'active' ORDER BY b.t_first DESC, n.id LIMIT ?", [limit]).fetchall()
    return [Crossing(r[0], r[1], int(r[2]), r[3], r[4], r[5], r[6], int(r[7])) for r in rows]


def recent_matches(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[dict[str, Any]]:
    """The newest items that matched a fact-checked claim above threshold."""
    if not table_exists(con, "claim_matches"):
        return []
    return _rows(con,
                 "SELECT i.id AS item_id, i.title, i.text, i.url, i.lang, i.published_at,"
                 " i.source_id AS source, coalesce(s.ecosystem, 'unknown') AS ecosystem,"
                 " f.id AS factcheck_id, coalesce(f.title, f.text) AS claim, f.verdict,"
                 " f.organization, f.url AS factcheck_url, m.probability, m.matched_at,"
                 " (SELECT any_value(nm.narrative_id) FROM narrative_members nm"
                 "  WHERE nm.item_id = i.id) AS narrative_id"
                 " FROM claim_matches m JOIN items i ON i.id = m.subject_id"
                 " LEFT JOIN sources s ON s.id = i.source_id"
                 " JOIN factchecks f ON f.id = m.factcheck_id"
                 " WHERE m.subject_kind = 'item' AND m.above_threshold"
                 " ORDER BY m.matched_at DESC, i.published_at DESC, m.probability DESC"
                 " LIMIT ?", [limit])


# -- items ---------------------------------------------------------------------------------
_ITEM_SELECT = (
    "SELECT i.id, i.source_id AS source, s.name AS source_name,"
    " coalesce(s.ecosystem, 'unknown') AS ecosystem, i.lang, i.published_at, i.url,"
    " i.title, i.text, i.views, i.likes, i.shares, i.comments"
    " FROM items i LEFT JOIN sources s ON s.id = i.source_id"
)


def item(con: duckdb.DuckDBPyConnection, item_id: str) -> dict[str, Any] | None:
    found = _rows(con, _ITEM_SELECT.replace("i.comments", "i.comments, i.duplicate_of, "
                                            "i.status, i.connector, i.location, i.locator")
                  + " WHERE i.id = ?", [item_id])
    if not found:
        return None
    row = found[0]
    row["narratives"] = _rows(con, "SELECT m.narrative_id AS id, n.label FROM narrative_members m"
                              " JOIN narratives n ON n.id = m.narrative_id"
                              " AND n.model_id = m.model_id WHERE m.item_id = ?"
                              " ORDER BY m.model_id", [item_id])
    row["factcheck_matches"] = [m for m in _matches(con, item_id) if m["above_threshold"]]
    return row


def _matches(con: duckdb.DuckDBPyConnection, item_id: str) -> list[dict[str, Any]]:
    return _rows(con,
                 "SELECT m.factcheck_id, m.probability, m.shared_terms, m.closest_sentence,"
                 " m.above_threshold, coalesce(f.title, f.text) AS claim, f.url,"
                 " f.organization, f.verdict FROM claim_matches m"
                 " JOIN factchecks f ON f.id = m.factcheck_id"
                 " WHERE m.subject_kind = 'item' AND m.subject_id = ? ORDER BY m.rank",
                 [item_id])


def source_map(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str | None, str | None]]:
    """Every source's (name, ecosystem) by id: joined in Python by the narrative page's reads
    (a join with this small table cost a DuckDB query ~2 ms on 2 cores)."""
    return {str(r[0]): (r[1], r[2]) for r in con.execute(
        "SELECT id, name, ecosystem FROM sources").fetchall()}


def narrative_members(con: duckdb.DuckDBPyConnection, narrative_id: str, model_id: str,
                      sources: Mapping[str, tuple[str | None, str | None]] | None = None
                      ) -> list[dict[str, Any]]:
    """Every item of a narrative as `_ITEM_SELECT` gives it, with `undated`
    (`echo.timing.UNDATED_SQL`), in the order (published_at, ecosystem, id): one read
    serves the page's items, timelines and timing. The sources are joined and the dates
    checked here in Python: in SQL they made the read three times slower (6 ms). `sources`:
    the `source_map`, when read already."""
    from echolens.echo.timing import is_undated

    sources = source_map(con) if sources is None else sources
    out = []
    for r in con.execute(
            "SELECT i.id, i.source_id, i.lang, i.published_at, i.url, i.title, i.text, i.views,"
            " i.likes, i.shares, i.comments, CAST(i.extra AS VARCHAR)"
            " FROM narrative_members m JOIN items i ON i.id = m.item_id"
            " WHERE m.model_id = ? AND m.narrative_id = ?", [model_id, narrative_id]).fetchall():
        name, ecosystem = sources.get(r[1], (None, None))
        out.append({"id": r[0], "source": r[1], "source_name": name,
                    "ecosystem": "unknown" if ecosystem is None else ecosystem, "lang": r[2],
                    "published_at": r[3], "url": r[4], "title": r[5], "text": r[6],
                    "views": r[7], "likes": r[8], "shares": r[9], "comments": r[10],
                    "undated": is_undated(r[3], r[11])})
    out.sort(key=lambda m: (m["published_at"], m["ecosystem"], m["id"]))
    return out


# -- sources -------------------------------------------------------------------------------
_SOURCE_SELECT = (
    "SELECT s.id, s.name, s.ecosystem, s.domain, s.platform, s.country, s.kind,"
    " s.state_affiliated, s.followers, s.followers_observed_at,"
    " count(i.id) AS items, sum(i.views) AS views, count(i.views) AS items_with_views,"
    " min(i.published_at) AS first_published, max(i.published_at) AS last_published"
    " FROM sources s LEFT JOIN items i ON i.source_id = s.id AND i.duplicate_of IS NULL"
)


def sources_table(con: duckdb.DuckDBPyConnection, ecosystem: str | None = None,
                  with_items_only: bool = True) -> list[dict[str, Any]]:
    """Outlets with their items, reach (followers, views where known) and active period."""
    where, params = "TRUE", []
    if ecosystem:
        where, params = "s.ecosystem = ?", [ecosystem]
    having = " HAVING count(i.id) > 0" if with_items_only else ""
    return _rows(con, _SOURCE_SELECT + f" WHERE {where} GROUP BY ALL{having}"
                 " ORDER BY items DESC, s.id", params)


def source(con: duckdb.DuckDBPyConnection, source_id: str) -> dict[str, Any] | None:
    found = _rows(con, _SOURCE_SELECT + " WHERE s.id = ? GROUP BY ALL", [source_id])
    if not found:
        return None
    row = found[0]
    extra = _rows(con, "SELECT languages, aliases, origin FROM sources WHERE id = ?",
                  [source_id])[0]
    row.update(extra)
    row["by_language"] = dict(con.execute(
        "SELECT lang, count(*) FROM items WHERE source_id = ? AND duplicate_of IS NULL"
        " GROUP BY 1 ORDER BY 2 DESC", [source_id]).fetchall())
    row["narratives"] = _rows(con,
                              "SELECT n.id, n.label, count(*) AS items FROM narrative_members m"
                              " JOIN items i ON i.id = m.item_id"
                              " JOIN narratives n ON n.id = m.narrative_id"
                              " AND n.model_id = m.model_id"
                              " WHERE i.source_id = ? AND n.status = 'active'"
                              " GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 20", [source_id])
    return row


# -- ecosystems ----------------------------------------------------------------------------
def ecosystems(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Ecosystems with items, largest first."""
    return _rows(con, "SELECT coalesce(s.ecosystem, 'unknown') AS ecosystem, count(*) AS items,"
                 " count(DISTINCT i.source_id) AS sources FROM items i"
                 " LEFT JOIN sources s ON s.id = i.source_id WHERE i.duplicate_of IS NULL"
                 " GROUP BY 1 ORDER BY 2 DESC, 1")


def languages(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(r[0]) for r in con.execute(
        "SELECT lang FROM items GROUP BY 1 ORDER BY count(*) DESC, 1").fetchall()]


def narratives_carried_by(con: duckdb.DuckDBPyConnection, ecosystems_: Sequence[str], *,
                          since: date | None = None, until: date | None = None,
                          first: str | None = None) -> list[dict[str, Any]]:
    """Active narratives with items from every ecosystem in `ecosystems_` in the period;
    with `first`, only those that ecosystem carried before the others."""
    from echolens.narratives.storage import list_narratives

    where, params = _day_bounds(since, until)
    firsts: dict[str, dict[str, datetime]] = {}
    for nid, eco, at in con.execute(
        "SELECT m.narrative_id, coalesce(s.ecosystem, 'unknown'), min(i.published_at)"
        " FROM narrative_members m JOIN items i ON i.id = m.item_id"
        f" LEFT JOIN sources s ON s.id = i.source_id WHERE m.narrative_id IS NOT NULL"
        f" AND {where} GROUP BY 1, 2", params).fetchall():
        firsts.setdefault(nid, {})[eco] = at
    out = []
    for narrative in list_narratives(con):
        seen = firsts.get(narrative["id"], {})
        if not all(e in seen for e in ecosystems_):
            continue
        if first and any(seen[e] <= seen[first] for e in ecosystems_ if e != first):
            continue
        narrative["first_seen_by_ecosystem"] = {e: seen[e] for e in ecosystems_}
        out.append(narrative)
    return out


# -- fact-checks and credits ---------------------------------------------------------------
def factchecks_table(con: duckdb.DuckDBPyConnection, limit: int = 100, offset: int = 0
                     ) -> list[dict[str, Any]]:
    return _rows(con, "SELECT f.id, coalesce(f.title, f.text) AS claim, f.lang, f.verdict,"
                 " f.organization, f.url, f.published_at,"
                 " (SELECT count(DISTINCT m.subject_id) FROM claim_matches m"
                 "  WHERE m.factcheck_id = f.id AND m.subject_kind = 'item'"
                 "  AND m.above_threshold) AS matched_items"
                 " FROM factchecks f WHERE f.duplicate_of IS NULL"
                 " ORDER BY matched_items DESC, f.id LIMIT ? OFFSET ?", [limit, offset])


def data_credits(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Credits for the data sets and fact-checkers whose records the store holds."""
    from echolens.ingest.datasets import DATASETS

    connectors = {str(r[0]) for r in con.execute(
        "SELECT DISTINCT connector FROM items").fetchall()}
    credits = [spec.credit for name, spec in DATASETS.items() if name in connectors]
    other = sorted(c for c in connectors if c not in DATASETS)
    if other:
        credits.append("items imported by the analyst: " + ", ".join(other))
    orgs = [str(r[0]) for r in con.execute(
        "SELECT organization FROM factchecks WHERE organization IS NOT NULL"
        " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 20").fetchall()]
    if orgs:
        credits.append("fact-checks by " + ", ".join(orgs))
    if any(r[0] == "domain-list" for r in con.execute(
            "SELECT DISTINCT origin FROM sources").fetchall()):
        credits.append('"Across the firewall" domain lists (Hanley, Lu & Pan, PNAS 2025)')
    return credits
