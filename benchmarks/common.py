"""Helpers shared by the benchmark scripts: the machine line and a copy of a store."""

from __future__ import annotations

import os
import platform
import resource
import shutil
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


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus the largest of its ended children's (an
    upper bound of what both held at once), in MiB."""
    return sum(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
