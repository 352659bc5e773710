"""Stateless grouping of a batch: items + vectors in, one outcome per item out.

The store pipeline (`assign.py`) and `echolens cluster` both run this same code: skip the
items that cannot carry a narrative (with their reason), group the rest in published order,
then refine."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from echolens.narratives.calibration import Calibration
from echolens.narratives.features import day_number, prepare
from echolens.narratives.grouping import Event, Grouper

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class BatchItem:
    id: str
    text: str
    lang: str
    published_at: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Outcome:
    """`narrative` is None when the item was not grouped; `reason` then says why."""

    item_id: str
    narrative: str | None
    reason: str | None = None
    score: float | None = None


def skip_reason(text: str, min_words: int) -> str | None:
    """Why a text cannot be grouped: empty, or too short to carry a story."""
    stripped = text.strip()
    if not stripped:
        return "empty-text"
    if _CJK.search(stripped) is None:  # no Chinese: count words only up to `min_words`
        found = 0
        for _ in _WORDS.finditer(stripped):
            if found >= min_words:
                break
            found += 1
        return "too-short" if found < min_words else None
    cjk = len(_CJK.findall(stripped))
    words = len(_WORDS.findall(_CJK.sub(" ", stripped))) + (cjk + 1) // 2
    return "too-short" if words < min_words else None


def group_batch(
    items: Sequence[BatchItem],
    vectors: np.ndarray,
    calibration: Calibration,
) -> tuple[list[Outcome], list[Event]]:
    """Group `items` (row i of `vectors` is item i) from scratch."""
    reasons = [skip_reason(it.text, calibration.thresholds.min_words) for it in items]
    keep = [i for i, reason in enumerate(reasons) if reason is None]
    grouper = Grouper(calibration, dim=vectors.shape[1] if vectors.ndim == 2 else 0,
                      expected=len(keep))
    scores: dict[str, float | None] = {}
    if keep:
        kept = [items[i] for i in keep]
        prepared = prepare(vectors[keep], [it.lang for it in kept], [it.text for it in kept],
                           [day_number(it.published_at) for it in kept], calibration)
        for assignment in grouper.add([it.id for it in kept], prepared):
            scores[assignment.item_id] = assignment.score
        grouper.index.close()  # not searched again: its process and memory go now
        grouper.refine()
    final = grouper.assignments()
    outcomes = [
        Outcome(it.id, final[it.id], None, scores.get(it.id)) if reasons[i] is None
        else Outcome(it.id, None, reasons[i])
        for i, it in enumerate(items)
    ]
    return outcomes, grouper.events
