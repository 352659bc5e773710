"""The embedded default store: one DuckDB file, one writer process."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from echolens.model import Item, Source
from echolens.store.base import FeedState, KnownItem, WriteBatch
from echolens.store.migrations import load_migrations

if TYPE_CHECKING:
    import polars as pl

ITEM_COLUMNS = (
    "id", "source_id", "url", "canonical_url", "title", "text", "lang", "published_at",
    "fetched_at", "author", "views", "likes", "shares", "comments", "content_hash",
    "near_dup_key", "duplicate_of", "status", "connector", "location", "locator", "extra",
)


# The text an item is embedded (and matched) by: its title, when the text does not already
# start with it, then the text.
EMBED_TEXT_SQL = ("CASE WHEN title IS NOT NULL AND title <> text AND NOT starts_with(text, title)"
                  " THEN title || '. ' || text ELSE text END")


def _now() -> datetime:
    return datetime.now(UTC)


class DuckDBStore:
    """`Store` on a DuckDB file (or `:memory:`)."""

    def __init__(self, path: str | Path = "echolens.duckdb", *, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(self.path, read_only=read_only)
        self.con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self.migrate()

    # -- lifecycle -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied now."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {row[0] for row in self.con.execute("SELECT name FROM schema_migrations").fetchall()}
        applied = []
        for migration in load_migrations():
            if migration.name in done:
                continue
            self.con.execute("BEGIN")
            try:
                self.con.execute(migration.sql)
                self.con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", [migration.name, _now()]
                )
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            applied.append(migration.name)
        return applied

    def applied_migrations(self) -> list[str]:
        rows = self.con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        self.con.close()

    # -- sources ---------------------------------------------------------------------------
    def upsert_sources(self, sources: Sequence[Source]) -> int:
        if not sources:
            return 0
        now = _now()
        rows = [
            (
                s.id, s.name, s.ecosystem, s.domain, s.platform, s.country, list(s.languages),
                s.state_affiliated, s.kind, s.followers, s.followers_observed_at,
                list(s.aliases), s.origin, now,
            )
            for s in sources
        ]
        self.con.execute("BEGIN")
        try:
            self.con.executemany(
                "INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return len(rows)

    def list_sources(self) -> list[Source]:
        rows = self.con.execute(
            "SELECT id, name, ecosystem, domain, platform, country, languages, state_affiliated,"
            " kind, followers, followers_observed_at, aliases, origin FROM sources ORDER BY id"
        ).fetchall()
        return [
            Source(
                id=r[0], name=r[1], ecosystem=r[2], domain=r[3], platform=r[4], country=r[5],
                languages=tuple(r[6] or ()), state_affiliated=r[7], kind=r[8], followers=r[9],
                followers_observed_at=r[10], aliases=tuple(r[11] or ()), origin=r[12],
            )
            for r in rows
        ]

    # -- deduplication look-ups ------------------------------------------------------------
    def _rows_matching(self, sql: str, values: Sequence[Any], kind: pa.DataType) -> list[Any]:
        """Run `sql`, whose `_keys` table holds `values` in column `v` (a registered Arrow
        table: binding tens of thousands of values as one list parameter is 3x slower)."""
        if not values:
            return []
        self.con.register("_keys", pa.table({"v": pa.array(list(values), kind)}))
        try:
            return self.con.execute(sql).fetchall()
        finally:
            self.con.unregister("_keys")

    def _arrow_matching(self, sql: str, values: Sequence[Any], kind: pa.DataType) -> pa.Table:
        """`_rows_matching` as an Arrow table (`values` must not be empty)."""
        self.con.register("_keys", pa.table({"v": pa.array(list(values), kind)}))
        try:
            return self._relation(sql).to_arrow_table()
        finally:
            self.con.unregister("_keys")

    def _known(self, where: str, values: Sequence[Any]) -> list[KnownItem]:
        rows = self._rows_matching(
            "SELECT id, source_id, content_hash, published_at, duplicate_of FROM items "
            f"WHERE {where} IN (SELECT v FROM _keys)",
            values, pa.string(),
        )
        return [KnownItem(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def items_by_id(self, ids: Sequence[str]) -> dict[str, KnownItem]:
        return {k.id: k for k in self._known("id", ids)}

    known_items = items_by_id

    def items_by_content(self, hashes: Sequence[str]) -> dict[str, list[KnownItem]]:
        found: dict[str, list[KnownItem]] = defaultdict(list)
        for k in self._known("content_hash", hashes):
            found[k.content_hash].append(k)
        return dict(found)

    def items_by_source_content(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        rows = self._rows_matching(
            "SELECT DISTINCT source_id, content_hash FROM items "
            "WHERE content_hash IN (SELECT v FROM _keys)",
            [k[1] for k in keys], pa.string(),
        )
        return {(r[0], r[1]) for r in rows} & set(keys)

    def items_by_source_url(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        rows = self._rows_matching(
            "SELECT DISTINCT source_id, canonical_url FROM items "
            "WHERE canonical_url IN (SELECT v FROM _keys)",
            [k[1] for k in keys], pa.string(),
        )
        return {(r[0], r[1]) for r in rows} & set(keys)

    def band_members(self, band_keys: Sequence[int]) -> dict[int, list[str]]:
        if not band_keys:
            return {}
        table = self._arrow_matching(
            "SELECT band_key, list(item_id ORDER BY item_id) AS members FROM near_dup_bands "
            "WHERE band_key IN (SELECT v FROM _keys) GROUP BY band_key",
            band_keys, pa.int64(),
        )
        return dict(zip(table.column("band_key").to_pylist(),
                        table.column("members").to_pylist(), strict=True))

    def signatures(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not item_ids:
            return {}
        table = self._arrow_matching(
            "SELECT item_id, signature FROM near_dup_signatures "
            "WHERE item_id IN (SELECT v FROM _keys)",
            item_ids, pa.string(),
        )
        if table.num_rows == 0:
            return {}
        flat = table.column("signature").combine_chunks().flatten().to_numpy()
        matrix = flat.astype(np.uint32, copy=False).reshape(table.num_rows, -1)
        return dict(zip(table.column("item_id").to_pylist(), matrix, strict=True))

    def known_rejects(self, reject_ids: Sequence[str]) -> set[str]:
        rows = self._rows_matching(
            "SELECT id FROM rejects WHERE id IN (SELECT v FROM _keys)", reject_ids, pa.string()
        )
        return {r[0] for r in rows}

    # -- the one write path of ingestion ---------------------------------------------------
    def write(self, batch: WriteBatch) -> None:
        """Commit one batch atomically: a crash leaves either all of it or none of it."""
        self.con.execute("BEGIN")
        try:
            if batch.relinks:
                final = final_roots(batch.relinks)
                moves = pa.table({"old": list(final), "new": list(final.values())})
                self.con.register("_moves", moves)
                try:
                    for column in ("duplicate_of", "id"):
                        self.con.execute(
                            "UPDATE items SET duplicate_of = m.new FROM _moves m "
                            f"WHERE items.{column} = m.old"
                        )
                finally:
                    self.con.unregister("_moves")
            if batch.items:
                self._insert("items", _items_table(batch.items), ITEM_COLUMNS)
            if batch.bands:
                keys, owners = zip(*batch.bands, strict=True)
                bands = pa.table({"band_key": pa.array(keys, pa.int64()),
                                  "item_id": pa.array(owners, pa.string())})
                self._insert("near_dup_bands", bands, ("band_key", "item_id"))
            if batch.signatures:
                flat = np.concatenate([s[1] for s in batch.signatures]).astype(np.uint32)
                width = flat.size // len(batch.signatures)
                offsets = np.arange(0, flat.size + 1, width, dtype=np.int32)
                sigs = pa.table({
                    "item_id": pa.array([s[0] for s in batch.signatures], pa.string()),
                    "signature": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)),
                })
                self._insert("near_dup_signatures", sigs, ("item_id", "signature"))
            if batch.rejects:
                from echolens.ingest.rejects import reject_id

                now = _now()
                rejects = pa.table({
                    "id": [reject_id(r) for r in batch.rejects],
                    "reason": [r.reason for r in batch.rejects],
                    "detail": [r.detail for r in batch.rejects],
                    "connector": [r.provenance.connector for r in batch.rejects],
                    "location": [r.provenance.location for r in batch.rejects],
                    "locator": [r.provenance.locator for r in batch.rejects],
                    "payload": [r.payload for r in batch.rejects],
                    "status": ["open"] * len(batch.rejects),
                    "first_seen": pa.array([now] * len(batch.rejects),
                                           pa.timestamp("us", tz="UTC")),
                })
                self._insert("rejects", rejects, rejects.column_names, or_ignore=True)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    def _insert(self, table: str, rows: pa.Table, columns: Sequence[str],
                or_ignore: bool = False) -> None:
        insert_rows(self.con, table, rows, columns, or_ignore=or_ignore)

    # -- rejects ---------------------------------------------------------------------------
    def rejects(self, reason: str | None = None, status: str = "open") -> list[dict[str, Any]]:
        sql = (
            "SELECT id, reason, detail, connector, location, locator, payload, status, first_seen"
            " FROM rejects WHERE status = ?"
        )
        params: list[Any] = [status]
        if reason:
            sql += " AND reason = ?"
            params.append(reason)
        cur = self.con.execute(sql + " ORDER BY location, first_seen, locator", params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def resolve_rejects(self, reject_ids: Sequence[str]) -> None:
        if reject_ids:
            self.con.execute(
                "UPDATE rejects SET status = 'resolved' WHERE id IN (SELECT unnest(?))",
                [list(reject_ids)],
            )

    # -- embeddings cache ------------------------------------------------------------------
    def texts_without_embedding(self, model_id: str) -> list[tuple[str, str]]:
        """(content_hash, text to embed) for each distinct content not yet embedded."""
        rows = self.con.execute(
            f"SELECT content_hash, any_value({EMBED_TEXT_SQL}) "
            "FROM items WHERE content_hash NOT IN "
            "(SELECT content_hash FROM embeddings WHERE model_id = ?) "
            "GROUP BY content_hash ORDER BY content_hash",
            [model_id],
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def put_embeddings(self, model_id: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        if not hashes:
            return
        table = pa.table(
            {
                "model_id": [model_id] * len(hashes),
                "content_hash": list(hashes),
                "vector": pa.array(list(np.asarray(vectors, np.float32)), pa.list_(pa.float32())),
            }
        )
        self.con.execute("BEGIN")
        try:
            self._insert("embeddings", table, ("model_id", "content_hash", "vector"),
                         or_ignore=True)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    def embeddings(
        self, model_id: str, hashes: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        sql = "SELECT content_hash, vector FROM embeddings WHERE model_id = ?"
        params: list[Any] = [model_id]
        if hashes is not None:
            sql += " AND content_hash IN (SELECT unnest(?))"
            params.append(list(hashes))
        table = self._relation(sql, params).to_arrow_table()
        if table.num_rows == 0:
            return {}
        flat = table.column("vector").combine_chunks().flatten().to_numpy()
        matrix = flat.reshape(table.num_rows, -1).astype(np.float32, copy=False)
        keys = table.column("content_hash").to_pylist()
        return {k: matrix[i] for i, k in enumerate(keys)}

    def count_embeddings(self, model_id: str) -> int:
        row = self.con.execute(
            "SELECT count(*) FROM embeddings WHERE model_id = ?", [model_id]
        ).fetchone()
        return int(row[0]) if row else 0

    # -- feeds -----------------------------------------------------------------------------
    def feed_state(self, location: str) -> FeedState:
        row = self.con.execute(
            "SELECT etag, last_modified FROM feed_state WHERE location = ?", [location]
        ).fetchone()
        return FeedState(row[0], row[1]) if row else FeedState()

    def set_feed_state(self, location: str, state: FeedState) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO feed_state VALUES (?, ?, ?, ?)",
            [location, state.etag, state.last_modified, _now()],
        )

    # -- read side -------------------------------------------------------------------------
    def items_frame(self) -> pl.DataFrame:
        return self._frame(
            "SELECT i.id, i.source_id AS source, coalesce(s.ecosystem, 'unknown') AS ecosystem,"
            " i.lang, i.published_at, i.url, i.canonical_url, i.title, i.text, i.duplicate_of,"
            " i.author, i.views, i.likes, i.shares, i.comments, i.content_hash, i.status,"
            " i.connector, i.location, i.locator"
            " FROM items i LEFT JOIN sources s ON s.id = i.source_id"
            " ORDER BY i.published_at, i.id"
        )

    def sources_frame(self) -> pl.DataFrame:
        return self._frame(
            "SELECT s.*, (SELECT count(*) FROM items i WHERE i.source_id = s.id) AS items"
            " FROM sources s ORDER BY s.id"
        )

    def rejects_frame(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM rejects ORDER BY location, locator")

    def _frame(self, sql: str) -> pl.DataFrame:
        frame: pl.DataFrame = self._relation(sql).pl()
        return frame

    def _relation(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyRelation:
        """`con.sql` for reading whole results as Arrow or polars. A relation refuses to run
        while a result of an earlier execute is unread (after a `fetchone`): an execute
        closes it first (Arrow from an execute result copies the rows)."""
        self.con.execute("SELECT 1").fetchall()
        return self.con.sql(sql) if params is None else self.con.sql(sql, params=params)

    def stats(self) -> dict[str, Any]:
        def pairs(sql: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in self.con.execute(sql).fetchall()}

        scalar = self.con.execute(
            "SELECT count(*), count(duplicate_of), min(published_at), max(published_at)"
            " FROM items"
        ).fetchone()
        assert scalar is not None
        joined = "FROM items i LEFT JOIN sources s ON s.id = i.source_id"
        rejected = int(_one(self.con, "SELECT count(*) FROM rejects WHERE status = 'open'"))
        return {
            "items": int(scalar[0]),
            "near_duplicates": int(scalar[1]),
            "distinct_items": int(scalar[0]) - int(scalar[1]),
            "first_published": scalar[2].isoformat() if scalar[2] else None,
            "last_published": scalar[3].isoformat() if scalar[3] else None,
            "sources": int(_one(self.con, "SELECT count(*) FROM sources")),
            "by_language": pairs(
                "SELECT lang, count(*) FROM items GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "by_ecosystem": pairs(
                f"SELECT coalesce(s.ecosystem, 'unknown'), count(*) {joined}"
                " GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "by_source": pairs(
                "SELECT source_id, count(*) FROM items GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "by_month": pairs(
                "SELECT strftime(published_at, '%Y-%m'), count(*) FROM items GROUP BY 1 ORDER BY 1"
            ),
            "by_connector": pairs(
                "SELECT connector, count(*) FROM items GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "rejected": rejected,
            "by_outcome": {
                "new": int(scalar[0]) - int(scalar[1]),
                "new-near-duplicate": int(scalar[1]),
                "rejected": rejected,
            },
            "rejected_by_reason": pairs(
                "SELECT reason, count(*) FROM rejects WHERE status = 'open'"
                " GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "embeddings": pairs(
                "SELECT model_id, count(*) FROM embeddings GROUP BY 1 ORDER BY 1"
            ),
        }

    def reset_data(self) -> None:
        """Empty sources, items and rejects; keep the embeddings cache (keyed by content)."""
        self.con.execute("BEGIN")
        for table in ("items", "near_dup_bands", "near_dup_signatures", "rejects", "sources",
                      "feed_state"):
            self.con.execute(f"DELETE FROM {table}")
        self.con.execute("COMMIT")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table,
                columns: Sequence[str] | None = None, *, or_ignore: bool = False) -> None:
    """Bulk insert an Arrow table (inside the caller's transaction), in its row order (with
    `or_ignore`, DuckDB appends in any order). `columns` default to the table's."""
    names = ", ".join(rows.column_names if columns is None else columns)
    con.register("_incoming", rows)
    try:
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        con.execute(f"{verb} INTO {table} ({names}) SELECT {names} FROM _incoming")
    finally:
        con.unregister("_incoming")


