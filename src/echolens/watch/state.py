"""The watcher's tables (migration 005_watch): poll schedule, re-check schedule,
observations, evidence rows. Plain functions over the store's DuckDB connection; batches
go in as Arrow tables (one statement per batch, not per row)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from echolens.watch.evidence import Stored
from echolens.watch.observe import Observation

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
FEED_URL_COLUMNS = ("feed_url", "feed", "rss")
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ItemToCheck:
    item_id: str
    url: str
    enrolled_at: datetime
    checks: int
    status: str
    baseline_hash: str | None
    baseline_text: str | None
    last_hash: str | None


@dataclass(frozen=True)
class CheckWrite:
    """Everything one re-check (or feed presence change) writes."""

    observation: Observation
    next_check_at: datetime | None
    baseline_text: str | None  # set when this check found the first good copy
    evidence: Stored | None
    evidence_url: str | None
    # the item's status before this check, when known: an unchanged status leaves the
    # `items` row alone (no statement at all when nothing in the batch changed)
    status_before: str | None = None


@dataclass(frozen=True)
class PollWrite:
    location: str
    outcome: str
    detail: str
    next_at: datetime
    failures: int
    new_items: int
    etag: str | None
    last_modified: str | None
    validators_changed: bool


def store_feed_urls(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(feed URL, source id) of the store's sources, when the registry records feed URLs."""
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'sources'").fetchall()}
    column = next((c for c in FEED_URL_COLUMNS if c in columns), None)
    if column is None:
        return []
    rows = con.execute(
        f"SELECT {column}, id FROM sources WHERE {column} LIKE 'http%' ORDER BY id").fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def sync_sources(con: duckdb.DuckDBPyConnection, sources: Sequence[tuple[str, str]],
                 now: datetime) -> None:
    """Add the (location, kind) pairs not scheduled yet, due now."""
    if not sources:
        return
    con.execute(
        "INSERT OR IGNORE INTO watch_sources SELECT s.location, s.kind, ?, NULL, NULL, NULL, "
        "0, 0, 0 FROM (SELECT unnest(?::VARCHAR[]) AS location, unnest(?::VARCHAR[]) AS kind) s",
        [now, [s[0] for s in sources], [s[1] for s in sources]],
    )


def due_sources(con: duckdb.DuckDBPyConnection, locations: Sequence[str],
                now: datetime) -> list[tuple[str, str | None, str | None]]:
    """(location, etag, last_modified) of the sources among `locations` due now. The
    locations are kept here, not in SQL: a list parameter there becomes a hash join, whose
    dozens of freed buffers DuckDB remembers in its eviction queues, at every cycle (see
    `echolens.watch.memory`); the due rows are at most one per source anyway."""
    if not locations:
        return []
    wanted = set(locations)
    rows = con.execute(
        "SELECT w.location, f.etag, f.last_modified FROM watch_sources w "
        "LEFT JOIN feed_state f ON f.location = w.location WHERE w.next_at <= ? "
        "ORDER BY w.next_at, w.location",
        [now],
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows if r[0] in wanted]


def failures_of(con: duckdb.DuckDBPyConnection, locations: Sequence[str]) -> dict[str, int]:
    if not locations:
        return {}
    rows = con.execute("SELECT location, failures FROM watch_sources "
                       "WHERE location IN (SELECT unnest(?::VARCHAR[]))",
                       [list(locations)]).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def record_polls(con: duckdb.DuckDBPyConnection, polls: Sequence[PollWrite],
                 now: datetime) -> None:
    """Outcome and next time of each poll, and the feeds' new validators (ETag,
    Last-Modified), inside the caller's transaction."""
    if not polls:
        return
    table = pa.table({
        "location": [p.location for p in polls],
        "outcome": [p.outcome for p in polls],
        "detail": [p.detail[:2000] for p in polls],
        "next_at": pa.array([p.next_at for p in polls], _TS),
        "failures": pa.array([p.failures for p in polls], pa.int32()),
        "new_items": pa.array([p.new_items for p in polls], pa.int64()),
    })
    con.register("_polls", table)
    try:
        con.execute(
            "UPDATE watch_sources SET last_at = ?, last_outcome = p.outcome, "
            "last_detail = p.detail, next_at = p.next_at, failures = p.failures, "
            "polls = polls + 1, new_items = watch_sources.new_items + p.new_items "
            "FROM _polls p WHERE watch_sources.location = p.location", [now])
    finally:
        con.unregister("_polls")
    changed = [p for p in polls if p.validators_changed]
    if changed:
        validators = pa.table({
            "location": [p.location for p in changed],
            "etag": pa.array([p.etag for p in changed], pa.string()),
            "last_modified": pa.array([p.last_modified for p in changed], pa.string()),
        })
        con.register("_validators", validators)
        try:
            con.execute("INSERT OR REPLACE INTO feed_state SELECT location, etag, "
                        "last_modified, ? FROM _validators", [now])
        finally:
            con.unregister("_validators")


