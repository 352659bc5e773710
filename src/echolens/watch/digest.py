"""The weekly brief, in the form analysts already read: cross-ecosystem narratives, new
debunk matches, top cited outlets and deletions of the period, each line linking to its
evidence (the item URLs; for deleted items, the kept copy).

    digest = build_digest(con, since=now - timedelta(days=7), now=now)
    paths = write_digest(digest, "digests/")     # digest-YYYY-MM-DD.html and .txt
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from echolens.output_files import write_whole
from echolens.watch.alerts import AlertConfig, main_model, table_exists
from echolens.watch.deletions import deletion_figures
from echolens.watch.deliveries import Message, Sent

TOP = 15


@dataclass(frozen=True)
class Line:
    text: str
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[Line, ...]
    empty: str = "nothing this period"


@dataclass(frozen=True)
class Digest:
    since: datetime
    now: datetime
    headline: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        return f"echolens brief {self.since:%Y-%m-%d} .. {self.now:%Y-%m-%d}"

    def to_text(self) -> str:
        out = [self.title, "=" * len(self.title), "", self.headline, ""]
        for section in self.sections:
            out += [section.title, "-" * len(section.title)]
            if not section.lines:
                out.append(f"  ({section.empty})")
            for line in section.lines:
                out.append(f"* {line.text}")
                out += [f"    {link}" for link in line.links]
            out.append("")
        return "\n".join(out)

    def to_html(self) -> str:
        esc = html.escape
        parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
                 f"<title>{esc(self.title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;"
                 "line-height:1.4}li{margin:.4em 0}.links a{margin-right:.8em;font-size:.9em}"
                 "</style></head><body>",
                 f"<h1>{esc(self.title)}</h1>", f"<p>{esc(self.headline)}</p>"]
        for section in self.sections:
            parts.append(f"<h2>{esc(section.title)}</h2>")
            if not section.lines:
                parts.append(f"<p><em>{esc(section.empty)}</em></p>")
                continue
            parts.append("<ul>")
            for line in section.lines:
                links = "".join(f'<a href="{esc(link, quote=True)}">{esc(_short(link))}</a>'
                                for link in line.links if link.startswith("http"))
                plain = "".join(f"<span>{esc(link)}</span>" for link in line.links
                                if not link.startswith("http"))
                parts.append(f'<li>{esc(line.text)}<div class="links">{links}{plain}</div></li>')
            parts.append("</ul>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "since": self.since.isoformat(),
                "now": self.now.isoformat(), "headline": self.headline,
                "sections": [{"title": s.title, "lines": [{"text": ln.text,
                                                            "links": list(ln.links)}
                                                           for ln in s.lines]}
                             for s in self.sections]}


def build_digest(con: duckdb.DuckDBPyConnection, *, since: datetime, now: datetime,
                 model_id: str | None = None) -> Digest:
    model = model_id or main_model(con)
    row = con.execute("SELECT count(*), count(DISTINCT source_id) FROM items "
                      "WHERE fetched_at >= ? OR published_at >= ?", [since, since]).fetchone()
    new_items, sources = (int(row[0]), int(row[1])) if row else (0, 0)
    headline = f"{new_items} items from {sources} sources in the period."
    sections = (
        _cross_ecosystem(con, model, since),
        _debunk_matches(con, since),
        _top_cited(con, since),
        _deletions(con, since),
    )
    return Digest(since, now, headline, sections)


def write_digest(digest: Digest, out: str | Path) -> tuple[Path, Path]:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"digest-{digest.now:%Y-%m-%d}"
    html_path, text_path = folder / f"{stem}.html", folder / f"{stem}.txt"
    return write_whole(html_path, digest.to_html()), write_whole(text_path, digest.to_text())


def send_digest(digest: Digest, config: AlertConfig) -> list[Sent]:
    """Send the brief to every e-mail delivery of the alert config."""
    message = Message(digest.title, digest.to_text(), digest.to_json(), digest.to_html(),
                      event="digest")
    return [d.send(message) for d in config.deliveries if d.kind == "email"]


def _cross_ecosystem(con: duckdb.DuckDBPyConnection, model: str | None,
                     since: datetime) -> Section:
    title = "Narratives across ecosystems"
    if model is None:
        return Section(title, (), "no narratives yet: run `echolens process`")
    rows = con.execute(
        """
        WITH m AS (
            SELECT nm.narrative_id AS nid, coalesce(s.ecosystem, 'unknown') AS eco,
                   min(i.published_at) AS first_pub, arg_min(i.url, i.published_at) AS url,
                   arg_min(i.source_id, i.published_at) AS source,
                   count(*) FILTER (WHERE i.published_at >= ?) AS recent
            FROM narrative_members nm JOIN items i ON i.id = nm.item_id
            LEFT JOIN sources s ON s.id = i.source_id
            WHERE nm.model_id = ? AND nm.narrative_id IS NOT NULL AND i.duplicate_of IS NULL
            GROUP BY 1, 2)
        SELECT m.nid, any_value(n.label), sum(m.recent) AS recent,
               list(struct_pack(eco := m.eco, first_pub := m.first_pub, url := m.url,
                                source := m.source) ORDER BY m.first_pub) AS path
        FROM m LEFT JOIN narratives n ON n.id = m.nid AND n.model_id = ?
        GROUP BY m.nid HAVING count(*) >= 2 AND sum(m.recent) > 0
        ORDER BY recent DESC, m.nid LIMIT ?
        """, [since, model, model, TOP]).fetchall()
    lines = []
    for nid, label, recent, path in rows:
        steps = " -> ".join(f"{p['eco']} ({p['source']}, {p['first_pub']:%Y-%m-%d})"
                            for p in path)
        lines.append(Line(f"{label or nid}: {recent} items this period; {steps}",
                          tuple(p["url"] for p in path if p["url"])))
    return Section(title, tuple(lines))


def _debunk_matches(con: duckdb.DuckDBPyConnection, since: datetime) -> Section:
    title = "New matches with debunked claims"
    if not table_exists(con, "claim_matches"):
        return Section(title, ())
    rows = con.execute(
        """
        SELECT i.source_id, coalesce(s.ecosystem, 'unknown'), coalesce(i.title, left(i.text, 120)),
               i.url, coalesce(f.title, left(f.text, 160)), f.organization, f.url, cm.score
        FROM claim_matches cm JOIN items i ON i.id = cm.subject_id
        JOIN factchecks f ON f.id = cm.factcheck_id LEFT JOIN sources s ON s.id = i.source_id
        WHERE cm.subject_kind = 'item' AND cm.above_threshold AND cm.matched_at >= ?
        ORDER BY cm.score DESC, i.id LIMIT ?
        """, [since, TOP]).fetchall()
    return Section(title, tuple(
        Line(f"{src} ({eco}): {item!r} repeats {claim!r}, debunked by "
             f"{org or 'a fact-checker'} (score {score:.2f})",
             tuple(u for u in (url, fc_url) if u))
        for src, eco, item, url, claim, org, fc_url, score in rows))


def _top_cited(con: duckdb.DuckDBPyConnection, since: datetime) -> Section:
    title = "Most cited outlets"
    if not table_exists(con, "citations"):
        return Section(title, (), "citations are not extracted in this store yet")
    rows = con.execute(
        """
        SELECT any_value(c.name) AS cited, any_value(c.ecosystem), count(*),
               count(DISTINCT i.source_id), arg_max(i.url, i.published_at)
        FROM citations c JOIN items i ON i.id = c.item_id
        WHERE i.published_at >= ? AND c.kind = 'media'
        GROUP BY coalesce(c.source_id, c.name) ORDER BY 3 DESC, 1 LIMIT ?
        """, [since, TOP]).fetchall()
    return Section(title, tuple(
        Line(f"{cited} ({eco or 'unknown'}): cited {n} times by {citing} sources",
             (url,) if url else ())
        for cited, eco, n, citing, url in rows))


def _deletions(con: duckdb.DuckDBPyConnection, since: datetime) -> Section:
    figures = deletion_figures(con, since=since)
    frame = figures.items
    lines = []
    for result in ("deleted", "blocked", "altered"):
        hit = frame.filter(frame[f"{result}_at"].is_not_null()).sort(f"{result}_at")
        for row in hit.head(TOP).to_dicts():
            kept = "first copy kept as evidence" if row["evidence"] else "no copy captured"
            lines.append(Line(
                f"{result}: {row['source']} ({row['ecosystem']}) "
                f"{row['title'] or row['item_id']!r}"
                + (f", narrative {row['narrative']!r}" if row.get("narrative") else "")
                + f"; {kept}",
                tuple(u for u in (row["url"], f"evidence: echolens evidence {row['item_id']}")
                      if u)))
    return Section("Deleted, blocked or altered", tuple(lines))


def _short(url: str, limit: int = 60) -> str:
    return url if len(url) <= limit else url[:limit - 1] + "…"
