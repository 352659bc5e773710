"""Keeping a long-running watcher's memory flat: glibc malloc housekeeping.

A watcher fetches in several threads for months. glibc gives each thread that allocates
its own malloc arena (up to 8 per core) and keeps what is freed in them for reuse, so the
process holds more and more free memory that it never returns to the system. The watcher
therefore caps the number of arenas when it starts (`limit_malloc_arenas`, unless
`MALLOC_ARENA_MAX` is set in the environment) and hands free pages back after every cycle
(`release_free_memory`, glibc's `malloc_trim(0)`). Both are no-ops where glibc is missing
(macOS, musl), and neither changes what a program computes.

Two other shares are DuckDB's and level off by themselves: its buffer manager keeps the
store's blocks up to `memory_limit` (set it in the watch config for a long run), and its
eviction queues keep a small handle (~190 bytes) of every operator buffer it freed until a
queue holds 32,768 of them and DuckDB purges it (DuckDB 2.0 keeps 8 queues: at most about
53 MB in all). Each hash join or aggregate with rows adds some 15 to 35 entries, and so does
a list parameter (`IN (SELECT unnest(?))`, `list_contains(?, x)` with more than a few
values: DuckDB turns it into a join), so at a realistic polling rate the queues take hours
to fill. The watcher keeps its statements per cycle few: one write per flush of results
(`FLUSH_SECONDS`), no write in an idle cycle, lists filtered in Python where the rows
are few (`state.due_sources`), and no cycle sooner than `WatchConfig.cycle_pause`. Python's
own objects stay flat: what grows with the store is the store.
`benchmarks/watch_bench.py --soak` measures each share.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading

log = logging.getLogger("echolens.watch")

M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)
ARENAS = 2  # the watcher's threads mostly wait for the network: little contention

_lock = threading.Lock()
_libc: ctypes.CDLL | None = None
_looked_up = False
_arenas_limited = False


def _glibc() -> ctypes.CDLL | None:
    """The C library, if it is glibc (it has `malloc_trim` and `mallopt`)."""
    global _libc, _looked_up
    with _lock:
        if not _looked_up:
            _looked_up = True
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                libc.malloc_trim.restype = ctypes.c_int
                libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                libc.mallopt.restype = ctypes.c_int
            except (OSError, AttributeError):
                libc = None
            _libc = libc
        return _libc


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads started from now on (once per process; not
    when `MALLOC_ARENA_MAX` is set, which then wins). Returns whether the cap was set."""
    global _arenas_limited
    if _arenas_limited or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _glibc()
    if libc is None:
        return False
    _arenas_limited = bool(libc.mallopt(M_ARENA_MAX, arenas))
    if not _arenas_limited:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return _arenas_limited


def release_free_memory() -> bool:
    """Return the free pages glibc malloc holds (in every arena) to the system; returns
    whether any memory was released. Takes a few milliseconds."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
