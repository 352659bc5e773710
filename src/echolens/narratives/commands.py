"""CLI: `echolens narratives list|show|rebuild` and the stateless `echolens cluster`."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from echolens.errors import EcholensError, UsageError
from echolens.progress import progress_bar

DbOption = Annotated[str | None, typer.Option("--db", help="Store file [env: ECHOLENS_DB].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MAX_PROBLEMS_SHOWN = 20  # input lines with a problem printed one by one by `cluster`


def _fail(exc: EcholensError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _parse_since(since: str | None) -> datetime | None:
    if not since:
        return None
    try:
        parsed = datetime.fromisoformat(since)
    except ValueError as exc:
        raise UsageError(f"--since {since!r} is not a date", "use YYYY-MM-DD") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def narratives_list(
    ecosystem: Annotated[str | None, typer.Option(help="Only narratives with items from it.")]
    = None,
    since: Annotated[str | None, typer.Option(help="Only narratives seen since (YYYY-MM-DD).")]
    = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List the active narratives, largest first."""
    from echolens.database import Database
    from echolens.narratives.storage import list_narratives

    try:
        with Database(db) as database:
            rows = list_narratives(database.store.con, ecosystem=ecosystem,
                                   since=_parse_since(since))
    except EcholensError as exc:
        raise _fail(exc) from exc
    if json_out:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no narratives yet: run `echolens process` after ingesting items")
        return
    for r in rows:
        ecos = ", ".join(f"{k} {v}" for k, v in sorted(r["by_ecosystem"].items()))
        first = r["first_seen"].date() if r["first_seen"] else "?"
        last = r["last_seen"].date() if r["last_seen"] else "?"
        typer.echo(f"{r['id']}  {r['size']:>5}  {first}..{last}  [{ecos}]  {r['label']}")


