"""The query adapter and the learned re-ranker / feature calibration of the claim matcher."""

from __future__ import annotations

import math

import numpy as np

from echolens.claims.adapter import apply_adapter, packaged_adapter, train_adapter
from echolens.claims.matcher import (
    RERANK_FEATURES,
    ClaimIndex,
    MatcherConfig,
    _non_increasing,
    candidate_features,
)
from echolens.claims.records import FactCheck


def _unit(rows: np.ndarray) -> np.ndarray:
    out: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def _mean_rank(queries: np.ndarray, docs: np.ndarray, target: np.ndarray) -> float:
    scores = queries @ docs.T
    own = scores[np.arange(len(queries)), target][:, None]
    return float((scores > own).sum(axis=1).mean())


def test_adapter_moves_queries_towards_their_documents() -> None:
    rng = np.random.default_rng(0)
    docs = _unit(rng.normal(size=(200, 32)).astype(np.float32))
    # each query is its document seen through a fixed distortion, plus noise
    distortion = rng.normal(size=(32, 32)).astype(np.float32)
    target = rng.permutation(200)[:150]
    queries = _unit(docs[target] @ distortion + 0.3 * rng.normal(size=(150, 32)))
    train, test = np.arange(100), np.arange(100, 150)
    before = _mean_rank(queries[test], docs, target[test])
    weights = train_adapter(queries[train], docs, [(int(i), int(target[i])) for i in train],
                            steps=150, learning_rate=0.01)
    after = _mean_rank(apply_adapter(queries[test], weights), docs, target[test])
    assert after < 0.5 * before  # held-out queries, not the ones it was trained on


def test_adapter_identity_cases() -> None:
    rows = _unit(np.arange(1, 13, dtype=np.float32).reshape(3, 4))
    assert apply_adapter(rows, None) is rows
    assert np.allclose(apply_adapter(rows, np.zeros((4, 4), np.float32)), rows)
    assert not train_adapter(rows, rows, []).any()


def test_packaged_adapter_is_a_small_residual() -> None:
    weights = packaged_adapter()
    assert weights is not None and weights.shape == (384, 384)
    assert np.isfinite(weights).all()
    # a correction of e5's query space, not a replacement of it: adapted vectors stay close
    # to what they were (and are not all pulled to one place)
    rows = _unit(np.random.default_rng(0).normal(size=(200, 384)).astype(np.float32))
    adapted = apply_adapter(rows, weights)
    assert float((adapted * rows).sum(axis=1).min()) > 0.8
    assert float(np.abs(adapted @ adapted.T - np.eye(200)).max()) < 0.5


FACTS = [FactCheck(f"f{i}", text, "en") for i, text in enumerate([
    "alpha beta gamma", "alpha delta", "epsilon zeta", "eta theta", "iota kappa",
    "lambda mu", "alpha beta", "nu xi omicron",
])]


def _index(config: MatcherConfig) -> ClaimIndex:
    rng = np.random.default_rng(1)
    vectors = _unit(rng.normal(size=(len(FACTS), 384)).astype(np.float32))
    return ClaimIndex(FACTS, vectors, config, query_reference=vectors.mean(axis=0))


def test_candidate_features_gaps_and_ranks() -> None:
    z_dense = np.asarray([[3.0, 1.0, 2.0, 0.0]], np.float32)
    z_lex = np.asarray([[0.0, 5.0, 1.0, 2.0]], np.float32)
    feats = candidate_features(z_dense, z_lex, np.asarray([[0, 1, 2]]))
    assert feats.shape == (1, 3, len(RERANK_FEATURES))
    assert feats[0, :, 0].tolist() == [3.0, 1.0, 2.0]
    assert feats[0, :, 1].tolist() == [0.0, -2.0, -1.0]
    assert np.allclose(feats[0, :, 2], np.log1p([0, 2, 1]))
    assert np.allclose(feats[0, :, 5], np.log1p([2, 0, 1]))


def test_reranker_orders_candidates_and_keeps_the_rest_below() -> None:
    query, qvec = ["alpha beta"], _unit(np.random.default_rng(2).normal(size=(1, 384)))
    # a re-ranker that reads only the lexical z-score
    lexical_only = (0.0, 0.0, 0.0, 2.0, 0.0, 0.0, -1.0)
    index = _index(MatcherConfig(rerank_depth=4, rerank_same=lexical_only))
    scores = index.score(query, qvec, ["en"])
    cand = scores["candidates"][0]
    assert len(cand) == 4
    fused = scores["fused"][0]
    others = np.setdiff1d(np.arange(len(FACTS)), cand)
    assert fused[others].max() < fused[cand].min()
    order = cand[np.argsort(-fused[cand])]
    lexical = scores["lexical"][0][order]
    assert all(a >= b for a, b in zip(lexical, lexical[1:], strict=False))
    # the first pass (what the one-feature calibration reads) is kept as it was
    plain = _index(MatcherConfig(rerank_depth=4, rerank_same=None)).score(query, qvec, ["en"])
    assert np.allclose(scores["first"], plain["fused"])
    found = index.match(query, qvec, top_k=3, langs=["en"])[0]
    top = FACTS.index(next(f for f in FACTS if f.id == found[0].factcheck_id))
    assert math.isclose(found[0].probability,
                        1 / (1 + math.exp(-index.logit(scores, 0, top))), abs_tol=1e-4)
    # beyond the candidates: the one-feature calibration of the first-pass score
    a, c = index.config.calib_same
    assert index.logit(scores, 0, int(others[0])) == a * float(scores["first"][0, others[0]]) + c


def test_cross_lingual_feature_calibration_separates_candidates() -> None:
    query, qvec = ["альфа бета"], _unit(np.random.default_rng(3).normal(size=(1, 384)))
    flat = _index(MatcherConfig(calib_cross=(0.0, -1.5), calib_cross_features=None))
    probs = [m.probability for m in flat.match(query, qvec, top_k=4, langs=["ru"])[0]]
    assert max(probs) - min(probs) < 1e-6  # the one-feature fit is flat here
    # the rank and the gap to the best candidate carry the evidence
    calibrated = _index(MatcherConfig(calib_cross=(0.0, -1.5),
                                      calib_cross_features=(0.5, 2.0, -1.0, 0.0, 0.0, 0.0,
                                                            0.0)))
    matches = calibrated.match(query, qvec, top_k=4, langs=["ru"])[0]
    probs = [m.probability for m in matches]
    assert probs[0] > 0.5 > probs[-1]
    assert probs == sorted(probs, reverse=True)  # best first is most probable first
    # each match carries its language pair's event threshold
    assert {m.threshold for m in matches} == {calibrated.config.threshold_cross}
    pairs = _index(MatcherConfig(threshold_same=0.6, threshold_cross=0.2))
    assert {m.threshold for m in pairs.match(query, qvec, langs=["ru"])[0]} == {0.2}
    assert {m.threshold for m in pairs.match(["alpha"], qvec, langs=["en"])[0]} == {0.6}
    # the ranking itself is untouched across languages
    assert [m.factcheck_id for m in matches] == [
        m.factcheck_id for m in flat.match(query, qvec, top_k=4, langs=["ru"])[0]]


def test_probabilities_along_a_ranking_are_made_non_increasing() -> None:
    assert np.allclose(_non_increasing([0.25, 0.46, 0.31, 0.13]), [0.355, 0.355, 0.31, 0.13])
    assert _non_increasing([0.9, 0.5, 0.1]) == [0.9, 0.5, 0.1]
    assert np.allclose(_non_increasing([0.1, 0.2, 0.3]), [0.2, 0.2, 0.2])
    assert _non_increasing([]) == []
