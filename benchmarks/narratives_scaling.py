"""How narrative grouping time and memory grow with the number of items (10k, 100k, 1M).

The vectors are SYNTHETIC: each item is a real item's multilingual-e5 vector (the dev gold
items, `eval-dev/narratives`, embedded once and cached under `.cache/narratives_eval/`) plus
Gaussian noise, with that item's language; dates are spread over one year in input order
(`--steady`: over one year per 100,000 items, the same daily volume at every size).
So the items are "drawn around real centroids"; they carry no text, so the lexical and
anchor parts of the score are off (they cost per-item time that is linear anyway).

Each size runs in a fresh process, generating, preparing and grouping the items in chunks
of 20,000 so that the whole input never sits in memory as float32 (a million float32
vectors alone would be 1.5 GB), and refining after every 100,000 items, as the store
pipeline refines after each run (a single size up to 100,000 is one run, refined once);
peak RSS is that of the process and its narrative index process together (sampled every
0.05 s, and the process's own high-water mark; Python, numpy and usearch included); CPU
seconds are both processes'.
CPU time is quoted beside wall time because the machine may be shared. The baseline in the
same run is the smallest size: time and memory ratios against it show the growth
(linear growth would be a time ratio equal to the size ratio).

Usage: `.venv/bin/python benchmarks/narratives_scaling.py [--sizes 10000,100000,1000000]
[--steady] [--previous]` (`--previous`: the calibration before the coherence gates, as a baseline)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PeakMemory, cpu_seconds, machine  # noqa: E402
from narratives_eval import MODEL, PREVIOUS, embeddings, load_gold  # noqa: E402

from echolens.narratives.calibration import load_calibration  # noqa: E402
from echolens.narratives.features import prepare  # noqa: E402
from echolens.narratives.grouping import Event, Grouper  # noqa: E402

CHUNK = 20_000  # items generated and prepared at a time
RUN = 100_000  # items per "run": add them, then refine (as the store pipeline does per run)
NOISE = 0.02  # per-dimension sd around the real vector (unit vectors of dim 384)


def worker(n: int, seed: int = 0, previous: bool = False, steady: bool = False
           ) -> dict[str, float]:
    with PeakMemory() as memory:
        out = _grouped(n, seed, previous, steady)
    return out | {"peak_mb": memory.mb}


def _grouped(n: int, seed: int, previous: bool, steady: bool) -> dict[str, float]:
    gold = load_gold()
    base = embeddings([r["text"] for r in gold])
    langs_base = [r["lang"] for r in gold]
    cal = load_calibration(MODEL).with_thresholds(lexical_weight=0.0, anchor_weight=0.0)
    if previous:  # the calibration before the coherence gates and mutual merges
        cal = dataclasses.replace(cal, pair_adjust={}).with_thresholds(**PREVIOUS)
    rng = np.random.default_rng(seed)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    grouper = Grouper(cal, dim=base.shape[1], expected=n)
    events: list[Event] = []
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        pick = rng.integers(0, len(gold), size=size)
        vecs = base[pick] + NOISE * rng.standard_normal(size=(size, base.shape[1]),
                                                         dtype=np.float32)
        # one year whatever n (denser as n grows), or one year per 100,000 items (`steady`:
        # a constant daily volume, a longer history as n grows)
        span = 365.0 * n / RUN if steady else 365.0
        days = 19000.0 + span * (first + np.arange(size)) / n
        prepared = prepare(vecs, [langs_base[i] for i in pick], [""] * size, days.tolist(), cal)
        del vecs
        grouper.add([f"s{first + k:07d}" for k in range(size)], prepared)
        del prepared
        if (first + size) % RUN == 0 and first + size < n:
            events += grouper.refine()
    grouper.index.close()
    events += grouper.refine()
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    narratives = len({grouper.find(int(x)) for x in range(len(grouper.nids))})
    return {"n": n, "seconds": seconds, "cpu_seconds": cpu, "narratives": narratives,
            "merges": sum(e.kind == "merged" for e in events),
            "splits": sum(e.kind == "split" for e in events)}


def run(sizes: list[int], previous: bool = False, steady: bool = False) -> str:
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--worker", str(n),
                              *(["--previous"] if previous else []),
                              *(["--steady"] if steady else [])], check=True,
                             capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]
    lines = [
        "## Narratives: scaling (synthetic vectors around real ones"
        + (", constant daily volume)\n" if steady else ")\n"),
        f"Command: `python benchmarks/narratives_scaling.py --sizes "
        f"{','.join(str(s) for s in sizes)}{' --previous' if previous else ''}"
        f"{' --steady' if steady else ''}`  \n"
        + ("Calibration: the PREVIOUS one (no coherence gates, no mutual merges).  \n"
           if previous else "") + f"Machine: {machine()}  \n"
        "Items are SYNTHETIC: real dev-gold multilingual-e5 vectors plus Gaussian noise "
        f"(sd {NOISE}), same language, dates spread over "
        + ("one year per 100,000 items (the same daily volume at every size, a longer "
           "history)" if steady else "a year (denser in time as the size grows)")
        + "; no text, so the lexical "
        "and anchor terms are off. One fresh process per size; chunks of 20,000, refined "
        "after every 100,000 items (as the store refines after each run). Baseline: "
        f"the {base['n']:,}-item run of the same invocation. Goals: near-linear growth, "
        "< 2 GB peak RSS at 1M.\n",
        "| items | wall s | CPU s | items per CPU s | CPU time ratio (size ratio) | "
        "peak RSS (MB) | narratives | merges | splits |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {int(r['n']):,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{r['n'] / r['cpu_seconds']:,.0f} | "
            f"{r['cpu_seconds'] / base['cpu_seconds']:.1f}x ({r['n'] / base['n']:.0f}x) | "
            f"{r['peak_mb']:,.0f} | {int(r['narratives']):,} | {int(r['merges']):,} | "
            f"{int(r['splits']):,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--steady", action="store_true",
                        help="dates over one year per 100,000 items (a constant daily volume) "
                             "instead of one year whatever the size")
    parser.add_argument("--previous", action="store_true",
                        help="use the calibration before the coherence gates (a baseline)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, previous=args.previous, steady=args.steady)))
        return
    print(run([int(x) for x in args.sizes.split(",") if x], previous=args.previous,
              steady=args.steady))


if __name__ == "__main__":
    main()
