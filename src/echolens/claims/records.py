"""Typed records of the claims stage: fact-checks, rejected fact-check records, matches."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

# Normalised verdicts; importers map the labels of each source onto these.
VERDICTS = ("false", "misleading", "mixed", "true", "unproven", "disinformation", "satire",
            "out-of-context", "altered")

_VERDICT_ALIASES: dict[str, str] = {
    "false": "false", "fake": "false", "pants on fire": "false", "pants-fire": "false",
    "incorrect": "false", "wrong": "false", "fabricated": "false", "refuted": "false",
    "not true": "false", "hoax": "false", "scam": "false", "four pinocchios": "false",
    "mostly false": "misleading", "misleading": "misleading", "distorts the facts": "misleading",
    "exaggerated": "misleading", "manipulation": "misleading", "partly false": "misleading",
    "partially false": "misleading", "three pinocchios": "misleading", "barely true": "misleading",
    "missing context": "out-of-context", "out of context": "out-of-context",
    "lacks context": "out-of-context", "altered": "altered", "altered photo": "altered",
    "doctored": "altered", "manipulated": "altered", "half true": "mixed",
    "half-true": "mixed", "mixture": "mixed", "mixed": "mixed", "mostly true": "mixed",
    "true": "true", "correct": "true", "accurate": "true", "supported": "true",
    "unproven": "unproven", "unverified": "unproven", "unsupported": "unproven",
    "not enough info": "unproven", "nei": "unproven", "no evidence": "unproven",
    "disinformation": "disinformation", "disinfo": "disinformation",
    "satire": "satire", "labeled satire": "satire",
    # Russian / Ukrainian / Chinese labels seen on fact-checkers' sites
    "фейк": "false", "неправда": "false", "ложь": "false", "маніпуляція": "misleading",
    "манипуляция": "misleading", "правда": "true", "谣言": "false", "假": "false",
    "错误": "false", "不实": "false", "误导": "misleading", "真": "true", "部分正确": "mixed",
}


class UnknownVerdict(ValueError):
    """A verdict label no mapping knows."""


def normalize_verdict(label: str | None) -> str | None:
    """Map a fact-checker's label onto `VERDICTS`; None stays None; unknown raises."""
    if label is None:
        return None
    key = " ".join(label.strip().lower().replace("_", " ").split()).rstrip(".!")
    if not key:
        return None
    if key in VERDICTS:
        return key
    if key in _VERDICT_ALIASES:
        return _VERDICT_ALIASES[key]
    raise UnknownVerdict(f"unknown verdict label {label!r}; known: {', '.join(VERDICTS)}")


def rating_verdict(value: float, best: float, worst: float) -> str:
    """A ClaimReview numeric rating as a verdict (worst..best mapped to false..true)."""
    if best == worst:
        raise UnknownVerdict(f"rating scale {worst}..{best} is empty")
    share = (value - worst) / (best - worst)
    if share <= 0.2:
        return "false"
    if share <= 0.45:
        return "misleading"
    if share < 0.8:
        return "mixed"
    return "true"


def normalized_claim(text: str) -> str:
    """Key for cross-source duplicate detection: case, punctuation, quotes and spaces folded."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[…]|\.\.\.$", "", text)
    return " ".join(re.findall(r"\w+", text))


def claim_hash(text: str) -> str:
    return hashlib.sha1(normalized_claim(text).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class FactCheck:
    """One checked claim: `text` is the claim as the fact-checker states it."""

    id: str
    text: str
    lang: str
    title: str | None = None
    url: str | None = None
    verdict: str | None = None
    verdict_label: str | None = None
    organization: str | None = None
    published_at: datetime | None = None
    disproof: str | None = None
    source_format: str = "jsonl"
    location: str = ""
    locator: str = ""
    duplicate_of: str | None = None

    def match_text(self) -> str:
        """The text that is indexed and embedded: title and claim, once each."""
        title, text = self.title, self.text
        if not title or title == text or text.startswith(title):
            return text
        return f"{title}. {text}"


@dataclass(frozen=True)
class FactCheckReject:
    """A record that could not become a fact-check, with the reason and where it was."""

    location: str
    locator: str
    reason: str  # empty-text | bad-json | bad-jsonld | unknown-verdict | wrong-format | ...
    detail: str


@dataclass
class ImportReport:
    """Outcome of one import: every record is new, duplicate (linked) or rejected."""

    new: int = 0
    duplicate: int = 0
    linked: int = 0
    rejected: list[FactCheckReject] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "new": self.new, "duplicate": self.duplicate, "linked": self.linked,
            "rejected": len(self.rejected),
            "rejects": [
                {"locator": r.locator, "reason": r.reason, "detail": r.detail}
                for r in self.rejected
            ],
        }


@dataclass(frozen=True)
class Match:
    """One fact-check retrieved for one query, with the evidence an analyst reads."""

    factcheck_id: str
    score: float  # fused ranking score
    probability: float  # calibrated P(same claim)
    dense: float
    lexical: float
    rank: int
    shared_terms: tuple[str, ...] = ()
    closest_sentence: str = ""
    # the probability an event needs for this query's language pair (same language or
    # cross-lingual, `MatcherConfig.threshold_*`); None: the caller's threshold
    threshold: float | None = None