def enrol_items(con: duckdb.DuckDBPyConnection, locations: Sequence[str] | None,
                now: datetime, first_check: float) -> dict[str, int]:
    """Schedule re-checks of the items (with an http URL) of `locations` (None: every item)
    that are not scheduled yet; returns how many were added per location."""
    where = "i.url LIKE 'http%' AND i.id NOT IN (SELECT item_id FROM watch_items)"
    params: list[object] = []
    if locations is not None:
        if not locations:
            return {}
        where += " AND i.location IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(locations))
    counts = {r[0]: int(r[1]) for r in con.execute(
        f"SELECT i.location, count(*) FROM items i WHERE {where} GROUP BY 1", params).fetchall()}
    if counts:
        first = now + timedelta(seconds=first_check)
        con.execute(
            "INSERT INTO watch_items SELECT i.id, i.url, ?, ?, 0, 'present', NULL, NULL, NULL, "
            f"NULL FROM items i WHERE {where}",
            [now, first, *params],
        )
    return counts


def due_checks(con: duckdb.DuckDBPyConnection, now: datetime, limit: int) -> list[ItemToCheck]:
    rows = con.execute(
        "SELECT item_id, url, enrolled_at, checks, status, baseline_hash, baseline_text, "
        "last_hash FROM watch_items WHERE next_check_at <= ? "
        "ORDER BY next_check_at, item_id LIMIT ?",
        [now, limit],
    ).fetchall()
    return [ItemToCheck(*r) for r in rows]


def reschedule(con: duckdb.DuckDBPyConnection, moves: Sequence[tuple[str, datetime | None]]
               ) -> None:
    """Move re-checks that were not made (robots.txt said no)."""
    if moves:
        con.register("_moves", pa.table({"item_id": [m[0] for m in moves],
                                         "at": pa.array([m[1] for m in moves], _TS)}))
        try:
            con.execute("UPDATE watch_items SET next_check_at = m.at FROM _moves m "
                        "WHERE watch_items.item_id = m.item_id")
        finally:
            con.unregister("_moves")


