"""Explicit citations as stored data: extraction of the items not done yet, and read queries.

    import echolens
    from echolens.echo import citation_store as cs
    db = echolens.open("echolens.duckdb")
    cs.extract_pending(db)                    # only new items, or all after a rules change
    cs.citation_flow(db, ecosystem="china-state")
    cs.sole_source_items(db)                  # e.g. Global Times citing only RT
    cs.items_citing(db, "Russia Today")       # any alias of a name

Tables (store/migrations/004_citations.sql): `citations` (one row per item and cited
source: canonical name, kind, registry `source_id` and `ecosystem` when known, cue, language)
and `citation_items` (one row per processed item: extractor version, content hash, count,
sole-source flag and name, whether that sole source belongs to another ecosystem). Each batch
of items is written in one transaction, so a crash leaves either all of a batch or none of it;
an item is extracted again only when the extractor version (rules + alias table) or its text
changed.

Ecosystem of a cited name: the registry's when the name resolves to a registered source (its
name or an alias), else the alias table's (echo/aliases.yaml: a state body or official counts
for the state's ecosystem, e.g. the Russian Defense Ministry and Maria Zakharova are
russia-state), else the one of a leading country adjective ("French PM" -> west), else unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from echolens.echo.aliases import AliasTable
from echolens.echo.citations import (
    LANGS,
    Citation,
    detect_lang,
    extractor_version,
    trace_citations,
)
from echolens.echo.graphs import Edge, Node, write_graph
from echolens.errors import UsageError

if TYPE_CHECKING:
    import duckdb

    from echolens.database import Database

BATCH = 500
MAX_CHARS = 20_000  # longer texts are read up to here (citations sit near the top)
UNKNOWN_ECOSYSTEMS = frozenset({"", "unknown"})
CITATION_COLUMNS = ("item_id", "ordinal", "name", "kind", "source_id", "ecosystem", "cue",
                    "lang", "resolved", "field", "start_offset", "end_offset")
ITEM_COLUMNS = ("item_id", "extractor_version", "content_hash", "citations", "sole_source",
                "sole_name", "item_ecosystem", "sole_foreign", "extracted_at")


@dataclass(frozen=True)
class Resolution:
    """Where a cited name leads: a registry source (or None) and an ecosystem (or None)."""

    source_id: str | None
    ecosystem: str | None


class NameResolver:
    """Cited canonical names -> registry source and ecosystem (see the module doc)."""

    def __init__(self, registry: Iterable[tuple[str, str, str | None, Sequence[str] | None]],
                 table: AliasTable) -> None:
        """`registry`: (id, name, ecosystem, aliases) rows, preferred ones first."""
        self.table = table
        self._sources: dict[str, Resolution] = {}
        for source_id, name, ecosystem, aliases in registry:
            eco = None if (ecosystem or "") in UNKNOWN_ECOSYSTEMS else ecosystem
            for written in (name, *(aliases or ())):
                if not written:
                    continue
                known = table.canonical(written)
                key = (known.name if known else written).casefold()
                self._sources.setdefault(key, Resolution(source_id, eco))

    @classmethod
    def from_store(cls, con: duckdb.DuckDBPyConnection, table: AliasTable) -> NameResolver:
        rows = _run(con, "SELECT id, name, ecosystem, aliases FROM sources "
                         "ORDER BY origin <> 'curated', id")
        return cls(rows, table)

    def resolve(self, name: str) -> Resolution:
        found = self._sources.get(name.casefold())
        alias_eco = self.ecosystem_of(name)
        if found is not None:
            return Resolution(found.source_id, found.ecosystem or alias_eco)
        return Resolution(None, alias_eco)

    def ecosystem_of(self, name: str) -> str | None:
        known = self.table.canonical(name)
        if known is not None:
            return known.ecosystem
        first = name.split(" ", 1)[0]
        for source in self.table.sources():
            if source.country and source.adjective and source.adjective == first:
                return source.ecosystem
        return None


@dataclass
class CitationReport:
    """What one `extract_pending` run did."""

    extractor_version: str
    processed: int = 0
    reextracted: int = 0  # of processed: done before by another version or another text
    with_citations: int = 0
    citations: int = 0
    unresolved: int = 0
    sole_source: int = 0
    sole_foreign: int = 0
    removed: int = 0  # stored rows of items no longer in the store
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def items_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class _Pending:
    item_id: str
    title: str | None
    text: str
    lang: str | None
    content_hash: str
    source_id: str | None
    publisher: str | None
    ecosystem: str | None
    stale: bool


def _con(db: Database) -> duckdb.DuckDBPyConnection:
    return db.store.con


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Execute and fetch everything (DuckDB refuses new work while a result is open)."""
    return con.execute(sql, list(params)).fetchall()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> int:
    rows = _run(con, sql, params)
    return int(rows[0][0]) if rows else 0


