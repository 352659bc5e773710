"""`echolens demo`: a fresh store from the real multilingual corpus of the 2022 war.

The default corpus is chosen to finish in minutes on 2 cores (embedding runs at ~30-90 texts/s):
- RU22Fact validate and test splits, from the news outlets and fact-checkers of the four
  ecosystems (TASS, Lenta; People's Daily, Xinhua; Ukrainska Pravda, StopFake; CNN, BBC),
  leaving out US-politics fact-checks (PolitiFact, Snopes) that are off the topic;
- Chinese state-media and BBC headlines about the war, 24 Feb - 30 Apr 2022 (the "US biolabs"
  period);
- the RT Russian-language sample (no dates in the file: dated 2016-01-01, marked assumed).

The fact-check memory the items and narratives are matched against ("has this been
debunked?"): the EUvsDisinfo cases about Ukraine or biological weapons and laboratories
(`demo_case`: their countries, keywords, title or claim name Ukraine or a Ukrainian place,
Maidan, MH17, Poroshenko, Zelensky, or biological weapons, laboratories, pathogens) of both
scrapes, the one with summaries first (a case in both is kept once, with its summary), and
every StopFake debunk of RU22Fact. The rule reads only the fact-checks, never the items.
`--full` loads every row of every data set. The embeddings cache survives a rebuild, so a
second run embeds nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from echolens.database import Database
from echolens.ingest.normalize import DateError, parse_datetime
from echolens.model import RawItem, Reject

if TYPE_CHECKING:
    from echolens.claims.dense import EncodeFn
    from echolens.claims.importers import Record

WAR_TERMS = re.compile(
    r"ukrain|russia|kiev|kyiv|moscow|putin|zelensk|biolab|bio-lab|biological|nato|donbas|"
    r"mariupol|crimea|kherson|luhansk|donetsk|kremlin|lavrov|azov|kharkiv|bucha|odesa|odessa",
    re.IGNORECASE,
)
DEMO_WINDOW = (datetime(2022, 2, 24, tzinfo=UTC), datetime(2022, 5, 1, tzinfo=UTC))
OFF_TOPIC_DOMAINS = ("politifact.com", "snopes.com")
RT_SAMPLE_DATE = datetime(2016, 1, 1, tzinfo=UTC)

DEMO_CASE_TERMS = re.compile(
    r"ukrain|kiev|kyiv|donbas|donetsk|luhansk|lugansk|crimea|odesa|odessa|kharkiv|mariupol|"
    r"maidan|mh17|poroshenko|zelensk|biolog|bio-?lab|laborator|pathogen",
    re.IGNORECASE,
)
EUVSDISINFO_FILES = (  # with summaries first: a case in both scrapes keeps its summary
    ("euvsdisinfo_kalkun", "euvsdisinfo_cases_2015-2017_with_summary_disproof.csv"),
    ("euvsdisinfo_cknabs", "euvsdisinfo_posts_2015-2021.csv"),
)
FACTCHECK_CREDIT = ("Source: EUvsDisinfo (EEAS East StratCom), euvsdisinfo.eu, scraped by "
                    "kalkun/euvsdisinfo-scraper and cknabs/EUvsDisinfo; StopFake (stopfake.org) "
                    "via RU22Fact")
BIOLAB_TERMS = re.compile(r"biolab|bio-lab|biological lab|生物实验室|биолаборатор|біолаборатор",
                          re.IGNORECASE)


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


def demo_case(row: dict[str, str]) -> bool:
    """An EUvsDisinfo case (raw CSV row of either scrape) about Ukraine or biological
    weapons and laboratories: the demo's subset of the fact-check memory."""
    fields = (row.get(name) or "" for name in ("countries", "keywords", "title", "summary"))
    return bool(DEMO_CASE_TERMS.search(" ".join(fields)))


def demo_factchecks(root: Path, *, full: bool = False) -> list[tuple[str, Iterable[Record]]]:
    """The fact-check files of the demo as (name, records): EUvsDisinfo (`demo_case` rows,
    every row with `full`) and the StopFake rows of RU22Fact."""
    from echolens.claims.importers import read_euvsdisinfo, read_ru22fact_stopfake

    keep = None if full else demo_case
    return [*((f"EUvsDisinfo ({folder.split('_')[-1]})", read_euvsdisinfo(root / folder / name,
                                                                          keep))
              for folder, name in EUVSDISINFO_FILES),
            ("StopFake (RU22Fact)", read_ru22fact_stopfake(root / "ru22fact"))]


