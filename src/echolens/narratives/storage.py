"""SQL for narratives on `DuckDBStore.con` (tables in migration 002_narratives.sql)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from echolens.narratives.grouping import Event
from echolens.store.duckdb_store import final_roots, insert_rows


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
    events, the merges (members relinked, absorbed narratives marked) and the summaries.

    Set-based: each table is written with a few statements over Arrow tables, whatever the
    number of rows (40k new items made ~100k single-row statements, 250 s of the 310 s that
    `process` spent on narratives). Consecutive merges are applied at once, each absorbed
    narrative's members going to the end of its chain of merges, as the statements one event
    at a time left them; consecutive splits likewise (an item moved twice ends where the
    last split put it)."""
    stamp = now()
    start = next_position(con, model_id)
    con.execute("BEGIN")
    try:
        if outcomes:
            insert_rows(con, "narrative_members", pa.table({
                "model_id": [model_id] * len(outcomes),
                "item_id": [o[0] for o in outcomes],
                "narrative_id": pa.array([o[1] for o in outcomes], pa.string()),
                "position": pa.array(range(start, start + len(outcomes)), pa.int64()),
                "outcome": [o[2] for o in outcomes],
                "reason": pa.array([o[3] for o in outcomes], pa.string()),
                "score": pa.array([o[4] for o in outcomes], pa.float64()),
                "assigned_at": pa.array([stamp] * len(outcomes), pa.timestamp("us", "UTC")),
            }))
        for kind, run in itertools.groupby(events, key=lambda e: e.kind):
            if kind == "merged":
                _write_merges(con, model_id, list(run), stamp)
            elif kind == "split":
                _write_splits(con, model_id, list(run))
        history = [row for event in events for row in _history_rows(model_id, event, stamp)]
        if history:
            insert_rows(con, "narrative_history", pa.table({
                name: pa.array([h[k] for h in history], kind_)
                for k, (name, kind_) in enumerate(_HISTORY_COLUMNS)}))
        if summaries:
            _write_summaries(con, model_id, summaries, stamp)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


_HISTORY_COLUMNS = (("model_id", pa.string()), ("narrative_id", pa.string()),
                    ("happened_at", pa.timestamp("us", "UTC")), ("event", pa.string()),
                    ("other_id", pa.string()), ("item_id", pa.string()),
                    ("score", pa.float64()))


def _history_rows(model_id: str, event: Event, stamp: datetime) -> list[tuple[Any, ...]]:
    """The history rows of one event: a creation, or a merge or split on both sides."""
    if event.kind == "created":
        return [(model_id, event.narrative_id, stamp, "created", None, event.item_id, None)]
    kept, other = (("merged_from", "merged_into") if event.kind == "merged"
                   else ("split_into", "split_from"))
    return [(model_id, event.narrative_id, stamp, kept, event.other_id, None, event.score),
            (model_id, event.other_id, stamp, other, event.narrative_id, None, event.score)]


def _write_merges(con: duckdb.DuckDBPyConnection, model_id: str, merges: list[Event],
                  stamp: datetime) -> None:
    """Consecutive merges: members of each absorbed narrative to the end of its chain;
    each absorbed narrative marked `merged` into the one that absorbed it."""
    into = {str(e.other_id): e.narrative_id for e in merges}
    root = final_roots(list(into.items()))
    absorbed = list(into)
    table = pa.table({"seq": range(len(absorbed)), "other": absorbed,
                      "into_": [into[a] for a in absorbed], "root": [root[a] for a in absorbed]})
    con.register("echolens_merges", table)
    try:
        con.execute("UPDATE narrative_members SET narrative_id = m.root FROM echolens_merges m "
                    "WHERE narrative_members.model_id = ? "
                    "AND narrative_members.narrative_id = m.other", [model_id])
        con.execute(  # absorbed in the run that opened them: still give them a row (an
            # anti-join in order, not INSERT OR IGNORE, which appends in any order)
            "INSERT INTO narratives SELECT m.other, ?, 'merged', m.into_, NULL, NULL, NULL, "
            "0, NULL, NULL, ?, ? FROM echolens_merges m WHERE NOT EXISTS (SELECT 1 FROM "
            "narratives n WHERE n.model_id = ? AND n.id = m.other) ORDER BY m.seq",
            [model_id, stamp, stamp, model_id])
        con.execute("UPDATE narratives SET status = 'merged', merged_into = m.into_, "
                    "updated_at = ? FROM echolens_merges m "
                    "WHERE narratives.model_id = ? AND narratives.id = m.other",
                    [stamp, model_id])
    finally:
        con.unregister("echolens_merges")


