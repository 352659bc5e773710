"""The lines of a text file read as UTF-8, a bad byte costing its own line a warning.

Batch commands (`cluster`, `match --queries`) read JSONL files from elsewhere; one line
with bytes that are not UTF-8 used to end the whole run with a traceback. Here such bytes
become U+FFFD, as the fact-check importers read them, and the line says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

NOT_UTF8 = ("not valid UTF-8; the bytes that are not were replaced by U+FFFD: save the file "
            "as UTF-8")


def utf8_lines(path: str | Path) -> Iterator[tuple[int, str, bool]]:
    """(1-based line number, text, whether bytes that are not UTF-8 were replaced)."""
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                yield number, raw.decode("utf-8"), False
            except UnicodeDecodeError:
                yield number, raw.decode("utf-8", errors="replace"), True
