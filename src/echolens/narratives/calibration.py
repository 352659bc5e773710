"""Calibration data for one embedding model: language means, per-language-pair similarity
statistics, the lexical IDF and the grouping thresholds.

Cosines of multilingual-e5 sit in a narrow band and differ by language pair, so the grouping
never compares raw cosines: it compares z-scores, `(cos - mean[pair]) / sd[pair]`, where the
mean and sd are those of unrelated background pairs of that language pair. The background
statistics come from `fit_background` on a few hundred unlabelled texts per language; the
thresholds come from a tuning split (see docs/narratives.md for the procedure)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from echolens.errors import UsageError

DATA_DIR = Path(__file__).with_name("calibration_data")


@dataclass(frozen=True)
class Thresholds:
    """Grouping parameters, in z units of the calibrated similarity."""

    join: float = 2.25  # an item joins a narrative when its score reaches this
    merge: float = 1.5  # two narratives merge when their average link reaches this
    split: float = 0.0  # a changed narrative splits when its halves' average link is below
    min_split: int = 3  # ... and each half has at least this many items (0: never split)
    top_m: int = 3  # a narrative's score for an item: mean of its top-m member links
    neighbours: int = 64  # members looked at per item (approximate nearest neighbours)
    lexical_weight: float = 10.0  # z units for a lexical (character 4-gram) cosine of 1
    anchor_weight: float = 0.0  # z units for a cross-script anchor (gazetteer) cosine of 1
    anchor_floor: float = 4.0  # anchor vectors are divided by max(L2 norm, this IDF)
    cross_language_bonus: float = 0.0  # z units added when the two languages differ
    time_weight: float = 1.0  # z units subtracted per log1p(days apart / time_scale)
    time_scale_days: float = 30.0
    unknown_days: float = 30.0  # distance assumed when a date is missing
    min_words: int = 2  # fewer words: no narrative ("too-short")
    # coherence gates, vector only (no anchors, no time): an item joins a narrative only
    # when its mean z to the narrative's members reaches `centroid_join`, and two
    # narratives merge only when their mean member-pair z reaches `centroid_merge`.
    # Anchors and dates still rank the candidates; they can no longer carry a join alone,
    # so a narrative cannot chain through shared concepts. None: no gate.
    centroid_join: float | None = None
    centroid_merge: float | None = None
    # two narratives that are each other's best link also merge when that link reaches
    # this (below `merge`): mutual best matches are mostly one story told in two
    # languages. None: off.
    mutual_merge: float | None = None


@dataclass(frozen=True)
class Calibration:
    model_id: str
    language_means: Mapping[str, Sequence[float]]
    pair_stats: Mapping[str, tuple[float, float]]  # "en|ru" (sorted) -> (mean, sd)
    lexical_df: Mapping[int, int] = field(default_factory=dict)
    lexical_docs: int = 0
    anchor_df: Mapping[str, int] = field(default_factory=dict)  # concept -> background docs
    # per sorted language pair, (offset, scale) in z units fitted on a labelled tuning split
    # (`fit_pair_adjust`): z' = (z - offset) / scale. Empty: z unchanged.
    pair_adjust: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    thresholds: Thresholds = Thresholds()
    provenance: str = ""

    # -- look-ups --------------------------------------------------------------------------
    def language_mean(self, lang: str) -> np.ndarray:
        return _mean_of(self, lang)

    def pair(self, a: str, b: str) -> tuple[float, float]:
        key = "|".join(sorted((a, b)))
        if key in self.pair_stats:
            return self.pair_stats[key]
        same = [v for k, v in self.pair_stats.items() if k.split("|")[0] == k.split("|")[1]]
        cross = [v for k, v in self.pair_stats.items() if k.split("|")[0] != k.split("|")[1]]
        pool = same if a == b else cross
        if not pool:
            return (0.0, 0.1)
        return (float(np.mean([p[0] for p in pool])), float(np.max([p[1] for p in pool])))

    def adjusted_pair(self, a: str, b: str) -> tuple[float, float]:
        """(mean, sd) such that `(cos - mean) / sd` is the adjusted z of the pair: the
        background z, shifted and scaled by `pair_adjust` (its pooled value for a pair it
        does not list)."""
        mean, sd = self.pair(a, b)
        if not self.pair_adjust:
            return mean, sd
        key = "|".join(sorted((a, b)))
        if key in self.pair_adjust:
            offset, scale = self.pair_adjust[key]
        else:
            same = a == b
            pool = [v for k, v in self.pair_adjust.items()
                    if (k.split("|")[0] == k.split("|")[1]) == same] or list(
                        self.pair_adjust.values())
            offset = float(np.mean([p[0] for p in pool]))
            scale = float(np.mean([p[1] for p in pool]))
        return mean + offset * sd, sd * scale

    def lexical_idf(self) -> np.ndarray:
        return _idf_of(self)

    def anchor_idf(self) -> dict[str, float]:
        from echolens.narratives.anchors import anchor_idf

        return anchor_idf(self.anchor_df, self.lexical_docs)

    def with_thresholds(self, **changes: Any) -> Calibration:
        return replace(self, thresholds=replace(self.thresholds, **changes))

    # -- files -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["language_means"] = {k: [round(float(x), 6) for x in v]
                                  for k, v in self.language_means.items()}
        data["pair_stats"] = {k: [round(v[0], 6), round(v[1], 6)]
                              for k, v in self.pair_stats.items()}
        data["lexical_df"] = {str(k): v for k, v in sorted(self.lexical_df.items())}
        data["anchor_df"] = dict(sorted(self.anchor_df.items()))
        data["pair_adjust"] = {k: [round(v[0], 4), round(v[1], 4)]
                               for k, v in sorted(self.pair_adjust.items())}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(
            model_id=data["model_id"],
            language_means={k: tuple(v) for k, v in data["language_means"].items()},
            pair_stats={k: (float(v[0]), float(v[1])) for k, v in data["pair_stats"].items()},
            lexical_df={int(k): int(v) for k, v in data.get("lexical_df", {}).items()},
            lexical_docs=int(data.get("lexical_docs", 0)),
            anchor_df={str(k): int(v) for k, v in data.get("anchor_df", {}).items()},
            pair_adjust={k: (float(v[0]), float(v[1]))
                         for k, v in data.get("pair_adjust", {}).items()},
            thresholds=Thresholds(**data.get("thresholds", {})),
            provenance=data.get("provenance", ""),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False) + "\n")


@lru_cache(maxsize=64)
def _mean_cache(model_id: str, lang: str, means: tuple[tuple[str, tuple[float, ...]], ...]
                ) -> np.ndarray:
    table = dict(means)
    if lang in table:
        return np.asarray(table[lang], dtype=np.float32)
    # an uncalibrated language: the average of the known means is the best guess
    return np.asarray(np.mean([np.asarray(v, dtype=np.float32) for v in table.values()], axis=0),
                      dtype=np.float32)


def _mean_of(cal: Calibration, lang: str) -> np.ndarray:
    key = tuple(sorted((k, tuple(float(x) for x in v)) for k, v in cal.language_means.items()))
    return _mean_cache(cal.model_id, lang, key)


_IDF: dict[int, np.ndarray] = {}


def _idf_of(cal: Calibration) -> np.ndarray:
    from echolens.narratives.features import LEX_BUCKETS

    key = id(cal.lexical_df)
    if key not in _IDF:
        df = np.zeros(LEX_BUCKETS, dtype=np.float64)
        for bucket, count in cal.lexical_df.items():
            df[bucket] = count
        _IDF[key] = np.log((cal.lexical_docs + 1) / (df + 1)).astype(np.float32)
    return _IDF[key]


def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", model_id)


def calibration_path(model_id: str) -> Path:
    return DATA_DIR / f"{_slug(model_id)}.json"


@lru_cache(maxsize=8)
def load_calibration(model_id: str) -> Calibration:
    """The shipped calibration of `model_id`; a clear error (with the fix) when there is none."""
    path = calibration_path(model_id)
    if not path.exists():
        raise UsageError(
            f"no narrative calibration for embedding model {model_id!r}",
            "calibrate it first (docs/narratives.md: fit_background + tune the thresholds) "
            f"and save it as {path}",
        )
    return Calibration.from_json(json.loads(path.read_text()))


def fit_background(
    model_id: str,
    vectors: np.ndarray,
    langs: Sequence[str],
    texts: Sequence[str],
    *,
    thresholds: Thresholds | None = None,
    provenance: str = "",
    seed: int = 0,
) -> Calibration:
    """Language means, pair statistics and lexical DF from unlabelled background texts.

    Use a few hundred texts per language from the kind of corpus you will cluster, mostly
    unrelated to each other (a random sample is). Pair statistics are computed on disjoint
    halves of each language sample so that an item is never compared with itself."""
    from echolens.narratives.anchors import anchor_df
    from echolens.narratives.features import center, lexical_buckets

    x = np.asarray(vectors, dtype=np.float32)
    lang_arr = np.asarray(langs)
    means = {lang: tuple(float(v) for v in x[lang_arr == lang].mean(axis=0))
             for lang in sorted(set(langs))}
    draft = Calibration(model_id=model_id, language_means=means, pair_stats={})
    unit = center(x, list(langs), draft)
    rng = np.random.default_rng(seed)
    halves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for lang in means:
        rows = rng.permutation(np.flatnonzero(lang_arr == lang))
        halves[lang] = (unit[rows[: len(rows) // 2]], unit[rows[len(rows) // 2:]])
    stats: dict[str, tuple[float, float]] = {}
    langs_sorted = sorted(means)
    for i, a in enumerate(langs_sorted):
        for b in langs_sorted[i:]:
            sims = (halves[a][0] @ halves[b][1].T).ravel()
            if sims.size:
                stats[f"{a}|{b}"] = (float(sims.mean()), float(max(sims.std(), 1e-3)))
    df: dict[int, int] = {}
    for text in texts:
        for bucket in set(lexical_buckets(text)):
            df[bucket] = df.get(bucket, 0) + 1
    return Calibration(
        model_id=model_id, language_means=means, pair_stats=stats, lexical_df=df,
        lexical_docs=len(texts), anchor_df=anchor_df(list(texts)),
        thresholds=thresholds or Thresholds(), provenance=provenance,
    )


def fit_pair_adjust(
    cal: Calibration,
    vectors: np.ndarray,
    langs: Sequence[str],
    labels: Sequence[str | None],
    *,
    prior_pairs: float = 40.0,
) -> dict[str, tuple[float, float]]:
    """Per language pair (offset, scale) that put the z of the pairs of a labelled tuning
    split on one footing: after `(z - offset) / scale`, unrelated pairs of the corpus's own
    domain (different labels) average 0 and same-story pairs (equal labels, None = no
    story) average the pooled same-story gap, whatever the two languages.

    Why: the background of `fit_background` is broad (all topics), so in a one-domain corpus
    (a war) same-language pairs, above all English, look related whatever they say, and a
    threshold that fits English pairs is out of reach for translations. Pairs with few
    labelled examples are shrunk towards the pooled values (`prior_pairs` pseudo-pairs)."""
    from echolens.narratives.features import center

    lang_list = list(langs)
    unit = center(vectors, lang_list, cal)
    mean, sd = z_matrix(cal, lang_list, lang_list)
    z = (unit @ unit.T - mean) / sd
    lab = np.array([x if x is not None else f"\0{i}" for i, x in enumerate(labels)])
    lg = np.asarray(lang_list)
    iu = np.triu_indices(len(lang_list), 1)
    zs = z[iu]
    same = lab[iu[0]] == lab[iu[1]]
    keys = np.array(["|".join(sorted(p)) for p in zip(lg[iu[0]], lg[iu[1]], strict=True)])
    pooled_neg = float(zs[~same].mean())
    pooled_gap = float(zs[same].mean()) - pooled_neg
    out: dict[str, tuple[float, float]] = {}
    for key in sorted(set(keys.tolist())):
        sel = keys == key
        neg, pos = zs[sel & ~same], zs[sel & same]
        offset = (neg.sum() + prior_pairs * pooled_neg) / (len(neg) + prior_pairs)
        gap = ((pos - offset).sum() + prior_pairs * pooled_gap) / (len(pos) + prior_pairs)
        out[key] = (float(offset), float(max(gap, 1e-3) / pooled_gap))
    return out


def z_matrix(cal: Calibration, langs_a: Sequence[str], langs_b: Sequence[str]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair (mean, sd) matrices for two lists of languages."""
    mean = np.empty((len(langs_a), len(langs_b)), dtype=np.float32)
    sd = np.empty_like(mean)
    cache: dict[tuple[str, str], tuple[float, float]] = {}
    for i, a in enumerate(langs_a):
        for j, b in enumerate(langs_b):
            if (a, b) not in cache:
                cache[(a, b)] = cal.pair(a, b)
            mean[i, j], sd[i, j] = cache[(a, b)]
    return mean, sd


def is_finite(x: float) -> bool:
    return not math.isnan(x) and not math.isinf(x)


def has_calibration(model_id: str) -> bool:
    """Whether narratives can be grouped for `model_id` (e.g. not for the hashing embedder)."""
    return calibration_path(model_id).exists()
