"""Watcher benchmark: 500 feeds served on loopback, polled in one cycle; memory over a soak.

    python benchmarks/watch_bench.py                  # 500 feeds, 60 s soak (make bench)
    python benchmarks/watch_bench.py --soak 600 --memory-limit 64MB   # the 10-minute soak

The feeds are served by a separate process (asyncio, one listening port per "host", so the
watcher's one-connection-per-host lanes are exercised) on 127.0.0.1. Measured in this process
(wall and CPU time, both user + system of all its threads):

- cold cycle: every feed is new: fetch, parse, normalize (language id included), dedupe and
  store every entry. Baseline: the existing sequential path, `Database.ingest(urls)` over
  the same feeds (one `read_feed` + ingest per URL).
- warm cycle: nothing changed: conditional GETs answered 304. Baseline: plain sequential
  httpx GETs of the same 500 URLs (one client, keep-alive, bodies read, nothing parsed).
- soak: the watcher runs continuously for `--soak` seconds while every feed gains an entry
  every `--period` seconds and items are re-checked; resident memory (RSS) is sampled every
  2 s with DuckDB's and malloc's shares. The first half is warm-up; over the second half a
  least-squares line gives the slope in MB/hour, and memory counts as flat when that slope
  is within FLAT_MB_PER_HOUR of zero. `--memory-limit` caps DuckDB's cache of the store (the
  watch config's `memory_limit`); 64MB binds within 10 minutes at this ingest rate (the
  store passes 40 MB), so the soak shows the cap at work, not a cache still filling.
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


def _eviction_nodes(con: Any) -> float:
    """Entries in DuckDB's buffer eviction queues (`duckdb_eviction_queues()`, recent DuckDB;
    0 where missing). Each keeps a freed buffer's handle (~190 bytes of malloc) until DuckDB
    purges its queue, which it does only once the queue holds tens of thousands of them."""
    import duckdb

    try:
        row = con.execute("SELECT sum(approximate_size) FROM duckdb_eviction_queues()").fetchone()
    except duckdb.Error:
        return 0.0
    return float(row[0] or 0) if row else 0.0


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
    """Run the watcher for `seconds`; every few seconds sample RSS, DuckDB's buffer
    manager, glibc malloc and, with `trace`, Python's traced memory (tracemalloc, one frame;
    it slows Python down and its own bookkeeping is reported apart). The sampler only reads
    counters: walking Python's objects (`gc.get_objects`) from this thread while the
    watcher's threads build tuples can corrupt them (CPython 3.11)."""
    import tracemalloc

    import echolens
    from echolens.watch import Watcher

    server = FeedServer(hosts, 5, period)
    samples: list[dict[str, float]] = []
    cycles: list[tuple[float, float]] = []  # (when it ended, its seconds)
    growers: list[str] = []
    every = min(2.0, max(0.5, seconds / 300))
    try:
        urls = server.urls(feeds)
        config = _config(urls, tmp, "soak", defaults={"interval": period / 2, "jitter": 0.1,
                                                      "timeout": 10},
                         recheck={"intervals": [period, period * 4, "1d"]},
                         **({"memory_limit": memory_limit} if memory_limit else {}))
        with echolens.open(tmp / "soak.duckdb") as db:
            db.detector()
            watcher = Watcher(db, config)
            start = time.monotonic()
            thread = threading.Thread(target=lambda: watcher.run(
                on_cycle=lambda r: cycles.append((time.monotonic() - start, r.seconds))))
            reader = db.store.con.cursor()  # its own connection: safe beside the writer
            if trace:  # started before, stopped after the watcher's threads (CPython races)
                tracemalloc.start(1)
            warm_snapshot = last_snapshot = None
            thread.start()
            while time.monotonic() - start < seconds:
                at = time.monotonic() - start
                duck, limit, tags = _duckdb_mb(reader)
                malloc_used, malloc_free = _malloc_mb()
                traced = tracemalloc.get_traced_memory()[0] if trace else 0
                samples.append({
                    "t": at, "rss": _rss_mb(), "duckdb": duck, "limit": limit,
                    "queued": _eviction_nodes(reader),
                    "malloc_used": malloc_used, "malloc_free": malloc_free,
                    "python": traced / 2**20,
                    "trace_overhead": tracemalloc.get_tracemalloc_memory() / 2**20,
                    "blocks": float(sys.getallocatedblocks()),
                    **{f"tag:{k}": v for k, v in tags.items()}})
                if trace and warm_snapshot is None and at >= seconds / 2:
                    warm_snapshot = tracemalloc.take_snapshot()
                time.sleep(every)
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
    return {"seconds": seconds, "period": period, "every": every, "cycles": cycles,
            "items": counts[0], "observations": counts[1],
            "store_mb": (size[3] * size[2]) / 2**20 if size else 0.0,
            "trace": trace, "samples": samples, "growers": growers}


