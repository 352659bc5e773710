"""Watcher benchmark: 500 feeds served on loopback, polled in one cycle; memory over a soak.

    python benchmarks/watch_bench.py                  # 500 feeds, 60 s soak (make bench)
    python benchmarks/watch_bench.py --soak 600       # the 10-minute soak

The feeds are served by a separate process (asyncio, one listening port per "host", so the
watcher's one-connection-per-host lanes are exercised) on 127.0.0.1. Measured in this process
(wall and CPU time, both user + system of all its threads):

- cold cycle: every feed is new: fetch, parse, normalize (language id included), dedupe and
  store every entry. Baseline: the existing sequential path, `Database.ingest(urls)` over
  the same feeds (one `read_feed` + ingest per URL).
- warm cycle: nothing changed: conditional GETs answered 304. Baseline: plain sequential
  httpx GETs of the same 500 URLs (one client, keep-alive, bodies read, nothing parsed).
- soak: the watcher runs continuously for `--soak` seconds while every feed gains an entry
  every `--period` seconds and items are re-checked; resident memory (RSS) is sampled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BASE = datetime(2026, 1, 1, tzinfo=UTC)
VOCABULARY = ("grain corridor ministry talks shipping insurers port convoy inspection "
              "sanctions delegation parliament statement minister border agreement energy "
              "pipeline election summit ceasefire refugees harvest export import tariff bank "
              "currency inflation protest court ruling drone airport railway bridge city "
              "province governor mayor army navy exercise treaty embassy visit trade "
              "factory workers strike hospital school flood storm fire investigation report "
              "officials said would could after before during since week month year new old "
              "first last major minor local national regional international talks").split()


def _text(feed: int, k: int, words: int = 40) -> str:
    """A distinct text per entry (near-duplicate detection sees different stories)."""
    import random

    rng = random.Random(feed * 100_003 + k)
    return " ".join(rng.choice(VOCABULARY) for _ in range(words)) + "."


# -- the feed server (a separate process) -----------------------------------------------------
def _feed(port_base: str, feed: int, first: int, last: int) -> bytes:
    items = []
    for k in range(last, first - 1, -1):
        link = f"{port_base}/a/{feed}-{k}"
        date = format_datetime(BASE + timedelta(minutes=k, seconds=feed))
        items.append(f"<item><title>Feed {feed} story {k}</title><link>{link}</link>"
                     f"<guid>{link}</guid><pubDate>{date}</pubDate><description>Story {k} of "
                     f"feed {feed}. {_text(feed, k)}</description></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Feed {feed}</title><link>{port_base}/</link>{''.join(items)}"
            "</channel></rss>").encode()


def _article(path: str) -> bytes:
    seed = sum(map(ord, path))
    text = "".join(f"<p>{_text(seed, i)} Paragraph {i} of {path}.</p>" for i in range(5))
    return (f"<html><head><title>{path}</title></head><body><article><h1>{path}</h1>{text}"
            "</article></body></html>").encode()


def serve(hosts: int, entries: int, period: float) -> None:
    """Serve /f/<n>.xml and /a/<n>-<k> on `hosts` ports; print the ports; run forever."""
    start = time.monotonic()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                epoch = int((time.monotonic() - start) / period) if period > 0 else 0
                status, body, etag = 404, b"not found", None
                if path.startswith("/f/"):
                    feed = int(path[3:].split(".")[0])
                    etag = f'"{feed}-{epoch}"'
                    last = entries - 1 + epoch
                    status, body = 200, _feed(f"http://127.0.0.1:{port}", feed,
                                              max(0, last - entries + 1), last)
                elif path.startswith("/a/"):
                    status, body = 200, _article(path)
                if etag and headers.get("if-none-match") == etag:
                    status, body = 304, b""
                reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
                extra = f"ETag: {etag}\r\n" if etag else ""
                writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
                             f"{extra}Content-Type: text/xml\r\n\r\n".encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(hosts)]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        print(json.dumps(ports), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class FeedServer:
    def __init__(self, hosts: int, entries: int, period: float = 0.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(hosts), str(entries), str(period)],
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.ports: list[int] = json.loads(self.process.stdout.readline())

    def urls(self, feeds: int) -> list[str]:
        return [f"http://127.0.0.1:{self.ports[i % len(self.ports)]}/f/{i}.xml"
                for i in range(feeds)]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# -- measurements ------------------------------------------------------------------------------
def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def _timed(action: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    result = action()
    return result, time.perf_counter() - wall, _cpu() - cpu


def _config(urls: list[str], tmp: Path, name: str, **overrides: Any) -> Any:
    from echolens.watch import config_from_mapping

    data: dict[str, Any] = {
        "feeds": urls,
        "defaults": {"interval": "1h", "jitter": 0, "timeout": 10},
        "politeness": {"min_delay": 0, "workers": 8, "retries": 1},
        "recheck": {"intervals": ["1d"]},
        "pipeline": {"embedder": "none", "citations": False},
        "evidence_dir": str(tmp / f"{name}.evidence"),
    }
    data.update(overrides)
    return config_from_mapping(data)


def one_cycle(feeds: int, hosts: int, entries: int, tmp: Path) -> dict[str, float]:
    import httpx

    import echolens
    from echolens.watch import Watcher

    server = FeedServer(hosts, entries)
    try:
        urls = server.urls(feeds)
        out: dict[str, float] = {"feeds": feeds, "hosts": hosts, "entries": entries}

        def plain_gets() -> int:
            with httpx.Client(timeout=10) as client:
                return sum(len(client.get(u).content) for u in urls)

        plain_gets()  # warm the server's code paths
        size, out["plain_s"], out["plain_cpu"] = _timed(plain_gets)
        out["bytes"] = size

        with echolens.open(tmp / "seq.duckdb") as db:
            db.detector()  # language models loaded outside the timing
            report, out["seq_s"], out["seq_cpu"] = _timed(lambda: db.ingest(urls, fmt="rss"))
            out["seq_new"] = report.new

        with echolens.open(tmp / "watch.duckdb") as db:
            db.detector()
            watcher = Watcher(db, _config(urls, tmp, "cycle"))
            watcher.open()
            try:
                cold, out["cold_s"], out["cold_cpu"] = _timed(watcher.run_cycle)
                db.store.con.execute("UPDATE watch_sources SET next_at = ?",
                                     [datetime.now(UTC) - timedelta(seconds=1)])
                warm, out["warm_s"], out["warm_cpu"] = _timed(watcher.run_cycle)
            finally:
                watcher.close()
            out["cold_new"], out["cold_failed"] = cold.ingest.new, cold.failed
            out["warm_304"], out["warm_failed"] = warm.not_modified, warm.failed
        return out
    finally:
        server.close()


def _malloc_mb() -> tuple[float, float]:
    """glibc malloc: (bytes in use, free bytes it holds and has not returned), in MB; zeros
    where glibc's `mallinfo2` is missing. Python's small objects and DuckDB's own allocator
    (jemalloc in the Linux wheels) are not in it."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return 0.0, 0.0
    return (info.uordblks + info.hblkhd) / 2**20, info.fordblks / 2**20