def _write_splits(con: duckdb.DuckDBPyConnection, model_id: str, splits: list[Event]) -> None:
    """Consecutive splits: each moved item to the narrative the last of them opened."""
    moved = {item: str(e.other_id) for e in splits for item in e.items}
    if not moved:
        return
    con.register("echolens_moves", pa.table({"item": list(moved), "nid": list(moved.values())}))
    try:
        con.execute("UPDATE narrative_members SET narrative_id = m.nid FROM echolens_moves m "
                    "WHERE narrative_members.model_id = ? AND narrative_members.item_id = m.item",
                    [model_id])
    finally:
        con.unregister("echolens_moves")


def _write_summaries(con: duckdb.DuckDBPyConnection, model_id: str,
                     summaries: Sequence[dict[str, Any]], stamp: datetime) -> None:
    """The changed narratives, active, keeping the creation time a narrative already had."""
    table = pa.table({
        "seq": range(len(summaries)),
        "id": [s["id"] for s in summaries],
        "label": pa.array([s["label"] for s in summaries], pa.string()),
        "keywords": [json.dumps(s["keywords"], ensure_ascii=False) for s in summaries],
        "representatives": [json.dumps(s["representatives"]) for s in summaries],
        "size": pa.array([s["size"] for s in summaries], pa.int64()),
        "first_seen": pa.array([s["first_seen"] for s in summaries], pa.timestamp("us", "UTC")),
        "last_seen": pa.array([s["last_seen"] for s in summaries], pa.timestamp("us", "UTC")),
    })
    con.register("echolens_summaries", table)
    try:
        # the narratives known: updated in place; the new ones appended in order (INSERT OR
        # REPLACE appends in any order)
        con.execute(
            "UPDATE narratives SET status = 'active', merged_into = NULL, label = s.label, "
            "keywords = s.keywords::JSON, representatives = s.representatives::JSON, "
            "size = s.size, first_seen = s.first_seen, last_seen = s.last_seen, "
            "updated_at = ? FROM echolens_summaries s "
            "WHERE narratives.model_id = ? AND narratives.id = s.id", [stamp, model_id])
        con.execute(
            "INSERT INTO narratives SELECT s.id, ?, 'active', NULL, s.label, s.keywords::JSON, "
            "s.representatives::JSON, s.size, s.first_seen, s.last_seen, ?, ? "
            "FROM echolens_summaries s WHERE NOT EXISTS (SELECT 1 FROM narratives n "
            "WHERE n.model_id = ? AND n.id = s.id) ORDER BY s.seq",
            [model_id, stamp, stamp, model_id])
    finally:
        con.unregister("echolens_summaries")


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
    con: duckdb.DuckDBPyConnection, narrative_id: str, model_id: str | None = None,
    *, read_members: Callable[[str], Sequence[Mapping[str, Any]]] | None = None
) -> dict[str, Any] | None:
    """One narrative (active or merged) with its representatives, timeline and history.
    `read_members(model_id)`: reads the narrative's items, for a caller that needs them anyway
    (each with `id`, `text`, `published_at` and `ecosystem`); called once, with the model
    of the narrative's latest version. Without it they are read here, as far as the
    timelines, the representatives and the fact-checks need them."""
    params: list[Any] = [narrative_id]
    sql = ("SELECT id, model_id, status, merged_into, label, keywords, representatives, size,"
           " first_seen, last_seen, created_at, updated_at FROM narratives WHERE id = ?")
    if model_id:
        sql += " AND model_id = ?"
        params.append(model_id)
    # the latest version in Python: ORDER BY ... LIMIT 1 took 3 ms, the rows alone 1.3 ms
    rows = con.execute(sql, params).fetchall()
    if not rows:
        return None
    row = max(rows, key=lambda r: r[11])
    model = row[1]
    reps = json.loads(row[6]) if row[6] else {}
    members = None if read_members is None else read_members(model)
    known = {m["id"]: m["text"] for m in members} if members is not None else {}
    missing = [v for v in reps.values() if v not in known]
    texts = {**known, **dict(con.execute(
        "SELECT id, text FROM items WHERE id IN (SELECT unnest(?))", [missing]
    ).fetchall())} if missing else known
    points = (_timeline_points(con, row[0], model) if members is None
              else [(m["published_at"], m["ecosystem"]) for m in members])
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
        "timeline": timeline_of(points, "day"),
        "timeline_weekly": timeline_of(points, "week"),
        "history": history,
        "factcheck_matches": factcheck_matches(
            con, row[0], model, item_ids=None if members is None else [m["id"] for m in members]),
    }


