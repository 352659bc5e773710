"""SQL for narratives on `DuckDBStore.con` (tables in migration 002_narratives.sql)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from echolens.narratives.grouping import Event


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MemberRow:
    item_id: str
    narrative_id: str
    text: str
    lang: str
    published_at: datetime | None
    content_hash: str
    ecosystem: str


_ITEM_COLS = (
    "i.id, i.text, i.lang, i.published_at, i.content_hash, coalesce(s.ecosystem, 'unknown')"
)


def grouped_members(con: duckdb.DuckDBPyConnection, model_id: str) -> list[MemberRow]:
    """Items already in a narrative, in assignment order (to replay the state)."""
    rows = con.execute(
        f"SELECT m.narrative_id, {_ITEM_COLS} FROM narrative_members m "
        "JOIN items i ON i.id = m.item_id LEFT JOIN sources s ON s.id = i.source_id "
        "WHERE m.model_id = ? AND m.narrative_id IS NOT NULL ORDER BY m.position",
        [model_id],
    ).fetchall()
    return [MemberRow(r[1], r[0], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def ungrouped_items(con: duckdb.DuckDBPyConnection, model_id: str) -> list[MemberRow]:
    """Items with no outcome yet for this model, in (published_at, id) order."""
    rows = con.execute(
        f"SELECT {_ITEM_COLS} FROM items i LEFT JOIN sources s ON s.id = i.source_id "
        "WHERE i.id NOT IN (SELECT item_id FROM narrative_members WHERE model_id = ?) "
        "ORDER BY i.published_at, i.id",
        [model_id],
    ).fetchall()
    return [MemberRow(r[0], "", r[1], r[2], r[3], r[4], r[5]) for r in rows]


def hashes_with_vectors(con: duckdb.DuckDBPyConnection, model_id: str,
                        hashes: Sequence[str]) -> set[str]:
    """Which of `hashes` have a vector for `model_id` (without loading the vectors)."""
    rows = con.execute(
        "SELECT content_hash FROM embeddings WHERE model_id = ? "
        "AND content_hash IN (SELECT unnest(?))", [model_id, list(hashes)]).fetchall()
    return {r[0] for r in rows}


def vector_dim(con: duckdb.DuckDBPyConnection, model_id: str) -> int:
    rows = con.execute("SELECT len(vector) FROM embeddings WHERE model_id = ? LIMIT 1",
                       [model_id]).fetchall()
    return int(rows[0][0]) if rows else 0


def next_position(con: duckdb.DuckDBPyConnection, model_id: str) -> int:
    row = con.execute(
        "SELECT coalesce(max(position) + 1, 0) FROM narrative_members WHERE model_id = ?",
        [model_id],
    ).fetchone()
    return int(row[0]) if row else 0


def write_outcomes(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    outcomes: Sequence[tuple[str, str | None, str, str | None, float | None]],
    events: Sequence[Event],
    summaries: Sequence[dict[str, Any]],
) -> None:
    """One transaction: new member rows (item, narrative, outcome, reason, score), the
    events, the merges (members relinked, absorbed narratives marked) and the summaries."""
    stamp = now()
    start = next_position(con, model_id)
    con.execute("BEGIN")
    try:
        if outcomes:
            con.executemany(
                "INSERT INTO narrative_members VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(model_id, item, nid, start + k, outcome, reason, score, stamp)
                 for k, (item, nid, outcome, reason, score) in enumerate(outcomes)],
            )
        for event in events:
            if event.kind == "created":
                con.execute(
                    "INSERT INTO narrative_history VALUES (?, ?, ?, 'created', NULL, ?, NULL)",
                    [model_id, event.narrative_id, stamp, event.item_id],
                )
            elif event.kind == "merged":
                con.execute(
                    "UPDATE narrative_members SET narrative_id = ? "
                    "WHERE model_id = ? AND narrative_id = ?",
                    [event.narrative_id, model_id, event.other_id],
                )
                con.execute(  # absorbed in the run that opened it: still give it a row
                    "INSERT OR IGNORE INTO narratives VALUES "
                    "(?, ?, 'merged', ?, NULL, NULL, NULL, 0, NULL, NULL, ?, ?)",
                    [event.other_id, model_id, event.narrative_id, stamp, stamp],
                )
                con.execute(
                    "UPDATE narratives SET status = 'merged', merged_into = ?, updated_at = ? "
                    "WHERE model_id = ? AND id = ?",
                    [event.narrative_id, stamp, model_id, event.other_id],
                )
                _both_sides(con, model_id, event, stamp, "merged_from", "merged_into")
            elif event.kind == "split":
                con.executemany(
                    "UPDATE narrative_members SET narrative_id = ? "
                    "WHERE model_id = ? AND item_id = ?",
                    [(event.other_id, model_id, item) for item in event.items],
                )
                _both_sides(con, model_id, event, stamp, "split_into", "split_from")
        for s in summaries:
            con.execute(
                "INSERT OR REPLACE INTO narratives VALUES (?, ?, 'active', NULL, ?, ?, ?, ?, ?, ?,"
                " coalesce((SELECT created_at FROM narratives WHERE model_id = ? AND id = ?), ?),"
                " ?)",
                [s["id"], model_id, s["label"], json.dumps(s["keywords"], ensure_ascii=False),
                 json.dumps(s["representatives"]), s["size"], s["first_seen"], s["last_seen"],
                 model_id, s["id"], stamp, stamp],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _both_sides(con: duckdb.DuckDBPyConnection, model_id: str, event: Event,
                stamp: datetime, kept_side: str, other_side: str) -> None:
    """A merge or split in the history of both narratives it touched."""
    con.executemany(
        "INSERT INTO narrative_history VALUES (?, ?, ?, ?, ?, NULL, ?)",
        [(model_id, event.narrative_id, stamp, kept_side, event.other_id, event.score),
         (model_id, event.other_id, stamp, other_side, event.narrative_id, event.score)],
    )


def list_narratives(
    con: duckdb.DuckDBPyConnection,
    model_id: str | None = None,
    ecosystem: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Active narratives, largest first, with their size per ecosystem."""
    where: list[str] = ["n.status = 'active'"]
    params: list[Any] = []
    if model_id:
        where.append("n.model_id = ?")
        params.append(model_id)
    if since:
        where.append("n.last_seen >= ?")
        params.append(since)
    rows = con.execute(
        "SELECT n.id, n.model_id, n.label, n.size, n.first_seen, n.last_seen, n.keywords, "
        " (SELECT map_from_entries(list(struct_pack(k := e, v := c))) FROM ("
        "   SELECT coalesce(s.ecosystem, 'unknown') AS e, count(*) AS c"
        "   FROM narrative_members m JOIN items i ON i.id = m.item_id"
        "   LEFT JOIN sources s ON s.id = i.source_id"
        "   WHERE m.model_id = n.model_id AND m.narrative_id = n.id GROUP BY 1)) AS eco "
        f"FROM narratives n WHERE {' AND '.join(where)} ORDER BY n.size DESC, n.id",
        params,
    ).fetchall()
    out = []
    for r in rows:
        by_eco = {str(k): int(v) for k, v in (r[7] or {}).items()}
        if ecosystem and ecosystem not in by_eco:
            continue
        out.append({
            "id": r[0], "model_id": r[1], "label": r[2], "size": int(r[3]),
            "first_seen": r[4], "last_seen": r[5],
            "keywords": json.loads(r[6]) if r[6] else {}, "by_ecosystem": by_eco,
        })
    return out