def _duckdb_mb(con: Any) -> tuple[float, float, dict[str, float]]:
    """DuckDB's own memory: (buffer manager in use, its memory_limit, MB per tag)."""
    tags = {tag: used / 2**20 for tag, used, _ in con.execute(
        "SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory()"
    ).fetchall() if used}
    used, limit = con.execute(
        "SELECT sum(memory_usage_bytes), current_setting('memory_limit') FROM duckdb_memory()"
    ).fetchone()
    return float(used or 0) / 2**20, _size_mb(str(limit)), tags


def _size_mb(text: str) -> float:
    number, _, unit = text.strip().partition(" ")
    scale = {"bytes": 2**-20, "KiB": 2**-10, "MiB": 1, "GiB": 2**10, "TiB": 2**20,
             "KB": 1e3 / 2**20, "MB": 1e6 / 2**20, "GB": 1e9 / 2**20}.get(unit, 1.0)
    return float(number) * scale


def _top_growers(before: Any, after: Any, count: int = 8) -> list[str]:
    """Python allocation sites that grew most between two tracemalloc snapshots."""
    stats = after.compare_to(before, "lineno")
    return [f"{s.size_diff / 1024:+,.0f} KiB ({s.count_diff:+,} blocks) "
            f"{s.traceback[0].filename.split('/src/')[-1].split('/site-packages/')[-1]}:"
            f"{s.traceback[0].lineno}" for s in stats[:count]]


