"""Watcher benchmark: 500 feeds served on loopback, polled in one cycle; memory over soaks.

    python benchmarks/watch_bench.py                  # 500 feeds, 60 s steady + 30 s stress
    python benchmarks/watch_bench.py --soak 600 --memory-limit 64MB   # 10-minute steady soak
    python benchmarks/watch_bench.py --soak 600 --stress 0 --prelude 600 --memory-limit 64MB

The feeds are served by a separate process (asyncio, one listening port per "host", so the
watcher's one-connection-per-host lanes are exercised) on 127.0.0.1. Measured in this process
(wall and CPU time, both user + system of all its threads):

- cold cycle: every feed is new: fetch, parse, normalize (language id included), dedupe and
  store every entry. Baseline: the existing sequential path, `Database.ingest(urls)` over
  the same feeds (one `read_feed` + ingest per URL).
- warm cycle: nothing changed: conditional GETs answered 304. Baseline: plain sequential
  httpx GETs of the same 500 URLs (one client, keep-alive, bodies read, nothing parsed).
- steady soak (`--soak` seconds measured, after a warm-up of half as long): the watcher runs
  continuously at a realistic rate: each feed gains an entry every `--steady-period` seconds
  (5 minutes: 6,000 items an hour over 500 feeds), is polled every minute, and its items are
  re-checked after 1 and 4 minutes. Resident memory (RSS) is sampled every few seconds with
  DuckDB's and malloc's shares; over the measured window a least-squares line gives the
  slope in MB/hour, and memory counts as flat when that slope is within FLAT_MB_PER_HOUR of
  zero. With `--prelude` seconds, the warm-up starts at the stress rate with cycles back to
  back, then the watcher restarts on the steady schedule: DuckDB's eviction queues (purged
  only at 32,768 entries each) and its buffers (up to memory_limit) fill with the statements
  run, which the steady rate takes hours to do; the prelude stands for those hours. Every
  statement the watcher runs goes through a counting wrapper of the store's connection, and
  the entries DuckDB adds to its eviction queues (`total_insertions`) are sampled too: the
  report gives both per cycle and per hour.
- stress soak (`--stress` seconds, default half of `--soak`): each feed gains an entry every
  `--period` seconds (20 s: 90,000 items an hour), so the store grows as fast as the watcher
  keeps up and memory grows with it; reported as MB per 1,000 items stored.

`--memory-limit` caps DuckDB's cache of the store (the watch config's `memory_limit`).
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
from collections import Counter
from dataclasses import dataclass
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


def _offset(feed: int, period: float) -> float:
    """When, within each period, a feed gains its entry: spread evenly over the feeds (golden
    ratio steps), so new entries arrive at a steady rate, not all feeds at once."""
    return (feed * 0.6180339887498949) % 1.0 * period


def _epoch(feed: int, elapsed: float, period: float, prelude: float,
           prelude_period: float) -> int:
    """How many entries feed `feed` has gained after `elapsed` seconds: one every
    `prelude_period` seconds during the first `prelude` seconds, then one every `period`."""
    if prelude > 0 and elapsed < prelude:
        return int((elapsed + _offset(feed, prelude_period)) / prelude_period)
    before = int((prelude + _offset(feed, prelude_period)) / prelude_period) if prelude > 0 else 0
    if period <= 0:
        return before
    return before + int((elapsed - prelude + _offset(feed, period)) / period)


def serve(hosts: int, entries: int, period: float, prelude: float = 0.0,
          prelude_period: float = 0.0) -> None:
    """Serve /f/<n>.xml and /a/<n>-<k> on `hosts` ports; print the ports; run forever. With
    a `period`, feed n gains an entry every `period` seconds, at its own offset (every
    `prelude_period` seconds during the first `prelude` seconds)."""
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
                status, body, etag = 404, b"not found", None
                if path.startswith("/f/"):
                    feed = int(path[3:].split(".")[0])
                    epoch = _epoch(feed, time.monotonic() - start, period, prelude,
                                   prelude_period)
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
    def __init__(self, hosts: int, entries: int, period: float = 0.0, prelude: float = 0.0,
                 prelude_period: float = 0.0) -> None:
        self.started = time.monotonic()  # the server's clock starts a fraction later
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(hosts), str(entries), str(period),
             str(prelude), str(prelude_period)],
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


def _eviction_insertions(con: Any) -> tuple[float, list[tuple[str, int, int]]]:
    """Entries ever added to DuckDB's eviction queues (`total_insertions`: what the watcher's
    statements cost, whatever DuckDB has purged since), and per queue (type, entries now,
    entries ever added)."""
    import duckdb

    try:
        rows = con.execute("SELECT queue_type, approximate_size, total_insertions FROM "
                           "duckdb_eviction_queues() ORDER BY queue_index").fetchall()
    except duckdb.Error:
        return 0.0, []
    return float(sum(r[2] for r in rows)), [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


class CountingConnection:
    """A DuckDB connection that counts the statements run through it (`execute`, `sql`,
    `executemany`), by their first words: what a cycle costs the store. Everything else
    is the connection's own (cursors opened from it are not counted)."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.counts: Counter[str] = Counter()

    def _count(self, query: Any) -> None:
        words = " ".join(str(query).split()[:3]).upper()
        self.counts[words] += 1

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self._count(query)
        return self._con.execute(query, *args, **kwargs)

    def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self._count(query)
        return self._con.executemany(query, *args, **kwargs)

    def sql(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self._count(query)
        return self._con.sql(query, *args, **kwargs)

    def total(self) -> int:
        return sum(self.counts.values())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


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


@dataclass(frozen=True)
class SoakPlan:
    """One soak: how fast the feeds grow and how often the watcher polls and re-checks."""

    name: str
    warmup: float  # seconds run before the measured window (not fitted)
    seconds: float  # the measured window, fitted
    period: float  # seconds between two new entries of one feed (each feed at its own time)
    interval: float  # seconds between two polls of one feed (10% jitter)
    rechecks: tuple[float, float]  # first and second re-check after enrolment (then 1 day)
    # the first `prelude` seconds of the warm-up run at the stress rate (see `steady_plan`)
    prelude: float = 0.0
    prelude_period: float = 20.0


def steady_plan(seconds: float, period: float, prelude: float = 0.0,
                prelude_period: float = 20.0) -> SoakPlan:
    """A realistic rate: each feed gains an entry every `period` (minutes), is polled every
    minute, and its items are re-checked after 1 and 4 minutes. The warm-up (`prelude`
    seconds, then half of `seconds`) covers the first cycle, which stores every feed's
    entries at once, and the two re-checks of the first steady cohort, so the measured
    `seconds` see a steady load.

    With a `prelude`, the warm-up starts with that many seconds at the stress rate (an entry
    per feed every `prelude_period` seconds, polls every half of it, re-checks after one and
    four periods; then the watcher restarts with the steady schedule and the feeds slow
    down). It stands for the hours a watcher has run before: DuckDB purges each of its
    eviction queues only once it holds some 32,000 entries, which the steady load takes
    hours to reach, and its buffer manager fills up to memory_limit as the store grows.
    Without it, a 10-minute window measures how fast those two fill, not whether memory
    stays bounded. Nothing is hidden: the report shows every sample from the start."""
    return SoakPlan("steady", prelude + seconds / 2, seconds, period, 60.0, (60.0, 240.0),
                    prelude, prelude_period)


def stress_plan(seconds: float, period: float) -> SoakPlan:
    """The store grows as fast as the watcher keeps up: an entry per feed every `period`
    (seconds), polls every `period / 2`, re-checks after `period` and `4 x period`; the
    first half of `seconds` is warm-up, the second half measured."""
    return SoakPlan("stress", seconds / 2, seconds / 2, period, period / 2,
                    (period, period * 4))


def soak(feeds: int, hosts: int, plan: SoakPlan, tmp: Path,
         memory_limit: str | None = None, trace: bool = False) -> dict[str, Any]:
    """Run the watcher for `plan.warmup + plan.seconds`; every few seconds sample RSS,
    DuckDB's buffer manager, glibc malloc, the items stored, the process CPU time and, with
    `trace`, Python's traced memory (tracemalloc, one frame; it slows Python down and its
    own bookkeeping is reported apart). The sampler only reads counters: walking Python's objects
    (`gc.get_objects`) from this thread while the watcher's threads build tuples can corrupt
    them (CPython 3.11)."""
    import tracemalloc

    import echolens
    from echolens.watch import CycleReport, Watcher

    seconds = plan.warmup + plan.seconds
    server = FeedServer(hosts, 5, plan.period, plan.prelude, plan.prelude_period)
    samples: list[dict[str, float]] = []
    cycles: list[dict[str, float]] = []
    growers: list[str] = []
    statements: Counter[str] = Counter()  # by first words, over the measured window
    switched = 0.0  # when the watcher left the prelude (sample time)
    queues: list[tuple[str, int, int]] = []
    every = min(2.0, max(0.5, seconds / 300))
    folder = tmp / plan.name
    folder.mkdir()
    try:
        urls = server.urls(feeds)
        first, second = plan.rechecks
        config = _config(urls, folder, "soak",
                         defaults={"interval": plan.interval, "jitter": 0.1, "timeout": 10},
                         recheck={"intervals": [first, second, "1d"]},
                         **({"memory_limit": memory_limit} if memory_limit else {}))
        fast = plan.prelude_period
        prelude_config = _config(urls, folder, "soak",
                                 defaults={"interval": fast / 2, "jitter": 0.1, "timeout": 10},
                                 recheck={"intervals": [fast, fast * 4, "1d"]},
                                 cycle_pause=0,  # cycles back to back: as fast as it keeps up
                                 **({"memory_limit": memory_limit} if memory_limit else {}))
        with echolens.open(folder / "soak.duckdb") as db:
            db.detector()
            counting = CountingConnection(db.store.con)
            db.store.con = counting  # type: ignore[assignment]
            in_prelude = plan.prelude > 0
            watcher = Watcher(db, prelude_config if in_prelude else config)
            start = time.monotonic()

            def on_cycle(r: CycleReport) -> None:
                # the cycle's statements and those of the wait before it
                cycles.append({"t": time.monotonic() - start, "seconds": r.seconds,
                               "new": r.ingest.new, "polled": r.polled,
                               "checks": sum(r.checks.values()),
                               "statements": counting.total()})
                if time.monotonic() - start >= plan.warmup:
                    statements.update(counting.counts)
                counting.counts.clear()

            thread = threading.Thread(target=watcher.run, kwargs={"on_cycle": on_cycle})
            reader = db.store.con.cursor()  # its own connection: safe beside the writer
            if trace:  # started before, stopped after the watcher's threads (CPython races)
                tracemalloc.start(1)
            warm_snapshot = last_snapshot = None
            thread.start()
            sampler_insertions = 0.0
            while time.monotonic() - start < seconds:
                at = time.monotonic() - start
                if in_prelude and time.monotonic() >= server.started + plan.prelude:
                    # the feeds slow down now: the watcher restarts on the steady schedule
                    watcher.stop()
                    thread.join(120)
                    in_prelude, switched = False, at
                    watcher = Watcher(db, config)
                    thread = threading.Thread(target=watcher.run, kwargs={"on_cycle": on_cycle})
                    thread.start()
                before, _ = _eviction_insertions(reader)
                duck, limit, tags = _duckdb_mb(reader)
                malloc_used, malloc_free = _malloc_mb()
                traced = tracemalloc.get_traced_memory()[0] if trace else 0
                items = reader.execute("SELECT count(*) FROM items").fetchall()[0][0]
                queued = _eviction_nodes(reader)
                inserted, queues = _eviction_insertions(reader)
                # the sampler's own queries add entries too: counted apart (an upper bound:
                # the watcher's statements in the same few milliseconds count here as well)
                sampler_insertions += inserted - before
                samples.append({
                    "t": at, "rss": _rss_mb(), "duckdb": duck, "limit": limit,
                    "queued": queued, "items": float(items), "cpu": _cpu(),
                    "inserted": inserted, "sampler_inserted": sampler_insertions,
                    **{f"queue:{i}": float(q[1]) for i, q in enumerate(queues)},
                    "malloc_used": malloc_used, "malloc_free": malloc_free,
                    "python": traced / 2**20,
                    "trace_overhead": tracemalloc.get_tracemalloc_memory() / 2**20,
                    "blocks": float(sys.getallocatedblocks()),
                    **{f"tag:{k}": v for k, v in tags.items()}})
                if trace and warm_snapshot is None and at >= plan.warmup:
                    warm_snapshot = tracemalloc.take_snapshot()
                time.sleep(every)
            if warm_snapshot is not None:
                last_snapshot = tracemalloc.take_snapshot()
            watcher.stop()
            thread.join(120)
            reader.close()
            db.store.con = counting._con
            if trace:
                tracemalloc.stop()
            if warm_snapshot is not None and last_snapshot is not None:
                growers = _top_growers(warm_snapshot, last_snapshot)
            counts = db.store.con.execute(
                "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM observations)"
            ).fetchall()[0]
            size = db.store.con.execute("PRAGMA database_size").fetchall()
    finally:
        server.close()
    return {"plan": plan, "seconds": seconds, "every": every, "cycles": cycles,
            "items": counts[0], "observations": counts[1], "feeds": feeds,
            "store_mb": (size[0][3] * size[0][2]) / 2**20 if size else 0.0,
            "trace": trace, "samples": samples, "growers": growers,
            "statements": statements, "queues": queues, "switched": switched}


FLAT_MB_PER_HOUR = 20.0  # "flat": the second half's fitted RSS slope is within this of zero
# malloc bytes one entry of DuckDB's eviction queues keeps (the freed buffer's handle and the
# queue node): measured with DuckDB 2.0.1 over 15,000 join queries, 162k entries, +31 MB
EVICTION_ENTRY_BYTES = 190
QUEUES = 8  # rows of duckdb_eviction_queues() (DuckDB 2.0.1)
# a queue is purged (its dead entries dropped) once it holds this many entries: DuckDB's
# INSERT_INTERVAL 4096 x PURGE_SIZE_MULTIPLIER 2 x EARLY_OUT_MULTIPLIER 4 (buffer_pool.cpp)
PURGE_AT = 32_768


def fit(samples: list[dict[str, float]], key: str, since: float, by: str = "t",
        scale: float = 3600.0) -> dict[str, float]:
    """Least-squares line of `key` against `by` over the samples taken at or after `since`
    seconds: slope (times `scale`: MB/hour against time) with its standard error, and the
    change from the first to the last of those samples."""
    kept = [(x[by], x[key]) for x in samples if x["t"] >= since]
    n = len(kept)
    mean_t = sum(t for t, _ in kept) / n if n else 0.0
    sxx = sum((t - mean_t) ** 2 for t, _ in kept)
    if n < 3 or sxx == 0:
        return {"n": n, "slope": 0.0, "se": float("inf"), "growth": 0.0}
    mean_y = sum(y for _, y in kept) / n
    slope = sum((t - mean_t) * (y - mean_y) for t, y in kept) / sxx
    residual = sum((y - mean_y - slope * (t - mean_t)) ** 2 for t, y in kept)
    se = (residual / (n - 2) / sxx) ** 0.5
    return {"n": n, "slope": slope * scale, "se": se * scale,
            "growth": kept[-1][1] - kept[0][1]}


def trend(samples: list[dict[str, float]], key: str, since: float) -> dict[str, float]:
    """`fit` against time: slope in MB/hour."""
    return fit(samples, key, since)


SHARES = (("rss", "RSS"), ("own", "RSS less the two DuckDB shares below"),
          ("duckdb", "DuckDB buffer manager (capped by memory_limit)"),
          ("queue_mb", f"DuckDB eviction-queue entries x {EVICTION_ENTRY_BYTES} B "
                       "(capped by DuckDB's purge)"),
          ("malloc_used", "malloc in use (includes the entries)"),
          ("malloc_free", "malloc free-but-held"))


def soak_lines(s: dict[str, Any]) -> list[str]:
    """The soak as markdown: RSS over time, its trend over the measured window (after warm-up)
    with DuckDB's, malloc's and Python's shares; for the steady soak the verdict (flat or
    not), for the stress soak the memory per 1,000 items stored."""
    plan: SoakPlan = s["plan"]
    samples, trace = s["samples"], s["trace"]
    for x in samples:  # the rest: RSS without DuckDB's two shares that DuckDB itself caps
        x["queue_mb"] = x["queued"] * EVICTION_ENTRY_BYTES / 2**20
        x["own"] = x["rss"] - x["duckdb"] - x["queue_mb"]
    first, last, half = samples[0], samples[-1], plan.warmup
    second = [x for x in samples if x["t"] >= half]
    mid = second[0]
    peak = max(samples, key=lambda x: x["rss"])
    shares = (*SHARES, *((("python", "Python traced"),) if trace else ()))
    parts = {k: trend(samples, k, half) for k, _ in shares}
    per_item = {k: fit(samples, k, half, by="items", scale=1000.0) for k, _ in shares}
    rss, own = parts["rss"], parts["own"]
    added = last["items"] - mid["items"]
    rate = added / max(1e-9, last["t"] - mid["t"]) * 3600
    cpu = (last["cpu"] - mid["cpu"]) / max(1e-9, last["t"] - mid["t"])

    def verdict(slope: float) -> str:
        return f"**{'flat' if abs(slope) <= FLAT_MB_PER_HOUR else 'not flat'}** " \
            f"({slope:+.0f} MB/hour)"
    early = [c for c in s["cycles"] if c["t"] < half]
    late = [c for c in s["cycles"] if c["t"] >= half]
    step = max(1, len(samples) // 12)
    python = "Python traced MB | " if trace else ""
    rows = [f"| {x['t']:.0f} | {x['items']:,.0f} | {x['rss']:.0f} | {x['duckdb']:.0f} | "
            f"{x['queued'] / 1000:.0f}k | {x['malloc_used']:.0f} | {x['malloc_free']:.0f} | "
            + (f"{x['python']:.1f} | " if trace else "")
            for x in [*samples[::step][:-1], samples[-1]]]
    tags = ", ".join(f"{k[4:]} {v:.0f}" for k, v in sorted(last.items(), key=lambda kv: -kv[1])
                     if k.startswith("tag:") and v >= 1)

    def cycle_line(label: str, chosen: list[dict[str, float]]) -> str:
        if not chosen:
            return f"{label}: no cycle"
        n = len(chosen)
        return (f"{label}: {n} cycles, median {_median([c['seconds'] for c in chosen]):.2f} s, "
                f"per cycle on average {sum(c['polled'] for c in chosen) / n:.0f} polls, "
                f"{sum(c['new'] for c in chosen) / n:.0f} new items, "
                f"{sum(c['checks'] for c in chosen) / n:.0f} re-checks, "
                f"{sum(c['statements'] for c in chosen) / n:.1f} DuckDB statements")
    span = max(1e-9, last["t"] - mid["t"])
    sampler = (last["sampler_inserted"] - mid["sampler_inserted"]) / span * 3600
    inserted = (last["inserted"] - mid["inserted"]) / span * 3600 - sampler
    per_cycle = inserted / 3600 * span / max(1, len(late))
    statements = sum(c["statements"] for c in late) / span * 3600
    top = ", ".join(f"{k.lower()}... {v / max(1, len(late)):.1f}"
                    for k, v in s["statements"].most_common(6))
    queue_lines, waits, full = [], [], 0
    for i, (kind, size, _) in enumerate(s["queues"]):
        sizes = [x.get(f"queue:{i}", 0.0) for x in second]
        purged = sum(1 for a, b in zip(sizes, sizes[1:], strict=False) if a - b >= 4096)
        if purged or max(sizes, default=0.0) >= PURGE_AT:
            full += 1
        elif sizes and sizes[-1] > sizes[0]:  # still filling: hours to its purge level
            waits.append((PURGE_AT - sizes[-1]) / ((sizes[-1] - sizes[0]) / span * 3600))
        if max(sizes, default=0.0) > 0:
            queue_lines.append(f"| {i} {kind.lower()} | {min(sizes):,.0f} | {max(sizes):,.0f} | "
                               f"{size:,} | {purged} |")
    title = {"steady": "Steady soak (realistic rate): memory must stay flat",
             "stress": "Stress soak (the store grows as fast as the watcher keeps up): memory "
                       "per 1,000 items stored"}[plan.name]
    bound = QUEUES * (PURGE_AT + 4096) * EVICTION_ENTRY_BYTES / 2**20
    filling = (f"{full} of the {len(queue_lines)} queues in use reached their purge level in "
               "this run" + (f"; the others, at their rate over the measured window, would "
                             f"reach it within {max(waits):.1f} hours" if waits else ""))
    lines = [
        f"### {title}",
        "",
        f"{s['seconds']:g} s: {plan.warmup:g} s of warm-up, then {plan.seconds:g} s measured; "
        + (f"the first {plan.prelude:g} s of the warm-up run at the stress rate (an entry per "
           f"feed every {plan.prelude_period:g} s, polls every {plan.prelude_period / 2:g} s, "
           f"re-checks after {plan.prelude_period:g} s and {plan.prelude_period * 4:g} s, "
           "cycles back to back) to stand for the hours a watcher has run before (DuckDB's "
           "eviction queues and buffers fill with the statements run, and the steady rate "
           "takes hours to fill them); at "
           f"{s['switched']:.0f} s the feeds slow down and the watcher restarts on the steady "
           f"schedule: " if plan.prelude else "")
        + f"each of the {s['feeds']} feeds gains an entry every "
        f"{plan.period:g} s (each at its own moment, so entries arrive at a steady "
        f"{s['feeds'] / plan.period * 3600:,.0f} per hour), is polled every "
        f"{plan.interval:g} s (±10% jitter), and its items are re-checked "
        f"{plan.rechecks[0]:g} s and {plan.rechecks[1]:g} s after they are stored (then after "
        f"a day). No embedding, narratives or citations in the pipeline (`embedder: none`): "
        f"fetch, parse, normalize, language id, dedupe, store, re-check, evidence. At the "
        f"end: {s['items']:,} items, {s['observations']:,} observations, store file "
        f"{s['store_mb']:.0f} MB; DuckDB memory_limit {last['limit']:,.0f} MB.",
        "",
        f"| s | items | RSS MB | DuckDB buffers MB | DuckDB eviction queue | malloc used MB | "
        f"malloc free MB | {python}",
        "|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if trace else ""),
        *rows,
        "",
        f"RSS: {first['rss']:.0f} MB at the start (before the first cycle), {mid['rss']:.0f} MB "
        f"at {mid['t']:.0f} s (after warm-up), peak {peak['rss']:.0f} MB at "
        f"{peak['t']:.0f} s, {last['rss']:.0f} MB at the end. Measured window: {added:,.0f} items "
        f"stored ({rate:,.0f} per hour); the measuring process used {cpu:.2f} CPU seconds per "
        "second (1.00 = one of the 2 cores; the feed server runs apart).",
        "",
        f"Measured window ({mid['t']:.0f}-{last['t']:.0f} s, {rss['n']:.0f} samples), "
        "least-squares "
        "slope ± its standard error against time and against the items stored, and "
        "first-to-last change:",
        "",
        "| memory | slope MB/hour | MB per 1,000 items stored | change MB |",
        "|---|---:|---:|---:|",
        *(f"| {label} | {parts[k]['slope']:+.0f} ± {parts[k]['se']:.0f} | "
          f"{per_item[k]['slope']:+.1f} ± {per_item[k]['se']:.1f} | "
          f"{parts[k]['growth']:+.0f} |" for k, label in shares),
        "",
        f"{cycle_line('Cycles, warm-up', early)}. {cycle_line('Measured window', late)}.",
        "",
        f"DuckDB in the measured window: {statements:,.0f} statements per hour from the "
        f"watcher (per cycle, most frequent first: {top or '-'}); they added "
        f"{inserted:,.0f} entries per hour to DuckDB's eviction queues ({per_cycle:,.0f} per "
        f"cycle; the sampler's own queries added {sampler:,.0f} more), about "
        f"{inserted * EVICTION_ENTRY_BYTES / 2**20:,.0f} MB/hour of malloc while a queue is "
        "below its purge level. Entries per queue (min and max over the measured window, at "
        "the end, and purges seen, i.e. drops of 4,096 or more between two samples):",
        "",
        "| queue | min | max | end | purges |",
        "|---|---:|---:|---:|---:|",
        *queue_lines,
        "",
    ]
    if plan.name == "steady":
        lines += [
            f"Criterion: memory is flat when the measured window's fitted slope is within "
            f"±{FLAT_MB_PER_HOUR:g} MB/hour of zero (a 10-minute soak resolves no finer: see "
            f"the standard errors). Verdict: RSS {verdict(rss['slope'])}; RSS less DuckDB's "
            "buffer manager and eviction-queue entries (Python, glibc malloc, DuckDB's other "
            f"structures) {verdict(own['slope'])}. Of the RSS slope, "
            f"{parts['queue_mb']['slope']:+.0f} MB/hour is DuckDB's eviction-queue entries and "
            f"{parts['duckdb']['slope']:+.0f} MB/hour its buffer manager, both bounded by "
            f"DuckDB itself: the buffers by memory_limit ({last['limit']:,.0f} MB), the queues "
            f"by their purge (DuckDB keeps {QUEUES} queues and purges one once it holds "
            f"{PURGE_AT:,} entries, checked every 4,096 insertions: at most about "
            f"{PURGE_AT + 4096:,} entries each, {bound:.0f} MB for all {QUEUES}). {filling}. "
            f"DuckDB's buffers by tag at the end: {tags or '-'}; eviction-queue entries "
            f"{first['queued']:,.0f} -> {last['queued']:,.0f}.",
            ""]
    else:
        lines += [
            f"At this rate memory grows with the store, as it must (the store's rows, "
            f"DuckDB's indexes and their cache): RSS {per_item['rss']['slope']:+.1f} MB per "
            f"1,000 items stored, {per_item['own']['slope']:+.1f} MB without DuckDB's buffer "
            "manager (capped by memory_limit) and eviction queues (capped by its purge). "
            f"DuckDB's buffers by tag at the end: {tags or '-'}; eviction-queue entries "
            f"{first['queued']:,.0f} -> {last['queued']:,.0f}.",
            ""]
    if s["growers"]:
        lines += ["Top Python growers over the measured window (tracemalloc, by line): "
                  + "; ".join(f"`{g}`" for g in s["growers"][:5]) + ".", ""]
    return lines


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2


SOAK_KINDS = {
    "steady": "a steady soak at a realistic rate, where memory must be flat",
    "stress": "a stress soak where the store grows as fast as the watcher keeps up, which "
              "reports what each 1,000 stored items cost in memory (there memory cannot be "
              "flat: the store is data)",
}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def machine() -> str:
    with open("/proc/meminfo") as handle:
        mem = int(handle.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"




def run(feeds: int = 500, hosts: int = 50, entries: int = 10, soak_seconds: float = 60.0,
        period: float = 20.0, cycle: bool = True, memory_limit: str | None = None,
        trace: bool = False, steady_period: float = 300.0,
        stress_seconds: float | None = None, prelude: float = 0.0) -> str:
    """The cycle table, then the steady soak (`soak_seconds`, an entry per feed every
    `steady_period`) and the stress soak (`stress_seconds`, default half the steady one;
    an entry per feed every `period`)."""
    stress_seconds = soak_seconds / 2 if stress_seconds is None else stress_seconds
    plans = [p for p in (steady_plan(soak_seconds, steady_period, prelude, period),
                         stress_plan(stress_seconds, period)) if p.seconds > 0]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        c = one_cycle(feeds, hosts, entries, tmp) if cycle else None
        print("cycle", c, file=sys.stderr)
        soaks = [soak(feeds, hosts, plan, tmp, memory_limit, trace) for plan in plans]
    extra = (f" --memory-limit {memory_limit}" if memory_limit else "") + \
        (" --trace" if trace else "")
    command = (f"python benchmarks/watch_bench.py{' --no-cycle' if c is None else ''} "
               f"--feeds {feeds} --hosts {hosts} --entries {entries} --soak {soak_seconds:g} "
               f"--steady-period {steady_period:g} --stress {stress_seconds:g} "
               f"--period {period:g}{f' --prelude {prelude:g}' if prelude else ''}{extra}")
    lines = [] if c is None else [
        "## Watcher: 500 feeds on loopback in one cycle",
        "",
        f"Command: `{command}`  \n"
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
    if soaks:
        if c is None:
            lines += ["## Watcher: memory over a soak", "", f"Command: `{command}`  \n"
                      f"Machine: {machine()}.", ""]
        lines += [
            "Memory over soaks: the watcher runs continuously against the same loopback "
            "feeds (5 entries each) while they grow. Sampled every few seconds: resident "
            "memory (RSS); the items stored; DuckDB's buffer manager (`duckdb_memory()`, its "
            "own allocator); the entries of DuckDB's eviction queues "
            "(`duckdb_eviction_queues()`: each holds "
            f"~{EVICTION_ENTRY_BYTES} bytes of malloc for a buffer long freed, until DuckDB "
            f"purges the queue, which it does once a queue holds {PURGE_AT:,} entries); glibc "
            "malloc in use and free-but-held (`mallinfo2`: DuckDB's other structures, Python "
            "objects over 512 bytes, httpx, lxml...; free pages the watcher hands back with "
            "`malloc_trim` still count as held here but are no longer resident). Each soak "
            "starts with a warm-up; only the measured window after it is fitted. "
            + _sentence(", and ".join(SOAK_KINDS[s["plan"].name] for s in soaks)),
            ""]
        for s in soaks:
            lines += soak_lines(s)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--soak", type=float, default=60.0,
                        help="steady soak seconds (0: none)")
    parser.add_argument("--steady-period", type=float, default=300.0,
                        help="seconds between new entries of each feed in the steady soak")
    parser.add_argument("--stress", type=float, default=None,
                        help="stress soak seconds (default: half of --soak; 0: none)")
    parser.add_argument("--period", type=float, default=20.0,
                        help="seconds between new entries of each feed in the stress soak")
    parser.add_argument("--prelude", type=float, default=0.0,
                        help="seconds of the steady soak's warm-up run at the stress rate "
                             "(--period) before the steady warm-up (half of --soak)")
    parser.add_argument("--no-cycle", action="store_true", help="only the soaks")
    parser.add_argument("--memory-limit", help="the watch config's memory_limit, e.g. 256MB")
    parser.add_argument("--trace", action="store_true",
                        help="also trace Python's memory (tracemalloc: slower)")
    parser.add_argument("--serve", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), int(args.serve[1]), float(args.serve[2]),
              float(args.serve[3]), float(args.serve[4]))
        return
    sys.path.insert(0, str(REPO / "src"))
    print(run(args.feeds, args.hosts, args.entries, args.soak, args.period,
              cycle=not args.no_cycle, memory_limit=args.memory_limit, trace=args.trace,
              steady_period=args.steady_period, stress_seconds=args.stress,
              prelude=args.prelude))


if __name__ == "__main__":
    main()