def narratives_show(
    narrative_id: Annotated[str, typer.Argument(help="A narrative id from `narratives list`.")],
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """One narrative: label, keywords per language, representatives, timeline, history."""
    from echolens.claims.service import narrative_claim_matches
    from echolens.database import Database
    from echolens.echo.timing import narrative_timing
    from echolens.errors import NotFound
    from echolens.narratives.storage import narrative_detail

    try:
        with Database(db) as database:
            detail = narrative_detail(database.store.con, narrative_id)
            if detail is not None:
                detail["echo"] = narrative_timing(database, detail["id"],
                                                  detail["model_id"]).to_dict()
                detail["narrative_matches"] = narrative_claim_matches(database.store,
                                                                      detail["id"])
        if detail is None:
            raise NotFound(f"no narrative {narrative_id!r}",
                           "list them with `echolens narratives list`")
    except EcholensError as exc:
        raise _fail(exc) from exc
    if json_out:
        _print_json(detail)
        return
    typer.echo(f"{detail['id']} ({detail['status']}"
               + (f", merged into {detail['merged_into']}" if detail["merged_into"] else "")
               + f"): {detail['label']}")
    typer.echo(f"items {detail['size']}, first seen {detail['first_seen']}, "
               f"last seen {detail['last_seen']}")
    for lang, words in sorted(detail["keywords"].items()):
        typer.echo(f"  keywords [{lang}] {', '.join(words)}")
    for key, rep in detail["representatives"].items():
        typer.echo(f"  {key}: {rep['text']}")
    _echo_echo(detail["echo"])
    typer.echo("  timeline (week, ecosystem, items):")
    for point in detail["timeline_weekly"]:
        typer.echo(f"    {point['period']}  {point['ecosystem']:<12} {point['items']}")
    if detail["factcheck_matches"]:
        typer.echo("  matched fact-checks (items, best probability):")
    for match in detail["factcheck_matches"]:
        claim = match["title"] or match["text"]
        typer.echo(f"    {match['items']:>3}  {match['best_probability']:.2f}  "
                   f"{match['organization'] or ''}: {claim[:90]}  {match['url'] or ''}")
    if detail["narrative_matches"]:
        typer.echo("  fact-checks matching the narrative as a whole (probability):")
    for match in detail["narrative_matches"]:
        typer.echo(f"    {match['probability']:.2f}  {match['organization'] or ''}: "
                   f"{(match['title'] or match['text'])[:90]}  {match['url'] or ''}")
    for h in detail["history"]:
        typer.echo(f"  {h['at']:%Y-%m-%d %H:%M} {h['event']} {h['other_id'] or h['item_id']}")


def _echo_echo(echo: dict[str, Any]) -> None:
    """First seen per ecosystem and the echo chain (from `echolens.echo.timing`)."""
    typer.echo("  first seen per ecosystem (dated items):")
    for first in echo["first_seen"]:
        tie = f" (tie with {', '.join(first['tied_with'])})" if first["tied_with"] else ""
        typer.echo(f"    {first['published_at'][:16]}  {first['ecosystem']:<14}"
                   f" {first['items']:>4} items  {first['source_id']}: "
                   f"{first['title'][:80]}{tie}")
    chain = echo["chain"]
    if chain is not None:
        typer.echo(f"  echo chain from {chain['origin']}:")
        for origin in chain["origin_items"]:
            typer.echo(f"    {origin['published_at'][:16]}  {origin['source_id']}: "
                       f"{origin['title'][:90]}")
        previous = chain["origin"]
        for step in chain["steps"]:
            typer.echo(f"    {previous} -> {step['ecosystem']}: "
                       f"+{step['after_previous_hours'] / 24:.1f} d "
                       f"(+{step['lag_hours'] / 24:.1f} d after the origin; "
                       f"{step['source_id']}, {step['published_at'][:16]})")
            for cite in step["citations"]:
                typer.echo(f"      {cite['item_id']} cites {cite['name']}"
                           f" ({cite['ecosystem'] or cite['source_id'] or '?'}):"
                           f" {cite['cue'] or ''}")
            previous = step["ecosystem"]
    for note in echo["notes"]:
        typer.echo(f"  note: {note}")


def narratives_rebuild(
    model: Annotated[str | None, typer.Option(
        help="Embedding model id (default: the only one with narratives).")] = None,
    db: DbOption = None,
) -> None:
    """Group every item again with the current calibration (after an upgrade); reuses the
    stored embeddings."""
    from echolens.database import Database
    from echolens.narratives.assign import rebuild_narratives

    try:
        with Database(db) as database:
            report = rebuild_narratives(database.store, model)
    except EcholensError as exc:
        raise _fail(exc) from exc
    typer.echo(f"narratives rebuilt for {report.model_id}: {report.opened} opened, "
               f"{report.joined} joined, {report.merged} merged, {report.split} split, "
               f"skipped {report.skipped}, {report.queued_no_embedding} waiting for a vector")


def cluster(
    input_path: Annotated[Path, typer.Option("--input", help="JSONL: id, text, lang?, "
                                             "published_at?, source?")],
    output_path: Annotated[Path, typer.Option("--output", help="JSONL: id, narrative.")],
    db: Annotated[str | None, typer.Option(
        "--db", help="Store used as the embeddings cache (by content hash) [default: "
        "$ECHOLENS_CACHE_DIR/embeddings.duckdb, else ~/.cache/echolens/embeddings.duckdb]."
    )] = None,
    cache: Annotated[bool, typer.Option(
        "--cache/--no-cache", help="Keep the vectors for the next run (--no-cache: embed "
        "every text, keep nothing).")] = True,
) -> None:
    """Group a corpus into narratives without a store (stateless batch mode).

    The vectors are cached by content, so a second run over the same texts embeds none of
    them (the model reads ~30-90 texts/s on 2 cores); the narratives depend only on the
    input."""
    from echolens.narratives.cli_batch import cluster_file, default_embedding_cache

    if db and not cache:
        raise _fail(UsageError("--db is the embeddings cache and --no-cache asks for none",
                               "give one of them"))
    cache_db = (db or str(default_embedding_cache())) if cache else None
    try:
        with progress_bar("embedding") as progress:
            summary = cluster_file(input_path, output_path, cache_db=cache_db,
                                   progress=progress,
                                   say=lambda message: typer.echo(message, err=True))
    except EcholensError as exc:
        raise _fail(exc) from exc
    problems = summary.pop("problems")
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        typer.echo(f"warning: {problem}", err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        typer.echo(f"warning: ... {len(problems) - MAX_PROBLEMS_SHOWN} more lines with "
                   "problems", err=True)
    typer.echo(json.dumps(summary | {"problems": len(problems)}, ensure_ascii=False), err=True)


def register(app: typer.Typer) -> None:
    """Add `narratives list|show|rebuild` and `cluster` to the echolens command."""
    narratives_app = typer.Typer(no_args_is_help=True,
                                 help="Narratives across languages and ecosystems.")
    narratives_app.command("list")(narratives_list)
    narratives_app.command("show")(narratives_show)
    narratives_app.command("rebuild")(narratives_rebuild)
    app.add_typer(narratives_app, name="narratives")
    app.command("cluster")(cluster)