def item_citations_of(item: _Pending, table: AliasTable, resolver: NameResolver
                      ) -> list[tuple[str, Citation, Resolution, str]]:
    """(field, citation, resolution, lang) of one item: title first, then text, one per name;
    never the item's own source."""
    lang = item.lang if item.lang in LANGS else None
    fields: list[tuple[str, str]] = []
    title = (item.title or "").strip()
    if title and not item.text.lstrip().startswith(title):
        fields.append(("title", title))
    fields.append(("text", item.text[:MAX_CHARS]))
    out: list[tuple[str, Citation, Resolution, str]] = []
    names: set[str] = set()
    for field_name, value in fields:
        used = lang or detect_lang(value)
        for cit in trace_citations(value, used, publisher=item.publisher,
                                   aliases=table).citations:
            res = resolver.resolve(cit.name)
            if cit.name in names or (res.source_id is not None
                                     and res.source_id == item.source_id):
                continue
            names.add(cit.name)
            out.append((field_name, cit, res, used))
    return out


def extract_pending(db: Database, *, batch_size: int = BATCH,
                    progress: Callable[[int, int], None] | None = None,
                    aliases: AliasTable | None = None) -> CitationReport:
    """Extract and store the citations of items not processed by this extractor version."""
    started = time.perf_counter()
    con = _con(db)
    table = aliases or AliasTable.load()
    version = extractor_version()
    report = CitationReport(version)
    report.removed = _remove_orphans(con)
    resolver = NameResolver.from_store(con, table)
    pending = [r[0] for r in _run(
        con, "SELECT i.id FROM items i LEFT JOIN citation_items c ON c.item_id = i.id "
        "WHERE c.item_id IS NULL OR c.extractor_version <> ? "
        "OR c.content_hash <> i.content_hash ORDER BY i.id", [version])]
    for offset in range(0, len(pending), batch_size):
        batch = _load(con, pending[offset:offset + batch_size])
        _write_batch(con, batch, table, resolver, version, report)
        if progress is not None:
            progress(min(offset + batch_size, len(pending)), len(pending))
    refresh_resolution(db, resolver)
    report.seconds = time.perf_counter() - started
    return report


def _remove_orphans(con: duckdb.DuckDBPyConnection) -> int:
    removed = _scalar(con, "SELECT count(*) FROM citation_items WHERE item_id NOT IN "
                           "(SELECT id FROM items)")
    if removed:
        _run(con, "BEGIN")
        try:
            _run(con, "DELETE FROM citations WHERE item_id NOT IN (SELECT id FROM items)")
            _run(con, "DELETE FROM citation_items WHERE item_id NOT IN (SELECT id FROM items)")
            _run(con, "COMMIT")
        except Exception:
            _run(con, "ROLLBACK")
            raise
    return removed


def _load(con: duckdb.DuckDBPyConnection, ids: list[str]) -> list[_Pending]:
    rows = _run(
        con, "SELECT i.id, i.title, i.text, i.lang, i.content_hash, i.source_id, s.name, "
        "s.ecosystem, c.item_id IS NOT NULL FROM items i "
        "LEFT JOIN sources s ON s.id = i.source_id "
        "LEFT JOIN citation_items c ON c.item_id = i.id "
        "WHERE i.id IN (SELECT unnest(?)) ORDER BY i.id", [ids])
    return [_Pending(r[0], r[1], r[2] or "", r[3], r[4], r[5], r[6],
                     None if (r[7] or "") in UNKNOWN_ECOSYSTEMS else r[7], bool(r[8]))
            for r in rows]


