"""Per-language citation quality on the development set, against benchmarks/quality_floors.json.

Scored with the gold set's own `score.py` (through benchmarks/citations_eval.py), so name
normalisation matches the published figures; skipped when the set is not beside the checkout
(failed instead under `.ci/run`, see `tests.conftest.require_data`).
"""

from __future__ import annotations

import json

from tests.conftest import REPO, benchmark_module, require_data

FLOORS = json.loads((REPO / "benchmarks" / "quality_floors.json").read_text(encoding="utf-8"))


def test_citation_precision_and_recall_per_language() -> None:
    ev = benchmark_module("citations_eval")
    require_data(ev.GOLD_DIR / "gold.jsonl", "eval-dev citations set")
    scorer = ev.load_scorer()
    gold = scorer.read_jsonl(str(ev.GOLD_DIR / "gold.jsonl"))
    rows = ev.score(scorer, gold, ev.predict(gold))
    failures = []
    for lang in ("en", "ru", "zh", "uk"):
        _, tp, predicted, expected = rows[lang]
        precision, recall, _ = scorer.prf(tp, predicted, expected)
        if precision < FLOORS["citations_precision"][lang]:
            failures.append(f"{lang} precision {precision:.3f}")
        if recall < FLOORS["citations_recall"][lang]:
            failures.append(f"{lang} recall {recall:.3f}")
    assert not failures, failures
