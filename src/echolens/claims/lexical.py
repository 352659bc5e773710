"""Lexical side of claim matching: language-aware tokens and a BM25 index.

Tokens are lower-cased words, stemmed per script (Snowball English/Russian, a light suffix
stripper for Ukrainian, jieba words for Chinese), plus cross-script anchors that let a Chinese
or Russian claim meet an English fact-check: numbers, Latin transliterations of Cyrillic names
and the concept ids of `echolens.claims.lexicon`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

from echolens.claims.lexicon import concepts_in

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CYR = re.compile(r"[а-яёіїєґ]")
_UK_ONLY = re.compile(r"[іїєґ]")
_NUM = re.compile(r"^\d+$")
URL_RE = re.compile(r"https?://\S+|pic\.twitter\.com/\S+|www\.\S+|\S+\.(?:com|org|net)/\S*",
                    re.IGNORECASE)  # links, also as tweets shorten them
_HASHTAG = re.compile(r"#([A-Za-z]\w+)")
_HANDLE = re.compile(r"@([A-Za-z]\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

STOP = frozenset(
    """a an the of to in on and or for with by from at as is are was were be been being it its
    this that these those has have had not no but about into over after before than then so
    such can could will would should may might must do does did he she they them their his her
    we our you your i me my who whom which what when where why how all any some also more most
    said says say according just only very up out new one two
    и в во на с со по к ко о об от до из за для не ни что как это то так а но же ли бы был была
    были было быть он она они его ее их мы вы я у при под над без также еще уже который которые
    которая которое этот эта эти чтобы будет могут может заявил заявила сообщил сообщает
    і й в у на з із зі по до від для не що як це та але же б був була були було бути він вона
    вони його її їх ми ви я при під над без також ще вже який яка яке які цей ця ці щоб буде
    можуть може заявив заявила повідомив повідомляє нібито
    的 了 在 是 和 与 及 对 为 将 把 被 就 也 都 而 并 等
    这 那 有 从 到 说 称 中 上 下 一 个 之 其 或
    """.split()
)

_UK_SUFFIXES = tuple(sorted(
    """ами ями ого ому ими іми ної ною ним ній них ого ові еві ах ях ам ям ом ем ів їв ою ею
    ий ій ої ему ати ити ють ять ав ала али ало ися ись ся сь ння і ї а я
    о е у ю и ь""".split(), key=len, reverse=True))

_TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "є": "ye", "ё": "e",
    "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "yi", "й": "y", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
    "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya", "'": "", "’": "",
})


def script_lang(text: str) -> str:
    """Language by script, the way the evaluation data labels it: zh, uk, ru or en."""
    if _CJK.search(text):
        return "zh"
    low = text.lower()
    if _CYR.search(low):
        return "uk" if _UK_ONLY.search(low) else "ru"
    return "en"


@lru_cache(maxsize=1)
def _stemmers() -> dict[str, Any]:
    """Snowball's English and Russian stemmers, compiled (PyStemmer): the pure-Python
    `snowballstemmer` took 2 of the 7 s `echolens match` spent reading 10k fact-checks, and
    chose PyStemmer by itself whenever it happened to be installed, which stems 12 English
    words in 88k otherwise ("internal": internal, not intern)."""
    import Stemmer

    return {"en": Stemmer.Stemmer("english"), "ru": Stemmer.Stemmer("russian")}


def _uk_stem(word: str) -> str:
    if len(word) <= 4:
        return word
    for suffix in _UK_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    if _CYR.search(word):
        if _UK_ONLY.search(word):
            return _uk_stem(word)
        return str(_stemmers()["ru"].stemWord(word))
    if word.isascii():
        return str(_stemmers()["en"].stemWord(word))
    return word


@lru_cache(maxsize=200_000)
def translit_key(word: str) -> str:
    """A crude Latin skeleton of a word (Cyrillic transliterated, vowels dropped after the
    first letter), so that Зеленский / Зеленський / Zelensky share `x:zlnsk`."""
    latin = word.lower().translate(_TRANSLIT)
    latin = latin.replace("kh", "h").replace("y", "i").replace("j", "i")
    skeleton = latin[0] + re.sub(r"[aeiou]", "", latin[1:])
    skeleton = re.sub(r"(.)\1+", r"\1", skeleton)
    return "x:" + skeleton[:6]


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@dataclass(frozen=True)
class TokenizerConfig:
    stem: bool = True
    anchors: bool = True  # concept ids, numbers, transliteration keys
    words: bool = True


def _words(text: str) -> list[str]:
    """Surface words; Chinese runs are cut by jieba."""
    return list(_words_of(text))


@lru_cache(maxsize=65_536)  # a fact-check is re-read for every match it explains
def _words_of(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        if _CJK.search(word):
            out.extend(w for w in _jieba().lcut(word) if w.strip())
        else:
            out.append(word)
    return tuple(out)


@lru_cache(maxsize=1)
def tokenizer_version() -> str:
    """What the terms of `tokenize` depend on: this module's and the lexicon's source and the
    versions of the stemmer and of jieba (its dictionary). Terms cached under it are never
    served to another tokenizer."""
    from echolens.claims import lexicon

    digest = hashlib.sha1()
    for module in (sys.modules[__name__], lexicon):
        digest.update(Path(str(module.__file__)).read_bytes())
    for dist in ("PyStemmer", "jieba"):
        digest.update(importlib.metadata.version(dist).encode())
    return digest.hexdigest()[:16]


def tokenize(text: str, config: TokenizerConfig = TokenizerConfig()) -> list[str]:
    """Index terms of a text (with repeats, for term frequencies)."""
    return list(_tokenize(text, config))


@lru_cache(maxsize=65_536)  # queries and fact-check sentences recur in explanations
def _tokenize(text: str, config: TokenizerConfig) -> tuple[str, ...]:
    terms: list[str] = []
    text = URL_RE.sub(" ", text)
    # #DefundTheCBC -> Defund The CBC (CLEF train MAP@5 of BM25 0.836 -> 0.847)
    text = _HASHTAG.sub(lambda m: " ".join(_CAMEL.split(m.group(1))), text)
    # @realDonaldTrump -> real Donald Trump, @jules_su -> jules su: a handle names who is
    # talked about (CLEF train MAP@5 of BM25 0.838 -> 0.853)
    text = _HANDLE.sub(lambda m: " ".join(_CAMEL.split(m.group(1).replace("_", " "))), text)
    for word in _words(text):
        if word in STOP:
            continue
        if _NUM.match(word):
            if config.anchors and len(word) >= 2:
                terms.append("n:" + word)
            continue
        if config.words and (len(word) > 1 or _CJK.search(word)):
            terms.append(stem(word) if config.stem else word)
        if config.anchors and len(word) >= 5 and (
                _CYR.search(word) or (word.isascii() and word.isalpha())):
            terms.append(translit_key(word))
    if config.anchors:
        terms.extend("c:" + c for c in concepts_in(text))
    return tuple(terms)


class BM25:
    """Okapi BM25 over a sparse term-document matrix; scoring many queries is one product."""

    def __init__(self, docs: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75,
                 weights: dict[str, float] | None = None) -> None:
        self.k1, self.b = k1, b
        # term ids in order of first occurrence; (doc, term) counts in numpy (a Counter per
        # document took 0.3 of the 0.6 s of indexing 10k fact-checks)
        from scipy import sparse  # here: every command imports this module, few need scipy

        self.vocab: dict[str, int] = {}
        setdefault = self.vocab.setdefault
        flat = [setdefault(term, len(self.vocab)) for terms in docs for term in terms]
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        owner = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        width = max(len(self.vocab), 1)
        pairs, tf = np.unique(owner * width + np.asarray(flat, dtype=np.int64),
                              return_counts=True)
        rows, cols = pairs // width, pairs % width
        n_docs = max(len(docs), 1)
        tf_matrix = sparse.csr_matrix((tf.astype(np.float64), (rows, cols)),
                                      shape=(len(docs), len(self.vocab)))
        df = np.bincount(cols, minlength=len(self.vocab))
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        if weights:
            for term, w in weights.items():
                if term in self.vocab:
                    self.idf[self.vocab[term]] *= w
        avg = float(lengths.mean()) if len(docs) else 1.0
        norm = k1 * (1 - b + b * lengths / max(avg, 1e-9))
        coo = tf_matrix.tocoo()
        data = coo.data * (k1 + 1) / (coo.data + norm[coo.row]) * self.idf[coo.col]
        self.matrix = sparse.csr_matrix((data.astype(np.float32), (coo.row, coo.col)),
                                        shape=tf_matrix.shape).T.tocsr()  # terms x docs
        self.n_docs = len(docs)
        self.prefix_weights = {"c:": 1.0, "x:": 1.0, "n:": 1.0}

    def query_matrix(self, queries: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        from scipy import sparse

        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for q, terms in enumerate(queries):
            for term in dict.fromkeys(terms):  # not set(): the same sums on every run
                col = self.vocab.get(term)
                if col is not None:
                    rows.append(q)
                    cols.append(col)
                    vals.append(self.prefix_weights.get(term[:2], 1.0))
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(queries), len(self.vocab)),
                                 dtype=np.float32)

    def scores(self, queries: Sequence[Sequence[str]]) -> np.ndarray:
        """Dense (n_queries, n_docs) BM25 scores."""
        if not queries:
            return np.zeros((0, self.n_docs), dtype=np.float32)
        product = self.query_matrix(queries) @ self.matrix
        return np.asarray(product.toarray(), dtype=np.float32)

    def idf_of(self, term: str) -> float:
        col = self.vocab.get(term)
        return float(self.idf[col]) if col is not None else 0.0


def shared_terms(query: str, doc: str, *, limit: int = 6,
                 idf: Any = None) -> list[str]:
    """Surface words of `doc` whose index term also occurs in `query` (rarest first)."""
    q_terms = set(tokenize(query))
    seen: dict[str, float] = {}
    for word in _words(doc):
        if word in STOP or len(word) < 2:
            continue
        term = stem(word)
        key = term if term in q_terms else None
        if key is None and translit_key(word) in q_terms and len(word) >= 5:
            key = translit_key(word)
        if key is not None and word not in seen:
            seen[word] = idf(key) if idf else 1.0
    for concept in concepts_in(doc):
        if "c:" + concept in q_terms:
            seen.setdefault(concept.replace("_", " "), idf("c:" + concept) if idf else 1.0)
    ranked = sorted(seen.items(), key=lambda kv: -kv[1])
    return [w for w, _ in ranked[:limit]]


def log_idf_ratio(n_docs: int, df: int) -> float:
    return math.log1p((n_docs - df + 0.5) / (df + 0.5))


def iter_terms(texts: Iterable[str]) -> list[list[str]]:
    return [tokenize(t) for t in texts]
