"""Stores for the web tests (helpers, no tests).

- `build_small_store`: fast. A dozen real-looking items ingested through the real pipeline,
  embedded with the hashing embedder (no model), grouped into narratives, fact-checks and
  matches written with the stages' own storage functions, citations extracted by the rules.
- `build_demo_like_store`: slow. A few hundred items of the real data sets (the biolab
  items in en/ru/zh/uk among them), embedded with the real e5 model and grouped by the real
  narrative stage, citations extracted; nothing cached in the repository.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from echolens.claims.records import FactCheck, Match
from echolens.claims.storage import FactCheckStore
from echolens.database import Database
from echolens.embed.base import HashingEmbedder
from echolens.model import RawItem, Reject

HASHING_MODEL = "hashing-trigram-64"

SMALL_ITEMS: list[dict[str, Any]] = [
    {"id": "rt-1", "source": "rt", "url": "https://www.rt.com/news/551458-us-biolabs-ukraine/",
     "title": "US biolabs in Ukraine: Russia demands answers",
     "text": "US biolabs in Ukraine were developing biological weapons, according to TASS, "
             "the Russian Defence Ministry said on Sunday.",
     "published_at": "2022-03-06T10:00:00Z", "views": 5400},
    {"id": "tass-1", "source": "tass", "url": "https://tass.ru/politika/14000001",
     "title": "Минобороны: в Украине обнаружены биолаборатории США",
     "text": "Минобороны России заявило, что на Украине обнаружены военно-биологические "
             "лаборатории, финансируемые Пентагоном.",
     "published_at": "2022-03-06T08:00:00Z"},
    {"id": "cgtn-1", "source": "cgtn", "url": "https://news.cgtn.com/news/2022-03-08/biolabs",
     "title": "China urges US to disclose details of biolabs in Ukraine",
     "text": "China urges US to disclose details of biolabs in Ukraine, citing reports by RIA "
             "Novosti about biological weapons.",
     "published_at": "2022-03-08T09:00:00Z", "views": 1200},
    {"id": "xinhua-1", "source": "xinhua", "url": "http://www.news.cn/world/2022-03/09/c.htm",
     "text": "外交部发言人要求美国公开在乌克兰的生物实验室详情",
     "published_at": "2022-03-09T02:00:00Z"},
    {"id": "gt-1", "source": "global-times", "url": "https://www.globaltimes.cn/page/1.shtml",
     "title": "US owes world an explanation on biolabs in Ukraine",
     "text": "US owes the world an explanation on biolabs in Ukraine and biological weapons "
             "research, experts say.",
     "published_at": "2022-03-10T12:00:00Z"},
    {"id": "bbc-1", "source": "bbc", "url": "https://www.bbc.com/news/world-europe-60711705",
     "title": "Fact check: no evidence of US biolabs in Ukraine",
     "text": "There is no evidence of US biological weapons labs in Ukraine, experts told the "
             "BBC, rejecting the Russian claim about biolabs.",
     "published_at": "2022-03-11T15:00:00Z"},
    {"id": "kyiv-1", "source": "kyiv-independent", "url": "https://kyivindependent.com/biolabs",
     "title": "Ukraine rejects Russian biolabs claim",
     "text": "Ukraine rejects the Russian claim about US biolabs in Ukraine as a false flag "
             "pretext for a chemical attack.",
     "published_at": "2022-03-07T18:00:00Z"},
    {"id": "rt-2", "source": "rt", "url": "https://www.rt.com/news/552000-grain-deal/",
     "title": "Grain deal collapses as Odesa port shelled",
     "text": "Grain deal in doubt after Odesa port strike, Russian officials said about the "
             "grain corridor.",
     "published_at": "2022-07-24T10:00:00Z"},
    {"id": "bbc-2", "source": "bbc", "url": "https://www.bbc.com/news/world-europe-62283456",
     "title": "Odesa port strike threatens grain deal",
     "text": "Missiles struck Odesa port a day after the grain deal was signed, threatening "
             "the grain corridor.",
     "published_at": "2022-07-23T12:00:00Z"},
    {"id": "cgtn-2", "source": "cgtn", "url": "https://news.cgtn.com/news/2022-07-25/grain",
     "title": "Grain deal: China hopes exports from Odesa port continue",
     "text": "China hopes grain exports from the Odesa port continue under the grain deal.",
     "published_at": "2022-07-25T08:00:00Z"},
    {"id": "evil-1", "source": "rt", "url": "javascript:alert('url')",
     "title": "Biolabs \"><svg/onload=alert('xss')> headline",
     "text": "Biolabs text from the web: Tom & Jerry <3, a<b, <svg/onload=alert(1)> end",
     "published_at": "2022-03-12T00:00:00Z"},
]

# narrative id -> member item ids (the grouping the fast tests rely on)
SMALL_NARRATIVES = {
    "n-biolabs": ["tass-1", "rt-1", "kyiv-1", "cgtn-1", "xinhua-1", "gt-1", "bbc-1", "evil-1"],
    "n-grain": ["bbc-2", "rt-2", "cgtn-2"],
}


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def build_small_store(path: Path) -> Path:
    """The fast store (see the module docstring); returns its path, closed."""
    from echolens.echo.citation_store import extract_pending
    from echolens.narratives.storage import write_outcomes

    with Database(path) as db:
        db.load_curated_sources()
        db.ingest([str(_write_jsonl(path.with_suffix(".jsonl"), SMALL_ITEMS))])
        db.embed(HashingEmbedder(64))
        con = db.store.con
        dates = dict(con.execute("SELECT id, published_at FROM items").fetchall())
        outcomes: list[tuple[str, str | None, str, str | None, float | None]] = []
        summaries: list[dict[str, Any]] = []
        for nid, members in SMALL_NARRATIVES.items():
            for k, item_id in enumerate(members):
                outcomes.append((item_id, nid, "opened" if k == 0 else "joined", None,
                                 None if k == 0 else 3.0))
            seen = [dates[i] for i in members]
            label = "US biolabs in Ukraine" if nid == "n-biolabs" else "Odesa grain deal"
            keywords = ({"en": ["biolabs", "biological"], "ru": ["биолаборатории"],
                         "zh": ["生物实验室"]} if nid == "n-biolabs"
                        else {"en": ["grain", "odesa"]})
            summaries.append({"id": nid, "label": label, "keywords": keywords,
                              "representatives": {"west/en": members[-1]},
                              "size": len(members), "first_seen": min(seen),
                              "last_seen": max(seen)})
        write_outcomes(con, HASHING_MODEL, outcomes, [], summaries)
        facts = FactCheckStore(db.store)
        facts.add([FactCheck(
            id="fc-biolabs", text="The US runs secret biological weapons labs in Ukraine",
            lang="en", title="No, the US does not run bioweapons labs in Ukraine",
            url="https://www.stopfake.org/en/fake-us-biolabs/", verdict="false",
            organization="StopFake", published_at=datetime(2022, 3, 9, tzinfo=UTC))])
        for item_id, probability in (("rt-1", 0.93), ("gt-1", 0.81), ("cgtn-1", 0.66)):
            facts.save_matches("item", item_id, [Match(
                "fc-biolabs", score=10.0, probability=probability, dense=0.9, lexical=5.0,
                rank=1, shared_terms=("biolabs", "ukraine"),
                closest_sentence="US biolabs in Ukraine")], method="hybrid-v1",
                threshold=0.5)
        extract_pending(db)
    return path


# -- the slow, demo-like store --------------------------------------------------------------
BIOLAB = re.compile(r"биолаборатор|біолабораторі|生物实验室|biolab|biological", re.IGNORECASE)


def _sample(records: Iterable[RawItem | Reject], keep_other: int) -> Iterator[RawItem]:
    """Every biolab record and the first `keep_other` others."""
    others = 0
    for record in records:
        if isinstance(record, Reject):
            continue
        text = f"{record.title or ''} {record.text or ''}"
        if BIOLAB.search(text):
            yield record
        elif others < keep_other:
            others += 1
            yield record


def build_demo_like_store(path: Path, data_root: Path, keep_other: int = 70) -> Path:
    """A few hundred real items (all biolab items of RU22Fact's non-train splits and of the
    Chinese headlines, plus `keep_other` others per data set), embedded with e5, grouped
    into narratives, citations extracted."""
    from echolens.echo.citation_store import extract_pending
    from echolens.ingest.datasets import load_dataset

    with Database(path) as db:
        db.load_curated_sources()
        ru22 = (r for r in load_dataset("ru22fact", data_root)
                if "_train" not in Path(r.provenance.location).name)
        db.ingest_records(_sample(ru22, keep_other))
        db.ingest_records(_sample(load_dataset("cn-headlines", data_root), keep_other))
        report = db.embed()
        db.assign_narratives(report.model_id)
        extract_pending(db)
    return path


def hashing_encoder(kind: str, texts: Any) -> Any:
    """The claims stage's `EncodeFn` on the hashing embedder (no model) for fast tests."""
    return HashingEmbedder(64).embed(list(texts))