def soak(feeds: int, hosts: int, seconds: float, period: float, tmp: Path,
         memory_limit: str | None = None, trace: bool = False) -> dict[str, Any]:
    """Run the watcher for `seconds`; sample RSS, DuckDB's buffer manager, glibc malloc,
    Python's object counts and, with `trace`, Python's traced memory (tracemalloc, one
    frame; it slows Python down and its own bookkeeping is reported apart)."""
    import gc
    import tracemalloc

    import echolens
    from echolens.watch import Watcher

    server = FeedServer(hosts, 5, period)
    samples: list[dict[str, float]] = []
    growers: list[str] = []
    try:
        urls = server.urls(feeds)
        config = _config(urls, tmp, "soak", defaults={"interval": period / 2, "jitter": 0.1,
                                                      "timeout": 10},
                         recheck={"intervals": [period, period * 4, "1d"]},
                         **({"memory_limit": memory_limit} if memory_limit else {}))
        with echolens.open(tmp / "soak.duckdb") as db:
            db.detector()
            watcher = Watcher(db, config)
            cycles: list[float] = []
            thread = threading.Thread(
                target=lambda: watcher.run(on_cycle=lambda r: cycles.append(r.seconds)))
            reader = db.store.con.cursor()  # its own connection: safe beside the writer
            if trace:  # started before, stopped after the watcher's threads (CPython races)
                tracemalloc.start(1)
            warm_snapshot = last_snapshot = None
            start = time.monotonic()
            thread.start()
            while time.monotonic() - start < seconds:
                at = time.monotonic() - start
                duck, limit, tags = _duckdb_mb(reader)
                malloc_used, malloc_free = _malloc_mb()
                traced = tracemalloc.get_traced_memory()[0] if trace else 0
                samples.append({
                    "t": at, "rss": _rss_mb(), "duckdb": duck, "limit": limit,
                    "malloc_used": malloc_used, "malloc_free": malloc_free,
                    "python": traced / 2**20,
                    "trace_overhead": tracemalloc.get_tracemalloc_memory() / 2**20,
                    "objects": float(len(gc.get_objects())),
                    "blocks": float(sys.getallocatedblocks()),
                    **{f"tag:{k}": v for k, v in tags.items()}})
                if trace and warm_snapshot is None and at >= min(30.0, seconds / 4):
                    warm_snapshot = tracemalloc.take_snapshot()
                time.sleep(min(5.0, max(0.5, seconds / 60)))
            if warm_snapshot is not None:
                last_snapshot = tracemalloc.take_snapshot()
            watcher.stop()
            thread.join(120)
            reader.close()
            if trace:
                tracemalloc.stop()
            if warm_snapshot is not None and last_snapshot is not None:
                growers = _top_growers(warm_snapshot, last_snapshot)
            counts = db.store.con.execute(
                "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM observations)"
            ).fetchall()[0]
            size = db.store.con.execute("PRAGMA database_size").fetchone()
    finally:
        server.close()
    after_first = [s for s in samples if s["t"] >= min(30.0, seconds / 4)] or samples
    return {"seconds": seconds, "period": period, "cycles": len(cycles),
            "items": counts[0], "observations": counts[1],
            "store_mb": (size[3] * size[2]) / 2**20 if size else 0.0,
            "first": after_first[0], "last": samples[-1], "trace": trace,
            "rss_max": max(s["rss"] for s in samples), "samples": samples,
            "growers": growers}


