"""Output files written whole or not at all, and never over the input they are made from.

Every command that writes a file (assignments, matches, citations, reports, digests, graph
exports) goes through `written_whole`: the text goes to `NAME.partial` beside the target
and is renamed over it only when everything was written, so a crash, a full disk or a
bad record half-way leaves the previous file (or none), never half of one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from echolens.errors import UsageError


@contextlib.contextmanager
def written_whole(path: str | Path, newline: str | None = None) -> Iterator[TextIO]:
    """A UTF-8 text handle whose content replaces `path` when the block ends without an
    exception (its folder is created); on an exception `path` is left as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline=newline) as handle:
            yield handle
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def write_whole(path: str | Path, text: str) -> Path:
    """`text` as the whole of `path` (`written_whole`); returns the path."""
    with written_whole(path) as handle:
        handle.write(text)
    return Path(path)


def check_not_input(output: str | Path, source: str | Path, option: str = "--output",
                    what: str = "input file") -> None:
    """A `UsageError` when `output` names the file `source` is read from (it would be lost)."""
    if Path(output).resolve() == Path(source).resolve():
        raise UsageError(f"{option} is the {what} {source}", "write the output to another file")
