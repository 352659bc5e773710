"""`echolens factchecks import|list` and `echolens match`: thin wrappers over the library."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from echolens.claims.dense import E5Encoder, EncodeFn
from echolens.claims.importers import FORMATS, read_factchecks
from echolens.claims.service import ClaimMatcher, Query
from echolens.claims.storage import FactCheckStore
from echolens.errors import EcholensError
from echolens.ingest.normalize import normalize_lang
from echolens.input_lines import json_lines
from echolens.output_files import check_not_input, write_whole

console = Console()
err = Console(stderr=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Store file [env: ECHOLENS_DB].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def default_encoder() -> EncodeFn:
    """The offline e5 model (replaced in tests)."""
    return E5Encoder()


@contextmanager
def _open(db: str | None) -> Iterator[Any]:
    from echolens.database import Database, default_db_path

    try:
        with Database(db or os.environ.get("ECHOLENS_DB") or default_db_path()) as database:
            yield database
    except EcholensError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def factchecks_import(
    file: Annotated[Path, typer.Argument(help="ClaimReview page/JSON, EUvsDisinfo CSV, ...")],
    fmt: Annotated[str | None, typer.Option("--format", help="|".join(FORMATS))] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Import fact-checks; each record is new, linked to a duplicate, or rejected (reason)."""
    if fmt is not None and fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    with _open(db) as database:
        try:
            report = FactCheckStore(database.store).add(read_factchecks(file, fmt))
        except EcholensError as exc:
            raise _fail(str(exc)) from exc
    data = report.as_dict()
    if json_out:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    console.print(f"{report.new} new, {report.linked} linked to an existing claim, "
                  f"{report.duplicate} already stored, {len(report.rejected)} rejected")
    for reject in report.rejected[:20]:
        console.print(f"  rejected {reject.locator}: {reject.reason}: {reject.detail}",
                      highlight=False, markup=False)
    if len(report.rejected) > 20:
        console.print(f"  ... {len(report.rejected) - 20} more")


def factchecks_list(
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    duplicates: Annotated[bool, typer.Option(help="Include linked duplicates.")] = False,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List stored fact-checks."""
    with _open(db) as database:
        facts = FactCheckStore(database.store)
        rows = facts.factchecks(include_duplicates=duplicates, limit=limit)
        total = facts.count(include_duplicates=duplicates)
    if json_out:
        sys.stdout.write(json.dumps(
            [{"id": f.id, "text": f.text, "lang": f.lang, "verdict": f.verdict,
              "organization": f.organization, "url": f.url, "duplicate_of": f.duplicate_of}
             for f in rows], ensure_ascii=False, indent=2, default=str) + "\n")
        return
    table = Table("id", "lang", "verdict", "organization", "claim", title=f"{total} fact-checks")
    for f in rows:
        table.add_row(f.id, f.lang, f.verdict or "", f.organization or "", f.text[:90])
    console.print(table)


def _read_queries(path: Path) -> tuple[list[Query], list[str]]:
    queries: list[Query] = []
    problems: list[str] = []
    for n, record in json_lines(path, problems, lambda n: f"line {n}"):
        if not isinstance(record, dict) or not str(record.get("text") or "").strip():
            problems.append(f"line {n}: needs a non-empty \"text\"; skipped")
            continue
        qid = str(record.get("id") if record.get("id") is not None else f"line-{n}")
        lang = record.get("lang")  # "en-US", "EN", "eng" are the pool's "en"
        queries.append(Query(qid, str(record["text"]),
                             normalize_lang(lang) if isinstance(lang, str) else None))
    return queries, problems


def match(
    queries: Annotated[Path | None, typer.Option(help="JSONL of {id, text, lang?}.")] = None,
    text: Annotated[str | None, typer.Option(help="One claim to check.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Matches per query.")] = 10,
    output: Annotated[Path | None, typer.Option(help="JSONL output (default stdout).")] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Match claims against the stored fact-checks (hybrid lexical + dense)."""
    if (queries is None) == (text is None):
        raise _fail("give either --queries FILE.jsonl or --text \"...\"")
    problems: list[str] = []
    if queries is not None:
        if not queries.exists():
            raise _fail(f"no such file: {queries}")
        if output is not None:
            try:
                check_not_input(output, queries, what="queries file")
            except EcholensError as exc:
                raise _fail(str(exc)) from exc
        batch, problems = _read_queries(queries)
    else:
        batch = [Query("text", text or "")]
    for problem in problems:
        err.print(f"warning: {problem}", highlight=False, markup=False)
    with _open(db) as database:
        try:
            matcher = ClaimMatcher.from_store(database.store, default_encoder())
        except EcholensError as exc:
            raise _fail(str(exc), 1) from exc
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = matcher.match(batch, top_k=top_k, explain=text is not None)
        for warning in caught:
            err.print(f"warning: {warning.message}", highlight=False, markup=False)
        facts = {f.id: f for f in matcher.index.factchecks}
    if text is not None and not json_out:
        _print_table(results[0], facts)
        return
    lines = [json.dumps({"id": q.id, "matches": [
        {"factcheck_id": m.factcheck_id, "score": m.probability, "fused": m.score}
        | ({"shared_terms": list(m.shared_terms), "closest_sentence": m.closest_sentence}
           if text is not None else {})
        for m in found]}, ensure_ascii=False) for q, found in zip(batch, results, strict=True)]
    if output is not None:
        write_whole(output, "".join(line + "\n" for line in lines))
        err.print(f"{len(lines)} queries matched, written to {output}", highlight=False)
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))


def _print_table(found: list[Any], facts: dict[str, Any]) -> None:
    table = Table("#", "P(match)", "fact-check", "claim", "why (shared terms; closest sentence)")
    for m in found:
        fact = facts[m.factcheck_id]
        why = ", ".join(m.shared_terms) or "no shared terms (meaning only)"
        table.add_row(str(m.rank), f"{m.probability:.2f}",
                      f"{fact.id}\n{fact.organization or ''} {fact.verdict or ''}".strip(),
                      fact.text[:120], f"{why}\n“{m.closest_sentence[:160]}”")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `factchecks import|list` and `match` to the main `echolens` app."""
    factchecks_app = typer.Typer(no_args_is_help=True, help="The fact-check memory.")
    factchecks_app.command("import")(factchecks_import)
    factchecks_app.command("list")(factchecks_list)
    app.add_typer(factchecks_app, name="factchecks")
    app.command("match")(match)
