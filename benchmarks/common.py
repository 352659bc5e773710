"""Helpers shared by the benchmark scripts: the machine line and a copy of a store."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import threading
from pathlib import Path


def machine() -> str:
    """Cores, memory, architecture and Python, for the figures' context."""
    mem = "?"
    try:
        with open("/proc/meminfo") as handle:
            mem = f"{int(handle.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {mem}, {platform.machine()}, "
            f"Python {platform.python_version()}")


def copy_store(source: Path, folder: Path) -> Path:
    """Copy a DuckDB store (and its WAL) into `folder`, so a benchmark never writes to it."""
    target = folder / "demo.duckdb"
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    return target


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (the narrative
    index runs in a child process during large groupings)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                           resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _rss_kb(pid: int | str, field: str = "VmRSS") -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:  # the process has just ended
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as handle:
                kids = [int(k) for k in handle.read().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


class PeakMemory:
    """The peak resident memory of a process and all its descendants together (the
    narrative index runs in a child process during large groupings), sampled every
    `interval` seconds on a thread; `pid` defaults to this process. The peak of the process
    itself is also read exactly from its high-water mark (`VmHWM`, which counts nothing from
    before its `exec`: `getrusage`'s maxrss of a freshly started child includes the memory
    of the parent it was forked from)."""

    def __init__(self, pid: int | None = None, interval: float = 0.05) -> None:
        self.pid = pid or os.getpid()
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = _rss_kb(self.pid) + sum(_rss_kb(k) for k in _descendants(self.pid))
            self.peak_kb = max(self.peak_kb, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.pid == os.getpid():
            self.peak_kb = max(self.peak_kb, _rss_kb(self.pid, "VmHWM"))

    @property
    def mb(self) -> float:
        return self.peak_kb / 1024
