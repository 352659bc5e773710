"""The alias table: names of sources in en / ru / uk / zh -> canonical English name and kind.

Latin and Cyrillic names are matched token by token; Cyrillic tokens also match with a
Russian/Ukrainian case ending added or removed (Лавров ~ Лаврова ~ Лаврову), so the table
only lists nominatives. Chinese names are matched as substrings, longest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal, cast

import yaml

from echolens.errors import UsageError

Kind = Literal["media", "government", "person", "organization"]
KINDS: tuple[Kind, ...] = ("media", "government", "person", "organization")
ALIAS_RESOURCE = "aliases.yaml"

_CJK = re.compile(r"[\u3400-\u9fff]")
TOKEN = re.compile(r"(?:[A-Z]\.){2,}|[^\W_][\w'’.\-]*[\w]|[^\W_]", re.UNICODE)
# Russian and Ukrainian case endings, longest first
_ENDINGS = sorted(
    "ами ями ого его ому ему ыми ими ой ей ою ею ий ый ій ая яя ое ее ом ем ам ям ах ях ов ев ів "
    "ів ую юю ых их ым им ою а я о е у ю ы и і ї й ь".split(),
    key=len, reverse=True)


@dataclass(frozen=True)
class Source:
    """A named source: canonical English name, kind, whether it is a country, and the
    ecosystem it speaks for (None: none of echolens' ecosystems, e.g. the UN). A `place`
    (a city) never speaks itself; it names the office in role tags ("... – мер")."""

    name: str
    kind: Kind
    country: bool = False
    adjective: str = ""
    ecosystem: str | None = None
    place: bool = False


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    joined: bool = True  # only spaces (or nothing) between this token and the previous one

    @property
    def capitalised(self) -> bool:
        return self.text[:1].isupper()


def tokenize(text: str) -> list[Token]:
    """Words of a Latin or Cyrillic text with their character offsets."""
    out: list[Token] = []
    raw_end = 0
    for m in TOKEN.finditer(text):
        word = m.group(0)
        joined = not out or not text[raw_end:m.start()].strip(" \u00a0")
        raw_end = m.end()
        end = m.end()
        if word.endswith(("'s", "’s")):
            word, end = word[:-2], end - 2
        elif word.endswith(".") and not re.fullmatch(r"(?:[A-Z]\.){2,}", word):
            word, end = word[:-1], end - 1
        out.append(Token(word, m.start(), end, joined))
    return out


def _cyrillic(word: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in word)


def stems(word: str) -> frozenset[str]:
    """Forms a word is compared by: itself, and for Cyrillic words its stems without an ending."""
    low = word.casefold().replace("ё", "е").replace("’", "'")
    out = {low}
    if _cyrillic(low) and len(low) > 3:
        for ending in _ENDINGS:
            if low.endswith(ending) and len(low) - len(ending) >= 3:
                out.add(low[: -len(ending)])
    return frozenset(out)


def _exact(word: str) -> bool:
    """Abbreviations (US, WHO, МИД, ОП) match only as written, in capitals."""
    letters = [ch for ch in word if ch.isalpha()]
    return bool(letters) and len(letters) <= 5 and all(ch.isupper() for ch in letters)


@dataclass(frozen=True)
class _Pattern:
    words: tuple[str, ...]
    source: Source


@dataclass(frozen=True)
class Match:
    """A name from the table found in a text: tokens [first, last) or, for Chinese, chars."""

    source: Source
    start: int
    end: int
    first: int = -1
    last: int = -1


def _word_matches(pattern_word: str, token: str) -> bool:
    if _exact(pattern_word):
        return pattern_word == token or (
            pattern_word.replace(".", "") == token.replace(".", "") and "." in pattern_word)
    return bool(stems(pattern_word) & stems(token))


class AliasTable:
    """Lookup of source names; build with `AliasTable.load()` or from entries in tests."""

    def __init__(self, entries: list[tuple[Source, list[str]]]) -> None:
        self._by_first: dict[str, list[_Pattern]] = {}
        self._cjk: dict[str, Source] = {}
        self._by_name: dict[str, Source] = {}
        self._adjectives: frozenset[str] | None = None
        for source, names in entries:
            self._by_name[source.name.casefold()] = source
            for name in [source.name, *names]:
                if _CJK.search(name):
                    self._cjk.setdefault(name, source)
                    continue
                words = tuple(t.text for t in tokenize(name))
                if not words:
                    continue
                pattern = _Pattern(words, source)
                keys = {words[0]} if _exact(words[0]) else stems(words[0])
                for key in keys:
                    bucket = self._by_first.setdefault(key, [])
                    if all(p.words != words for p in bucket):
                        bucket.append(pattern)
        self._cjk_lengths = sorted({len(n) for n in self._cjk}, reverse=True)

    @classmethod
    def load(cls) -> AliasTable:
        return _packaged()

    def sources(self) -> list[Source]:
        """Every named source of the table."""
        return list(self._by_name.values())

    def adjectives(self) -> frozenset[str]:
        """The country adjectives of the table, case-folded (Russian, Chinese, US...)."""
        if self._adjectives is None:
            self._adjectives = frozenset(s.adjective.casefold() for s in self._by_name.values()
                                         if s.country and s.adjective)
        return self._adjectives

    def canonical(self, name: str) -> Source | None:
        """The source a name stands for (a canonical name or any alias), if known."""
        if _CJK.search(name):
            return self._cjk.get(name)
        tokens = tokenize(name)
        found = self.match_tokens(tokens, 0)
        if found is not None and found.last == len(tokens):
            return found.source
        return self._by_name.get(name.casefold())

    def match_tokens(self, tokens: list[Token], i: int) -> Match | None:
        """The longest name starting at token i."""
        word = tokens[i].text
        candidates: list[_Pattern] = []
        for key in {word} | stems(word):
            candidates.extend(self._by_first.get(key, []))
        best: _Pattern | None = None
        for pattern in candidates:
            n = len(pattern.words)
            if i + n > len(tokens) or (best is not None and n <= len(best.words)):
                continue
            if pattern.words[0][:1].isupper() and not tokens[i].capitalised:
                continue  # "Политико" is a name, "политик" is not
            if all(_word_matches(pw, tokens[i + k].text) and (k == 0 or tokens[i + k].joined)
                   for k, pw in enumerate(pattern.words)):
                best = pattern
        if best is None:
            return None
        j = i + len(best.words)
        return Match(best.source, tokens[i].start, tokens[j - 1].end, i, j)

    def match_cjk(self, text: str, pos: int) -> Match | None:
        """The longest Chinese name starting at character pos."""
        for n in self._cjk_lengths:
            source = self._cjk.get(text[pos:pos + n])
            if source is not None:
                return Match(source, pos, pos + n)
        return None


def _parse(data: object) -> list[tuple[Source, list[str]]]:
    if not isinstance(data, list):
        raise UsageError("alias table must be a list of entries", "see echo/aliases.yaml")
    out = []
    for row in data:
        if not isinstance(row, dict) or row.get("kind") not in KINDS or not row.get("name"):
            raise UsageError(f"bad alias entry {row!r}",
                             "each entry needs name and kind in " + "|".join(KINDS))
        ecosystem = row.get("ecosystem")
        if ecosystem is not None and not isinstance(ecosystem, str):
            raise UsageError(f"bad ecosystem in alias entry {row!r}",
                             "give one ecosystem name, e.g. russia-state")
        source = Source(str(row["name"]), cast(Kind, row["kind"]), bool(row.get("country")),
                        str(row.get("adjective") or ""), ecosystem or None,
                        bool(row.get("place")))
        out.append((source, [str(a) for a in row.get("aliases") or []]))
    return out


def packaged_text() -> str:
    """The text of the packaged alias table (its hash is part of the extractor version)."""
    return resources.files("echolens.echo").joinpath(ALIAS_RESOURCE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _packaged() -> AliasTable:
    return AliasTable(_parse(yaml.safe_load(packaged_text())))


def table_from_yaml(text: str) -> AliasTable:
    """An alias table from YAML text in the format of echo/aliases.yaml."""
    return AliasTable(_parse(yaml.safe_load(text)))
