"""CLI: `echolens serve` (the dashboard and JSON API) and `echolens report` (HTML files)."""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from echolens.errors import EcholensError, UsageError

DbOption = Annotated[str | None, typer.Option("--db", help="Store file [env: ECHOLENS_DB].")]


def _fail(exc: EcholensError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


WARM_SECONDS = 20.0


def run_server(db_path: str, *, host: str = "127.0.0.1", port: int = 8000,
               write_token: str | None = None, watch: bool = False,
               watch_config: Path | None = None, warm_seconds: float = WARM_SECONDS,
               say: Callable[[str], None] = typer.echo) -> None:
    """Serve the dashboard over the store at `db_path` until interrupted (read-only unless
    `write_token` is given). With `watch`, the watcher polls its sources in a thread of this
    process, the one writer of the store; the dashboard reads beside it."""
    import duckdb
    import uvicorn

    from echolens.api.app import create_app, warm_before_listening
    from echolens.database import Database
    from echolens.watch.config import load_config
    from echolens.watch.watcher import WatcherThread

    if not Path(db_path).exists():
        raise UsageError(f"no store at {db_path}", "build one first, e.g. `echolens demo`")
    watcher: WatcherThread | None = None
    try:
        if watch:
            # DuckDB: in one process, every connection to the file must be read-write.
            watcher = WatcherThread(db_path, load_config(watch_config))
            app = create_app(Database(db_path), write_token=write_token)
        else:
            app = create_app(db_path, write_token=write_token)
    except duckdb.IOException as exc:  # DuckDB: one writer per file, no readers beside it
        raise UsageError(f"cannot open {db_path}: {exc}",
                         "stop the process writing to it, or serve a copy of the file"
                         ) from exc
    say(f"warming up: the search models, then narrative pages for {warm_seconds:g} s at most")
    started = time.monotonic()
    rendered, active = warm_before_listening(app, warm_seconds)
    say(f"ready in {time.monotonic() - started:.1f} s: {rendered} of {active} narrative pages "
        "rendered" + (", the rest render in the background" if rendered < active else ""))
    shown = f"[{host}]" if ":" in host else host
    say(f"dashboard: http://{shown}:{port}/  (JSON API: http://{shown}:{port}/docs; "
        f"{'writes need the bearer token' if write_token else 'read-only'}; Ctrl+C stops)")
    if not is_loopback(host):
        say(f"warning: listening on {host}: anyone who can reach this address can read "
            "the store")
    if watcher is not None:
        watcher.start()
        say("watching the configured sources in the background")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if watcher is not None:
            watcher.stop()


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    write_token: Annotated[str | None, typer.Option(
        help="Allow writes (ingest, source edits) with `Authorization: Bearer TOKEN` "
             "[env: ECHOLENS_WRITE_TOKEN].")] = None,
    watch: Annotated[bool, typer.Option(
        "--watch", help="Also poll the watched sources (see `echolens watch`).")] = False,
    config: Annotated[Path | None, typer.Option(
        help="Watch configuration (YAML) for --watch.")] = None,
    warm_seconds: Annotated[float, typer.Option(
        help="Before listening, render the largest narratives' pages for this long (the "
             "rest render in the background while no request is being answered).",
        min=0)] = WARM_SECONDS,
    db: DbOption = None,
) -> None:
    """Serve the dashboard and the JSON API (OpenAPI at /docs) over the store; with --watch,
    monitor the sources in the same process."""
    from echolens.database import default_db_path

    token = write_token or os.environ.get("ECHOLENS_WRITE_TOKEN") or None
    try:
        run_server(db or default_db_path(), host=host, port=port, write_token=token,
                   watch=watch, watch_config=config, warm_seconds=warm_seconds)
    except EcholensError as exc:
        raise _fail(exc) from exc


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{name} {value!r} is not a date", "use YYYY-MM-DD") from exc


def report(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")],
    narrative: Annotated[str | None, typer.Option(help="A narrative id.")] = None,
    ecosystems: Annotated[str | None, typer.Option(
        help="Comma-separated ecosystems, e.g. russia-state,china-state.")] = None,
    since: Annotated[str | None, typer.Option(help="From this day (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="To this day, inclusive.")] = None,
    db: DbOption = None,
) -> None:
    """Write a self-contained HTML report (charts, evidence tables, data credits) of one
    narrative (--narrative) or of the convergence between ecosystems (--ecosystems)."""
    from echolens.api.report import ecosystems_report, narrative_report, write_report
    from echolens.database import Database, default_db_path

    try:
        if (narrative is None) == (ecosystems is None):
            raise UsageError("give either --narrative ID or --ecosystems A,B",
                             "e.g. echolens report --narrative ID --out report.html")
        path = db or default_db_path()
        if not Path(path).exists():
            raise UsageError(f"no store at {path}", "build one first, e.g. `echolens demo`")
        with Database(path, read_only=True) as database:
            if narrative is not None:
                html = narrative_report(database, narrative, store_name=Path(path).name)
            else:
                names = [e.strip() for e in (ecosystems or "").split(",") if e.strip()]
                html = ecosystems_report(database, names, since=_day(since, "--since"),
                                         until=_day(until, "--until"),
                                         store_name=Path(path).name)
        target = write_report(html, out)
    except EcholensError as exc:
        raise _fail(exc) from exc
    typer.echo(f"report written to {target}")


def register(app: typer.Typer) -> None:
    """Add `serve` and `report` to the echolens command."""
    app.command("serve")(serve)
    app.command("report")(report)
