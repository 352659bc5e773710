"""Alert rules, evaluated against the store after each watch cycle (or `echolens alerts
check`), delivered once per key and rate-limited.

    alerts:
      lookback: 2d              # events older than this never alert
      max_per_hour: 30          # more wait for the next hour (they are not dropped)
      deliveries:
        - {type: webhook, url: https://example.org/hook, secret_env: ECHOLENS_WEBHOOK_SECRET}
        - {type: email, host: localhost, port: 25, from: echolens@example.org, to: [me@example.org]}
        - {type: log}
      rules:
        - {id: ru-then-cn, type: narrative-crosses, from: russia-state, to: china-state}
        - {id: debunked, type: debunked-claim, min_score: 0.6}
        - {id: cites-ru, type: citation-spike, cited_ecosystem: russia-state, window: 7d,
           baseline: 28d, factor: 3, min_count: 5}
        - {id: biolabs-deleted, type: watched-narrative-deleted, narratives: [N-ID],
           label_contains: [biolab]}

Each rule yields `Alert`s with a key (rule id + subject): a key fires once, ever.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from echolens.errors import UsageError
from echolens.watch.config import parse_duration
from echolens.watch.deliveries import Delivery, Message, Sent

RULE_KINDS = ("narrative-crosses", "debunked-claim", "citation-spike",
              "watched-narrative-deleted")


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertConfig:
    rules: tuple[Rule, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    lookback: float = 2 * 86400.0
    max_per_hour: int = 30
    model_id: str | None = None  # narratives of this embedding model (default: the largest)

    @staticmethod
    def from_mapping(raw: dict[str, Any], where: str = "alerts") -> AlertConfig:
        rules = []
        seen: set[str] = set()
        for i, spec in enumerate(raw.get("rules") or []):
            if not isinstance(spec, dict):
                raise UsageError(f"{where}: alert rule {i + 1} is not a mapping",
                                 "write {id: ..., type: ...}")
            kind = str(spec.get("type", ""))
            if kind not in RULE_KINDS:
                raise UsageError(f"{where}: alert rule {i + 1} has type {kind!r}",
                                 f"use one of {', '.join(RULE_KINDS)}")
            rule_id = str(spec.get("id") or f"{kind}-{i + 1}")
            if rule_id in seen:
                raise UsageError(f"{where}: alert rule id {rule_id!r} is used twice",
                                 "give each rule its own id")
            seen.add(rule_id)
            params = {k: v for k, v in spec.items() if k not in ("id", "type")}
            if kind == "narrative-crosses" and not (params.get("from") and params.get("to")):
                raise UsageError(f"{where}: rule {rule_id} needs `from` and `to` ecosystems",
                                 "add from: russia-state and to: china-state")
            rules.append(Rule(rule_id, kind, params))
        deliveries = tuple(Delivery.from_mapping(d, i, where)
                           for i, d in enumerate(raw.get("deliveries") or []))
        return AlertConfig(
            rules=tuple(rules), deliveries=deliveries,
            lookback=parse_duration(raw.get("lookback", "2d"), "alerts.lookback"),
            max_per_hour=int(raw.get("max_per_hour", 30)),
            model_id=str(raw["model_id"]) if raw.get("model_id") else None,
        )


@dataclass(frozen=True)
class Alert:
    key: str
    rule_id: str
    kind: str
    title: str
    text: str
    happened_at: datetime
    links: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"key": self.key, "rule": self.rule_id, "kind": self.kind, "title": self.title,
                "text": self.text, "happened_at": self.happened_at.isoformat(),
                "links": list(self.links), "data": self.data}

    def message(self) -> Message:
        lines = [self.text, *(f"  {link}" for link in self.links)]
        return Message(f"[echolens] {self.title}", "\n".join(lines), self.payload())


@dataclass(frozen=True)
class Fired:
    alert: Alert
    sent: tuple[Sent, ...]


def evaluate(con: duckdb.DuckDBPyConnection, config: AlertConfig,
             now: datetime) -> list[Alert]:
    """Every alert the rules see in the lookback window, fired or not."""
    cutoff = now - timedelta(seconds=config.lookback)
    model = config.model_id or main_model(con)
    found: list[Alert] = []
    for rule in config.rules:
        check = _EVALUATORS[rule.kind]
        found += check(con, rule, cutoff, now, model)
    return found


def run_alerts(con: duckdb.DuckDBPyConnection, config: AlertConfig, *,
               now: datetime) -> list[Fired]:
    """Evaluate, drop keys already fired, respect the hourly limit, deliver, record."""
    candidates = evaluate(con, config, now)
    if not candidates:
        return []
    keys = [a.key for a in candidates]
    done = {r[0] for r in con.execute("SELECT key FROM alerts WHERE key IN (SELECT unnest(?))",
                                      [keys]).fetchall()}
    fresh = list({a.key: a for a in candidates if a.key not in done}.values())
    fresh.sort(key=lambda a: (a.happened_at, a.key))
    row = con.execute("SELECT count(*) FROM alerts WHERE fired_at > ?",
                      [now - timedelta(hours=1)]).fetchone()
    budget = max(0, config.max_per_hour - int(row[0] if row else 0))
    fired = []
    for alert in fresh[:budget]:
        sent = tuple(d.send(alert.message()) for d in config.deliveries)
        if sent and not any(s.ok for s in sent):
            continue  # nothing got through: try again next time
        _record(con, alert, sent, now)
        fired.append(Fired(alert, sent))
    return fired


def send_test(config: AlertConfig, now: datetime) -> list[Sent]:
    """Send one test alert to every delivery."""
    alert = Alert(f"test:{now.isoformat()}", "test", "test", "test alert",
                  "This is a test alert from `echolens alerts test`.", now)
    message = alert.message()
    message = Message(message.subject, message.text, message.payload, event="test")
    return [d.send(message) for d in config.deliveries]


def fired_alerts(con: duckdb.DuckDBPyConnection, limit: int = 100) -> list[dict[str, Any]]:
    cur = con.execute("SELECT key, rule_id, kind, fired_at, title, payload FROM alerts "
                      "ORDER BY fired_at DESC, key LIMIT ?", [limit])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["payload"] = json.loads(r["payload"])
    return rows


def _record(con: duckdb.DuckDBPyConnection, alert: Alert, sent: Sequence[Sent],
            now: datetime) -> None:
    con.execute("BEGIN")
    try:
        con.execute("INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
                    [alert.key, alert.rule_id, alert.kind, now, alert.title,
                     json.dumps(alert.payload(), ensure_ascii=False, default=str)])
        con.executemany("INSERT INTO alert_deliveries VALUES (?, ?, ?, ?, ?)",
                        [(alert.key, s.delivery, now, s.ok, s.detail) for s in sent])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


# -- the rules ---------------------------------------------------------------------------
def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                      [name]).fetchone()
    return bool(row and row[0])


def main_model(con: duckdb.DuckDBPyConnection) -> str | None:
    if not table_exists(con, "narrative_members"):
        return None
    row = con.execute("SELECT model_id FROM narrative_members GROUP BY 1 "
                      "ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
    return str(row[0]) if row else None


def _narrative_crosses(con: duckdb.DuckDBPyConnection, rule: Rule, cutoff: datetime,
                       now: datetime, model: str | None) -> list[Alert]:
    """A narrative first seen in ecosystem A now appears in ecosystem B."""
    if model is None:
        return []
    first, second = str(rule.params["from"]), str(rule.params["to"])
    rows = con.execute(
        """
        WITH m AS (
            SELECT nm.narrative_id AS nid, coalesce(s.ecosystem, 'unknown') AS eco,
                   min(i.published_at) AS first_pub, arg_min(i.id, i.published_at) AS item,
                   arg_min(i.url, i.published_at) AS url,
                   arg_min(i.source_id, i.published_at) AS source,
                   arg_min(nm.assigned_at, i.published_at) AS assigned
            FROM narrative_members nm JOIN items i ON i.id = nm.item_id
            LEFT JOIN sources s ON s.id = i.source_id
            WHERE nm.model_id = ? AND nm.narrative_id IS NOT NULL
            GROUP BY 1, 2)
        SELECT a.nid, n.label, a.first_pub, a.item, a.url, a.source,
               b.first_pub, b.item, b.url, b.source, b.assigned
        FROM m a JOIN m b ON a.nid = b.nid AND a.eco = ? AND b.eco = ?
        LEFT JOIN narratives n ON n.id = a.nid AND n.model_id = ?
        WHERE b.first_pub > a.first_pub AND b.assigned >= ?
        ORDER BY b.assigned, a.nid
        """, [model, first, second, model, cutoff]).fetchall()
    alerts = []
    for nid, label, a_pub, a_item, a_url, a_src, b_pub, b_item, b_url, b_src, assigned in rows:
        lag = b_pub - a_pub
        title = f"narrative {label or nid!r} crossed from {first} to {second}"
        text = (f"{label or nid}: first in {first} ({a_src}, {a_pub:%Y-%m-%d %H:%M}), now in "
                f"{second} ({b_src}, {b_pub:%Y-%m-%d %H:%M}), {_lag(lag)} later.")
        alerts.append(Alert(f"{rule.id}:{nid}", rule.id, rule.kind, title, text, assigned,
                            tuple(u for u in (a_url, b_url) if u),
                            {"narrative_id": nid, "label": label, "from_item": a_item,
                             "to_item": b_item, "lag_hours": round(lag.total_seconds() / 3600, 1)}))
    return alerts


def _debunked_claim(con: duckdb.DuckDBPyConnection, rule: Rule, cutoff: datetime,
                    now: datetime, model: str | None) -> list[Alert]:
    """An item matches a debunked claim above the threshold and `min_score`."""
    if not table_exists(con, "claim_matches"):
        return []
    sql = """
        SELECT cm.subject_id, cm.factcheck_id, cm.score, cm.probability, cm.matched_at,
               f.title, f.text, f.url, f.organization, i.url,
               coalesce(i.title, left(i.text, 120)), i.source_id,
               coalesce(s.ecosystem, 'unknown')
        FROM claim_matches cm JOIN factchecks f ON f.id = cm.factcheck_id
        JOIN items i ON i.id = cm.subject_id LEFT JOIN sources s ON s.id = i.source_id
        WHERE cm.subject_kind = 'item' AND cm.above_threshold AND cm.score >= ?
          AND cm.probability >= ? AND cm.matched_at >= ?"""
    params: list[Any] = [float(rule.params.get("min_score", 0.0)),
                         float(rule.params.get("min_probability", 0.0)), cutoff]
    ecosystems = rule.params.get("ecosystems")
    if ecosystems:
        sql += " AND coalesce(s.ecosystem, 'unknown') IN (SELECT unnest(?))"
        params.append([str(e) for e in ecosystems])
    alerts = []
    for (item, fc, score, prob, at, fc_title, fc_text, fc_url, org, url, title, src,
         eco) in con.execute(sql + " ORDER BY cm.matched_at, 1, 2", params).fetchall():
        claim = fc_title or fc_text[:160]
        alerts.append(Alert(
            f"{rule.id}:{item}:{fc}", rule.id, rule.kind,
            f"{src} repeats a debunked claim", f"{src} ({eco}): {title or item!r} matches "
            f"{claim!r} (debunked by {org or 'a fact-checker'}), score {score:.2f}.", at,
            tuple(u for u in (url, fc_url) if u),
            {"item_id": item, "factcheck_id": fc, "score": score, "probability": prob,
             "source": src, "ecosystem": eco}))
    return alerts


def _citation_spike(con: duckdb.DuckDBPyConnection, rule: Rule, cutoff: datetime,
                    now: datetime, model: str | None) -> list[Alert]:
    """A source cites another ecosystem far more in the last window than it used to."""
    if not table_exists(con, "citations"):
        return []
    window = parse_duration(rule.params.get("window", "7d"), "citation-spike window")
    baseline = parse_duration(rule.params.get("baseline", "28d"), "citation-spike baseline")
    factor = float(rule.params.get("factor", 3.0))
    min_count = int(rule.params.get("min_count", 5))
    cited = rule.params.get("cited_ecosystem")
    start = now - timedelta(seconds=window)
    base_start = start - timedelta(seconds=baseline)
    rows = con.execute(
        """
        SELECT i.source_id, coalesce(s.ecosystem, 'unknown') AS own, c.ecosystem,
               count(*) FILTER (WHERE i.published_at >= ?) AS recent,
               count(*) FILTER (WHERE i.published_at < ?) AS before,
               arg_max(i.url, i.published_at) AS latest
        FROM citations c JOIN items i ON i.id = c.item_id
        LEFT JOIN sources s ON s.id = i.source_id
        WHERE i.published_at >= ? AND i.published_at <= ? AND c.ecosystem IS NOT NULL
          AND c.ecosystem <> coalesce(s.ecosystem, 'unknown') AND (? IS NULL OR c.ecosystem = ?)
        GROUP BY 1, 2, 3 ORDER BY 1, 3
        """, [start, start, base_start, now, cited, cited]).fetchall()
    alerts = []
    for source, own, eco, recent, before, latest in rows:
        expected = before * window / baseline if baseline > 0 else 0.0
        if recent < min_count or recent < factor * expected:
            continue
        alerts.append(Alert(
            f"{rule.id}:{source}:{eco}:{now:%Y-%m-%d}", rule.id, rule.kind,
            f"{source} cites {eco} far more than usual",
            f"{source} ({own}) cited {eco} outlets {recent} times in the last "
            f"{_lag(timedelta(seconds=window))}, against {expected:.1f} expected from the "
            f"{_lag(timedelta(seconds=baseline))} before.", now,
            (latest,) if latest else (),
            {"source": source, "ecosystem": own, "cited_ecosystem": eco, "recent": recent,
             "expected": round(expected, 2)}))
    return alerts


def _watched_deleted(con: duckdb.DuckDBPyConnection, rule: Rule, cutoff: datetime,
                     now: datetime, model: str | None) -> list[Alert]:
    """An item of a watched narrative was deleted (or blocked)."""
    if model is None:
        return []
    ids = [str(n) for n in rule.params.get("narratives") or []]
    labels = [f"%{str(w).lower()}%" for w in rule.params.get("label_contains") or []]
    results = [str(r) for r in rule.params.get("results") or ("deleted", "blocked")]
    if not ids and not labels:
        return []
    rows = con.execute(
        """
        SELECT o.item_id, o.result, o.checked_at, o.detail, i.url,
               coalesce(i.title, left(i.text, 120)), i.source_id,
               nm.narrative_id, n.label, e.item_id IS NOT NULL
        FROM observations o JOIN narrative_members nm ON nm.item_id = o.item_id
             AND nm.model_id = ?
        JOIN items i ON i.id = o.item_id
        LEFT JOIN narratives n ON n.id = nm.narrative_id AND n.model_id = nm.model_id
        LEFT JOIN evidence e ON e.item_id = o.item_id
        WHERE o.result IN (SELECT unnest(?::VARCHAR[])) AND o.checked_at >= ?
          AND (nm.narrative_id IN (SELECT unnest(?::VARCHAR[]))
               OR EXISTS (SELECT 1 FROM unnest(?::VARCHAR[]) AS t(pattern)
                          WHERE lower(coalesce(n.label, '')) LIKE t.pattern))
        ORDER BY o.checked_at, o.item_id
        """, [model, results, cutoff, ids, labels]).fetchall()
    alerts = []
    for item, result, at, detail, url, title, src, nid, label, kept in rows:
        alerts.append(Alert(
            f"{rule.id}:{item}:{result}", rule.id, rule.kind,
            f"{result}: an item of narrative {label or nid!r}",
            f"{src}: {title or item!r} is {result} ({detail}); "
            + ("the first copy is kept as evidence." if kept else "no copy was captured."),
            at, (url,) if url else (),
            {"item_id": item, "result": result, "narrative_id": nid, "label": label,
             "source": src, "evidence": bool(kept)}))
    return alerts


_EVALUATORS: dict[str, Callable[[duckdb.DuckDBPyConnection, Rule, datetime, datetime,
                                 str | None], list[Alert]]] = {
    "narrative-crosses": _narrative_crosses,
    "debunked-claim": _debunked_claim,
    "citation-spike": _citation_spike,
    "watched-narrative-deleted": _watched_deleted,
}


def _lag(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
