"""Citation extraction evaluation on the development gold set (shared/eval-dev/citations).

    python benchmarks/citations_eval.py [--errors] [--predictions FILE.jsonl]

Runs `echolens.echo.extract_citations` on every gold item (with the item's language and
publishing outlet) and scores with the project's scorer `score.py` from the same folder
(micro P/R/F1 over (item, canonical name) pairs). Items are split by a hash of their id into a
tuning half and a report half; figures are printed for the report half, the tuning half and
all items, as a markdown section for BENCHMARKS.md. Per-language precision and recall floors
(benchmarks/quality_floors.json) are checked by tests/test_citations_quality.py.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from echolens.echo import extract_citations

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECHOLENS_SHARED", ROOT.parent / "shared"))
GOLD_DIR = SHARED / "eval-dev" / "citations"
LANGS = ("en", "ru", "zh", "uk")


def half(item_id: str) -> str:
    """`tune` or `report`: a fixed split by the first byte of sha1(id)."""
    return "tune" if hashlib.sha1(item_id.encode()).digest()[0] % 2 == 0 else "report"


def load_scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("citation_score", GOLD_DIR / "score.py")
    if spec is None or spec.loader is None:
        sys.exit(f"scorer not found: {GOLD_DIR / 'score.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def predict(gold: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    return {g["id"]: [{"name": c.name, "cue": c.cue, "kind": c.kind}
                      for c in extract_citations(g["text"], g["lang"],
                                                 publisher=g.get("source_outlet"))]
            for g in gold}


def score(scorer: ModuleType, gold: list[dict[str, Any]],
          preds: dict[str, list[dict[str, str]]]) -> dict[str, tuple[int, int, int, int]]:
    """Per language and `all`: (items, tp, predicted, gold)."""
    out: dict[str, list[int]] = {}
    for g in gold:
        tp, npred, ngold, _, _ = scorer.match_item(g["citations"], preds.get(g["id"], []))
        for bucket in (g["lang"], "all"):
            row = out.setdefault(bucket, [0, 0, 0, 0])
            row[0] += 1
            row[1] += tp
            row[2] += npred
            row[3] += ngold
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


def table(scorer: ModuleType, rows: dict[str, tuple[int, int, int, int]]) -> list[str]:
    lines = ["| lang | items | gold | predicted | tp | precision | recall | F1 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for lang in (*LANGS, "all"):
        if lang not in rows:
            continue
        items, tp, npred, ngold = rows[lang]
        p, r, f = scorer.prf(tp, npred, ngold)
        name = f"**{lang}**" if lang == "all" else lang
        lines.append(f"| {name} | {items} | {ngold} | {npred} | {tp} | {p:.3f} | {r:.3f} | "
                     f"{f:.3f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--errors", action="store_true", help="list misses of the tuning half")
    ap.add_argument("--predictions", type=Path, help="also write predictions (score.py input)")
    args = ap.parse_args()
    scorer = load_scorer()
    gold = scorer.read_jsonl(str(GOLD_DIR / "gold.jsonl"))
    started = time.perf_counter()
    preds = predict(gold)
    seconds = time.perf_counter() - started
    if args.predictions:
        with args.predictions.open("w", encoding="utf-8") as fh:
            for g in gold:
                fh.write(json.dumps({"id": g["id"], "citations": preds[g["id"]]},
                                    ensure_ascii=False) + "\n")
    halves = {name: [g for g in gold if half(g["id"]) == name] for name in ("report", "tune")}
    print("## Explicit citations (echo tracing, part 1)\n")
    print(f"Development gold set `{GOLD_DIR.relative_to(SHARED.parent)}/gold.jsonl` "
          f"({len(gold)} items), scored with its `score.py` (strict: item + canonical name). "
          "Split by sha1(id): the rules were tuned on the *tune* half; see the caveat below.\n")
    for title, items in (("Report half", halves["report"]), ("Tune half", halves["tune"]),
                         ("All items", gold)):
        print(f"**{title}** ({len(items)} items)\n")
        print("\n".join(table(scorer, score(scorer, items, preds))))
        print()
    print(f"Command: `python benchmarks/citations_eval.py`; {len(gold)} items in {seconds:.2f} s "
          f"on {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}.\n")
    print("Caveat: the whole development set was read while writing the rules (it is the only "
          "labelled data), so the report half is not a clean hold-out; quote the held-out set.")
    if args.errors:
        print("\n### Tune-half errors\n")
        for g in halves["tune"]:
            _, _, _, fp, fn = scorer.match_item(g["citations"], preds[g["id"]])
            if fp or fn:
                print(f"- `{g['id']}` FP={fp} FN={fn}: {g['text'][:100]}")


if __name__ == "__main__":
    main()