def load_factchecks(database: Database, root: Path, *, full: bool = False,
                    say: Callable[[str], None] = print) -> int:
    """Import the demo's fact-checks (`demo_factchecks`); returns how many are new."""
    from echolens.claims.storage import FactCheckStore

    step = time.perf_counter()
    facts = FactCheckStore(database.store)
    parts = []
    new = linked = rejected = 0
    for name, records in demo_factchecks(root, full=full):
        report = facts.add(records)
        parts.append(f"{name} {report.new}")
        new, linked, rejected = new + report.new, linked + report.linked, \
            rejected + len(report.rejected)
    say(f"fact-checks: {new} new ({', '.join(parts)}), {linked} linked to a claim already "
        f"stored, {rejected} rejected ({time.perf_counter() - step:.1f}s)  [{FACTCHECK_CREDIT}]")
    return new


def match_factchecks(database: Database, *, encode: EncodeFn | None = None,
                     say: Callable[[str], None] = print) -> int | None:
    """Match the items and narratives not matched yet against the fact-check memory (the
    fact-checks' vectors are embedded once, then cached by content); print how many match
    above the threshold and the best debunk of a "biolabs" item. Returns the new matches
    above threshold (None when the store holds no fact-checks)."""
    from echolens.claims.matcher import MatcherConfig

    step = time.perf_counter()
    marks = [0]

    def progress(done: int, total: int) -> None:
        if done == total or done >= marks[0] + 1000:
            marks[0] = done
            say(f"  fact-check vectors: {done}/{total} embedded (cached for the next run)")

    events = database.match_new_items(encode, progress=progress)
    if events is None:
        say("fact-check matches: the store holds no fact-checks")
        return None
    con = database.store.con
    row = con.execute(
        "SELECT count(DISTINCT subject_id) FILTER (subject_kind = 'item'), "
        "count(DISTINCT subject_id) FILTER (subject_kind = 'item' AND above_threshold), "
        "count(DISTINCT subject_id) FILTER (subject_kind = 'narrative' AND above_threshold) "
        "FROM claim_matches").fetchone() or (0, 0, 0)
    say(f"fact-check matches: {row[1]} of {row[0]} items and {row[2]} narratives match a "
        f"fact-check at their language pair's threshold (P >= {MatcherConfig.threshold_same}"
        f" same language, >= {MatcherConfig.threshold_cross} across languages) ({events} new) "
        f"({time.perf_counter() - step:.1f}s); see: echolens narratives show ID")
    example = _biolab_example(database)
    if example:
        say(example)
    return events


def _biolab_example(database: Database) -> str | None:
    """One line: the "biolabs" item with the most confident match, and that fact-check."""
    row = database.store.con.execute(
        "SELECT coalesce(i.title, i.text), s.name, m.probability, f.organization, "
        "f.published_at, coalesce(f.title, f.text) FROM claim_matches m "
        "JOIN items i ON i.id = m.subject_id JOIN factchecks f ON f.id = m.factcheck_id "
        "LEFT JOIN sources s ON s.id = i.source_id WHERE m.subject_kind = 'item' "
        "AND regexp_matches(coalesce(i.title, i.text), ?, 'i') "
        "ORDER BY m.probability DESC, i.id, f.id LIMIT 1", [BIOLAB_TERMS.pattern]).fetchone()
    if row is None:
        return None
    text, source, probability, org, published, claim = row
    when = f" {published:%Y-%m-%d}" if published else ""
    return (f"  e.g. {source or 'unknown'}: \"{str(text)[:90]}\"\n"
            f"    -> {org or 'fact-check'}{when}: \"{str(claim)[:90]}\" (P {probability:.2f})")


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
    encode: EncodeFn | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Rebuild the store from the demo corpus and return its stats. `encode` embeds the
    fact-checks for matching (default: the offline e5 model)."""
    from echolens.claims.storage import FactCheckStore
    from echolens.ingest.datasets import DATASETS, load_dataset
    from echolens.ingest.download import ensure_data

    started = time.perf_counter()
    root = ensure_data(["ru22fact", "cn-headlines", "rt-sample", "hanley_narrative_influence",
                        *(folder for folder, _ in EUVSDISINFO_FILES)], download=True)
    say(f"data: {root}")
    database.store.reset_data()
    if full:
        FactCheckStore(database.store).clear()
    # Otherwise the fact-checks and their matches are kept, like the narratives: a rebuilt
    # demo re-imports the same records (linked, not repeated) under the same item ids, so
    # only what is new is matched. After a --full run, run --full again or use a new store.
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
        load_factchecks(database, root, full=full, say=say)
        match_factchecks(database, encode=encode, say=say)
    else:
        load_factchecks(database, root, full=full, say=say)
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
