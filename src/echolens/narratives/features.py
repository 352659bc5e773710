"""What the grouping compares: language-centred vectors, cross-script lexical anchors, days.

* Vectors: multilingual-e5 puts every text of a language near that language's mean, so
  texts of one language look alike whatever they say. Subtracting the language mean (from
  the calibration) and re-normalising removes that component.
* Lexical anchors: names and numbers survive translation. Cyrillic is transliterated to
  Latin, words of 4+ letters cut to 8, and their character 4-grams hashed into buckets
  weighted by an IDF taken from the calibration background ("Бахмут" and "Bakhmut" share
  `#bak`, `bakh`, `akhm`, ...). Chinese has no transliteration here and gets none.
* Anchors: concepts of a small multilingual gazetteer (places, actors, weapons, event words
  in en/ru/uk/zh), the only lexical bridge to Chinese; see `anchors`.
* Days: `published_at` as days since 1970 (NaN when unknown)."""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import overload

import numpy as np

from echolens.narratives.anchors import anchor_vector, load_gazetteer
from echolens.narratives.calibration import Calibration

LEX_BUCKETS = 1 << 16
_TRANSLIT = dict(zip(
    "абвгґдеєжзиіїйклмнопрстуфхцчшщъыьэюяё",
    ["a", "b", "v", "g", "g", "d", "e", "ie", "zh", "z", "i", "i", "i", "i", "k", "l", "m",
     "n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e",
     "iu", "ia", "e"],
    strict=True,
))
_WORD = re.compile(r"[^\W\d_]{4,}|\d{2,}")
_CJK = re.compile(r"[\u3400-\u9fff]")
_EMPTY: dict[int, float] = {}
_MIN_IDF = 2.0  # grams in more than ~1 text in 7 of the background carry no story


def transliterate(text: str) -> str:
    return "".join(_TRANSLIT.get(c, c) for c in text.lower())


def lexical_buckets(text: str) -> list[int]:
    """Hashed character 4-grams of the transliterated words (and 2+ digit numbers)."""
    out: list[int] = []
    for word in _WORD.findall(transliterate(text)):
        if _CJK.search(word):
            continue
        padded = f"#{word[:8]}"
        out.extend(
            zlib.crc32(padded[i:i + 4].encode()) % LEX_BUCKETS for i in range(len(padded) - 3)
        )
    return out


def lexical_vector(text: str, idf: np.ndarray) -> dict[int, float]:
    """Sparse L2-normalised IDF vector of `text`'s buckets (IDF below `_MIN_IDF` dropped)."""
    weights: dict[int, float] = {}
    for bucket in lexical_buckets(text):
        w = float(idf[bucket])
        if w >= _MIN_IDF:
            weights[bucket] = w  # binary tf: repeated grams are not more anchoring
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {k: w / norm for k, w in weights.items()} if norm else {}


def lexical_cosine(a: dict[int, float], b: dict[int, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(k, 0.0) for k, w in a.items())


def day_number(value: object) -> float:
    """Days since 1970-01-01 of a date, datetime or ISO string; NaN when unknown."""
    if value is None or value == "":
        return math.nan
    if isinstance(value, datetime):
        return value.timestamp() / 86400.0
    if isinstance(value, date):
        return float(value.toordinal() - date(1970, 1, 1).toordinal())
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return math.nan
        if parsed.tzinfo is None:
            return float(parsed.toordinal() - date(1970, 1, 1).toordinal()) + (
                parsed.hour * 3600 + parsed.minute * 60 + parsed.second) / 86400.0
        return parsed.timestamp() / 86400.0
    return math.nan


@dataclass
class Prepared:
    """The comparable form of a batch of items (row i of each field is item i)."""

    unit: np.ndarray  # (n, dim) float32, language-centred, L2-normalised
    langs: list[str]
    days: np.ndarray  # (n,) float64, NaN when unknown
    lexical: Sequence[dict[int, float]]
    anchors: Sequence[dict[int, float]]  # cross-script concepts (see `anchors`)


class LazyTerms(Sequence[dict[int, float]]):
    """The sparse terms of each text, extracted when first read. The grouping reads a
    block's terms just before deciding it, while its index worker searches the next block,
    so the extraction (a regex pass per text) overlaps the search instead of preceding it.
    Texts without terms (or all texts, when `extract` is None: the term's weight is 0) share
    one empty mapping (never mutated): two empty dicts per item would cost ~130 MB at a
    million items."""

    def __init__(self, texts: Sequence[str],
                 extract: Callable[[str], dict[int, float]] | None) -> None:
        self._texts = list(texts)
        self._extract = extract
        self._done: list[dict[int, float] | None] = [None] * len(self._texts) if extract else []

    def __len__(self) -> int:
        return len(self._texts)

    @overload
    def __getitem__(self, index: int) -> dict[int, float]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[int, float]]: ...

    def __getitem__(self, index: int | slice) -> dict[int, float] | list[dict[int, float]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        text = self._texts[index]
        if self._extract is None or not text:
            return _EMPTY
        terms = self._done[index]
        if terms is None:
            terms = self._extract(text) or _EMPTY
            self._done[index] = terms
        return terms


def center(vectors: np.ndarray, langs: Sequence[str], calibration: Calibration) -> np.ndarray:
    """Subtract each item's language mean and re-normalise (float32)."""
    x = np.asarray(vectors, dtype=np.float32).copy()
    for lang in sorted(set(langs)):
        rows = np.fromiter((lg == lang for lg in langs), dtype=bool, count=len(langs))
        x[rows] -= calibration.language_mean(lang)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def prepare(
    vectors: np.ndarray,
    langs: Sequence[str],
    texts: Sequence[str],
    days: Sequence[float],
    calibration: Calibration,
) -> Prepared:
    idf = calibration.lexical_idf()
    concept_idf = calibration.anchor_idf()
    gazetteer = load_gazetteer()
    floor = calibration.thresholds.anchor_floor
    # a weight of 0 never reads the terms, so they are not extracted (the lexical 4-grams
    # cost a third of `prepare` on headlines)
    lexical_on = bool(calibration.thresholds.lexical_weight)
    anchors_on = bool(calibration.thresholds.anchor_weight)
    return Prepared(
        unit=center(vectors, langs, calibration),
        langs=list(langs),
        days=np.asarray(days, dtype=np.float64),
        lexical=LazyTerms(texts, (lambda t: lexical_vector(t, idf)) if lexical_on else None),
        anchors=LazyTerms(texts, (lambda t: anchor_vector(t, concept_idf, gazetteer, floor))
                          if anchors_on else None),
    )
