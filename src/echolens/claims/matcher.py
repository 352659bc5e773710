"""Hybrid claim matching: BM25 over language-aware tokens and cross-script anchors, dense
e5 query/passage cosines (through a learned query adapter for the pool's main language) with
pseudo-relevance feedback, fused by z-scores, the top candidates re-ranked by a logistic
regression whose output is the match probability (see docs/claims.md).

Hubness: e5 vectors share a large common direction (cosines sit in 0.7-0.95), so short or
generic fact-checks ("Heartbleed", "Netsky Virus") come out near every query. For queries in
the pool's main language the dense side works in a centred space: passages minus the pool's
mean passage vector, queries minus a reference query vector (the mean `query:` vector of a
sample of the pool itself: no labels needed), both re-normalised (CLEF dev, dense alone:
MAP@5 0.837 raw -> 0.889). Cross-lingual queries keep raw cosines minus `hub_weight_xling`
times each fact-check's cosine to the reference vector (a per-document hubness prior):
centring on a mostly English reference loses their cross-lingual signal.

`ClaimIndex` is built once from fact-checks and their passage vectors; `match` is a pure
batch function (queries in, ranked matches out) and is fast enough to run on every item.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from echolens.claims.adapter import apply_adapter, packaged_adapter
from echolens.claims.lexical import BM25, URL_RE, script_lang, shared_terms, tokenize
from echolens.claims.lexicon import BROAD
from echolens.claims.records import FactCheck, Match

MAX_QUERY_CHARS = 2000

# the attribution line of an embedded tweet: "— Name (@handle) March 3, 2020"
_TWEET_BYLINE = re.compile(r"\s*[—–]\s*([^—–()\n]{0,80}?)\s*\(@\w+\)\s*"
                           r"(?:[A-Z][a-z]+ \d{1,2}, \d{4})?")


def clean_query(text: str) -> str:
    """What a query says, without links and embedded-tweet bylines: URLs and
    pic.twitter.com links read as spam to the dense model and pull generic "malware" or
    "hoax" fact-checks up; "— Name (@handle) date" keeps only the name. A text that would
    be left empty is returned as it was."""
    out = URL_RE.sub(" ", text)
    out = _TWEET_BYLINE.sub(lambda m: f" — {m.group(1)} " if m.group(1) else " ", out)
    out = " ".join(out.split())
    return out or text


@dataclass(frozen=True)
class MatcherConfig:
    """Knobs of the hybrid ranker: defaults from `benchmarks/claims_eval.py --tune` (CLEF
    train for the same-language knobs, the tuning half of claims-xling for `*_xling`)."""

    w_dense: float = 1.0
    # dense cosine in the centred space: passages minus the pool's mean passage vector,
    # queries minus the reference query vector, both re-normalised (see module doc)
    center: bool = True
    # off across languages: centring on the pool's (mostly English) reference query vector
    # loses the cross-lingual signal (claims-xling tuning half, S@10 ru 0.89 -> 0.78)
    center_xling: bool = False
    w_lexical: float = 0.15
    # hubness prior: dense -= hub_weight * cos(fact-check, reference query vector); off for
    # the main language since the adapter (CLEF train, out of fold)
    hub_weight: float = 0.0
    hub_weight_xling: float = 0.25
    # queries not in the pool's main language lean on dense + cross-script anchors
    w_lexical_xling: float = 0.4
    prf_docs: int = 3  # pseudo-relevance feedback: top docs of the first pass
    prf_weight: float = 0.0  # their mean vector mixed into the query vector
    prf_weight_xling: float = 0.5
    lexical_prf_terms: int = 12  # their rarest shared terms added to the lexical query
    # off for same-language queries: +0.002 MAP@5 on CLEF train for half the throughput
    lexical_prf_weight: float = 0.0
    lexical_prf_weight_xling: float = 0.6
    broad_concept_weight: float = 0.3
    anchor_weight: float = 1.0
    k1: float = 0.9
    b: float = 0.5
    # one-feature calibration P = sigmoid(a * fused + c) on the fused score before feedback
    # (feedback makes its own top documents' scores self-reinforcing, which a calibration
    # extrapolates into false confidence), fitted by `benchmarks/claims_eval.py --tune`
    # (logistic regression on the top 10 of CLEF train, out of fold / of the claims-xling
    # tuning half). Used below the candidates `rerank_same` / `calib_cross_features` score;
    # across languages the fused score alone does not separate relevant records within a
    # top 10 (AUC ~0.6), so `calib_cross` is flat at the base rate (~0.18).
    calib_same: tuple[float, float] = (1.3435, -11.4408)
    calib_cross: tuple[float, float] = (0.0, -1.499)
    # the packaged query adapter (`claims.adapter`), for queries in the pool's main language
    # compared in the centred space (CLEF dev, dense alone: MAP@5 0.890 -> 0.922)
    adapter: bool = True
    # learned re-ranking of the top `rerank_depth` of the first pass, queries in the pool's
    # main language: a logistic regression over RERANK_FEATURES, fitted by
    # `claims_eval.py --tune` on out-of-fold candidates of CLEF train; its output is the
    # match probability of those candidates (so it replaces `calib_same` there). None: off.
    rerank_depth: int = 30
    rerank_same: tuple[float, ...] | None = (0.4703, 1.722, -0.2573, 0.0869, 0.167, -0.5233,
                                             -2.0902)
    # cross-lingual probability of the same candidates (ranking untouched): a logistic
    # regression over the same features, fitted on the claims-xling tuning half
    calib_cross_features: tuple[float, ...] | None = (0.1564, 0.2023, -0.1144, -0.0181,
                                                      0.0426, -0.4551, -0.8347)
    # the probability a match needs to be an event, per language pair: a calibrated P has
    # the same meaning in both, but cross-lingual evidence is weaker (AUC ~0.67 within a
    # top 10 on claims-xling), so P rarely reaches 0.5 there; `threshold_cross` is the
    # lowest P whose precision on the claims-xling tuning half is at least 0.4 (about
    # twice the base rate). Both chosen by `claims_eval.py --tune`.
    threshold_same: float = 0.5
    threshold_cross: float = 0.17


REFERENCE_SAMPLE = 256

# features of a (query, candidate) pair in the re-ranker and the cross-lingual calibration,
# per score (dense, lexical): its z-score over the pool, its gap to the query's best
# candidate, log(1 + its rank among the candidates); then the intercept
RERANK_FEATURES = ("dense_z", "dense_gap", "dense_logrank", "lexical_z", "lexical_gap",
                   "lexical_logrank")


def reference_sample(factchecks: Sequence[FactCheck], n: int = REFERENCE_SAMPLE) -> list[str]:
    """Texts whose mean `query:` vector is the hubness reference: up to `n` fact-checks
    chosen by a hash of their id (stable as the pool grows, so their vectors stay cached)."""
    chosen = sorted(factchecks, key=lambda f: hashlib.sha1(f.id.encode("utf-8")).hexdigest())
    return [f.match_text() for f in chosen[:n]]


@dataclass(frozen=True)
class QueryResult:
    query_id: str
    matches: tuple[Match, ...]


def _zscore(scores: np.ndarray) -> np.ndarray:
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    out: np.ndarray = (scores - mean) / np.maximum(std, 1e-3)
    return out


def _normalize(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: np.ndarray = rows / np.maximum(norms, 1e-9)
    return out


def _hub(vectors: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """Each fact-check's cosine to the reference query vector (zeros without one)."""
    if reference is None or not len(vectors):
        return np.zeros(len(vectors), np.float32)
    return np.asarray(vectors @ reference, np.float32)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def candidate_features(z_dense: np.ndarray, z_lexical: np.ndarray,
                       cand: np.ndarray) -> np.ndarray:
    """(n_queries, depth, len(RERANK_FEATURES)) features of each query's candidates `cand`
    (doc indices) from the pool-wide z-scores of the dense and lexical scores."""
    out = []
    for z in (z_dense, z_lexical):
        v = np.take_along_axis(z, cand, axis=1)
        rank = np.argsort(np.argsort(-v, axis=1, kind="stable"), axis=1)
        out += [v, v - v.max(axis=1, keepdims=True), np.log1p(rank)]
    return np.stack(out, axis=2).astype(np.float32)


