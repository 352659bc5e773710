"""Who said it first: per-ecosystem first-seen, lags and the echo chain of one narrative.

Reads the store (items, sources, narrative_members; citations when that table holds rows).
Items whose date is unknown are excluded from every timing figure and counted instead: an
item is undated when `published_at` is NULL or its `extra` carries ``date_unknown`` or
``date_assumed`` (the RT sample loader stamps an assumed date on articles that have none).

    from echolens.echo.timing import narrative_timing
    timing = narrative_timing(db, "n-3f2a...")     # db: Database, DuckDBStore or connection
    timing.first_seen[0].ecosystem, timing.chain, timing.to_dict()
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from echolens.errors import NotFound, UsageError

__all__ = [
    "UNDATED_PATTERN",
    "UNDATED_SQL",
    "ChainCitation",
    "ChainStep",
    "EchoChain",
    "FirstItem",
    "ItemRef",
    "Lag",
    "NarrativeTiming",
    "citations_by_item",
    "citation_status",
    "connection",
    "default_model_id",
    "is_undated",
    "narrative_timing",
    "timing_of",
    "period_sql",
]

#: SQL predicate on alias ``i`` (items): true for items whose date is not known. A pattern
#: on the JSON text of `extra` (the store writes it with `json.dumps`), about ten times
#: faster than parsing every row's JSON, which dominated the convergence query.
UNDATED_PATTERN = r'"date_(unknown|assumed)"\s*:\s*true'
UNDATED_SQL = (
    "(i.published_at IS NULL OR coalesce(regexp_matches(CAST(i.extra AS VARCHAR),"
    f" '{UNDATED_PATTERN}'), false))"
)
_UNDATED = re.compile(UNDATED_PATTERN)


def is_undated(published_at: datetime | None, extra: str | None) -> bool:
    """`UNDATED_SQL` in Python, on the JSON text of `extra` (`CAST(extra AS VARCHAR)`): for
    a caller that reads the items anyway (the regular expression cost a query ~3 ms)."""
    return published_at is None or (extra is not None and _UNDATED.search(extra) is not None)


#: How many of the origin ecosystem's earliest items a chain shows.
ORIGIN_ITEMS = 3
#: How many connecting citations a chain step shows.
STEP_CITATIONS = 5


def connection(db: object) -> duckdb.DuckDBPyConnection:
    """The DuckDB connection behind a `Database`, a `DuckDBStore` or a connection."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        return db
    store = getattr(db, "store", db)
    con = getattr(store, "con", None)
    if isinstance(con, duckdb.DuckDBPyConnection):
        return con
    raise UsageError(f"cannot read a store from {type(db).__name__}",
                     "pass an echolens Database, a DuckDBStore or a DuckDB connection")


def default_model_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The model of the most recently updated narrative (what `narratives show` reads)."""
    rows = con.execute(
        "SELECT model_id FROM narratives ORDER BY updated_at DESC, model_id LIMIT 1"
    ).fetchall()  # fetchall, not fetchone: leave no pending result on a shared connection
    return str(rows[0][0]) if rows else None


def period_sql(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """SQL on alias ``i``: dated items with ``since <= published_at < until``."""
    clauses = [f"NOT {UNDATED_SQL}"]
    params: list[Any] = []
    if since is not None:
        clauses.append("i.published_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("i.published_at < ?")
        params.append(until)
    if since is not None and until is not None and until <= since:
        raise UsageError(f"the period {since:%Y-%m-%d}..{until:%Y-%m-%d} is empty",
                         "give --until after --since")
    return " AND ".join(clauses), params


def citation_status(con: duckdb.DuckDBPyConnection) -> str:
    """``ok`` when the citations table holds rows, else ``missing`` or ``empty``."""
    tables = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'citations'"
    ).fetchall()
    if not tables[0][0]:
        return "missing"
    rows = con.execute("SELECT count(*) FROM (SELECT 1 FROM citations LIMIT 1)").fetchall()
    return "ok" if rows[0][0] else "empty"


CITATION_NOTES = {
    "missing": "no citations table in this store: citation evidence not shown "
               "(a newer echolens stores citations while processing)",
    "empty": "the citations table is empty: citation evidence not shown "
             "(run `echolens process` to extract citations)",
}


@dataclass(frozen=True)
class ItemRef:
    """One item, enough to find and read it."""

    item_id: str
    source_id: str
    ecosystem: str
    published_at: datetime
    title: str

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "source_id": self.source_id,
                "ecosystem": self.ecosystem, "published_at": self.published_at.isoformat(),
                "title": self.title}


@dataclass(frozen=True)
class FirstItem:
    """An ecosystem's first dated item in a narrative, with its dated item count."""

    ecosystem: str
    item: ItemRef
    items: int
    tied_with: tuple[str, ...] = ()  # ecosystems whose first item has the same time

    def to_dict(self) -> dict[str, Any]:
        return {"ecosystem": self.ecosystem, **self.item.to_dict(), "items": self.items,
                "tied_with": list(self.tied_with)}


