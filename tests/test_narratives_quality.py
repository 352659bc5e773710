"""Narrative quality on the development gold set (`eval-dev/narratives`), both splits.

The goal of the project (issue 3): B-cubed F1 >= 0.85 and cross-lingual pair recall >= 0.8.
The thresholds were chosen on `tune` only; `report` is checked here so that a change that
fits `tune` and loses the held-apart half fails. The 365 texts are embedded with the packaged
model only where `benchmarks/narratives_eval.py`'s content-hash cache lacks them (~10 s once).
Skipped when the set is not beside the checkout (failed instead under `.ci/run`)."""

from __future__ import annotations

import pytest

from tests.conftest import benchmark_module, require_data

GOAL_F1 = 0.85
GOAL_CROSSLINGUAL = 0.80


@pytest.mark.slow
@pytest.mark.parametrize("split", ["tune", "report"])
def test_dev_gold_meets_the_f1_and_cross_lingual_goals(split: str) -> None:
    ev = benchmark_module("narratives_eval")
    require_data(ev.EVAL_DIR / "gold.jsonl", "eval-dev narratives set")
    gold = [r for r in ev.load_gold() if r["split"] == split]
    vectors = ev.embeddings([r["text"] for r in gold])
    scores = ev.scored(gold, ev.ours(gold, vectors))
    assert scores.f1 >= GOAL_F1, scores
    assert scores.crosslingual_recall >= GOAL_CROSSLINGUAL, scores