def narrative_detail(
    con: duckdb.DuckDBPyConnection, narrative_id: str, model_id: str | None = None
) -> dict[str, Any] | None:
    """One narrative (active or merged) with its representatives, timeline and history."""
    params: list[Any] = [narrative_id]
    sql = ("SELECT id, model_id, status, merged_into, label, keywords, representatives, size,"
           " first_seen, last_seen, created_at FROM narratives WHERE id = ?")
    if model_id:
        sql += " AND model_id = ?"
        params.append(model_id)
    row = con.execute(sql + " ORDER BY updated_at DESC LIMIT 1", params).fetchone()
    if row is None:
        return None
    model = row[1]
    reps = json.loads(row[6]) if row[6] else {}
    texts = dict(con.execute(
        "SELECT id, text FROM items WHERE id IN (SELECT unnest(?))", [list(reps.values())]
    ).fetchall()) if reps else {}
    history = [
        {"at": h[0], "event": h[1], "other_id": h[2], "item_id": h[3], "score": h[4]}
        for h in con.execute(
            "SELECT happened_at, event, other_id, item_id, score FROM narrative_history "
            "WHERE model_id = ? AND narrative_id = ? ORDER BY happened_at, event", [model, row[0]]
        ).fetchall()
    ]
    return {
        "id": row[0], "model_id": model, "status": row[2], "merged_into": row[3],
        "label": row[4], "keywords": json.loads(row[5]) if row[5] else {},
        "representatives": {k: {"item_id": v, "text": texts.get(v)} for k, v in reps.items()},
        "size": int(row[7]), "first_seen": row[8], "last_seen": row[9], "created_at": row[10],
        "timeline": timeline(con, row[0], model, "day"),
        "timeline_weekly": timeline(con, row[0], model, "week"),
        "history": history,
        "factcheck_matches": factcheck_matches(con, row[0], model),
    }


