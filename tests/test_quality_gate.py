"""Quality gate: the statistical parts may not fall below the floors in
benchmarks/quality_floors.json (STYLE 9). Real data, read from the mirror; skipped without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, benchmark_module, require_data

FLOORS = json.loads((REPO / "benchmarks" / "quality_floors.json").read_text(encoding="utf-8"))


def _data_dir() -> Path:
    """The data sets folder `echolens` reads (`data_dir` returns a path whether it exists or
    not; the loaders fail later), required like the dev sets."""
    from echolens.ingest.datasets import data_dir

    path = data_dir()
    require_data(path, "real data sets (set ECHOLENS_DATA_DIR to the mirror)")
    return path


@pytest.mark.slow
def test_language_id_accuracy_floors() -> None:
    from echolens.text.langid import LanguageIdentifier

    langid_eval = benchmark_module("langid_eval")
    frame = langid_eval.load(_data_dir())
    texts = frame["text"].to_list()
    gold = [langid_eval.corrected_label(t, label)
            for t, label in zip(texts, frame["label"].to_list(), strict=True)]
    predicted = LanguageIdentifier().detect_many(texts)
    rows = list(zip(gold, predicted, strict=True))
    for lang, floor in FLOORS["langid_corrected_accuracy"].items():
        correct, total = langid_eval.accuracy(rows, lang)
        assert total > 300, lang
        assert correct / total >= floor, f"{lang}: {correct}/{total} < floor {floor}"


def test_citation_f1_floor() -> None:
    from echolens.echo.citations import extract_citations

    gold_path = REPO.parent / "shared" / "eval-dev" / "citations" / "gold.jsonl"
    require_data(gold_path, "eval-dev citations set")
    tp = predicted = expected = 0
    for line in gold_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        got = {c.name for c in extract_citations(record["text"], record.get("lang"),
                                                 publisher=record.get("source_outlet"))}
        want = {c["name"] for c in record["citations"]}
        tp += len(got & want)
        predicted += len(got)
        expected += len(want)
    precision, recall = tp / predicted, tp / expected
    f1 = 2 * precision * recall / (precision + recall)
    assert f1 >= FLOORS["citations_all_f1"], (precision, recall, f1)
