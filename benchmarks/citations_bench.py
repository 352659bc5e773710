"""Stored citations on the real demo corpus: who cites RT or the Russian Defense Ministry, and
how fast items are extracted into the store.

    python benchmarks/citations_bench.py [--store PATH]

Works on a copy of the demo store (`.cache/demo.duckdb`, built by `make demo` /
`echolens demo`); the copy's stored citations are dropped first so every item is extracted.
Baseline for the speed ratio, measured in the same run: the bare rules (`trace_citations` over
the same titles and texts, no store, no registry resolution).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from common import copy_store

import echolens
from echolens.echo import citation_store as cs
from echolens.echo.aliases import AliasTable
from echolens.echo.citations import LANGS, trace_citations

ROOT = Path(__file__).resolve().parents[1]
DEMO_STORE = ROOT / ".cache" / "demo.duckdb"
CITED = ("RT", "Russian Defense Ministry")




def _memory_gib() -> str:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return "?"
    return f"{pages / 2**30:.0f}"


def _table(frame: pl.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(frame.columns) + " |",
             "|" + "---|" * len(frame.columns)]
    for row in frame.iter_rows():
        cells = [str(v).replace("|", "\\|").replace("\n", " ") if v is not None else ""
                 for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def citations_section(store: Path = DEMO_STORE) -> str:
    """The markdown section for BENCHMARKS.md."""
    if not store.exists():
        return ("## Stored citations on the demo corpus\n\nSkipped: no demo store at "
                f"`{store.relative_to(ROOT) if store.is_relative_to(ROOT) else store}` "
                "(build it with `make demo`).\n")
    out = ["## Stored citations on the demo corpus (echo tracing, part 1)", ""]
    with tempfile.TemporaryDirectory() as folder:
        db = echolens.open(copy_store(store, Path(folder)))
        try:
            con = db.store.con
            con.execute("DELETE FROM citations").fetchall()
            con.execute("DELETE FROM citation_items").fetchall()
            rows = con.execute("SELECT title, text, lang FROM items").fetchall()
            table = AliasTable.load()
            started = time.perf_counter()
            for title, text, lang in rows:
                used = lang if lang in LANGS else None
                if title and not (text or "").lstrip().startswith(title.strip()):
                    trace_citations(title, used, aliases=table)
                trace_citations((text or "")[:cs.MAX_CHARS], used, aliases=table)
            bare = time.perf_counter() - started
            report = db.extract_citations()
            summary = cs.sole_source_summary(db)
            citing = {name: cs.items_citing(db, name) for name in CITED}
        finally:
            db.close()
    bare_rate = len(rows) / bare if bare else 0.0
    out += [f"{report.processed} items extracted into the store in {report.seconds:.1f} s: "
            f"**{report.items_per_second:.0f} items/s** (baseline, the bare rules over the same "
            f"texts without the store: {bare_rate:.0f} items/s; store/bare = "
            f"{report.items_per_second / bare_rate if bare_rate else 0:.2f}x). "
            f"{report.with_citations} items cite a named source ({report.citations} citations, "
            f"{report.unresolved} of them unresolved names listed by "
            "`echolens citations unresolved`); "
            f"{report.sole_source} rest on one named source, {report.sole_foreign} on one "
            "source of another ecosystem.", ""]
    out += ["Per ecosystem of the citing item (`echolens citations --json`, `sole_source`):", ""]
    out += _table(summary) + [""]
    for name, frame in citing.items():
        counts = (frame.group_by("item_ecosystem").agg(pl.len().alias("items"),
                                                        pl.col("sole_source").sum().alias(
                                                            "of which sole source"))
                  .sort(["items", "item_ecosystem"], descending=[True, False]))
        out += [f"**Items citing {name}** (`echolens citations items --cited \"{name}\"`): "
                f"{frame.height}", ""]
        out += _table(counts.rename({"item_ecosystem": "ecosystem"})) + [""]
        examples = (frame.sort("published_at").group_by("item_ecosystem", maintain_order=True)
                    .head(2).select("item_id", "item_ecosystem", "published_at", "cue",
                                    pl.col("headline").str.slice(0, 110)))
        out += ["Examples (the first two per ecosystem):", ""] + _table(examples) + [""]
    out += [f"Command: `python benchmarks/citations_bench.py`, on {platform.machine()} "
            f"{platform.system()}, {os.cpu_count()} CPUs, {_memory_gib()} GiB, Python "
            f"{platform.python_version()}. The RT sample items carry an assumed date "
            "(2016-01-01) and RT's own items never cite RT (the publisher is not its own "
            "source)."]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--store", type=Path, default=DEMO_STORE, help="demo store to copy")
    args = ap.parse_args()
    sys.stdout.write(citations_section(args.store))


if __name__ == "__main__":
    main()