FLAT_MB_PER_HOUR = 20.0  # "flat": the second half's fitted RSS slope is within this of zero
# malloc bytes one entry of DuckDB's eviction queues keeps (the freed buffer's handle and the
# queue node): measured with DuckDB 2.0.1 over 15,000 join queries, 162k entries, +31 MB
EVICTION_ENTRY_BYTES = 190


def trend(samples: list[dict[str, float]], key: str, since: float) -> dict[str, float]:
    """Least-squares line through `key` over the samples taken at or after `since` seconds:
    slope in MB/hour with its standard error, and the growth from the first to the last of
    those samples."""
    kept = [(x["t"], x[key]) for x in samples if x["t"] >= since]
    n = len(kept)
    if n < 3:
        return {"n": n, "slope": 0.0, "se": float("inf"), "growth": 0.0}
    mean_t = sum(t for t, _ in kept) / n
    mean_y = sum(y for _, y in kept) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in kept)
    slope = sum((t - mean_t) * (y - mean_y) for t, y in kept) / sxx
    residual = sum((y - mean_y - slope * (t - mean_t)) ** 2 for t, y in kept)
    se = (residual / (n - 2) / sxx) ** 0.5
    return {"n": n, "slope": slope * 3600, "se": se * 3600, "growth": kept[-1][1] - kept[0][1]}


