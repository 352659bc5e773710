"""The pipeline stage: group the items that have no narrative outcome yet, in the store.

`assign_new_items(store, model_id)` replays the stored grouping (items in assignment order,
vectors from the embeddings cache), adds the new items with the same code as
`echolens cluster`, refines, relabels the narratives that changed and writes it all in one
transaction. There is no separate index file to corrupt: the neighbour index is rebuilt from
the store on each run, which is also what makes re-runs reproducible."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from echolens.narratives.batch import skip_reason
from echolens.narratives.calibration import Calibration, load_calibration
from echolens.narratives.features import day_number, prepare
from echolens.narratives.grouping import Grouper
from echolens.narratives.labels import LabelInput, label_narratives
from echolens.narratives.storage import (
    MemberRow,
    grouped_members,
    ungrouped_items,
    write_outcomes,
)
from echolens.store.duckdb_store import DuckDBStore

log = logging.getLogger(__name__)


@dataclass
class AssignReport:
    model_id: str
    joined: int = 0
    opened: int = 0
    merged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> items
    queued_no_embedding: int = 0  # left for the next run, after `echolens process` embeds
    narratives_changed: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _days(rows: Sequence[MemberRow]) -> list[float]:
    return [day_number(r.published_at) for r in rows]


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
    vectors = store.embeddings(model_id, sorted({r.content_hash for r in old + new}))
    lost = [r for r in old if r.content_hash not in vectors]
    if lost:
        log.warning("%d grouped items have no vector for %s any more; they keep their "
                    "narrative but are not used as neighbours", len(lost), model_id)
        old = [r for r in old if r.content_hash in vectors]
    outcomes: list[tuple[str, str | None, str, str | None, float | None]] = []
    ready: list[MemberRow] = []
    for row in new:
        reason = skip_reason(row.text, cal.thresholds.min_words)
        if reason:
            outcomes.append((row.item_id, None, "skipped", reason, None))
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        elif row.content_hash not in vectors:
            report.queued_no_embedding += 1
        else:
            ready.append(row)
    dim = next(iter(vectors.values())).shape[0] if vectors else 0
    grouper = Grouper(cal, dim=dim, expected=len(old) + len(ready))
    if old:
        grouper.restore([r.item_id for r in old],
                        prepare(np.stack([vectors[r.content_hash] for r in old]),
                                [r.lang for r in old], [r.text for r in old], _days(old), cal),
                        [r.narrative_id for r in old])
    if ready:
        prepared = prepare(np.stack([vectors[r.content_hash] for r in ready]),
                           [r.lang for r in ready], [r.text for r in ready], _days(ready), cal)
        for a in grouper.add([r.item_id for r in ready], prepared):
            outcomes.append((a.item_id, a.narrative_id,
                             "opened" if a.score is None else "joined", None, a.score))
            report.opened += a.score is None
            report.joined += a.score is not None
    merges = grouper.refine()
    report.merged = len(merges)
    final = grouper.assignments()
    outcomes = [(i, final.get(i, n) if n else None, o, r, s) for i, n, o, r, s in outcomes]
    alive = {nid: grouper.nids[grouper.find(k)] for k, nid in enumerate(grouper.nids)}
    changed = {final[r.item_id] for r in ready} | {alive[e.narrative_id] for e in merges}
    summaries = _summaries(grouper, old + ready, final, changed)
    report.narratives_changed = len(changed)
    write_outcomes(con, model_id, outcomes, grouper.events, summaries)
    return report


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
