"""Coverage gaps, the other half of convergence: narratives prominent in ecosystem A that B
never carried, or carried late and little, ranked by A's volume, with B's nearest coverage.

    from echolens.echo.gaps import coverage_gaps
    gaps = coverage_gaps(db, "west", "china-state", since=..., until=...)
    for gap in gaps.gaps: gap.label, gap.status, gap.nearest

Only dated items inside ``since <= published_at < until`` count. A narrative is a gap when A
carried at least `min_items` items of it and B either carried none (``never``) or started at
least `late_days` after A with at most `little_ratio` times A's volume (``late-and-little``).
B's nearest coverage: the narrative whose B items' centroid (mean embedding, cosine) is closest
to the centroid of A's items of the gap, the gap itself excluded, with B's closest item in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np

from echolens.echo.convergence import check_ecosystems, resolve_model
from echolens.echo.timing import connection, period_sql
from echolens.errors import UsageError

__all__ = ["CoverageGap", "CoverageGaps", "NearestCoverage", "coverage_gaps"]


@dataclass(frozen=True)
class NearestCoverage:
    """What B said closest to a gap: a narrative B carried and B's closest item in it."""

    narrative_id: str
    label: str | None
    similarity: float  # cosine between the two centroids
    b_items: int
    item_id: str
    item_title: str
    item_published_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"narrative_id": self.narrative_id, "label": self.label,
                "similarity": round(self.similarity, 4), "b_items": self.b_items,
                "item_id": self.item_id, "item_title": self.item_title,
                "item_published_at": self.item_published_at.isoformat()}


@dataclass(frozen=True)
class CoverageGap:
    narrative_id: str
    label: str | None
    status: str  # never | late-and-little
    a_items: int
    a_first: datetime
    b_items: int
    b_first: datetime | None
    lag_days: float | None
    nearest: NearestCoverage | None

    def to_dict(self) -> dict[str, Any]:
        return {"narrative_id": self.narrative_id, "label": self.label, "status": self.status,
                "a_items": self.a_items, "a_first": self.a_first.isoformat(),
                "b_items": self.b_items,
                "b_first": self.b_first.isoformat() if self.b_first else None,
                "lag_days": None if self.lag_days is None else round(self.lag_days, 3),
                "nearest": self.nearest.to_dict() if self.nearest else None}


@dataclass(frozen=True)
class CoverageGaps:
    a: str
    b: str
    model_id: str
    since: datetime | None
    until: datetime | None
    a_narratives: int  # narratives A carried with at least min_items items
    gaps: tuple[CoverageGap, ...]
    total_gaps: int  # before `limit`
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.a, "to": self.b, "model_id": self.model_id,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "a_narratives": self.a_narratives, "total_gaps": self.total_gaps,
                "gaps": [g.to_dict() for g in self.gaps], "notes": list(self.notes)}


def coverage_gaps(db: object, a: str, b: str, since: datetime | None = None,
                  until: datetime | None = None, *, model_id: str | None = None,
                  min_items: int = 3, late_days: float = 7.0, little_ratio: float = 0.2,
                  limit: int = 20) -> CoverageGaps:
    """Narratives prominent in `a` that `b` never carried or carried late and little."""
    con = connection(db)
    if a == b:
        raise UsageError(f"--from and --to are both {a!r}", "compare two different ecosystems")
    if min_items < 1 or late_days < 0 or little_ratio < 0 or limit < 0:
        raise UsageError("min_items >= 1, late_days >= 0, little_ratio >= 0 and limit >= 0",
                         "check the coverage-gap parameters")
    check_ecosystems(con, [a, b])
    model = resolve_model(con, model_id)
    period, params = period_sql(since, until)
    rows = con.execute(
        "SELECT m.narrative_id, any_value(n.label),"
        " count(*) FILTER (WHERE s.ecosystem = ?), min(i.published_at) FILTER (WHERE s.ecosystem"
        " = ?), count(*) FILTER (WHERE s.ecosystem = ?),"
        " min(i.published_at) FILTER (WHERE s.ecosystem = ?)"
        " FROM narrative_members m JOIN items i ON i.id = m.item_id"
        " JOIN sources s ON s.id = i.source_id"
        " LEFT JOIN narratives n ON n.model_id = m.model_id AND n.id = m.narrative_id"
        " WHERE m.model_id = ? AND m.narrative_id IS NOT NULL AND s.ecosystem IN (?, ?)"
        f" AND {period} GROUP BY 1",
        [a, a, b, b, model, a, b, *params],
    ).fetchall()
    prominent = [r for r in rows if r[2] >= min_items]
    found: list[tuple[str, str | None, str, int, datetime, int, datetime | None,
                      float | None]] = []
    for nid, label, a_items, a_first, b_items, b_first in prominent:
        if not b_items:
            found.append((nid, label, "never", a_items, a_first, 0, None, None))
            continue
        lag = (b_first - a_first).total_seconds() / 86400
        if lag >= late_days and b_items <= little_ratio * a_items:
            found.append((nid, label, "late-and-little", a_items, a_first, b_items, b_first,
                          lag))
    found.sort(key=lambda g: (-g[3], g[4], g[0]))
    shown = found[:limit]
    labels = {str(r[0]): r[1] for r in rows}
    b_counts = {str(r[0]): int(r[4]) for r in rows if r[4]}
    nearest, note = _nearest(con, model, a, b, period, params, [g[0] for g in shown],
                             labels, b_counts)
    gaps = tuple(CoverageGap(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7],
                             nearest.get(g[0])) for g in shown)
    notes = (note,) if note and shown else ()
    return CoverageGaps(a, b, model, since, until, len(prominent), gaps, len(found), notes)