@dataclass(frozen=True)
class Lag:
    """`later` first carried the narrative `hours` after `earlier` (0 for a tie)."""

    earlier: str
    later: str
    hours: float

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.earlier, "to": self.later, "hours": round(self.hours, 3)}


@dataclass(frozen=True)
class ChainCitation:
    """A citation in a later ecosystem's item naming a source of an earlier ecosystem."""

    item_id: str
    name: str
    kind: str | None
    cue: str | None
    source_id: str | None
    ecosystem: str | None  # of the cited source

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ChainStep:
    """One later ecosystem in the chain: its first item and the evidence linking it back."""

    first: FirstItem
    lag_hours: float  # after the origin's first item
    after_previous_hours: float  # after the previous step (the origin for the first step)
    citations: tuple[ChainCitation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.first.to_dict(), "lag_hours": round(self.lag_hours, 3),
                "after_previous_hours": round(self.after_previous_hours, 3),
                "citations": [c.to_dict() for c in self.citations]}


@dataclass(frozen=True)
class EchoChain:
    """Origin ecosystem -> each later ecosystem's first item, in order of arrival."""

    origin: str
    origin_items: tuple[ItemRef, ...]
    steps: tuple[ChainStep, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"origin": self.origin,
                "origin_items": [i.to_dict() for i in self.origin_items],
                "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True)
class NarrativeTiming:
    """First-seen per ecosystem (earliest first), pairwise lags and the echo chain."""

    narrative_id: str
    model_id: str
    first_seen: tuple[FirstItem, ...]
    lags: tuple[Lag, ...]
    chain: EchoChain | None
    dated: int
    undated: int  # members excluded from timing: their date is unknown
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"narrative_id": self.narrative_id, "model_id": self.model_id,
                "first_seen": [f.to_dict() for f in self.first_seen],
                "lags": [lag.to_dict() for lag in self.lags],
                "chain": self.chain.to_dict() if self.chain else None,
                "dated_items": self.dated, "undated_items": self.undated,
                "notes": list(self.notes)}


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600.0


def _title(text: str | None, limit: int = 160) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


#: One member of a narrative for timing: (item id, ecosystem, source id, published_at,
#: title or text, undated), in the order (published_at, ecosystem, item id).
MemberRow = tuple[str, str, str, datetime, str | None, bool]
#: One citation: (item id, name, kind, cue, cited source id, cited ecosystem).
CitationRow = tuple[str, str, str | None, str | None, str | None, str | None]
#: The citations of each member, in their order in the item (`citations_by_item`).
CitationsByItem = Mapping[str, Sequence[CitationRow]]

MEMBER_ROWS_SQL = (
    "SELECT i.id, coalesce(s.ecosystem, 'unknown'), i.source_id, i.published_at,"
    f" coalesce(i.title, i.text), {UNDATED_SQL}"
    " FROM narrative_members m JOIN items i ON i.id = m.item_id"
    " LEFT JOIN sources s ON s.id = i.source_id"
    " WHERE m.model_id = ? AND m.narrative_id = ?"
    " ORDER BY i.published_at, coalesce(s.ecosystem, 'unknown'), i.id"
)


def narrative_timing(db: object, narrative_id: str, model_id: str | None = None) -> NarrativeTiming:
    """First item per ecosystem, lags and the echo chain of `narrative_id`.

    Ties (two ecosystems whose first items carry the same timestamp) are kept in the order
    (time, ecosystem name) and flagged in `tied_with`; their lag is 0."""
    con = connection(db)
    model = model_id or _model_of(con, narrative_id)
    rows = con.execute(MEMBER_ROWS_SQL, [model, narrative_id]).fetchall()
    return timing_of(narrative_id, model, rows, lambda: citation_status(con),
                     lambda: citations_by_item(con, [r[0] for r in rows]))