def soak_lines(s: dict[str, Any]) -> list[str]:
    """The soak as markdown: what grew, split into DuckDB, malloc, Python and the rest."""
    first, last, trace = s["first"], s["last"], s["trace"]
    step = max(1, len(s["samples"]) // 10)
    python = "Python traced MB | " if trace else ""
    rows = [f"| {x['t']:.0f} | {x['rss']:.0f} | {x['duckdb']:.0f} | {x['malloc_used']:.0f} | "
            f"{x['malloc_free']:.0f} | " + (f"{x['python']:.1f} | " if trace else "")
            + f"{x['objects'] / 1000:.0f}k |"
            for x in [*s["samples"][::step], last]]
    grew = {k: last[k] - first[k] for k in ("rss", "duckdb", "malloc_used", "malloc_free",
                                            "python", "trace_overhead")}
    per_item = 1024 / max(1, s["items"])
    tags = ", ".join(f"{k[4:]} {v:.0f}" for k, v in sorted(last.items(), key=lambda kv: -kv[1])
                     if k.startswith("tag:") and v >= 1)
    lines = [
        f"Soak: {s['seconds']:g} s, every feed gains an entry every {s['period']:g} s, feeds "
        f"polled every {s['period'] / 2:g} s, items re-checked after {s['period']:g} s and "
        f"{s['period'] * 4:g} s: {s['cycles']} cycles, {s['items']:,} items, "
        f"{s['observations']:,} observations, store file {s['store_mb']:.0f} MB. "
        f"DuckDB memory_limit {last['limit']:,.0f} MB. Columns: resident memory; DuckDB's "
        "buffer manager (`duckdb_memory()`); glibc malloc in use and free-but-held "
        "(`mallinfo2`; Python objects over 512 bytes, httpx, lxml...); "
        + ("Python's traced memory (tracemalloc); " if trace else "")
        + "objects tracked by Python's GC.",
        "",
        f"| s | RSS MB | DuckDB buffers MB | malloc used MB | malloc free MB | {python}"
        "GC objects |",
        "|---:|---:|---:|---:|---:|" + ("---:|" if trace else "") + "---:|",
        *rows,
        "",
        f"From the first sample after warm-up ({first['t']:.0f} s) to the end: RSS "
        f"{first['rss']:.0f} -> {last['rss']:.0f} MB (max {s['rss_max']:.0f}; "
        f"{grew['rss']:+.0f} MB, {grew['rss'] * per_item:.1f} KB per stored item). Of the "
        f"growth: DuckDB's buffer manager {grew['duckdb']:+.0f} MB (by tag at the end: "
        f"{tags or '-'}), malloc in use {grew['malloc_used']:+.0f} MB, malloc free-but-held "
        f"{grew['malloc_free']:+.0f} MB"
        + (f", Python traced {grew['python']:+.1f} MB (tracemalloc's own bookkeeping "
           f"{grew['trace_overhead']:+.1f} MB)" if trace else "")
        + f"; GC objects {first['objects']:,.0f} -> {last['objects']:,.0f}, Python small "
        f"blocks {first['blocks']:,.0f} -> {last['blocks']:,.0f}.",
        "",
    ]
    if s["growers"]:
        lines += ["Top Python growers over the same span (tracemalloc, by line): "
                  + "; ".join(f"`{g}`" for g in s["growers"][:5]) + ".", ""]
    return lines


def machine() -> str:
    with open("/proc/meminfo") as handle:
        mem = int(handle.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def run(feeds: int = 500, hosts: int = 50, entries: int = 10, soak_seconds: float = 60.0,
        period: float = 20.0, cycle: bool = True, memory_limit: str | None = None,
        trace: bool = False) -> str:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        c = one_cycle(feeds, hosts, entries, tmp) if cycle else None
        print("cycle", c, file=sys.stderr)
        s = soak(feeds, hosts, soak_seconds, period, tmp, memory_limit, trace) \
            if soak_seconds > 0 else None
    extra = (f" --memory-limit {memory_limit}" if memory_limit else "") + \
        (" --trace" if trace else "")
    lines = [] if c is None else [
        "## Watcher: 500 feeds on loopback in one cycle",
        "",
        f"Command: `python benchmarks/watch_bench.py --feeds {feeds} --hosts {hosts} "
        f"--entries {entries} --soak {soak_seconds:g} --period {period:g}{extra}`  \n"
        f"Machine: {machine()} (the feed server, a separate asyncio "
        "process, shares the cores). "
        f"{feeds} RSS feeds of {entries} entries on {hosts} loopback ports (hosts), "
        "8 workers, no politeness delay (`min_delay: 0`; with a delay d the cycle takes at "
        "least (feeds per host - 1) x d), robots.txt checked (404 here), no re-checks in the "
        "cycle. CPU = user + system time of the measuring process, all threads.",
        "",
        "| cycle | seconds | CPU s | items/s | ratio to its baseline (time) |",
        "|---|---:|---:|---:|---:|",
        f"| cold, sequential `Database.ingest(urls)` (baseline) | {c['seq_s']:.2f} | "
        f"{c['seq_cpu']:.2f} | {c['seq_new'] / c['seq_s']:,.0f} | 1.00 |",
        f"| cold, `Watcher.run_cycle` | {c['cold_s']:.2f} | {c['cold_cpu']:.2f} | "
        f"{c['cold_new'] / c['cold_s']:,.0f} | {c['cold_s'] / c['seq_s']:.2f} |",
        f"| warm, plain sequential httpx GETs, bodies read, no parsing (baseline) | "
        f"{c['plain_s']:.2f} | {c['plain_cpu']:.2f} | - | 1.00 |",
        f"| warm, `Watcher.run_cycle` (conditional GET: {int(c['warm_304'])} x 304) | "
        f"{c['warm_s']:.2f} | {c['warm_cpu']:.2f} | - | {c['warm_s'] / c['plain_s']:.2f} |",
        "",
        f"Cold cycle stored {int(c['cold_new']):,} new items ({int(c['cold_failed'])} feeds "
        f"failed); the sequential baseline stored {int(c['seq_new']):,}.",
        "",
    ]
    if s is not None:
        if c is None:
            lines += ["## Watcher: memory over a soak", "",
                      f"Command: `python benchmarks/watch_bench.py --no-cycle --feeds {feeds} "
                      f"--hosts {hosts} --soak {soak_seconds:g} --period {period:g}{extra}`  \n"
                      f"Machine: {machine()}.", ""]
        lines += soak_lines(s)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--soak", type=float, default=60.0, help="soak seconds (0: none)")
    parser.add_argument("--period", type=float, default=20.0,
                        help="seconds between new entries of each feed during the soak")
    parser.add_argument("--no-cycle", action="store_true", help="only the soak")
    parser.add_argument("--memory-limit", help="the watch config's memory_limit, e.g. 256MB")
    parser.add_argument("--trace", action="store_true",
                        help="also trace Python's memory (tracemalloc: slower)")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), int(args.serve[1]), float(args.serve[2]))
        return
    sys.path.insert(0, str(REPO / "src"))
    print(run(args.feeds, args.hosts, args.entries, args.soak, args.period,
              cycle=not args.no_cycle, memory_limit=args.memory_limit, trace=args.trace))


if __name__ == "__main__":
    main()
