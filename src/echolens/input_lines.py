"""The lines of a text file read as UTF-8, a bad byte costing its own line a warning.

Batch commands (`cluster`, `match --queries`) read JSONL files from elsewhere; one line
with bytes that are not UTF-8 used to end the whole run with a traceback. Here such bytes
become U+FFFD, as the fact-check importers read them, and the line says so."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


def json_lines(path: str | Path, problems: list[str], where: Callable[[int], str]
               ) -> Iterator[tuple[int, Any]]:
    """(1-based line number, parsed value) of each non-blank line of a JSONL file. A line
    that is not JSON is skipped and one with bytes that are not UTF-8 kept (replaced), each
    adding `where(number): what` to `problems`."""
    for number, line, replaced in utf8_lines(path):
        if replaced:
            problems.append(f"{where(number)}: {NOT_UTF8}")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where(number)}: not JSON ({exc.msg}); skipped: write one JSON "
                            "object per line")
            continue
        yield number, value
