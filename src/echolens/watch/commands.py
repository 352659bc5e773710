"""`echolens watch | deletions | alerts | digest | evidence`: thin wrappers over
`echolens.watch`."""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from echolens.errors import EcholensError, UsageError

DbOption = Annotated[str | None, typer.Option("--db", help="Store file [env: ECHOLENS_DB].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Watch config (YAML): feeds, pages, re-checks, alerts, digest.")]

console = Console()
err = Console(stderr=True)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except EcholensError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc


def _db_path(db: str | None) -> str:
    from echolens.database import default_db_path

    return db or default_db_path()


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """`7d`, `12h`, `2w` before now, or a date/time (ISO 8601, UTC if no zone)."""
    if not value:
        return None
    if re.fullmatch(r"\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*", value):
        from echolens.watch.config import parse_duration

        return now - timedelta(seconds=parse_duration(value))
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise UsageError(f"bad --since {value!r}",
                         "write a span such as 7d or 12h, or a date such as 2026-11-01") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# -- watch ---------------------------------------------------------------------------------
def watch(
    once: Annotated[bool, typer.Option("--once", help="Run one cycle, then exit.")] = False,
    config: ConfigOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Poll feeds and pages, re-check items for deletion or change, alert (until SIGTERM)."""
    from echolens.database import Database
    from echolens.watch.config import load_config
    from echolens.watch.watcher import CycleReport, Watcher

    _log_to_stderr()
    reports: list[CycleReport] = []  # the last KEEP_REPORTS cycles
    totals: Counter[str] = Counter()  # over every cycle

    def count(report: CycleReport) -> None:
        totals.update(cycles=1, polls=report.polled, new=report.ingest.new,
                      checks=sum(report.checks.values()), alerts=report.alerts)

    with _errors():
        cfg = load_config(config)
        with Database(_db_path(db)) as database:
            watcher = Watcher(database, cfg)

            def stop(signum: int, frame: FrameType | None) -> None:
                logging.getLogger("echolens.watch").info("signal %d: stopping", signum)
                watcher.stop()

            old_term = signal.signal(signal.SIGTERM, stop)
            old_int = signal.signal(signal.SIGINT, stop)
            try:
                reports = watcher.run(once=once, on_cycle=count)
            finally:
                signal.signal(signal.SIGTERM, old_term)
                signal.signal(signal.SIGINT, old_int)
    if json_out:
        _print_json([r.to_json() for r in reports])
        return
    console.print(f"{totals['cycles']} cycle(s): {totals['polls']} polls, "
                  f"{totals['new']} new items, {totals['checks']} re-checks, "
                  f"{totals['alerts']} alerts", highlight=False)


def _log_to_stderr() -> None:
    logger = logging.getLogger("echolens")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


# -- deletions -----------------------------------------------------------------------------
def deletions(
    since: Annotated[str | None, typer.Option(help="Events since (7d, 2026-11-01).")] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Deleted, altered and blocked items by source, ecosystem, narrative and week."""
    from echolens.database import Database
    from echolens.watch.deletions import deletion_figures

    with _errors(), Database(_db_path(db)) as database:
        figures = deletion_figures(database.store.con,
                                   since=parse_since(since, datetime.now(UTC)))
    if json_out:
        _print_json(figures.to_json())
        return
    for title, frame in (("by ecosystem", figures.by_ecosystem), ("by source", figures.by_source),
                         ("by narrative", figures.by_narrative),
                         ("by week", figures.over_time)):
        if frame.is_empty():
            continue
        table = Table(*frame.columns, title=title)
        for row in frame.head(30).iter_rows():
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
    if figures.items.is_empty():
        console.print("no watched items yet: run `echolens watch`")


# -- alerts --------------------------------------------------------------------------------
def _alert_config(config: Path | None) -> Any:
    from echolens.watch.alerts import AlertConfig
    from echolens.watch.config import load_config

    cfg = load_config(config)
    alerts = AlertConfig.from_mapping(cfg.alerts, cfg.path or "watch config")
    if not alerts.deliveries:
        raise UsageError("the config has no alert deliveries",
                         "add alerts.deliveries (webhook, email or log) to the watch config")
    return alerts


def alerts_test(config: ConfigOption = None) -> None:
    """Send a test alert to each delivery of the config."""
    from echolens.watch.alerts import send_test

    with _errors():
        sent = send_test(_alert_config(config), datetime.now(UTC))
    for s in sent:
        mark = "[green]ok[/green]" if s.ok else "[red]failed[/red]"
        console.print(f"{s.delivery}: {mark} {s.detail}", highlight=False)
    if not all(s.ok for s in sent):
        raise typer.Exit(1)


def alerts_check(config: ConfigOption = None, json_out: JsonOption = False,
                 db: DbOption = None) -> None:
    """Evaluate the alert rules now and deliver the alerts not sent before."""
    from echolens.database import Database
    from echolens.watch.alerts import run_alerts

    with _errors():
        alert_config = _alert_config(config)
        with Database(_db_path(db)) as database:
            fired = run_alerts(database.store.con, alert_config, now=datetime.now(UTC))
    if json_out:
        _print_json([f.alert.payload() for f in fired])
        return
    for f in fired:
        console.print(f"{f.alert.title} [{', '.join(s.delivery for s in f.sent if s.ok)}]",
                      highlight=False)
    console.print(f"{len(fired)} alerts sent")


def alerts_list(limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
                json_out: JsonOption = False, db: DbOption = None) -> None:
    """The alerts sent so far, newest first."""
    from echolens.database import Database
    from echolens.watch.alerts import fired_alerts

    with _errors(), Database(_db_path(db)) as database:
        rows = fired_alerts(database.store.con, limit)
    if json_out:
        _print_json(rows)
        return
    table = Table("fired", "rule", "title")
    for r in rows:
        table.add_row(f"{r['fired_at']:%Y-%m-%d %H:%M}", r["rule_id"], r["title"])
    console.print(table)


# -- digest --------------------------------------------------------------------------------
def digest(
    since: Annotated[str, typer.Option(help="Period: 7d, 30d or a date.")] = "7d",
    out: Annotated[Path, typer.Option(help="Folder for the HTML and text files.")] = Path("."),
    email: Annotated[bool, typer.Option("--email", help="Also send it to the e-mail "
                                        "deliveries of --config.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Write the brief of the period: cross-ecosystem narratives, debunk matches, most
    cited outlets, deletions; each line with links to its evidence."""
    from echolens.database import Database
    from echolens.watch.digest import build_digest, send_digest, write_digest

    now = datetime.now(UTC)
    with _errors():
        start = parse_since(since, now)
        assert start is not None
        alert_config = _alert_config(config) if email else None
        with Database(_db_path(db)) as database:
            brief = build_digest(database.store.con, since=start, now=now)
        html_path, text_path = write_digest(brief, out)
        sent = send_digest(brief, alert_config) if alert_config is not None else []
    console.print(f"written {html_path} and {text_path}", highlight=False)
    for s in sent:
        console.print(f"e-mail {s.delivery}: {'ok' if s.ok else 'failed'} {s.detail}",
                      highlight=False)
    if email and (not sent or not all(s.ok for s in sent)):
        raise typer.Exit(1)


# -- evidence ------------------------------------------------------------------------------
def evidence(
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    output: Annotated[Path | None, typer.Option(help="Write the kept body to this file.")]
    = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show the first good copy kept for an item, and its observations."""
    from echolens.database import Database
    from echolens.watch.config import load_config
    from echolens.watch.history import item_history

    with _errors():
        cfg = load_config(config)
        with Database(_db_path(db)) as database:
            found = item_history(database, cfg, item_id)
    if output is not None and found.copy is not None:
        output.write_bytes(found.copy.body)
    if json_out:
        _print_json(found.to_json())
        return
    console.print(f"{item_id}: status {found.status}", highlight=False)
    if found.copy is not None:
        console.print(f"kept copy: {found.copy.url} HTTP {found.copy.status}, captured "
                      f"{found.copy.captured_at}, {len(found.copy.body)} bytes "
                      f"({found.place})", highlight=False)
    else:
        console.print("no copy kept", highlight=False)
    for o in found.observations:
        console.print(f"  {o['checked_at']:%Y-%m-%d %H:%M} {o['via']} {o['result']} "
                      f"{o['detail'] or ''}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to the echolens app."""
    app.command("watch")(watch)
    app.command("deletions")(deletions)
    app.command("digest")(digest)
    app.command("evidence")(evidence)
    alerts_app = typer.Typer(no_args_is_help=True, help="Alert rules and their deliveries.")
    alerts_app.command("test")(alerts_test)
    alerts_app.command("check")(alerts_check)
    alerts_app.command("list")(alerts_list)
    app.add_typer(alerts_app, name="alerts")