def timing_of(narrative_id: str, model_id: str, rows: Sequence[MemberRow],
              status: Callable[[], str], citations: Callable[[], CitationsByItem]
              ) -> NarrativeTiming:
    """`narrative_timing` from the narrative's member rows, read already: `status()` is the
    store's `citation_status` and `citations()` the members' `citations_by_item`, each
    called only when the narrative crossed ecosystems (and the second when the store has
    citations)."""
    undated = sum(1 for r in rows if r[5])
    dated = [ItemRef(r[0], r[2], r[1], r[3], _title(r[4])) for r in rows if not r[5]]
    notes: list[str] = []
    if undated:
        notes.append(f"{undated} item(s) with no known date excluded from timing")
    counts: dict[str, int] = {}
    firsts: dict[str, ItemRef] = {}
    for ref in dated:
        counts[ref.ecosystem] = counts.get(ref.ecosystem, 0) + 1
        firsts.setdefault(ref.ecosystem, ref)
    order = sorted(firsts, key=lambda e: (firsts[e].published_at, e))
    first_seen = tuple(
        FirstItem(e, firsts[e], counts[e],
                  tuple(o for o in order if o != e
                        and firsts[o].published_at == firsts[e].published_at))
        for e in order
    )
    lags = tuple(Lag(a.ecosystem, b.ecosystem, _hours(b.item.published_at, a.item.published_at))
                 for k, a in enumerate(first_seen) for b in first_seen[k + 1:])
    chain: EchoChain | None = None
    if not first_seen:
        notes.append("no dated items: no first-seen and no echo chain")
    elif len(first_seen) == 1:
        notes.append(f"carried by one ecosystem only ({first_seen[0].ecosystem}): no echo chain")
    else:
        found = status()
        if found != "ok":
            notes.append(CITATION_NOTES[found])
        chain = _chain(first_seen, dated, citations() if found == "ok" else None)
    return NarrativeTiming(narrative_id, model_id, first_seen, lags, chain, len(dated), undated,
                           tuple(notes))


def _model_of(con: duckdb.DuckDBPyConnection, narrative_id: str) -> str:
    rows = con.execute(
        "SELECT model_id FROM narratives WHERE id = ? ORDER BY updated_at DESC LIMIT 1",
        [narrative_id],
    ).fetchall()
    if not rows:
        raise NotFound(f"no narrative {narrative_id!r}",
                       "list them with `echolens narratives list`")
    return str(rows[0][0])


def _chain(first_seen: tuple[FirstItem, ...], dated: list[ItemRef],
           cited: CitationsByItem | None) -> EchoChain:
    origin = first_seen[0]
    second_at = first_seen[1].item.published_at
    origin_items = tuple(r for r in dated
                         if r.ecosystem == origin.ecosystem and r.published_at <= second_at)
    steps: list[ChainStep] = []
    previous = origin.item.published_at
    for k, first in enumerate(first_seen[1:], 1):
        earlier = {f.ecosystem for f in first_seen[:k]}
        earlier_sources = {r.source_id for r in dated if r.ecosystem in earlier}
        # the ecosystem's items in time order, each item's citations in their order
        own = [row for r in dated if r.ecosystem == first.ecosystem
               for row in (cited or {}).get(r.item_id, ())]
        cites = _connecting(own, earlier, earlier_sources) if cited is not None else ()
        steps.append(ChainStep(first, _hours(first.item.published_at, origin.item.published_at),
                               _hours(first.item.published_at, previous), cites))
        previous = first.item.published_at
    return EchoChain(origin.ecosystem, origin_items[:ORIGIN_ITEMS], tuple(steps))


def citations_by_item(con: duckdb.DuckDBPyConnection, item_ids: Sequence[str],
                      ecosystems: Mapping[str, str | None] | None = None
                      ) -> dict[str, list[CitationRow]]:
    """The citations of `item_ids`, per item in their order, each with the ecosystem of the
    cited source (that of the source when the name resolved to one, else the citation's
    own). `ecosystems`: every source's ecosystem by id, when read already (joined here in
    Python: the join in SQL cost the query ~2 ms)."""
    if ecosystems is None:
        ecosystems = {str(r[0]): r[1] for r in con.execute(
            "SELECT id, ecosystem FROM sources").fetchall()}
    rows = con.execute("SELECT item_id, ordinal, name, kind, cue, source_id, ecosystem"
                       " FROM citations WHERE item_id = ANY(?)", [list(item_ids)]).fetchall()
    out: dict[str, list[CitationRow]] = {}
    for r in sorted(rows, key=lambda r: (r[0], r[1])):
        of_source = ecosystems.get(r[5]) if r[5] is not None else None
        out.setdefault(str(r[0]), []).append(
            (r[0], r[2], r[3], r[4], r[5], of_source if of_source is not None else r[6]))
    return out


def _connecting(rows: Sequence[CitationRow], earlier: set[str], earlier_sources: set[str]
                ) -> tuple[ChainCitation, ...]:
    """The citations among `rows` naming a source of an earlier ecosystem: the cited source
    belongs to one, or is the source of an earlier item of the narrative."""
    found = [ChainCitation(*r) for r in rows
             if r[5] in earlier or (r[4] is not None and r[4] in earlier_sources)]
    return tuple(found[:STEP_CITATIONS])