def _write_batch(con: duckdb.DuckDBPyConnection, batch: list[_Pending], table: AliasTable,
                 resolver: NameResolver, version: str, report: CitationReport) -> None:
    cit_rows: dict[str, list[Any]] = {c: [] for c in CITATION_COLUMNS}
    item_rows: dict[str, list[Any]] = {c: [] for c in ITEM_COLUMNS}
    now = datetime.now(UTC)
    for item in batch:
        found = item_citations_of(item, table, resolver)
        for ordinal, (field_name, cit, res, lang) in enumerate(found):
            for column, value in zip(CITATION_COLUMNS, (
                    item.item_id, ordinal, cit.name, cit.kind, res.source_id, res.ecosystem,
                    cit.cue, lang, cit.resolved, field_name, cit.start, cit.end), strict=True):
                cit_rows[column].append(value)
        sole = len(found) == 1
        sole_eco = found[0][2].ecosystem if sole else None
        foreign = bool(sole and sole_eco and item.ecosystem and sole_eco != item.ecosystem)
        values: tuple[Any, ...] = (item.item_id, version, item.content_hash, len(found), sole,
                                   found[0][1].name if sole else None, item.ecosystem, foreign,
                                   now)
        for column, cell in zip(ITEM_COLUMNS, values, strict=True):
            item_rows[column].append(cell)
        report.processed += 1
        report.reextracted += item.stale
        report.with_citations += bool(found)
        report.citations += len(found)
        report.unresolved += sum(not c.resolved for _, c, _, _ in found)
        report.sole_source += sole
        report.sole_foreign += foreign
    ids = [item.item_id for item in batch]
    cit_table = pa.table(cit_rows, schema=pa.schema([
        ("item_id", pa.string()), ("ordinal", pa.int32()), ("name", pa.string()),
        ("kind", pa.string()), ("source_id", pa.string()), ("ecosystem", pa.string()),
        ("cue", pa.string()), ("lang", pa.string()), ("resolved", pa.bool_()),
        ("field", pa.string()), ("start_offset", pa.int32()), ("end_offset", pa.int32())]))
    item_table = pa.table(item_rows, schema=pa.schema([
        ("item_id", pa.string()), ("extractor_version", pa.string()),
        ("content_hash", pa.string()), ("citations", pa.int32()), ("sole_source", pa.bool_()),
        ("sole_name", pa.string()), ("item_ecosystem", pa.string()),
        ("sole_foreign", pa.bool_()), ("extracted_at", pa.timestamp("us", tz="UTC"))]))
    _run(con, "BEGIN")
    try:
        _run(con, "DELETE FROM citations WHERE item_id IN (SELECT unnest(?))", [ids])
        _run(con, "DELETE FROM citation_items WHERE item_id IN (SELECT unnest(?))", [ids])
        con.register("_new_citations", cit_table)
        con.register("_new_citation_items", item_table)
        _run(con, f"INSERT INTO citations ({', '.join(CITATION_COLUMNS)}) "
                    f"SELECT {', '.join(CITATION_COLUMNS)} FROM _new_citations")
        _run(con, f"INSERT INTO citation_items ({', '.join(ITEM_COLUMNS)}) "
                    f"SELECT {', '.join(ITEM_COLUMNS)} FROM _new_citation_items")
        _run(con, "COMMIT")
    except Exception:
        _run(con, "ROLLBACK")
        raise
    finally:
        con.unregister("_new_citations")
        con.unregister("_new_citation_items")


