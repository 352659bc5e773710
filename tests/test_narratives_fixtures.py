"""Tiny synthetic corpora for the narrative tests (helpers, no tests): a few topics in two or
three languages, with a strong language component, as multilingual-e5 has."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from echolens.model import Item, Source
from echolens.narratives.calibration import Calibration, Thresholds, fit_background
from echolens.store.base import WriteBatch
from echolens.store.duckdb_store import DuckDBStore

DIM = 64
LANGS = ("en", "ru", "uk")
_RNG = np.random.default_rng(42)
LANG_AXES = {lang: _RNG.normal(size=DIM) for lang in LANGS}
TOPICS = [_RNG.normal(size=DIM) for _ in range(6)]
WORDS = {
    0: {"en": "Kherson liberation city", "ru": "Херсон освобождение города",
        "uk": "Херсон звільнення міста"},
    1: {"en": "Bakhmut battle Wagner", "ru": "Бахмут бой Вагнер", "uk": "Бахмут бій Вагнер"},
    2: {"en": "Leopard tanks Germany", "ru": "Леопард танки Германия",
        "uk": "Леопард танки Німеччина"},
    3: {"en": "Moskva cruiser sinking", "ru": "Москва крейсер затонул",
        "uk": "Москва крейсер затонув"},
    4: {"en": "Izium mass graves", "ru": "Изюм массовые захоронения",
        "uk": "Ізюм масові поховання"},
    5: {"en": "grain deal Odesa port", "ru": "зерновая сделка порт Одесса",
        "uk": "зернова угода порт Одеса"},
}


def vector(topic: int | None, lang: str, rng: np.random.Generator, noise: float = 0.35
           ) -> np.ndarray:
    base = rng.normal(size=DIM) if topic is None else TOPICS[topic]
    v = 1.5 * LANG_AXES[lang] + base + noise * rng.normal(size=DIM)
    return np.asarray(v / np.linalg.norm(v), dtype=np.float32)


def calibration() -> Calibration:
    rng = np.random.default_rng(7)
    langs = [lang for lang in LANGS for _ in range(120)]
    vectors = np.stack([vector(None, lang, rng) for lang in langs])
    texts = [f"unrelated story number {k} about something else" for k in range(len(langs))]
    return fit_background("test-model", vectors, langs, texts,
                          thresholds=Thresholds(join=3.0, merge=1.5, neighbours=16))


def corpus(topics: list[int], per_lang: int = 3, start: date = date(2022, 3, 1), seed: int = 1
           ) -> list[dict[str, object]]:
    """Items of the given topics in every language, a day apart, with their vectors."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, object]] = []
    for topic in topics:
        for lang in LANGS:
            for k in range(per_lang):
                out.append({
                    "id": f"t{topic}-{lang}-{k}-{seed}",
                    "text": f"{WORDS[topic][lang]} {k}",
                    "lang": lang,
                    "published_at": (start + timedelta(days=k)).isoformat(),
                    "topic": topic,
                    "vector": vector(topic, lang, rng),
                })
    return out


def store_item(record: dict[str, object], source: str = "tass") -> Item:
    published = datetime.fromisoformat(str(record["published_at"])).replace(tzinfo=UTC)
    return Item(
        id=str(record["id"]), source_id=source, text=str(record["text"]),
        lang=str(record["lang"]), published_at=published, fetched_at=published,
        content_hash=f"h-{record['id']}", connector="test", location="test", locator="1",
    )


# -- a real store holding such items --------------------------------------------------------
MODEL = "test-model"


def make_store(path: Path) -> DuckDBStore:
    """A DuckDB store with the one source (`tass`) the corpus items come from."""
    store = DuckDBStore(path)
    store.upsert_sources([Source(id="tass", name="TASS", ecosystem="ru_state",
                                 domain="tass.ru", platform="web", kind="outlet",
                                 origin="test")])
    return store


def add_items(store: DuckDBStore, records: list[dict[str, object]], embed: bool = True
              ) -> None:
    store.write(WriteBatch(items=[store_item(r) for r in records], rejects=[], bands=[],
                           signatures=[], relinks=[]))
    if embed:
        embed_items(store, records)


def embed_items(store: DuckDBStore, records: list[dict[str, object]]) -> None:
    store.put_embeddings(MODEL, [f"h-{r['id']}" for r in records],
                         np.stack([np.asarray(r["vector"]) for r in records]))


def members_of(store: DuckDBStore) -> dict[str, str | None]:
    """item id -> narrative id, for MODEL."""
    return dict(store.con.execute(
        "SELECT item_id, narrative_id FROM narrative_members WHERE model_id = ?", [MODEL]
    ).fetchall())
