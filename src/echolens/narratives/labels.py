"""Narrative labels: class-based TF-IDF keywords per language, a representative item per
ecosystem and language, and a short label chosen from the members.

Tokenizing: jieba for Chinese (lazy import), a light suffix-stripping stemmer for Russian and
Ukrainian (no dictionary, so no GPL data), lower-cased words for the rest. Keywords are shown
as the most frequent surface form of each stem, so an analyst reads words, not stems."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
CJK = re.compile(r"[\u3400-\u9fff]")

STOP: dict[str, frozenset[str]] = {
    "en": frozenset(
        "a an the and or but of to in on at for from by with about as into over after before "
        "is are was were be been being has have had do does did will would can could should "
        "may might must not no it its this that these those he she they we you i his her their "
        "our your them us him who whom which what when where why how than then there here "
        "says said say new more most also just up out all any some such only over very via "
        "s t amid against under during while up down off again one two per vs".split()
    ),
    "ru": frozenset(
        "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по "
        "только ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если "
        "уже или ни быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей "
        "может они тут где есть надо ней для мы тебя их чем была сам чтоб без будто чего раз "
        "тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом "
        "один почти мой тем чтобы нее сейчас были куда зачем всех никогда можно при наконец "
        "два об другой хоть после над больше тот через эти нас про всего них какая много "
        "разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой "
        "им более всегда конечно всю между это заявил заявила также".split()
    ),
    "uk": frozenset(
        "і й та в у на з із зі до від не що як а але це ця цей ці то би б за по про для при "
        "над під між через без його її їх він вона вони ми ви я ти є був була були буде "
        "вже ще також так як чи або де коли якщо щоб хто що який яка яке які свій своє свої "
        "цього цієї тому там тут може можуть має мають після перед заявив заявила".split()
    ),
    "zh": frozenset(
        "的 了 在 是 和 与 及 对 就 都 而 及 或 被 把 让 向 从 为 以 于 上 下 中 说 称 将 已 也 "
        "这 那 其 之 等 个 一 不 有 我 你 他 她 它 们 吗 呢 吧 着 过 又 并 但 还 更 最 据".split()
    ),
}

RU_SUFFIXES = sorted(
    """ами ями ого его ому ему ыми ими ую юю ая яя ое ее ые ие ый ий ой ей ом ем ах ях ам ям
    ов ев ью ия ья ие ье ться тся ешь ет ют ут ит ат ят ем им ишь ала ала ило или ел ла ли ло
    ть ти а я о е ы и у ю ь й""".split(),
    key=len,
    reverse=True,
)
UK_SUFFIXES = sorted(
    """ами ями ого ому ими ими ою ею ий ій ої ої ий их ім ій ам ям ах ях ів їв ом ем ою ує ють
    ать ять ити ати ться ся ла ли ло ів а я о е и і ї у ю ь й""".split(),
    key=len,
    reverse=True,
)


def _strip(word: str, suffixes: Sequence[str], keep: int = 4) -> str:
    for suffix in suffixes:
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(60)
    return jieba


def tokens(text: str, lang: str) -> list[tuple[str, str]]:
    """(stem, surface) pairs of the content words of `text`, stop words and numbers dropped."""
    stop = STOP.get(lang, frozenset())
    if lang == "zh" or CJK.search(text):
        out: list[tuple[str, str]] = []
        for piece in _jieba().lcut(text):
            piece = piece.strip().lower()
            if not piece or piece in stop or not WORD.fullmatch(piece) or piece.isdigit():
                continue
            if CJK.search(piece) and len(piece) < 2:
                continue
            out.append((piece, piece))
        return out
    suffixes = RU_SUFFIXES if lang == "ru" else UK_SUFFIXES if lang == "uk" else ()
    out = []
    for match in WORD.finditer(text):
        surface = match.group(0)
        word = surface.lower()
        if word in stop or len(word) < 3 or word.isdigit():
            continue
        stem = _strip(word, suffixes) if suffixes else word.removesuffix("'s")
        out.append((stem, surface))
    return out


@dataclass
class LabelInput:
    """One member of a narrative, as the labeller needs it."""

    item_id: str
    text: str
    lang: str
    ecosystem: str
    vector: np.ndarray | None = None


@dataclass
class NarrativeLabel:
    label: str
    keywords: dict[str, list[str]] = field(default_factory=dict)
    representatives: dict[str, str] = field(default_factory=dict)  # "ecosystem/lang" -> item id


def ctfidf_keywords(
    docs_by_class: Mapping[str, Sequence[tuple[str, str]]], top: int = 8
) -> dict[str, dict[str, list[str]]]:
    """Class-based TF-IDF per language: class -> lang -> top keywords (surface forms).

    `docs_by_class[c]` is a list of (text, lang). Frequencies are counted per class and
    language; the IDF is log(1 + A / f_t) over the classes of the same language (BERTopic's
    c-TF-IDF), with A the average number of words per class."""
    counts: dict[str, dict[str, Counter[str]]] = defaultdict(dict)
    surfaces: dict[str, Counter[str]] = defaultdict(Counter)
    for cls, docs in docs_by_class.items():
        for text, lang in docs:
            bag = counts[lang].setdefault(cls, Counter())
            for stem, surface in tokens(text, lang):
                bag[stem] += 1
                surfaces[f"{lang}:{stem}"][surface.lower() if lang != "de" else surface] += 1
    result: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for lang, by_class in counts.items():
        totals: Counter[str] = Counter()
        for bag in by_class.values():
            totals.update(bag)
        average = sum(totals.values()) / max(len(by_class), 1)
        for cls, bag in by_class.items():
            size = sum(bag.values()) or 1
            scored = sorted(
                ((count / size * math.log(1 + average / totals[stem]), stem)
                 for stem, count in bag.items() if count >= 1),
                key=lambda pair: (-pair[0], pair[1]),
            )
            words = [surfaces[f"{lang}:{stem}"].most_common(1)[0][0] for _, stem in scored]
            result[cls][lang] = words[:top]
    return dict(result)


def representatives(members: Sequence[LabelInput], centroid: np.ndarray | None) -> dict[str, str]:
    """The member closest to the centroid per "ecosystem/lang" (first by id without vectors)."""
    best: dict[str, tuple[float, str]] = {}
    for m in sorted(members, key=lambda m: m.item_id):
        key = f"{m.ecosystem}/{m.lang}"
        sim = float(m.vector @ centroid) if m.vector is not None and centroid is not None else 0.0
        if key not in best or sim > best[key][0]:
            best[key] = (sim, m.item_id)
    return {k: v[1] for k, v in sorted(best.items())}


def short_label(members: Sequence[LabelInput], centroid: np.ndarray | None,
                prefer: Iterable[str] = ("en", "ru", "uk", "zh"), max_chars: int = 90) -> str:
    """The most central member text, preferring a language in `prefer` order."""
    order = {lang: i for i, lang in enumerate(prefer)}
    candidates = [m for m in members if m.text.strip()]
    if not candidates:
        return ""

    def key(m: LabelInput) -> tuple[int, float, str]:
        sim = float(m.vector @ centroid) if m.vector is not None and centroid is not None else 0.0
        return (order.get(m.lang, len(order)), -sim, m.item_id)

    text = " ".join(min(candidates, key=key).text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def label_narratives(
    members: Mapping[str, Sequence[LabelInput]],
    centroids: Mapping[str, np.ndarray] | None = None,
    top: int = 8,
) -> dict[str, NarrativeLabel]:
    """Labels for every narrative in `members` (narrative id -> its members)."""
    keywords = ctfidf_keywords(
        {nid: [(m.text, m.lang) for m in ms] for nid, ms in members.items()}, top=top
    )
    out = {}
    for nid, ms in members.items():
        centroid = centroids.get(nid) if centroids else None
        out[nid] = NarrativeLabel(
            label=short_label(ms, centroid),
            keywords=keywords.get(nid, {}),
            representatives=representatives(ms, centroid),
        )
    return out
