"""`echolens citations [extract|unresolved|items]`: thin wrappers over `echolens.echo`.

`echolens citations` alone prints the stored citation flow and sole-source counts;
`citations extract` works on any JSONL file of texts, without a store.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from echolens.echo.aliases import AliasTable
from echolens.echo.citations import LANGS, trace_citations
from echolens.errors import EcholensError
from echolens.output_files import check_not_input, written_whole

if TYPE_CHECKING:
    import polars as pl

DbOption = Annotated[str | None, typer.Option("--db", help="Store file [env: ECHOLENS_DB].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
EcosystemOption = Annotated[str | None, typer.Option(help="Only items of this ecosystem.")]
SinceOption = Annotated[str | None, typer.Option(help="Items published since (YYYY-MM-DD).")]
UntilOption = Annotated[str | None, typer.Option(help="Items published until (YYYY-MM-DD).")]


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
    try:
        check_not_input(output, input)
    except EcholensError as exc:
        raise _fail(exc) from exc
    table = AliasTable.load()
    done = cited = 0
    bad: list[BadLine] = []
    # bytes that are not UTF-8 are replaced (as the importers do) rather than ending the run
    with input.open(encoding="utf-8", errors="replace") as src, written_whole(output) as out:
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


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _fail(exc: EcholensError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _print_frame(frame: pl.DataFrame, title: str, limit: int = 0) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = frame.head(limit) if limit else frame
    table = Table(*frame.columns, title=title)
    for row in shown.iter_rows():
        table.add_row(*["" if v is None else ", ".join(map(str, v)) if isinstance(v, list)
                        else str(v) for v in row])
    Console().print(table)
    if limit and frame.height > limit:
        typer.echo(f"... {frame.height - limit} more rows (use --json for all)")


def overview(
    ctx: typer.Context,
    ecosystem: EcosystemOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option(help="Flow rows to print (0: all).")] = 30,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The citation flow (who cites whom, by ecosystem) and the sole-source items."""
    if ctx.invoked_subcommand is not None:
        return
    from echolens.database import Database
    from echolens.echo import citation_store as cs

    try:
        with Database(db) as database:
            flow = cs.citation_flow(database, ecosystem=ecosystem, since=since, until=until)
            pairs = cs.ecosystem_flow(database, ecosystem=ecosystem, since=since, until=until)
            sole = cs.sole_source_summary(database, ecosystem=ecosystem, since=since,
                                          until=until)
            processed, total = cs.processed_count(database)
    except EcholensError as exc:
        raise _fail(exc) from exc
    if json_out:
        _print_json({"processed": processed, "items": total,
                     "ecosystem_flow": pairs.to_dicts(), "flow": flow.to_dicts(),
                     "sole_source": sole.to_dicts()})
        return
    if processed < total:
        typer.echo(f"{total - processed} of {total} items have no citations extracted by this "
                   "version of the rules yet: run `echolens process`")
    if flow.is_empty():
        typer.echo("no citations stored for this selection")
        return
    _print_frame(pairs.rename({"citing_ecosystem": "citing", "cited_ecosystem": "cited"}),
                 "citations between ecosystems")
    import polars as pl  # here: the other commands never need it (0.3 s to import)

    shown = flow.select(
        pl.col("citing_ecosystem").alias("citing ecosystem"),
        pl.col("citing_source").alias("source"), pl.col("cited_name").alias("cites"),
        pl.col("cited_ecosystem").alias("of"), "items", pl.col("sole_items").alias("sole"))
    _print_frame(shown, "citation flow", limit)
    _print_frame(sole.rename({"with_citations": "citing", "sole_source": "sole",
                              "sole_foreign": "sole foreign"}),
                 "sole-source items (foreign: one source, of another ecosystem)")


def unresolved(json_out: JsonOption = False, db: DbOption = None,
               limit: Annotated[int, typer.Option(help="Rows to print (0: all).")] = 50
               ) -> None:
    """Cited names the alias table does not know, with counts, for review."""
    from echolens.database import Database
    from echolens.echo import citation_store as cs

    try:
        with Database(db) as database:
            frame = cs.unresolved_names(database)
    except EcholensError as exc:
        raise _fail(exc) from exc
    if json_out:
        _print_json(frame.to_dicts())
        return
    _print_frame(frame, "unresolved cited names (add them to echo/aliases.yaml)", limit)


def items(
    cited: Annotated[str, typer.Option(help="A cited name or any alias (RT, ТАСС, 塔斯社).")],
    ecosystem: EcosystemOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="Rows to print (0: all).")] = 50,
) -> None:
    """Items citing one source, oldest first."""
    from echolens.database import Database
    from echolens.echo import citation_store as cs

    try:
        with Database(db) as database:
            frame = cs.items_citing(database, cited, ecosystem=ecosystem, since=since,
                                    until=until)
    except EcholensError as exc:
        raise _fail(exc) from exc
    if json_out:
        _print_json(frame.to_dicts())
        return
    _print_frame(frame.select("item_id", "item_ecosystem", "published_at", "cited_name", "cue",
                              "headline"), f"items citing {cited}", limit)


def register(app: typer.Typer) -> None:
    """Add the `citations` command group to the echolens app."""
    citations_app = typer.Typer(invoke_without_command=True,
                                help="Explicit citations: which named sources items cite.")
    citations_app.callback(invoke_without_command=True)(overview)
    citations_app.command("extract")(extract)
    citations_app.command("unresolved")(unresolved)
    citations_app.command("items")(items)
    app.add_typer(citations_app, name="citations")