def _vectors(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
             ) -> tuple[list[Any], np.ndarray]:
    """Rows of (narrative, item, title, published_at) and their unit vectors."""
    cursor = con.cursor()  # its own result: callers' pending results are left alone
    try:
        table = cursor.sql(sql, params=params).to_arrow_table()
    finally:
        cursor.close()
    if table.num_rows == 0:
        return [], np.zeros((0, 0), dtype=np.float32)
    column = table.column("vector").combine_chunks()
    flat = np.asarray(column.flatten(), dtype=np.float32)
    matrix = flat.reshape(table.num_rows, -1).astype(np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: np.ndarray = matrix / np.where(norms == 0, 1, norms)
    meta = list(zip(table.column("n").to_pylist(), table.column("id").to_pylist(),
                    table.column("title").to_pylist(), table.column("t").to_pylist(),
                    strict=True))
    return meta, unit


def _centroids(meta: list[Any], matrix: np.ndarray) -> tuple[list[str], np.ndarray]:
    names = sorted({m[0] for m in meta})
    index = {n: k for k, n in enumerate(names)}
    sums = np.zeros((len(names), matrix.shape[1]), dtype=np.float64)
    np.add.at(sums, [index[m[0]] for m in meta], matrix)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return names, sums / np.where(norms == 0, 1, norms)


def _nearest(con: duckdb.DuckDBPyConnection, model: str, a: str, b: str, period: str,
             params: list[Any], gap_ids: list[str], labels: dict[str, str | None],
             b_counts: dict[str, int]) -> tuple[dict[str, NearestCoverage], str | None]:
    if not gap_ids:
        return {}, None
    base = ("SELECT m.narrative_id AS n, i.id AS id, coalesce(i.title, i.text) AS title,"
            " i.published_at AS t, e.vector AS vector"
            " FROM narrative_members m JOIN items i ON i.id = m.item_id"
            " JOIN sources s ON s.id = i.source_id"
            " JOIN embeddings e ON e.model_id = m.model_id AND e.content_hash = i.content_hash"
            f" WHERE m.model_id = ? AND m.narrative_id IS NOT NULL AND {period}")
    gap_meta, gap_matrix = _vectors(
        con, base + " AND s.ecosystem = ? AND m.narrative_id IN (SELECT unnest(?)) ORDER BY 2",
        [model, *params, a, gap_ids])
    b_meta, b_matrix = _vectors(con, base + " AND s.ecosystem = ? ORDER BY 2",
                                [model, *params, b])
    if not gap_meta or not b_meta:
        what = "no item of " + (a if not gap_meta else b)
        return {}, f"{what} has an embedding for model {model}: nearest coverage not shown"
    gap_names, gap_centroids = _centroids(gap_meta, gap_matrix)
    b_names, b_centroids = _centroids(b_meta, b_matrix)
    sims = gap_centroids @ b_centroids.T
    out: dict[str, NearestCoverage] = {}
    for k, gap in enumerate(gap_names):
        order = np.argsort(-sims[k], kind="stable")
        best = next((int(j) for j in order if b_names[int(j)] != gap), None)
        if best is None:
            continue
        target = b_names[best]
        rows = [j for j, m in enumerate(b_meta) if m[0] == target]
        item_sims = b_matrix[rows] @ gap_centroids[k]
        pick = b_meta[rows[int(np.argmax(item_sims))]]
        title = " ".join(str(pick[2] or "").split())
        out[gap] = NearestCoverage(target, labels.get(target) or _label(con, model, target),
                                   float(sims[k, best]), b_counts.get(target, len(rows)),
                                   str(pick[1]), title[:160], pick[3])
    return out, None


def _label(con: duckdb.DuckDBPyConnection, model: str, narrative_id: str) -> str | None:
    rows = con.execute("SELECT label FROM narratives WHERE model_id = ? AND id = ?",
                       [model, narrative_id]).fetchall()
    return str(rows[0][0]) if rows and rows[0][0] is not None else None
