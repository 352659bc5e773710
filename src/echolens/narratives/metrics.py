"""Clustering quality against a gold labelling: B-cubed, ARI, cross-lingual pair recall.

The same conventions as the project's standalone scorer (`eval-dev/narratives/score.py`):
gold labels starting with `other:` are singletons, and a missing or empty prediction is a
singleton too. Only numpy is needed, so the benchmark and the quality gate can use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    ari: float
    crosslingual_recall: float
    crosslingual_pairs: int


def _codes(values: Sequence[str]) -> np.ndarray:
    seen: dict[str, int] = {}
    return np.array([seen.setdefault(v, len(seen)) for v in values], dtype=np.int64)


def _pairs(x: np.ndarray) -> float:
    return float((x * (x - 1) / 2).sum())


def score(
    ids: Sequence[str],
    gold: Sequence[str],
    langs: Sequence[str],
    predicted: Sequence[str | None],
) -> Scores:
    """Score `predicted` labels (None = no narrative) against `gold` for the same ids."""
    gold_l = [g if not g.startswith("other") else f"gold-single:{i}" for i, g in zip(
        ids, gold, strict=True)]
    pred_l = [p if p else f"pred-single:{i}" for i, p in zip(ids, predicted, strict=True)]
    g_codes, p_codes = _codes(gold_l), _codes(pred_l)
    table = np.zeros((int(g_codes.max()) + 1, int(p_codes.max()) + 1))
    np.add.at(table, (g_codes, p_codes), 1.0)
    n = table.sum()
    sq = table**2
    precision = float((sq / table.sum(axis=0)[None, :]).sum() / n)
    recall = float((sq / table.sum(axis=1)[:, None]).sum() / n)
    f1 = 2 * precision * recall / (precision + recall)
    index = _pairs(table)
    rows, cols = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    expected = rows * cols / _pairs(np.array([n]))
    denom = 0.5 * (rows + cols) - expected
    ari = float((index - expected) / denom) if denom else 1.0
    hits = total = 0
    lang_arr = np.asarray(langs)
    gold_arr, pred_arr = np.asarray(gold_l), np.asarray(pred_l)
    for label in set(gold_l):
        if label.startswith("gold-single:"):
            continue
        members = np.flatnonzero(gold_arr == label)
        ml, mp = lang_arr[members], pred_arr[members]
        cross = ml[:, None] != ml[None, :]
        same = mp[:, None] == mp[None, :]
        total += int(np.triu(cross, 1).sum())
        hits += int(np.triu(cross & same, 1).sum())
    return Scores(precision, recall, f1, ari, hits / total if total else 0.0, total)