def write_checks(con: duckdb.DuckDBPyConnection, writes: Sequence[CheckWrite], *,
                 transaction: bool = True) -> None:
    """Observations, schedule, item status and evidence rows of a batch, in one transaction
    (or in the caller's, with `transaction=False`)."""
    if not writes:
        return
    obs = [w.observation for w in writes]
    changed = [w.status_before != o.result for o, w in zip(obs, writes, strict=True)]
    table = pa.table({
        "item_id": [o.item_id for o in obs],
        "checked_at": pa.array([o.checked_at for o in obs], _TS),
        "via": [o.via for o in obs],
        "http_status": pa.array([o.http_status for o in obs], pa.int32()),
        "content_hash": pa.array([o.content_hash for o in obs], pa.string()),
        "result": [o.result for o in obs],
        "detail": [o.detail[:2000] for o in obs],
        "diff": pa.array([o.diff for o in obs], pa.string()),
        "next_check_at": pa.array([w.next_check_at for w in writes], _TS),
        "baseline_text": pa.array([w.baseline_text for w in writes], pa.string()),
        "baseline_hash": pa.array([o.content_hash if w.baseline_text is not None else None
                                   for o, w in zip(obs, writes, strict=True)], pa.string()),
        "status_changed": changed,
    })
    vias = {o.via for o in obs}
    kept = [(w, w.evidence) for w in writes if w.evidence is not None]
    evidence = pa.table({
        "item_id": pa.array([w.observation.item_id for w, _ in kept], pa.string()),
        "url": pa.array([w.evidence_url or "" for w, _ in kept], pa.string()),
        "warc_file": pa.array([e.warc_file for _, e in kept], pa.string()),
        "warc_offset": pa.array([e.offset for _, e in kept], pa.int64()),
        "warc_length": pa.array([e.length for _, e in kept], pa.int64()),
        "http_status": pa.array([w.observation.http_status or 0 for w, _ in kept], pa.int32()),
        "content_hash": pa.array([w.observation.content_hash for w, _ in kept], pa.string()),
        "captured_at": pa.array([w.observation.checked_at for w, _ in kept], _TS),
    })
    con.register("_obs", table)
    con.register("_evidence", evidence)
    if transaction:
        con.execute("BEGIN")
    try:
        con.execute("INSERT INTO observations SELECT item_id, checked_at, via, http_status, "
                    "content_hash, result, detail, diff FROM _obs")
        # each UPDATE joins a whole table: run only those with rows to change
        if "page" in vias:
            con.execute(
                "UPDATE watch_items SET checks = checks + 1, next_check_at = o.next_check_at, "
                "status = o.result, last_checked_at = o.checked_at, "
                "last_hash = coalesce(o.content_hash, watch_items.last_hash), "
                "baseline_hash = coalesce(watch_items.baseline_hash, o.baseline_hash), "
                "baseline_text = coalesce(watch_items.baseline_text, o.baseline_text) "
                "FROM _obs o WHERE watch_items.item_id = o.item_id AND o.via = 'page'")
        if "feed" in vias:
            con.execute("UPDATE watch_items SET status = o.result FROM _obs o "
                        "WHERE watch_items.item_id = o.item_id AND o.via = 'feed'")
        if any(changed):
            con.execute("UPDATE items SET status = o.result FROM _obs o WHERE o.status_changed "
                        "AND items.id = o.item_id AND items.status <> o.result")
        if kept:
            con.execute("INSERT OR IGNORE INTO evidence SELECT * FROM _evidence")
        if transaction:
            con.execute("COMMIT")
    except Exception:
        if transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_obs")
        con.unregister("_evidence")


def has_evidence(con: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> set[str]:
    if not item_ids:
        return set()
    rows = con.execute("SELECT item_id FROM evidence WHERE item_id IN "
                       "(SELECT unnest(?::VARCHAR[]))", [list(item_ids)]).fetchall()
    return {r[0] for r in rows}


def committed_warc_ends(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute("SELECT warc_file, max(warc_offset + warc_length) FROM evidence "
                       "GROUP BY 1").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def feed_items(con: duckdb.DuckDBPyConnection, present: Mapping[str, Collection[str]]
               ) -> list[tuple[str, str, str, datetime, str | None]]:
    """(feed, item id, url, published_at, latest feed observation) of the watched items
    read from these feeds (`present`: feed -> the entry URLs it lists now) that were
    published no earlier than the oldest entry still listed: the older ones cannot tell
    anything (they fell off the end of the feed), so a feed's history, however long, is
    not read back at every poll. A feed none of whose entries are stored gives nothing."""
    pairs = [(location, url) for location, urls in present.items() for url in urls]
    if not pairs:
        return []
    con.register("_present", pa.table({"location": [p[0] for p in pairs],
                                       "url": [p[1] for p in pairs]}))
    try:
        rows = con.execute(
            "WITH watched AS (SELECT i.location, i.id, i.url, i.published_at FROM items i "
            "JOIN watch_items w ON w.item_id = i.id WHERE i.connector = 'rss' "
            "AND i.location IN (SELECT DISTINCT location FROM _present)), "
            "oldest AS (SELECT w.location, min(w.published_at) AS since FROM watched w "
            "JOIN _present p ON p.location = w.location AND p.url = w.url GROUP BY 1), "
            "recent AS (SELECT w.* FROM watched w JOIN oldest o ON o.location = w.location "
            "WHERE w.published_at >= o.since), "
            "seen AS (SELECT item_id, arg_max(result, checked_at) AS result FROM observations "
            "WHERE via = 'feed' AND item_id IN (SELECT id FROM recent) GROUP BY 1) "
            "SELECT r.location, r.id, r.url, r.published_at, seen.result FROM recent r "
            "LEFT JOIN seen ON seen.item_id = r.id").fetchall()
    finally:
        con.unregister("_present")
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = con.execute("SELECT value FROM watch_meta WHERE key = ?", [key]).fetchall()
    return str(rows[0][0]) if rows else None


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO watch_meta VALUES (?, ?)", [key, value])
