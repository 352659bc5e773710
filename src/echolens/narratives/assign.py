"""The pipeline stage: group the items that have no narrative outcome yet, in the store.

`assign_new_items(store, model_id)` replays the stored grouping (items in assignment order,
vectors from the embeddings cache), adds the new items with the same code as
`echolens cluster`, refines, relabels the narratives that changed and writes it all in one
transaction. The neighbour index is rebuilt from the store on each run, which is also what
makes re-runs reproducible."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from echolens.errors import UsageError
from echolens.narratives.batch import skip_reason
from echolens.narratives.calibration import Calibration, load_calibration
from echolens.narratives.features import Prepared, day_number, prepare
from echolens.narratives.grouping import BLOCK, Grouper
from echolens.narratives.index import VectorIndex, index_path, load_index, save_index
from echolens.narratives.labels import LabelInput, label_narratives
from echolens.narratives.storage import (
    MemberRow,
    grouped_members,
    hashes_with_vectors,
    ungrouped_items,
    vector_dim,
    write_outcomes,
)
from echolens.store.duckdb_store import DuckDBStore

log = logging.getLogger(__name__)
CHUNK = 200 * BLOCK  # items prepared at a time (51,200)


@dataclass
class AssignReport:
    model_id: str
    joined: int = 0
    opened: int = 0
    merged: int = 0
    split: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> items
    queued_no_embedding: int = 0  # left for the next run, after `echolens process` embeds
    narratives_changed: int = 0
    index_rebuilt: str | None = None  # why the index file was rebuilt from the store

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _days(rows: Sequence[MemberRow]) -> list[float]:
    return [day_number(r.published_at) for r in rows]


def _chunks(rows: list[MemberRow]) -> list[list[MemberRow]]:
    return [rows[k:k + CHUNK] for k in range(0, len(rows), CHUNK)]


def _prepare(store: DuckDBStore, model_id: str, rows: Sequence[MemberRow],
             cal: Calibration) -> Prepared:
    vectors = store.embeddings(model_id, [r.content_hash for r in rows])
    return prepare(np.stack([vectors[r.content_hash] for r in rows]), [r.lang for r in rows],
                   [r.text for r in rows], _days(rows), cal)


def assign_new_items(
    store: DuckDBStore,
    model_id: str,
    calibration: Calibration | None = None,
) -> AssignReport:
    """Give every new item a narrative (or a reason for none); items lacking a vector wait."""
    cal = calibration or load_calibration(model_id)
    report = AssignReport(model_id)
    con = store.con
    old = grouped_members(con, model_id)
    new = ungrouped_items(con, model_id)
    if not new:
        return report
    have = hashes_with_vectors(con, model_id, [r.content_hash for r in old + new])
    lost = [r for r in old if r.content_hash not in have]
    if lost:
        log.warning("%d grouped items have no vector for %s any more; they keep their "
                    "narrative but are not used as neighbours", len(lost), model_id)
        old = [r for r in old if r.content_hash in have]
    outcomes: list[tuple[str, str | None, str, str | None, float | None]] = []
    ready: list[MemberRow] = []
    for row in new:
        reason = skip_reason(row.text, cal.thresholds.min_words)
        if reason:
            outcomes.append((row.item_id, None, "skipped", reason, None))
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        elif row.content_hash not in have:
            report.queued_no_embedding += 1
        else:
            ready.append(row)
    if not old and not ready:
        write_outcomes(con, model_id, outcomes, [], [])
        return report
    dim = vector_dim(con, model_id)
    grouper = Grouper(cal, dim=dim, expected=len(old) + len(ready))
    path = index_path(store.path, model_id)
    saved: VectorIndex | None = None
    if old and path is not None:
        saved, why = load_index(path, [r.item_id for r in old], dim)
        if saved is None:
            log.warning("narrative index file %s is %s; rebuilding it from the store "
                        "(%d items)", path, why, len(old))
            report.index_rebuilt = why
    # chunks keep memory flat (a million float32 vectors would be 1.5 GB at once); a chunk
    # is a whole number of grouping blocks, so chunking does not change any decision
    for rows in _chunks(old):
        grouper.restore([r.item_id for r in rows], _prepare(store, model_id, rows, cal),
                        [r.narrative_id for r in rows], add_to_index=saved is None)
    if saved is not None:
        grouper.use_index(saved)
    for rows in _chunks(ready):
        for a in grouper.add([r.item_id for r in rows], _prepare(store, model_id, rows, cal)):
            outcomes.append((a.item_id, a.narrative_id,
                             "opened" if a.score is None else "joined", None, a.score))
            report.opened += a.score is None
            report.joined += a.score is not None
    refined = grouper.refine()
    report.merged = sum(e.kind == "merged" for e in refined)
    report.split = sum(e.kind == "split" for e in refined)
    final = grouper.assignments()
    outcomes = [(i, final.get(i, n) if n else None, o, r, s) for i, n, o, r, s in outcomes]
    alive = {nid: grouper.nids[grouper.find(k)] for k, nid in enumerate(grouper.nids)}
    changed = {final[r.item_id] for r in ready} | {alive[e.narrative_id] for e in refined} | {
        alive[e.other_id] for e in refined if e.kind == "split" and e.other_id}
    summaries = _summaries(grouper, old + ready, final, changed)
    report.narratives_changed = len(changed)
    write_outcomes(con, model_id, outcomes, grouper.events, summaries)
    if path is not None and len(grouper):
        save_index(grouper.index, path, grouper.item_ids, dim)
    grouper.index.close()
    return report


def rebuild_narratives(
    store: DuckDBStore,
    model_id: str | None = None,
    calibration: Calibration | None = None,
) -> AssignReport:
    """Forget the narratives of `model_id` (default: the only model that has some) and group
    every item again from scratch, in published order, with the current calibration.

    For a store grouped with an older calibration or algorithm: narrative ids, merges and
    history are recomputed (ids still derive from item ids, so a story that opens with the
    same item keeps its id). Embeddings are reused, nothing is re-embedded. The old rows are
    deleted first: should the grouping fail, the items are simply ungrouped and the next
    `echolens process` (or rebuild) groups them."""
    con = store.con
    if model_id is None:
        models = [r[0] for r in con.execute(
            "SELECT DISTINCT model_id FROM narrative_members ORDER BY 1").fetchall()]
        if len(models) != 1:
            raise UsageError(
                f"the store has narratives for {len(models)} models: {models}",
                "name the embedding model to rebuild (--model)")
        model_id = models[0]
    cal = calibration or load_calibration(model_id)
    con.execute("BEGIN")
    try:
        for table in ("narrative_members", "narrative_history", "narratives"):
            con.execute(f"DELETE FROM {table} WHERE model_id = ?", [model_id])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    path = index_path(store.path, model_id)
    if path is not None:
        for stale in (path, path.with_suffix(".json")):
            stale.unlink(missing_ok=True)
    return assign_new_items(store, model_id, cal)


def _summaries(grouper: Grouper, rows: Sequence[MemberRow], final: dict[str, str],
               changed: set[str]) -> list[dict[str, object]]:
    """Label, keywords, representatives, size and first/last seen of the changed narratives.

    Keywords are class-based TF-IDF against all narratives of the store, so the words that
    every narrative shares (war, Ukraine, ...) do not come first."""
    members: dict[str, list[LabelInput]] = {}
    dates: dict[str, list[datetime]] = {}
    position = {item: k for k, item in enumerate(grouper.item_ids)}
    for row in rows:
        nid = final.get(row.item_id)
        if nid is None:
            continue
        members.setdefault(nid, []).append(
            LabelInput(row.item_id, row.text, row.lang, row.ecosystem,
                       grouper.vector(position[row.item_id])))
        if row.published_at is not None:
            dates.setdefault(nid, []).append(row.published_at)
    labels = label_narratives(members, {nid: grouper.centroid(nid) for nid in changed})
    out: list[dict[str, object]] = []
    for nid in sorted(changed):
        seen = dates.get(nid, [])
        out.append({
            "id": nid, "label": labels[nid].label, "keywords": labels[nid].keywords,
            "representatives": labels[nid].representatives, "size": len(members[nid]),
            "first_seen": min(seen) if seen else None, "last_seen": max(seen) if seen else None,
        })
    return out


def counts_by_language(rows: Sequence[MemberRow]) -> dict[str, int]:
    return dict(Counter(r.lang for r in rows))
