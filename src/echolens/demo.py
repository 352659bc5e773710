"""`echolens demo`: a fresh store from the real multilingual corpus of the 2022 war.

The default corpus is chosen to finish in minutes on 2 cores (embedding runs at ~30-90 texts/s):
- RU22Fact validate and test splits, from the news outlets and fact-checkers of the four
  ecosystems (TASS, Lenta; People's Daily, Xinhua; Ukrainska Pravda, StopFake; CNN, BBC),
  leaving out US-politics fact-checks (PolitiFact, Snopes) that are off the topic;
- Chinese state-media and BBC headlines about the war, 24 Feb - 30 Apr 2022 (the "US biolabs"
  period);
- the RT Russian-language sample (no dates in the file: dated 2016-01-01, marked assumed).
`--full` loads every row of every data set. The embeddings cache survives a rebuild, so a
second run embeds nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from echolens.database import Database
from echolens.ingest.normalize import DateError, parse_datetime
from echolens.model import RawItem, Reject

WAR_TERMS = re.compile(
    r"ukrain|russia|kiev|kyiv|moscow|putin|zelensk|biolab|bio-lab|biological|nato|donbas|"
    r"mariupol|crimea|kherson|luhansk|donetsk|kremlin|lavrov|azov|kharkiv|bucha|odesa|odessa",
    re.IGNORECASE,
)
DEMO_WINDOW = (datetime(2022, 2, 24, tzinfo=UTC), datetime(2022, 5, 1, tzinfo=UTC))
OFF_TOPIC_DOMAINS = ("politifact.com", "snopes.com")
RT_SAMPLE_DATE = datetime(2016, 1, 1, tzinfo=UTC)


def _in_window(raw: RawItem) -> bool:
    if raw.published_at is None:
        return False
    try:
        when = parse_datetime(raw.published_at, tz_hint=raw.tz_hint, fmt=raw.date_format)
    except DateError:
        return True  # keep it: the pipeline will reject it with its reason
    return DEMO_WINDOW[0] <= when < DEMO_WINDOW[1]


def demo_headlines(records: Iterable[RawItem | Reject]) -> Iterator[RawItem | Reject]:
    for record in records:
        if isinstance(record, Reject) or (
            WAR_TERMS.search(record.text or record.title or "") and _in_window(record)
        ):
            yield record


def demo_ru22fact(records: Iterable[RawItem | Reject]) -> Iterator[RawItem | Reject]:
    for record in records:
        location = Path(record.provenance.location).name
        if "_train" in location:
            continue
        if isinstance(record, RawItem) and (record.source or "").endswith(OFF_TOPIC_DOMAINS):
            continue
        yield record


def _show_narratives(database: Database, model_id: str, say: Callable[[str], None]) -> None:
    """The largest narratives carried by more than one ecosystem."""
    from echolens.narratives.storage import list_narratives

    shared = [n for n in list_narratives(database.store.con, model_id)
              if len([e for e in n["by_ecosystem"] if e != "unknown"]) >= 2]
    say(f"{len(shared)} narratives span two or more ecosystems; the largest:")
    for narrative in shared[:8]:
        spread = ", ".join(f"{e} {c}" for e, c in sorted(narrative["by_ecosystem"].items(),
                                                           key=lambda x: -x[1]))
        say(f"  {narrative['id']}  {narrative['label'][:70]}  ({spread})")
    say("explore: echolens narratives list / echolens narratives show ID")


def run_demo(
    database: Database,
    *,
    full: bool = False,
    embed: bool = True,
    embed_progress: Callable[[Database], Any] | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Rebuild the store from the demo corpus and return its stats."""
    from echolens.ingest.datasets import DATASETS, load_dataset
    from echolens.ingest.download import ensure_data

    started = time.perf_counter()
    root = ensure_data(["ru22fact", "cn-headlines", "rt-sample", "hanley_narrative_influence"],
                       download=True)
    say(f"data: {root}")
    database.store.reset_data()
    database.load_curated_sources()
    plans: list[tuple[str, Callable[[Iterable[RawItem | Reject]], Iterable[RawItem | Reject]],
                      dict[str, Any]]] = [
        ("ru22fact", (lambda r: r) if full else demo_ru22fact, {}),
        ("cn-headlines", (lambda r: r) if full else demo_headlines, {}),
        ("rt-sample", lambda r: r, {"assume_date": RT_SAMPLE_DATE}),
    ]
    for name, select, options in plans:
        step = time.perf_counter()
        report = database.ingest_records(select(load_dataset(name, root, **options)))
        say(f"{name}: new {report.new}, duplicate {report.duplicate}, rejected "
            f"{report.rejected} {dict(report.reasons) or ''} "
            f"({time.perf_counter() - step:.1f}s)  [{DATASETS[name].credit}]")
    if embed:
        step = time.perf_counter()
        result = embed_progress(database) if embed_progress else database.embed()
        say(f"embeddings: {result.embedded} new, {result.cached} cached "
            f"({time.perf_counter() - step:.1f}s)")
        step = time.perf_counter()
        grouped = database.assign_narratives(result.model_id)
        if grouped is not None:
            say(f"narratives: {grouped.opened} opened, {grouped.joined} items joined, "
                f"{grouped.merged} merged ({time.perf_counter() - step:.1f}s)")
            _show_narratives(database, result.model_id, say)
    step = time.perf_counter()
    cited = database.extract_citations()
    say(f"citations: {cited.with_citations} of {cited.processed} items cite a named source, "
        f"{cited.sole_foreign} rest on one source of another ecosystem "
        f"({time.perf_counter() - step:.1f}s); see: echolens citations")
    say(f"demo built in {time.perf_counter() - started:.1f}s: {database.path}")
    return database.stats()


def finish_demo(path: str, *, serve: bool = True, host: str = "127.0.0.1", port: int = 8000,
                report: str | Path = "echolens-report.html",
                say: Callable[[str], None] = print) -> None:
    """After the build: serve the dashboard over the store (read-only, until Ctrl+C), or
    write the convergence report of the main ecosystems and print where it is."""
    if serve:
        from echolens.api.commands import run_server

        run_server(path, host=host, port=port, say=say)
        return
    from echolens.api.report import demo_report

    with Database(path, read_only=True) as database:
        written = demo_report(database, report)
    say(f"report: {written.resolve()}")