def refresh_resolution(db: Database, resolver: NameResolver | None = None) -> int:
    """Re-resolve stored names against the current registry (a source added after extraction
    gets its citations linked) and recompute the items' ecosystems and sole-foreign flags.
    Returns the number of citation rows changed."""
    con = _con(db)
    resolver = resolver or NameResolver.from_store(con, AliasTable.load())
    names = [r[0] for r in _run(con, "SELECT DISTINCT name FROM citations")]
    resolved = [resolver.resolve(n) for n in names]
    mapping = pa.table({"name": names, "source_id": [r.source_id for r in resolved],
                        "ecosystem": [r.ecosystem for r in resolved]},
                       schema=pa.schema([("name", pa.string()), ("source_id", pa.string()),
                                         ("ecosystem", pa.string())]))
    con.register("_name_resolution", mapping)
    _run(con, "BEGIN")
    try:
        changed = _scalar(
            con, "SELECT count(*) FROM citations c JOIN _name_resolution m ON m.name = c.name "
            "WHERE c.source_id IS DISTINCT FROM m.source_id "
            "OR c.ecosystem IS DISTINCT FROM m.ecosystem")
        if changed:
            _run(
                con, "UPDATE citations SET source_id = m.source_id, ecosystem = m.ecosystem "
                "FROM _name_resolution m WHERE m.name = citations.name AND "
                "(citations.source_id IS DISTINCT FROM m.source_id "
                "OR citations.ecosystem IS DISTINCT FROM m.ecosystem)")
        _run(
            con, "UPDATE citation_items SET item_ecosystem = x.item_eco, sole_foreign = x.foreign "
            "FROM (SELECT ci.item_id, "
            "  CASE WHEN s.ecosystem IN ('', 'unknown') THEN NULL ELSE s.ecosystem END "
            "    AS item_eco, "
            "  coalesce(ci.sole_source AND c.ecosystem IS NOT NULL "
            "    AND s.ecosystem NOT IN ('', 'unknown') AND c.ecosystem <> s.ecosystem, false) "
            "    AS foreign "
            "  FROM citation_items ci JOIN items i ON i.id = ci.item_id "
            "  LEFT JOIN sources s ON s.id = i.source_id "
            "  LEFT JOIN citations c ON c.item_id = ci.item_id AND c.ordinal = 0) x "
            "WHERE citation_items.item_id = x.item_id AND "
            "(citation_items.item_ecosystem IS DISTINCT FROM x.item_eco "
            " OR citation_items.sole_foreign IS DISTINCT FROM x.foreign)")
        _run(con, "COMMIT")
    except Exception:
        _run(con, "ROLLBACK")
        raise
    finally:
        con.unregister("_name_resolution")
    return changed


# -- read side ------------------------------------------------------------------------------
def _day(value: str | date | datetime | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise UsageError(f"{name} {value!r} is not a date", "use YYYY-MM-DD") from exc


def _period(since: str | date | datetime | None, until: str | date | datetime | None,
            column: str = "i.published_at") -> tuple[str, list[Any]]:
    """SQL conditions for [since, until] (whole days, UTC) and their parameters."""
    parts: list[str] = []
    params: list[Any] = []
    start, end = _day(since, "--since"), _day(until, "--until")
    if start is not None:
        parts.append(f"{column} >= ?")
        params.append(datetime(start.year, start.month, start.day, tzinfo=UTC))
    if end is not None:
        parts.append(f"{column} < ?")
        params.append(datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1))
    return " AND ".join(parts), params


def _where(conditions: Sequence[str]) -> str:
    used = [c for c in conditions if c]
    return ("WHERE " + " AND ".join(used)) if used else ""


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> pl.DataFrame:
    frame: pl.DataFrame = con.sql(sql, params=list(params)).pl()
    return frame


_ITEM_ECO = "coalesce(nullif(nullif(s.ecosystem, 'unknown'), ''), 'unknown')"


def citation_flow(db: Database, *, ecosystem: str | None = None,
                  cited_ecosystem: str | None = None,
                  since: str | date | datetime | None = None,
                  until: str | date | datetime | None = None) -> pl.DataFrame:
    """Citing ecosystem and source -> cited name and ecosystem: items and sole-source items,
    most frequent first. `ecosystem` filters the citing side, `cited_ecosystem` the cited."""
    period, params = _period(since, until)
    conditions = [period]
    if ecosystem:
        conditions.append(f"{_ITEM_ECO} = ?")
        params.append(ecosystem)
    if cited_ecosystem:
        conditions.append("coalesce(c.ecosystem, 'unknown') = ?")
        params.append(cited_ecosystem)
    sql = (f"SELECT {_ITEM_ECO} AS citing_ecosystem, i.source_id AS citing_source, "
           "c.name AS cited_name, c.kind AS cited_kind, "
           "coalesce(c.ecosystem, 'unknown') AS cited_ecosystem, "
           "c.source_id AS cited_source_id, count(DISTINCT c.item_id) AS items, "
           "count(DISTINCT CASE WHEN ci.sole_source THEN c.item_id END) AS sole_items "
           "FROM citations c JOIN items i ON i.id = c.item_id "
           "JOIN citation_items ci ON ci.item_id = c.item_id "
           "LEFT JOIN sources s ON s.id = i.source_id "
           f"{_where(conditions)} GROUP BY ALL "
           "ORDER BY items DESC, citing_ecosystem, citing_source, cited_name")
    return _frame(_con(db), sql, params)