def final_roots(relinks: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Collapse ordered re-links (A->B, then B->C) to where each old root ends (A->C, B->C)."""
    moved: dict[str, str] = {}
    for old, new in relinks:
        moved[old] = new
    final: dict[str, str] = {}
    for old in moved:
        target, seen = moved[old], {old}
        while target in moved and target not in seen:
            seen.add(target)
            target = moved[target]
        final[old] = target
    return final


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


# One encoder for the `extra` column: `json.dumps` with options builds a new one per call.
_EXTRA_JSON = json.JSONEncoder(ensure_ascii=False, default=str)
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_ITEM_TYPES: dict[str, pa.DataType] = {
    "published_at": _TIMESTAMP, "fetched_at": _TIMESTAMP,
    "views": pa.int64(), "likes": pa.int64(), "shares": pa.int64(), "comments": pa.int64(),
}


def _items_table(items: Sequence[Item]) -> pa.Table:
    """The rows of `items` as an Arrow table with the columns of ITEM_COLUMNS (built column by
    column: one pass per column is several times faster than one `getattr` per cell)."""
    encode = _EXTRA_JSON.encode
    columns: dict[str, pa.Array] = {}
    for name in ITEM_COLUMNS:
        if name == "extra":
            values: list[Any] = [encode(it.extra) if it.extra else None for it in items]
        else:
            values = list(map(attrgetter(name), items))
        columns[name] = pa.array(values, _ITEM_TYPES.get(name, pa.string()))
    return pa.table(columns)
