"""The program of the language identification worker process (see `langid_process`).

Run as a file, ``python .../echolens/text/langid_worker.py PARENT_PID``: importing the echolens
package would load DuckDB, Polars and the rest (1.5 s) that the worker never uses, so the
worker imports `langid.py` (stdlib and lingua only) by path, and this file imports only the
standard library at the top.

Protocol, one JSON document per line: the parent sends `LanguageIdentifier.settings()` first,
the worker answers ``{"ready": true}``; then each line from the parent is a list of texts and
the worker answers, in order, ``{"codes": [...]}`` (what `detect_many` returns in-process) or
``{"error": "...", "traceback": "..."}``. End of input ends the worker; on Linux it is also
killed when its parent dies (kill -9 included), so it never outlives an import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import IO, Any

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when the parent dies; exit if it is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(1)


def _load_langid() -> ModuleType:
    path = Path(__file__).with_name("langid.py")
    spec = importlib.util.spec_from_file_location("_echolens_worker_langid", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n")
    out.flush()


def serve(source: IO[bytes], out: IO[bytes]) -> int:
    """Answer requests from `source` on `out` until `source` ends."""
    settings = json.loads(source.readline() or "null")
    if not isinstance(settings, dict):
        return 2
    identifier = _load_langid().LanguageIdentifier(
        settings["languages"], latin_candidates=settings["latin_candidates"],
        cyrillic_candidates=settings["cyrillic_candidates"])
    _send(out, {"ready": True})
    for line in source:
        try:
            codes = identifier.detect_many(json.loads(line))
        except Exception as exc:  # reported to the parent, which raises it there
            _send(out, {"error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc()})
        else:
            _send(out, {"codes": codes})
    return 0


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    # as a script, this folder is sys.path[0]; its modules must not shadow anything
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != here]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent(int(argv[0]))
    # the protocol gets its own copy of stdout; anything printed goes to stderr instead
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