def factcheck_matches(con: duckdb.DuckDBPyConnection, narrative_id: str,
                      model_id: str, limit: int = 10, item_ids: Sequence[str] | None = None
                      ) -> list[dict[str, Any]]:
    """Fact-checks that member items matched above threshold, most matching items first.
    `item_ids`: the members, when read already. (Ranked here in Python: the one-query form,
    a join of the matches, the members and the fact-checks, took 11 ms a narrative.)"""
    if item_ids is None:
        item_ids = [str(r[0]) for r in con.execute(
            "SELECT item_id FROM narrative_members WHERE model_id = ? AND narrative_id = ?",
            [model_id, narrative_id]).fetchall()]
    if not item_ids:
        return []
    items: dict[str, set[str]] = {}
    best: dict[str, float] = {}
    for item_id, factcheck_id, probability in con.execute(
            "SELECT subject_id, factcheck_id, probability FROM claim_matches"
            " WHERE subject_kind = 'item' AND above_threshold AND subject_id = ANY(?)",
            [list(item_ids)]).fetchall():
        items.setdefault(factcheck_id, set()).add(item_id)
        best[factcheck_id] = max(best.get(factcheck_id, probability), probability)
    top = sorted(items, key=lambda f: (-len(items[f]), -best[f], f))[:limit]
    if not top:
        return []
    fields = {r[0]: r[1:] for r in con.execute(
        "SELECT id, title, text, organization, url, verdict FROM factchecks"
        " WHERE id = ANY(?)", [top]).fetchall()}
    return [
        {"factcheck_id": f, "title": fields[f][0], "text": fields[f][1],
         "organization": fields[f][2], "url": fields[f][3], "verdict": fields[f][4],
         "items": len(items[f]), "best_probability": float(best[f])}
        for f in top if f in fields  # a match whose fact-check is gone shows nothing
    ]


def timeline(con: duckdb.DuckDBPyConnection, narrative_id: str, model_id: str,
             unit: str = "day") -> list[dict[str, Any]]:
    """Items per ecosystem per day or week (weeks start on Monday, days in UTC), oldest
    first."""
    return timeline_of(_timeline_points(con, narrative_id, model_id), unit)


def _timeline_points(con: duckdb.DuckDBPyConnection, narrative_id: str, model_id: str
                     ) -> list[tuple[datetime, str]]:
    """(published_at, ecosystem) of each member."""
    return [(r[0], str(r[1])) for r in con.execute(
        "SELECT i.published_at, coalesce(s.ecosystem, 'unknown')"
        " FROM narrative_members m JOIN items i ON i.id = m.item_id"
        " LEFT JOIN sources s ON s.id = i.source_id"
        " WHERE m.model_id = ? AND m.narrative_id = ?", [model_id, narrative_id]).fetchall()]


def timeline_of(points: Iterable[tuple[datetime, str]], unit: str = "day"
                ) -> list[dict[str, Any]]:
    """`timeline` from the (published_at, ecosystem) of a narrative's members."""
    if unit not in ("day", "week"):
        raise ValueError(f"unit must be day or week, not {unit!r}")
    groups: dict[tuple[date, str], list[Any]] = {}
    for at, ecosystem in points:
        day = at.astimezone(UTC).date()
        if unit == "week":
            day -= timedelta(days=day.weekday())
        group = groups.get((day, ecosystem))
        if group is None:
            groups[(day, ecosystem)] = [1, at, at]
        else:
            group[0] += 1
            group[1] = min(group[1], at)
            group[2] = max(group[2], at)
    return [{"period": day.isoformat(), "ecosystem": ecosystem, "items": count,
             "first_seen": first, "last_seen": last}
            for (day, ecosystem), (count, first, last) in sorted(groups.items())]


def outcome_counts(con: duckdb.DuckDBPyConnection, model_id: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in con.execute(
        "SELECT coalesce(reason, outcome), count(*) FROM narrative_members WHERE model_id = ?"
        " GROUP BY 1 ORDER BY 1", [model_id]).fetchall()}
