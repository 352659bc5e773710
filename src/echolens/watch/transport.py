"""Polite HTTP for the watcher: a minimum delay between two requests to the same host,
retries with exponential backoff, and robots.txt (cached per host).

`PoliteTransport` wraps httpx's own transport, so every request made through the client
(feeds and pages read by the ingest connectors, re-checks, robots.txt, each redirect hop)
waits its turn for its host and is retried after a timeout, a connection error or a 5xx.
One connection per host comes from the watcher itself, which fetches the jobs of one host
one after another (see `echolens.watch.watcher`).
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from echolens.ingest.http import MAX_REDIRECTS, FetchError, fetch

RETRYABLE = (httpx.TimeoutException, httpx.ConnectError, httpx.RemoteProtocolError,
             httpx.ReadError)
ROBOTS_MAX_BYTES = 500_000
MAX_HOSTS = 10_000  # per-host state kept in memory at most (robots rules, request slots)


def host_key(url: str | httpx.URL) -> str:
    """`host:port`: the unit of politeness (one connection, a delay between requests)."""
    parsed = httpx.URL(url) if isinstance(url, str) else url
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.host}:{port}"


class PoliteTransport(httpx.BaseTransport):
    """Waits `min_delay` between requests to one host; retries `retries` times."""

    def __init__(self, inner: httpx.BaseTransport, *, min_delay: float, retries: int,
                 backoff: float, wait: Callable[[float], bool] | None = None) -> None:
        self.inner = inner
        self.min_delay = min_delay
        self.retries = retries
        self.backoff = backoff
        # `wait(seconds)` returns True when the watcher is stopping (an Event's wait)
        self.wait = wait or _sleep
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        self.requests = 0
        self.retried = 0

    def set_host_delay(self, host: str, seconds: float) -> None:
        """A longer delay for one host (robots.txt Crawl-delay)."""
        with self._lock:
            self._host_delay[host] = max(seconds, self.min_delay)

    def _take_turn(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot.get(host, now))
            self._next_slot[host] = slot + self._host_delay.get(host, self.min_delay)
            self.requests += 1
            if len(self._next_slot) > MAX_HOSTS:  # a slot in the past no longer delays
                self._next_slot = {h: t for h, t in self._next_slot.items() if t > now}
        if slot > now:
            self.wait(slot - now)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = host_key(request.url)
        attempt = 0
        while True:
            self._take_turn(host)
            try:
                response = self.inner.handle_request(request)
            except RETRYABLE:
                if attempt >= self.retries or self.wait(self.backoff * 2 ** attempt):
                    raise
                attempt += 1
                self.retried += 1
                continue
            if response.status_code >= 500 and attempt < self.retries:
                if self.wait(self.backoff * 2 ** attempt):
                    return response  # stopping: no more attempts
                response.close()
                attempt += 1
                self.retried += 1
                continue
            return response

    def close(self) -> None:
        self.inner.close()


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def polite_client(*, min_delay: float, retries: int, backoff: float, timeout: float,
                  user_agent: str, connections: int,
                  wait: Callable[[float], bool] | None = None) -> httpx.Client:
    """An httpx client whose every request goes through a `PoliteTransport`."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    transport = PoliteTransport(httpx.HTTPTransport(limits=limits), min_delay=min_delay,
                                retries=retries, backoff=backoff, wait=wait)
    return httpx.Client(transport=transport, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                        timeout=httpx.Timeout(timeout), headers={"User-Agent": user_agent})


@dataclass
class _Rules:
    parser: urllib.robotparser.RobotFileParser | None  # None: everything allowed
    disallow_all: bool
    fetched: float
    ttl: float


class RobotsCache:
    """robots.txt per host (RFC 9309): 4xx allows everything, an unreachable file (5xx,
    timeout) disallows everything for a short while, a readable one is obeyed, with its
    Crawl-delay passed to the transport."""

    def __init__(self, client: httpx.Client, *, user_agent: str, ttl: float = 86400.0,
                 unreachable_ttl: float = 600.0, timeout: float = 10.0) -> None:
        self.client = client
        self.user_agent = user_agent
        self.ttl = ttl
        self.unreachable_ttl = unreachable_ttl
        self.timeout = timeout
        self._rules: dict[str, _Rules] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> tuple[bool, str]:
        """(allowed, why not) for `url`."""
        host = host_key(url)
        with self._lock:
            rules = self._rules.get(host)
        if rules is None or time.monotonic() - rules.fetched > rules.ttl:
            rules = self._load(url, host)
            with self._lock:
                self._rules[host] = rules
                if len(self._rules) > MAX_HOSTS:
                    self._prune()
        if rules.disallow_all:
            return False, f"robots.txt of {host} could not be read (unreachable): not fetching"
        if rules.parser is not None and not rules.parser.can_fetch(self.user_agent, url):
            return False, f"robots.txt of {host} disallows {url}"
        return True, ""

    def _prune(self) -> None:
        """Drop expired rules, then the oldest, down to `MAX_HOSTS` (read again when due)."""
        now = time.monotonic()
        kept = {h: r for h, r in self._rules.items() if now - r.fetched <= r.ttl}
        if len(kept) > MAX_HOSTS:
            newest = sorted(kept.items(), key=lambda hr: hr[1].fetched)[-MAX_HOSTS:]
            kept = dict(newest)
        self._rules = kept

    def _load(self, url: str, host: str) -> _Rules:
        parsed = httpx.URL(url)
        robots_url = str(parsed.copy_with(path="/robots.txt", query=None, fragment=None))
        now = time.monotonic()
        try:
            result = fetch(robots_url, timeout=self.timeout, max_bytes=ROBOTS_MAX_BYTES,
                           client=self.client)
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return _Rules(None, False, now, self.ttl)
            if exc.reason in ("too-many-redirects", "too-large"):
                return _Rules(None, False, now, self.ttl)
            return _Rules(None, True, now, self.unreachable_ttl)
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(result.body.decode("utf-8", errors="replace").splitlines())
        delay = parser.crawl_delay(self.user_agent)
        transport = self.client._transport
        if delay is not None and isinstance(transport, PoliteTransport):
            transport.set_host_delay(host, min(float(delay), 60.0))
        return _Rules(parser, False, now, self.ttl)
