"""`echolens citations extract`: a thin wrapper over `echolens.echo.extract_citations`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from echolens.echo.aliases import AliasTable
from echolens.echo.citations import LANGS, trace_citations


@dataclass(frozen=True)
class BadLine:
    """An input line that could not be used, with its 1-based line number and the reason."""

    line: int
    reason: str


@dataclass(frozen=True)
class InputItem:
    id: str
    text: str
    lang: str | None
    publisher: str | None


def read_items(lines: Iterator[str]) -> Iterator[InputItem | BadLine]:
    """Parse JSONL lines {"id", "text", "lang"?, "source_outlet"?}; blank lines are skipped."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"invalid JSON ({exc.msg})")
            continue
        if not isinstance(data, dict):
            yield BadLine(number, "not a JSON object")
            continue
        item_id, text, lang = data.get("id"), data.get("text"), data.get("lang")
        if not isinstance(item_id, (str, int)) or isinstance(item_id, bool):
            yield BadLine(number, "missing or invalid 'id'")
        elif not isinstance(text, str):
            yield BadLine(number, "missing or invalid 'text'")
        elif lang is not None and lang not in LANGS:
            yield BadLine(number, f"unknown lang {lang!r}; use one of {', '.join(LANGS)}")
        else:
            publisher = data.get("source_outlet") or data.get("publisher")
            yield InputItem(str(item_id), text, lang,
                            publisher if isinstance(publisher, str) else None)


def extract(
    input: Annotated[Path, typer.Option("--input", help="JSONL: {id, text, lang?}.",
                                        exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("--output", help="JSONL: {id, citations}.")],
) -> None:
    """Write the named sources each item cites; bad lines are reported and skipped."""
    table = AliasTable.load()
    done = cited = 0
    bad: list[BadLine] = []
    with input.open(encoding="utf-8") as src, output.open("w", encoding="utf-8") as out:
        for item in read_items(iter(src)):
            if isinstance(item, BadLine):
                bad.append(item)
                typer.echo(f"{input}:{item.line}: skipped: {item.reason}", err=True)
                continue
            result = trace_citations(item.text, item.lang, publisher=item.publisher,
                                     aliases=table)
            rows = [{"name": c.name, "cue": c.cue, "kind": c.kind, "resolved": c.resolved}
                    for c in result.citations]
            out.write(json.dumps({"id": item.id, "citations": rows,
                                  "sole_source": result.sole_source},
                                 ensure_ascii=False) + "\n")
            done += 1
            cited += bool(rows)
    typer.echo(f"{done} items written to {output} ({cited} with a citation), "
               f"{len(bad)} lines skipped", err=True)


def register(app: typer.Typer) -> None:
    """Add the `citations` command group to the echolens app."""
    citations_app = typer.Typer(no_args_is_help=True,
                                help="Explicit citations: which named sources items cite.")
    citations_app.command("extract")(extract)
    app.add_typer(citations_app, name="citations")
