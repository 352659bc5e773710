"""Cross-script anchors: the places, actors, weapons and event words of a story, recognised
in any of en/ru/uk/zh and reduced to one concept ("Бахмут", "Artemovsk" and "巴赫穆特" all
give `bakhmut`).

The multilingual embeddings keep a language component that the centring in `features` only
partly removes; names and event words survive translation, so items that share rare
concepts are likely the same story whatever their language. The concepts and their surface
forms are data (`calibration_data/anchors.tsv`, written from general knowledge of the war
and world politics, never from evaluation items); their weights are IDFs from the
calibration background (`Calibration.anchor_df`), so a concept that every item mentions
("Russia") weighs almost nothing."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ANCHORS_PATH = Path(__file__).with_name("calibration_data") / "anchors.tsv"
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD_CHAR = re.compile(r"[^\W_]")
_NOTHING = re.compile(r"(?!x)x")


@dataclass(frozen=True)
class Gazetteer:
    """`pattern` is the definition: one alternation of all forms, longest first, a form
    that is not Chinese starting a word (and ending one if marked `$`). `find` reads the
    same matches without the regex engine, which tried all ~600 branches at every
    character (0.13 ms per headline): it looks only where a form may start and, there,
    at the forms of its first two characters, longest first."""

    concepts: tuple[str, ...]
    pattern: re.Pattern[str]
    form_concepts: Mapping[str, tuple[int, ...]]  # matched form (lower case) -> concepts
    # form -> (may start inside a word (Chinese), must end a word)
    form_rules: Mapping[str, tuple[bool, bool]] = field(default_factory=dict)
    # the lengths of the forms, longest first, by their first two characters (then the
    # one-character forms of the first), and by the character of a one-character form
    lengths: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    starts: re.Pattern[str] = _NOTHING  # where a form may start

    def find(self, text: str) -> set[int]:
        """Indices of the concepts mentioned in `text` (the matches of `pattern`)."""
        low = text.lower()
        found: set[int] = set()
        end = 0  # matches do not overlap: the next one starts at or after this
        for start in self.starts.finditer(low):
            at = start.start()
            if at < end:
                continue
            sizes = self.lengths.get(low[at:at + 2]) or self.lengths.get(low[at])
            if sizes is None:
                continue  # (most words: no form starts with their first two letters)
            word_start = at == 0 or _WORD_CHAR.match(low, at - 1) is None
            for size in sizes:
                form = low[at:at + size]
                rule = self.form_rules.get(form)
                if rule is None or len(form) != size:
                    continue
                anywhere, whole = rule
                if (not anywhere and not word_start) or (
                        whole and _WORD_CHAR.match(low, at + size) is not None):
                    continue
                found.update(self.form_concepts[form])
                end = at + size
                break
        return found


def parse_gazetteer(lines: list[str]) -> Gazetteer:
    concepts: list[str] = []
    forms: dict[str, list[int]] = {}
    alternatives: dict[str, str] = {}
    rules: dict[str, tuple[bool, bool]] = {}
    for raw in lines:
        line = raw.rstrip()
        if line.lstrip().startswith("#") or "\t" not in line:
            continue
        concept, surface = line.split("\t", 1)
        index = len(concepts)
        concepts.append(concept.strip())
        for form in surface.split("|"):
            form = form.strip().lower()
            whole = form.endswith("$")
            form = form.rstrip("$")
            if not form:
                continue
            forms.setdefault(form, [])
            if index not in forms[form]:
                forms[form].append(index)
            rules[form] = (bool(_CJK.search(form)), whole)
            if _CJK.search(form):
                alternatives[form] = re.escape(form)
            else:  # a word prefix (or whole word), never the middle of a word
                tail = r"(?![^\W_])" if whole else ""
                # the first letter comes before the word-start check, `(?<![^\W_].)`
                # (the letter before it is no word letter): a branch that opens with a
                # literal is skipped by `re` at a glance, while a leading look-behind was
                # evaluated for all ~600 forms at every position (1.5 ms per headline)
                alternatives[form] = (rf"{re.escape(form[0])}(?<![^\W_].)"
                                      rf"{re.escape(form[1:])}{tail}")
    ordered = sorted(alternatives, key=lambda f: (-len(f), f))  # longest form wins
    pattern = re.compile("|".join(alternatives[f] for f in ordered)) if ordered else _NOTHING
    singles = {form for form in ordered if len(form) == 1}
    lengths: dict[str, list[int]] = {form: [1] for form in singles}
    for form in ordered:  # longest first
        if len(form) > 1 and len(form) not in lengths.setdefault(form[:2], []):
            lengths[form[:2]].append(len(form))
    for key, sizes in lengths.items():
        if len(key) == 2 and key[0] in singles:
            sizes.append(1)
    in_words = sorted({f[0] for f in ordered if rules[f][0]})
    at_word_start = sorted({f[0] for f in ordered if not rules[f][0]})
    branches = ([rf"(?<![^\W_])[{''.join(map(re.escape, at_word_start))}]"] if at_word_start
                else []) + ([f"[{''.join(map(re.escape, in_words))}]"] if in_words else [])
    return Gazetteer(tuple(concepts), pattern, {f: tuple(c) for f, c in forms.items()},
                     rules, {key: tuple(sizes) for key, sizes in lengths.items()},
                     re.compile("|".join(branches)) if branches else _NOTHING)


@lru_cache(maxsize=1)
def load_gazetteer(path: Path = ANCHORS_PATH) -> Gazetteer:
    return parse_gazetteer(path.read_text(encoding="utf-8").splitlines())


NORM_FLOOR = 4.0  # IDF of a concept in ~1 background text in 55


def anchor_vector(text: str, idf: Mapping[str, float], gazetteer: Gazetteer | None = None,
                  floor: float = NORM_FLOOR) -> dict[int, float]:
    """Sparse IDF vector of the concepts in `text` (concept index -> weight), divided by its
    L2 norm or by `floor` if larger: two texts that share only common concepts ("Russia",
    "Ukraine") then get a small cosine, not 1."""
    gaz = gazetteer or load_gazetteer()
    weights = {c: idf.get(gaz.concepts[c], 0.0) for c in gaz.find(text)}
    weights = {c: w for c, w in weights.items() if w > 0}
    norm = max(math.sqrt(sum(w * w for w in weights.values())), floor)
    return {c: w / norm for c, w in weights.items()} if weights else {}


def anchor_idf(df: Mapping[str, int], docs: int, min_idf: float = 1.0) -> dict[str, float]:
    """IDF of each concept over `docs` background texts; concepts never seen there get the
    highest IDF (rare by definition); those below `min_idf` (in ~1 text in 3) are dropped."""
    gaz = load_gazetteer()
    out: dict[str, float] = {}
    for concept in gaz.concepts:
        value = math.log((docs + 1) / (df.get(concept, 0) + 1))
        if value >= min_idf:
            out[concept] = value
    return out


def anchor_df(texts: list[str]) -> dict[str, int]:
    """In how many of `texts` each concept occurs (for the calibration background)."""
    gaz = load_gazetteer()
    counts: dict[str, int] = {}
    for text in texts:
        for c in gaz.find(text):
            counts[gaz.concepts[c]] = counts.get(gaz.concepts[c], 0) + 1
    return counts