def _non_increasing(values: Sequence[float]) -> list[float]:
    """The least-squares non-increasing fit of `values` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, size]
    for v in values:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            mean, size = blocks.pop()
            prev = blocks[-1]
            prev[0] = (prev[0] * prev[1] + mean * size) / (prev[1] + size)
            prev[1] += size
    out: list[float] = []
    for mean, size in blocks:
        out.extend([mean] * int(size))
    return out


def _reranked(fused: np.ndarray, cand: np.ndarray, cand_score: np.ndarray) -> np.ndarray:
    """Scores with the candidates at their re-ranker score and every other document below
    the lowest of them, in its first-pass order."""
    floor = cand_score.min(axis=1, keepdims=True) - 1.0
    out: np.ndarray = fused - (fused.max(axis=1, keepdims=True) - floor)
    np.put_along_axis(out, cand, cand_score, axis=1)
    return out


# Queries scored at once (`ClaimIndex.match`). Also faster than one big block: 997 CLEF
# tweets in one block cost a fresh process ~1 s more in first touches of its 40 MB
# matrices (2.2 s of matching in one block, 1.3 s by 64-256).
MATCH_CHUNK = 128

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")


@dataclass
class ClaimIndex:
    """Fact-checks with their token index and passage vectors."""

    factchecks: list[FactCheck]
    vectors: np.ndarray  # (n, 384) passage embeddings, L2-normalised
    config: MatcherConfig = field(default_factory=MatcherConfig)
    # mean `query:` vector of a sample of the pool (see `reference_sample`); None: no prior
    query_reference: np.ndarray | None = None
    # a query adapter replacing the packaged one (evaluation, tuning); see `adapter_weights`
    query_adapter: np.ndarray | None = None
    # `tokenize` of each fact-check's `match_text()` when already known (a store caches
    # them: `FactCheckStore.terms`); None: tokenized here
    terms: list[list[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.factchecks) != len(self.vectors):
            raise ValueError("one vector per fact-check is needed")
        if self.terms is not None and len(self.terms) != len(self.factchecks):
            raise ValueError("one list of terms per fact-check is needed")
        self._dense_space()
        self.texts = [f.match_text() for f in self.factchecks]
        self.tokens = self.terms if self.terms is not None else [tokenize(t) for t in self.texts]
        self.doc_lang = [f.lang for f in self.factchecks]
        self._build_bm25()

    def _dense_space(self) -> None:
        """Passage vectors as the dense side compares them (centred or raw) and the hub."""
        self.hub = _hub(self.vectors, self.query_reference)
        if self.query_reference is not None and len(self.vectors):
            self.centred_vectors: np.ndarray | None = _normalize(
                self.vectors - self.vectors.mean(axis=0))
            self.query_shift: np.ndarray | None = np.asarray(self.query_reference, np.float32)
        else:
            self.centred_vectors = None
            self.query_shift = None

    def _centred_rows(self, langs: Sequence[str | None]) -> np.ndarray:
        """Which queries are compared in the centred space (per `center`/`center_xling`)."""
        cfg, major = self.config, self._major_lang()
        if self.centred_vectors is None:
            return np.zeros(len(langs), bool)
        return np.asarray([cfg.center if lg == major else cfg.center_xling for lg in langs],
                          bool)

    def _cosines(self, qvecs: np.ndarray, centred: np.ndarray,
                 feedback: np.ndarray | None = None, beta: np.ndarray | None = None,
                 adapt: np.ndarray | None = None) -> np.ndarray:
        """Cosines of queries (plus `beta` x their feedback documents' mean vector) to every
        fact-check, in the centred space for the `centred` rows and the raw one otherwise;
        the `adapt` rows (centred ones) go through the query adapter first."""
        out = np.empty((len(qvecs), len(self)), np.float32)
        weights = self.adapter_weights()
        for rows, docs in ((centred, self.centred_vectors), (~centred, self.vectors)):
            if docs is None or not rows.any():
                continue
            q = qvecs[rows]
            if docs is self.centred_vectors and self.query_shift is not None:
                q = _normalize(q - self.query_shift[None, :])
                if adapt is not None and weights is not None and adapt[rows].any():
                    sub = adapt[rows]
                    q[sub] = apply_adapter(q[sub], weights)
            if feedback is not None and beta is not None:
                q = _normalize(q + beta[rows] * docs[feedback[rows]].mean(axis=1))
            out[rows] = q @ docs.T
        return out

    def adapter_weights(self) -> np.ndarray | None:
        """The query adapter in use: one given to `with_adapter`, else the packaged one if
        `config.adapter`."""
        if not self.config.adapter:
            return None
        if self.query_adapter is not None:
            return self.query_adapter
        packaged = packaged_adapter()
        # trained on multilingual-e5-small vectors: never applied to another model's
        if packaged is None or packaged.shape[0] != self.vectors.shape[1]:
            return None
        return packaged

    def with_adapter(self, weights: np.ndarray | None) -> ClaimIndex:
        """The same index with another query adapter (None: the packaged one)."""
        clone = copy.copy(self)
        clone.query_adapter = weights
        return clone

    def _build_bm25(self) -> None:
        cfg = self.config
        weights = {f"c:{c}": cfg.broad_concept_weight for c in BROAD}
        self.bm25 = BM25(self.tokens, k1=cfg.k1, b=cfg.b, weights=weights)
        self.bm25.prefix_weights = {"c:": cfg.anchor_weight, "x:": cfg.anchor_weight,
                                    "n:": cfg.anchor_weight}

    def with_config(self, config: MatcherConfig) -> ClaimIndex:
        """The same index under other knobs (re-weights BM25 without re-tokenizing)."""
        clone = copy.copy(self)
        clone.config = config
        clone._build_bm25()
        return clone

    def __len__(self) -> int:
        return len(self.factchecks)

    def with_reference(self, query_reference: np.ndarray | None) -> ClaimIndex:
        """The same index with another hubness reference vector."""
        clone = copy.copy(self)
        clone.query_reference = query_reference
        clone._dense_space()
        return clone

    # -- scoring ---------------------------------------------------------------------------
    def score(self, texts: Sequence[str], qvecs: np.ndarray,
              langs: Sequence[str | None] | None = None) -> dict[str, np.ndarray]:
        """Per-query score matrices: dense, lexical and fused (n_queries, n_docs)."""
        cfg = self.config
        n = len(texts)
        if n == 0 or len(self) == 0:
            empty = np.zeros((n, len(self)), dtype=np.float32)
            return {"dense": empty, "dense_prior": empty, "lexical": empty, "fused": empty,
                    "first": empty, "same": np.zeros(n, bool),
                    "candidate_logit": np.full((n, 0), np.nan, np.float32),
                    "candidates": np.zeros((n, 0), np.int64),
                    "features": np.zeros((n, 0, len(RERANK_FEATURES)), np.float32)}
        langs = [lg or script_lang(t) for t, lg in zip(texts, langs or [None] * n, strict=True)]
        major = self._major_lang()
        w_lex = np.asarray([cfg.w_lexical if lg == major else cfg.w_lexical_xling
                            for lg in langs], dtype=np.float32)[:, None]
        alpha = np.asarray([cfg.hub_weight if lg == major else cfg.hub_weight_xling
                            for lg in langs], dtype=np.float32)[:, None]
        centred = self._centred_rows(langs)
        same = np.asarray([lg == major for lg in langs], bool)
        adapt = centred & same
        cosine = self._cosines(qvecs, centred, adapt=adapt)
        dense = cosine - alpha * self.hub[None, :]
        lexical = self.bm25.scores([tokenize(t) for t in texts])
        z_dense, z_lexical = _zscore(dense), _zscore(lexical)
        fused = cfg.w_dense * z_dense + w_lex * z_lexical
        first = fused  # before feedback: what the probability is calibrated on
        beta = np.asarray([cfg.prf_weight if lg == major else cfg.prf_weight_xling
                           for lg in langs], dtype=np.float32)[:, None]
        gamma = np.asarray([cfg.lexical_prf_weight if lg == major
                            else cfg.lexical_prf_weight_xling for lg in langs],
                           dtype=np.float32)[:, None]
        if cfg.lexical_prf_terms <= 0:
            gamma[:] = 0.0
        if cfg.prf_docs > 0 and (beta.any() or gamma.any()):
            # pseudo-relevance feedback from the top documents of the first pass
            k = min(cfg.prf_docs, len(self))
            top = np.argpartition(-fused, k - 1, axis=1)[:, :k]
            if beta.any():
                cosine = self._cosines(qvecs, centred, top, beta, adapt)
                dense = cosine - alpha * self.hub[None, :]
            if gamma.any():
                lexical = lexical + gamma * self._lexical_prf(top)
            fused = cfg.w_dense * _zscore(dense) + w_lex * _zscore(lexical)
        fused = np.asarray(fused, np.float32)
        depth = max(min(cfg.rerank_depth, len(self)), 1)
        cand = np.argpartition(-fused, depth - 1, axis=1)[:, :depth]
        feats = candidate_features(z_dense, z_lexical, cand)
        if cfg.rerank_same is not None and same.any() and fused is first:
            fused = fused.copy()  # re-ranked below; `first` stays the first pass
        # the probability's logit of each candidate (NaN: the one-feature calibration)
        cand_logit = np.full(cand.shape, np.nan, np.float32)
        for rows, weights, reorder in ((same, cfg.rerank_same, True),
                                       (~same, cfg.calib_cross_features, False)):
            if weights is None or not rows.any():
                continue
            w = np.asarray(weights, np.float32)
            cand_logit[rows] = feats[rows] @ w[:-1] + w[-1]
            if reorder:
                fused[rows] = _reranked(fused[rows], cand[rows], cand_logit[rows])
        return {"dense": np.asarray(cosine, np.float32),  # in the (centred) dense space
                "dense_prior": np.asarray(dense, np.float32),
                "lexical": np.asarray(lexical, np.float32),
                "fused": fused,
                "first": np.asarray(first, np.float32),
                "same": same,  # query in the pool's main language
                # the re-ranked candidates (doc indices), their RERANK_FEATURES and logits
                "candidates": cand, "features": feats, "candidate_logit": cand_logit}

    def logit(self, scores: dict[str, np.ndarray], q: int, doc: int) -> float:
        """The logit of P(same claim) of query `q` and fact-check `doc` in `scores`: the
        re-ranker's (or the cross-lingual feature calibration's) for a candidate, else the
        one-feature calibration of the first-pass score."""
        hit = np.nonzero(scores["candidates"][q] == doc)[0]
        if len(hit):
            value = float(scores["candidate_logit"][q, hit[0]])
            if not math.isnan(value):
                return value
        a, c = self.config.calib_same if scores["same"][q] else self.config.calib_cross
        return a * float(scores["first"][q, doc]) + c

    def _major_lang(self) -> str:
        if not hasattr(self, "_major"):
            counts: dict[str, int] = {}
            for lg in self.doc_lang:
                counts[lg] = counts.get(lg, 0) + 1
            self._major = max(counts, key=lambda k: counts[k]) if counts else "en"
        return self._major

    def _lexical_prf(self, top: np.ndarray) -> np.ndarray:
        """BM25 of the rarest terms shared by the top documents (RM3-like expansion)."""
        cfg = self.config
        expansions: list[list[str]] = []
        for row in top:
            counts: dict[str, float] = {}
            for d in row:
                for term in dict.fromkeys(self.tokens[d]):  # not set(): same order each run
                    counts[term] = counts.get(term, 0.0) + self.bm25.idf_of(term)
            best = sorted(counts.items(), key=lambda kv: -kv[1])[: cfg.lexical_prf_terms]
            expansions.append([t for t, _ in best])
        return self.bm25.scores(expansions)

    # -- results ---------------------------------------------------------------------------
    def probability(self, fused: float, same_lang: bool) -> float:
        """The one-feature calibration of a first-pass score (pairs outside the re-ranked
        candidates; see `logit`)."""
        a, c = self.config.calib_same if same_lang else self.config.calib_cross
        return _sigmoid(a * fused + c)

    def match(self, texts: Sequence[str], qvecs: np.ndarray, *, top_k: int = 10,
              langs: Sequence[str | None] | None = None,
              explain: bool = False) -> list[list[Match]]:
        """Top `top_k` fact-checks per query, best first. Queries are scored `MATCH_CHUNK`
        at a time (each is ranked on its own): the scores of a block are several
        (queries x fact-checks) float32 matrices, 1.6 GB each for 40k new items against 10k
        fact-checks in one block."""
        out: list[list[Match]] = []
        for start in range(0, len(texts), MATCH_CHUNK):
            end = start + MATCH_CHUNK
            out.extend(self._match_block(texts[start:end], qvecs[start:end], top_k=top_k,
                                         langs=None if langs is None else langs[start:end],
                                         explain=explain))
        return out

    def _match_block(self, texts: Sequence[str], qvecs: np.ndarray, *, top_k: int,
                     langs: Sequence[str | None] | None, explain: bool
                     ) -> list[list[Match]]:
        scores = self.score(texts, qvecs, langs)
        fused = scores["fused"]
        out: list[list[Match]] = []
        k = min(top_k, len(self))
        for q, text in enumerate(texts):
            if k == 0:
                out.append([])
                continue
            row = fused[q]
            top = np.argpartition(-row, k - 1)[:k]
            top = top[np.argsort(-row[top], kind="stable")]
            qlang = (langs[q] if langs and langs[q] else None) or script_lang(text)
            threshold = (self.config.threshold_same if qlang == self._major_lang()
                         else self.config.threshold_cross)
            # P along the ranking, made non-increasing (pool-adjacent-violators: violating
            # neighbours share their mean), so "best first" and "most probable first" agree
            probs = _non_increasing([_sigmoid(self.logit(scores, q, int(d))) for d in top])
            matches = []
            for rank, (d, prob) in enumerate(zip(top, probs, strict=True), start=1):
                fc = self.factchecks[int(d)]
                terms: tuple[str, ...] = ()
                sentence = ""
                if explain:
                    terms = tuple(shared_terms(text, self.texts[d], idf=self.bm25.idf_of))
                    sentence = self.closest_sentence(text, int(d))
                matches.append(Match(
                    factcheck_id=fc.id, score=round(float(row[d]), 4),
                    probability=round(prob, 4),
                    dense=round(float(qvecs[q] @ self.vectors[d]), 4),  # raw cosine
                    lexical=round(float(scores["lexical"][q, d]), 4), rank=rank,
                    shared_terms=terms, closest_sentence=sentence, threshold=threshold,
                ))
            out.append(matches)
        return out

    def closest_sentence(self, query: str, doc: int) -> str:
        """The sentence of the fact-check sharing most (idf-weighted) index terms."""
        q_terms = set(tokenize(query))
        best, best_score = "", -1.0
        for sentence in _SENTENCE.split(self.texts[doc]):
            sentence = sentence.strip()
            if not sentence:
                continue
            score = sum(self.bm25.idf_of(t) for t in sorted(set(tokenize(sentence)) & q_terms))
            if score > best_score:
                best, best_score = sentence, score
        return best[:300]
