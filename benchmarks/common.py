"""Helpers shared by the benchmark scripts: the machine line and a copy of a store."""

from __future__ import annotations

import os
import platform
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