def soak_lines(s: dict[str, Any]) -> list[str]:
    """The soak as markdown: RSS over time, its trend over the second half (after warm-up)
    and the verdict, with DuckDB's, malloc's and Python's shares."""
    samples, trace = s["samples"], s["trace"]
    for x in samples:  # the rest: RSS without DuckDB's two shares that DuckDB itself caps
        x["queue_mb"] = x["queued"] * EVICTION_ENTRY_BYTES / 2**20
        x["own"] = x["rss"] - x["duckdb"] - x["queue_mb"]
    first, last, half = samples[0], samples[-1], s["seconds"] / 2
    second = [x for x in samples if x["t"] >= half]
    mid = second[0]
    peak = max(samples, key=lambda x: x["rss"])
    parts = {k: trend(samples, k, half) for k in ("rss", "own", "duckdb", "queue_mb",
                                                  "malloc_used", "malloc_free", "python")}
    rss, own = parts["rss"], parts["own"]

    def verdict(slope: float) -> str:
        return f"**{'flat' if abs(slope) <= FLAT_MB_PER_HOUR else 'not flat'}** " \
            f"({slope:+.0f} MB/hour)"
    early = [c[1] for c in s["cycles"] if c[0] < half]
    late = [c[1] for c in s["cycles"] if c[0] >= half]
    step = max(1, len(samples) // 12)
    python = "Python traced MB | " if trace else ""
    rows = [f"| {x['t']:.0f} | {x['rss']:.0f} | {x['duckdb']:.0f} | {x['queued'] / 1000:.0f}k | "
            f"{x['malloc_used']:.0f} | {x['malloc_free']:.0f} | "
            + (f"{x['python']:.1f} | " if trace else "")
            for x in [*samples[::step][:-1], samples[-1]]]
    tags = ", ".join(f"{k[4:]} {v:.0f}" for k, v in sorted(last.items(), key=lambda kv: -kv[1])
                     if k.startswith("tag:") and v >= 1)
    lines = [
        f"Soak: {s['seconds']:g} s, every feed gains an entry every {s['period']:g} s, feeds "
        f"polled every {s['period'] / 2:g} s, items re-checked after {s['period']:g} s and "
        f"{s['period'] * 4:g} s: {len(s['cycles'])} cycles, {s['items']:,} items, "
        f"{s['observations']:,} observations, store file {s['store_mb']:.0f} MB. "
        f"DuckDB memory_limit {last['limit']:,.0f} MB. Sampled every {s['every']:g} s: "
        "resident memory (RSS); DuckDB's buffer manager (`duckdb_memory()`, its own "
        "allocator); the entries of DuckDB's eviction queues (`duckdb_eviction_queues()`: "
        f"each holds ~{EVICTION_ENTRY_BYTES} bytes of malloc for a buffer long freed, until "
        "DuckDB purges the "
        "queue); glibc malloc in use and free-but-held (`mallinfo2`: DuckDB's other "
        "structures, Python objects over 512 bytes, httpx, lxml...; free pages the watcher "
        "hands back with `malloc_trim` still count as held here but are no longer resident)"
        + ("; Python's traced memory (tracemalloc)." if trace else "."),
        "",
        f"| s | RSS MB | DuckDB buffers MB | DuckDB eviction queue | malloc used MB | "
        f"malloc free MB | {python}",
        "|---:|---:|---:|---:|---:|---:|" + ("---:|" if trace else ""),
        *rows,
        "",
        f"RSS: {first['rss']:.0f} MB at the start (before the first cycle), {mid['rss']:.0f} MB "
        f"at {mid['t']:.0f} s (half-way, after warm-up), peak {peak['rss']:.0f} MB at "
        f"{peak['t']:.0f} s, {last['rss']:.0f} MB at the end.",
        "",
        f"Second half ({mid['t']:.0f}-{last['t']:.0f} s, {rss['n']:.0f} samples), least-squares "
        "slope ± its standard error, and first-to-last change:",
        "",
        "| memory | slope MB/hour | change MB |",
        "|---|---:|---:|",
        *(f"| {label} | {parts[k]['slope']:+.0f} ± {parts[k]['se']:.0f} | "
          f"{parts[k]['growth']:+.0f} |" for k, label in (
              ("rss", "RSS"), ("own", "RSS less the two DuckDB shares below"),
              ("duckdb", "DuckDB buffer manager (capped by memory_limit)"),
              ("queue_mb", f"DuckDB eviction-queue entries x {EVICTION_ENTRY_BYTES} B "
                           "(capped by DuckDB's purge)"),
              ("malloc_used", "malloc in use (includes the entries)"),
              ("malloc_free", "malloc free-but-held"),
              *((("python", "Python traced"),) if trace else ()))),
        "",
        f"Criterion: memory is flat when the second half's fitted slope is within "
        f"±{FLAT_MB_PER_HOUR:g} MB/hour of zero (a 10-minute soak resolves no finer: see the "
        f"standard errors). Verdict: RSS {verdict(rss['slope'])}; RSS less DuckDB's buffer "
        "manager and eviction-queue entries (Python, glibc malloc, DuckDB's other "
        f"structures) {verdict(own['slope'])}. DuckDB's two shares level off by themselves: "
        "its buffers at `memory_limit`, its eviction queues once each holds some 32,000 "
        "entries (DuckDB purges a queue only then; ~25 entries per join query). DuckDB's "
        f"buffers by tag at the end: {tags or '-'}; eviction-queue entries "
        f"{first['queued']:,.0f} -> {last['queued']:,.0f}."
        + (f" Cycle time, median: {_median(early):.2f} s in the first half, "
           f"{_median(late):.2f} s in the second." if early and late else ""),
        "",
    ]
    if s["growers"]:
        lines += ["Top Python growers over the second half (tracemalloc, by line): "
                  + "; ".join(f"`{g}`" for g in s["growers"][:5]) + ".", ""]
    return lines


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2


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
