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


def soak(feeds: int, hosts: int, seconds: float, period: float, tmp: Path) -> dict[str, Any]:
    import echolens
    from echolens.watch import Watcher

    server = FeedServer(hosts, 5, period)
    samples: list[tuple[float, float]] = []
    try:
        urls = server.urls(feeds)
        config = _config(urls, tmp, "soak", defaults={"interval": period / 2, "jitter": 0.1,
                                                      "timeout": 10},
                         recheck={"intervals": [period, period * 4, "1d"]})
        with echolens.open(tmp / "soak.duckdb") as db:
            db.detector()
            watcher = Watcher(db, config)
            cycles: list[float] = []
            thread = threading.Thread(
                target=lambda: watcher.run(on_cycle=lambda r: cycles.append(r.seconds)))
            start = time.monotonic()
            thread.start()
            while time.monotonic() - start < seconds:
                samples.append((time.monotonic() - start, _rss_mb()))
                time.sleep(min(5.0, max(0.5, seconds / 60)))
            watcher.stop()
            thread.join(120)
            counts = db.store.con.execute(
                "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM observations)"
            ).fetchall()[0]
    finally:
        server.close()
    after_first = [s for s in samples if s[0] >= min(30.0, seconds / 4)] or samples
    return {"seconds": seconds, "period": period, "cycles": len(cycles),
            "items": counts[0], "observations": counts[1],
            "rss_start": after_first[0][1], "rss_end": samples[-1][1],
            "rss_max": max(s[1] for s in samples), "samples": samples}


def machine() -> str:
    with open("/proc/meminfo") as handle:
        mem = int(handle.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def run(feeds: int = 500, hosts: int = 50, entries: int = 10, soak_seconds: float = 60.0,
        period: float = 20.0, cycle: bool = True) -> str:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        c = one_cycle(feeds, hosts, entries, tmp) if cycle else None
        print("cycle", c, file=sys.stderr)
        s = soak(feeds, hosts, soak_seconds, period, tmp) if soak_seconds > 0 else None
    lines = [] if c is None else [
        "## Watcher: 500 feeds on loopback in one cycle",
        "",
        f"Command: `python benchmarks/watch_bench.py --feeds {feeds} --hosts {hosts} "
        f"--entries {entries} --soak {soak_seconds:g} --period {period:g}`  \n"
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
                      f"--hosts {hosts} --soak {soak_seconds:g} --period {period:g}`  \n"
                      f"Machine: {machine()}.", ""]
        rss = ", ".join(f"{t:.0f}s {m:.0f}" for t, m in s["samples"][::max(1, len(s["samples"])
                                                                           // 10)])
        lines += [f"RSS samples (s MB): {rss}.", ""]
        growth = s["rss_end"] - s["rss_start"]
        lines += [
            f"Soak: {s['seconds']:g} s, every feed gains an entry every "
            f"{s['period']:g} s, feeds polled every {s['period'] / 2:g} s, items re-checked "
            f"after {s['period']:g} s and {s['period'] * 4:g} s: {s['cycles']} cycles, "
            f"{s['items']:,} items, {s['observations']:,} observations. Resident memory "
            f"{s['rss_start']:.0f} MB (first sample after warm-up) -> {s['rss_end']:.0f} MB at "
            f"the end (max {s['rss_max']:.0f} MB; {growth:+.0f} MB, "
            f"{growth / max(1, s['items']) * 1024:.1f} KB per stored item).",
            "",
        ]
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
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), int(args.serve[1]), float(args.serve[2]))
        return
    sys.path.insert(0, str(REPO / "src"))
    print(run(args.feeds, args.hosts, args.entries, args.soak, args.period,
              cycle=not args.no_cycle))


if __name__ == "__main__":
    main()