def factcheck_matches(con: duckdb.DuckDBPyConnection, narrative_id: str,
                      model_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """Fact-checks that member items matched above threshold, most matching items first."""
    rows = con.execute(
        "SELECT m.factcheck_id, any_value(f.title), any_value(f.text), any_value(f.organization),"
        " any_value(f.url), any_value(f.verdict), count(DISTINCT m.subject_id), max(m.probability)"
        " FROM claim_matches m"
        " JOIN narrative_members nm ON nm.item_id = m.subject_id"
        "  AND nm.narrative_id = ? AND nm.model_id = ?"
        " JOIN factchecks f ON f.id = m.factcheck_id"
        " WHERE m.subject_kind = 'item' AND m.above_threshold"
        " GROUP BY m.factcheck_id ORDER BY 7 DESC, 8 DESC, 1 LIMIT ?",
        [narrative_id, model_id, limit],
    ).fetchall()
    return [
        {"factcheck_id": r[0], "title": r[1], "text": r[2], "organization": r[3], "url": r[4],
         "verdict": r[5], "items": int(r[6]), "best_probability": float(r[7])}
        for r in rows
    ]


def timeline(con: duckdb.DuckDBPyConnection, narrative_id: str, model_id: str,
             unit: str = "day") -> list[dict[str, Any]]:
    """Items per ecosystem per day or week (weeks start on Monday), oldest first."""
    if unit not in ("day", "week"):
        raise ValueError(f"unit must be day or week, not {unit!r}")
    rows = con.execute(
        f"SELECT CAST(date_trunc('{unit}', i.published_at) AS DATE) AS period,"
        " coalesce(s.ecosystem, 'unknown') AS ecosystem, count(*) AS items,"
        " min(i.published_at), max(i.published_at)"
        " FROM narrative_members m JOIN items i ON i.id = m.item_id"
        " LEFT JOIN sources s ON s.id = i.source_id"
        " WHERE m.model_id = ? AND m.narrative_id = ? GROUP BY 1, 2 ORDER BY 1, 2",
        [model_id, narrative_id],
    ).fetchall()
    return [{"period": r[0].isoformat(), "ecosystem": r[1], "items": int(r[2]),
             "first_seen": r[3], "last_seen": r[4]} for r in rows]


def outcome_counts(con: duckdb.DuckDBPyConnection, model_id: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in con.execute(
        "SELECT coalesce(reason, outcome), count(*) FROM narrative_members WHERE model_id = ?"
        " GROUP BY 1 ORDER BY 1", [model_id]).fetchall()}