def ecosystem_flow(db: Database, *, ecosystem: str | None = None,
                   since: str | date | datetime | None = None,
                   until: str | date | datetime | None = None) -> pl.DataFrame:
    """Citing ecosystem -> cited ecosystem: the number of citations (one per item and cited
    name)."""
    flow = citation_flow(db, ecosystem=ecosystem, since=since, until=until)
    return (flow.group_by("citing_ecosystem", "cited_ecosystem")
            .agg(pl.col("items").sum().alias("citations"))
            .sort(["citations", "citing_ecosystem", "cited_ecosystem"],
                  descending=[True, False, False]))


def sole_source_summary(db: Database, *, ecosystem: str | None = None,
                        since: str | date | datetime | None = None,
                        until: str | date | datetime | None = None) -> pl.DataFrame:
    """Per citing ecosystem: items processed, with a citation, sole-source, sole-foreign."""
    period, params = _period(since, until)
    conditions = [period]
    if ecosystem:
        conditions.append(f"{_ITEM_ECO} = ?")
        params.append(ecosystem)
    sql = (f"SELECT {_ITEM_ECO} AS ecosystem, count(*) AS items, "
           "count(*) FILTER (WHERE ci.citations > 0) AS with_citations, "
           "count(*) FILTER (WHERE ci.sole_source) AS sole_source, "
           "count(*) FILTER (WHERE ci.sole_foreign) AS sole_foreign "
           "FROM citation_items ci JOIN items i ON i.id = ci.item_id "
           f"LEFT JOIN sources s ON s.id = i.source_id {_where(conditions)} "
           "GROUP BY 1 ORDER BY items DESC, ecosystem")
    return _frame(_con(db), sql, params)


_ITEM_FIELDS = (f"i.id AS item_id, i.source_id, {_ITEM_ECO} AS item_ecosystem, "
                "i.published_at, i.lang, coalesce(i.title, i.text)[:200] AS headline")


def sole_source_items(db: Database, *, foreign_only: bool = True,
                      ecosystem: str | None = None, cited: str | None = None,
                      since: str | date | datetime | None = None,
                      until: str | date | datetime | None = None) -> pl.DataFrame:
    """Items resting on one named source (by default: of another ecosystem than their own)."""
    period, params = _period(since, until)
    conditions = [period, "ci.sole_foreign" if foreign_only else "ci.sole_source"]
    if ecosystem:
        conditions.append(f"{_ITEM_ECO} = ?")
        params.append(ecosystem)
    if cited:
        conditions.append("c.name = ?")
        params.append(canonical_name(cited))
    sql = (f"SELECT {_ITEM_FIELDS}, c.name AS cited_name, "
           "coalesce(c.ecosystem, 'unknown') AS cited_ecosystem, c.cue "
           "FROM citation_items ci JOIN items i ON i.id = ci.item_id "
           "JOIN citations c ON c.item_id = ci.item_id AND c.ordinal = 0 "
           f"LEFT JOIN sources s ON s.id = i.source_id {_where(conditions)} "
           "ORDER BY i.published_at, i.id")
    return _frame(_con(db), sql, params)


def unresolved_names(db: Database) -> pl.DataFrame:
    """Cited names the alias table does not know, with counts and an example, for review."""
    sql = ("SELECT c.name, c.kind, count(DISTINCT c.item_id) AS items, "
           "list(DISTINCT c.lang ORDER BY c.lang) AS langs, min(c.item_id) AS example_item, "
           "arg_min(c.cue, c.item_id) AS example_cue "
           "FROM citations c WHERE NOT c.resolved GROUP BY c.name, c.kind "
           "ORDER BY items DESC, c.name")
    return _frame(_con(db), sql, [])


def item_citations(db: Database, item_id: str) -> pl.DataFrame:
    """The stored citations of one item, in order."""
    sql = ("SELECT item_id, ordinal, name, kind, source_id, ecosystem, cue, lang, resolved, "
           "field, start_offset, end_offset FROM citations WHERE item_id = ? ORDER BY ordinal")
    return _frame(_con(db), sql, [item_id])


def canonical_name(name: str, table: AliasTable | None = None) -> str:
    """The canonical name of any alias ("Russia Today", "今日俄罗斯" -> "RT"), else as given."""
    known = (table or AliasTable.load()).canonical(name.strip())
    return known.name if known else name.strip()


def items_citing(db: Database, name: str, *, ecosystem: str | None = None,
                 since: str | date | datetime | None = None,
                 until: str | date | datetime | None = None) -> pl.DataFrame:
    """Items citing `name` (any alias of it, or the name as stored when it is unresolved)."""
    period, params = _period(since, until)
    conditions = [period, "(c.name = ? OR lower(c.name) = lower(?))"]
    params.extend([canonical_name(name), name.strip()])
    if ecosystem:
        conditions.append(f"{_ITEM_ECO} = ?")
        params.append(ecosystem)
    sql = (f"SELECT {_ITEM_FIELDS}, c.name AS cited_name, c.cue, ci.sole_source "
           "FROM citations c JOIN items i ON i.id = c.item_id "
           "JOIN citation_items ci ON ci.item_id = c.item_id "
           f"LEFT JOIN sources s ON s.id = i.source_id {_where(conditions)} "
           "ORDER BY i.published_at, i.id")
    return _frame(_con(db), sql, params)


def processed_count(db: Database) -> tuple[int, int]:
    """(items processed by the current extractor version, items in the store)."""
    row = _run(_con(db), "SELECT (SELECT count(*) FROM citation_items ci JOIN items i "
                         "ON i.id = ci.item_id AND i.content_hash = ci.content_hash "
                         "WHERE ci.extractor_version = ?), (SELECT count(*) FROM items)",
               [extractor_version()])[0]
    return int(row[0]), int(row[1])


# -- graph export ----------------------------------------------------------------------------
def citation_graph(db: Database, *, ecosystem: str | None = None,
                   since: str | date | datetime | None = None,
                   until: str | date | datetime | None = None
                   ) -> tuple[list[Node], list[Edge]]:
    """Citing sources -> cited sources (registry id, else `name:<canonical name>`), edges
    weighted by the number of items; nodes carry ecosystem, kind and whether registered."""
    flow = citation_flow(db, ecosystem=ecosystem, since=since, until=until)
    con = _con(db)
    registry = {r[0]: (r[1], r[2], r[3])
                for r in _run(con, "SELECT id, name, ecosystem, kind FROM sources")}
    nodes: dict[str, Node] = {}

    def source_node(source_id: str) -> str:
        name, eco, kind = registry.get(source_id, (source_id, "unknown", "outlet"))
        nodes.setdefault(source_id, Node(source_id, name, {
            "ecosystem": eco or "unknown", "kind": kind, "registered": True}))
        return source_id

    edges: dict[tuple[str, str], list[int]] = {}
    for row in flow.iter_rows(named=True):
        citing = source_node(row["citing_source"])
        if row["cited_source_id"]:
            cited = source_node(row["cited_source_id"])
        else:
            cited = f"name:{row['cited_name']}"
            nodes.setdefault(cited, Node(cited, row["cited_name"], {
                "ecosystem": row["cited_ecosystem"], "kind": row["cited_kind"],
                "registered": False}))
        weight = edges.setdefault((citing, cited), [0, 0])
        weight[0] += row["items"]
        weight[1] += row["sole_items"]
    edge_list = [Edge(a, b, float(w[0]), {"items": w[0], "sole_items": w[1]})
                 for (a, b), w in sorted(edges.items())]
    return sorted(nodes.values(), key=lambda n: n.id), edge_list


def export_citation_graph(db: Database, fmt: str, output: str | Path, *,
                          ecosystem: str | None = None,
                          since: str | date | datetime | None = None,
                          until: str | date | datetime | None = None) -> tuple[int, int,
                                                                               list[Path]]:
    """Write the citation graph (GraphML, GEXF, CSV or Parquet); (nodes, edges, files)."""
    nodes, edges = citation_graph(db, ecosystem=ecosystem, since=since, until=until)
    files = write_graph(nodes, edges, fmt, output, name="echolens citations")
    return len(nodes), len(edges), files
