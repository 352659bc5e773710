"""Exact and near-duplicate fingerprints of short news texts, for any script.

- `content_hash`: SHA-1 of the text reduced to its letters and digits (NFKC, casefolded), so
  punctuation, spacing and case changes hash equal.
- `minhash_signature`: 64 MinHash values over character n-grams of the same reduced text:
  3-grams when CJK characters dominate, 5-grams otherwise (one Han character carries about
  as much as a short Latin or Cyrillic syllable). A leading tag ("BREAKING:", "快讯：") and a
  short trailing attribution (" - Xinhua", " | CGTN") are left out of the shingles, so a
  re-post with them still matches. Texts shorter than `MIN_CHARS` (CJK characters count
  double) get the empty signature: they never match anything. Half of the values also
  hash the numbers in the text, so headlines that differ only in their figures ("records
  2,054 new cases" / "records 214 new cases", "Episode 1" / "Episode 8") stay below the
  threshold: their estimated Jaccard is at most about half the n-gram Jaccard.
- `lsh_band_keys`: 16 bands of 4 rows, each band hashed to a signed 64-bit key (a DuckDB
  BIGINT) with the band index mixed in. Two texts with Jaccard similarity 0.8 share a key
  with probability > 0.999, at 0.5 with ~0.64, at 0.3 with ~0.12; candidates are then
  confirmed with `estimated_jaccard` against `DEFAULT_THRESHOLD` (0.7: on hand-made pairs
  re-posts score 0.78-1.0 exact Jaccard, same-template different stories 0.62 and below).

All hashing is plain integer arithmetic with fixed constants (no salted `hash()`, no
NumPy random streams), so signatures and keys are stable across processes, platforms and
versions and can be stored.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "BANDS",
    "DEFAULT_THRESHOLD",
    "MIN_CHARS",
    "NUM_PERM",
    "ROWS",
    "NearDuplicateIndex",
    "content_hash",
    "estimated_jaccard",
    "lsh_band_keys",
    "minhash_signature",
    "shingle_text",
]

NUM_PERM: Final = 64
BANDS: Final = 16
ROWS: Final = 4
CJK_NGRAM: Final = 3
OTHER_NGRAM: Final = 5
# Minimum length of the reduced text (letters and digits; CJK characters count double) for
# a text to get band keys at all: shorter texts share too little to be linked safely.
MIN_CHARS: Final = 20
# Estimated Jaccard similarity above which two texts count as the same story re-posted.
DEFAULT_THRESHOLD: Final = 0.7

Signature = npt.NDArray[np.uint32]

_EMPTY_VALUE: Final = np.uint32(0xFFFFFFFF)
_NON_WORD_RE = re.compile(r"[\W_]+")
_CJK_RE = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)
# A news-flash tag at the very start: "BREAKING:", "UPDATE |", "СРОЧНО:", "ВІДЕО |", "快讯：",
# or any short bracketed tag ("【独家】", "[VIDEO]"). Speaker prefixes ("Lavrov:", "普京：")
# are content and stay.
_LEAD_TAG_RE = re.compile(
    r"^\s*(?:[【\[(（][^】\])）]{1,12}[】\])）]\s*|(?:(?:breaking|just\s+in|update[ds]?|"
    r"exclusive|watch|video|photos?|live|alert|flash|urgent|developing|opinion|analysis|"
    r"explainer|срочно|молния|видео|фото|эксклюзив|обновлено|терміново|відео|ексклюзив|"
    r"оновлено|快讯|突发|独家|视频|图集|最新|重磅|直播|速报)(?:\s*(?:news|новости|новини))?"
    r"\s*[:：|]\s*)+)",
    re.IGNORECASE,
)
# " - Xinhua", " | CGTN", " — ТАСС", "（新华社）": a short attribution after a dash or bar, or
# in parentheses, at the very end (at most four words).
_ATTRIBUTION_SEPARATORS: Final = (" - ", " – ", " — ", " | ", " -- ")
_MAX_ATTRIBUTION: Final = 40
_DIGITS_RE = re.compile(r"\d+")
# Values whose equality also requires equal numbers (see `_finish`).
NUMBER_GATED: Final = 32


def _splitmix64(seed: int, count: int) -> list[int]:
    out = []
    mask = (1 << 64) - 1
    for _ in range(count):
        seed = (seed + 0x9E3779B97F4A7C15) & mask
        z = seed
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


# Multiply-shift hash functions h_k(x) = (a_k * x + b_k) >> 32 with odd a_k.
_PERM_A: Final = np.array([v | 1 for v in _splitmix64(0xEC401E05, NUM_PERM)], dtype=np.uint64)
_PERM_B: Final = np.array(_splitmix64(0x5EED1E55, NUM_PERM), dtype=np.uint64)
_BAND_SEEDS: Final = np.array(_splitmix64(0xBA4D5EED, BANDS), dtype=np.uint64)
_FNV_PRIME: Final = np.uint64(0x100000001B3)
_FNV_OFFSET: Final = np.uint64(0xCBF29CE484222325)
_M1: Final = np.uint64(0xFF51AFD7ED558CCD)
_M2: Final = np.uint64(0xC4CEB9FE1A85EC53)
_S33: Final = np.uint64(33)
_S32: Final = np.uint64(32)


def _fmix64(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


# ASCII bytes that are not letters or digits: what `_reduce` drops from ASCII text.
_ASCII_NON_ALNUM: Final = bytes(c for c in range(128) if not chr(c).isalnum())


def _reduce(text: str) -> str:
    """NFKC, casefold, and keep only letters and digits (no spaces, no punctuation)."""
    if text.isascii():  # NFKC changes nothing and casefold is lower(): a bytes pass, 5x faster
        return text.encode("ascii").lower().translate(None, _ASCII_NON_ALNUM).decode("ascii")
    return _NON_WORD_RE.sub("", unicodedata.normalize("NFKC", text).casefold())


def content_hash(text: str) -> str:
    """SHA-1 hex digest of `text` reduced to casefolded letters and digits.

    Case, whitespace, punctuation and full-width/half-width forms do not change the hash.
    A text without letters or digits hashes its stripped original instead, so that two
    different emoji-only posts do not collide.
    """
    reduced = _reduce(text)
    if not reduced:
        reduced = "\x00" + " ".join(text.split())
    return hashlib.sha1(reduced.encode("utf-8")).hexdigest()


def _strip_trailing_attribution(text: str) -> str:
    tail_start = max(0, len(text) - _MAX_ATTRIBUTION - 3)
    best = -1
    for sep in _ATTRIBUTION_SEPARATORS:
        best = max(best, text.rfind(sep, tail_start))
    if best > 0:
        tail = text[best + 3 :].strip()
        if (
            tail
            and len(tail.split()) <= 4
            and 3 * len(tail) <= len(text)
            and not any(ch.isdigit() or ch in ":：?!" for ch in tail)
        ):
            return text[:best]
    text = text.rstrip()
    if text.endswith((")", "）")):
        opening = max(text.rfind("("), text.rfind("（"))
        if opening > 0 and len(text) - opening <= 14:
            return text[:opening]
    return text


def shingle_text(text: str) -> tuple[str, int]:
    """The reduced text that `minhash_signature` shingles, and the n-gram size it uses.

    Strips one leading news-flash tag and one short trailing attribution, then reduces like
    `content_hash`; the tag and attribution are kept when they are most of the text.
    """
    full = _reduce(text)
    core = text
    head = text[:40]
    if head[:1] in "【[(（" or ":" in head or "：" in head or "|" in head:
        core = _LEAD_TAG_RE.sub("", core, count=1)
    core = _strip_trailing_attribution(core)
    reduced = full if core is text else _reduce(core)
    if 3 * len(reduced) < 2 * len(full):
        reduced = full
    cjk = len(_CJK_RE.findall(reduced)) if not reduced.isascii() else 0
    return reduced, CJK_NGRAM if 2 * cjk >= len(reduced) else OTHER_NGRAM


def _empty() -> Signature:
    return np.full(NUM_PERM, _EMPTY_VALUE, dtype=np.uint32)


def _prepare(text: str) -> tuple[str, int, np.uint64] | None:
    """The reduced text, its n-gram size and one hash of its numbers; None if too short."""
    reduced, n = shingle_text(text)
    cjk = len(_CJK_RE.findall(reduced)) if n == CJK_NGRAM else 0
    if len(reduced) + cjk < MIN_CHARS or len(reduced) < n:
        return None
    numbers = " ".join(sorted(_DIGITS_RE.findall(reduced)))
    digest = hashlib.blake2b(numbers.encode(), digest_size=8).digest()
    return reduced, n, np.uint64(int.from_bytes(digest, "little"))


def _ngram_hashes(texts: Sequence[str], n: int) -> tuple[npt.NDArray[np.uint64],
                                                          npt.NDArray[np.intp]]:
    """64-bit hashes of the n-grams of all `texts` (each at least `n` code points long), one
    array for all of them, and the offset where each text's n-grams start.

    FNV-1a over the n code points of each window, then a 64-bit finalizer, computed over the
    concatenated texts at once; windows that would cross into the next text are left out."""
    joined = "".join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.intp, count=len(texts))
    count = codes.size - n + 1
    h = codes[:count] ^ _FNV_OFFSET
    for j in range(1, n):
        h = (h * _FNV_PRIME) ^ codes[j : j + count]
    windows = lengths - n + 1  # >= 1 for every text
    starts = np.cumsum(lengths) - lengths  # where each text starts in `joined`
    offsets = np.cumsum(windows) - windows  # where its n-grams start in the result
    # positions kept: starts[i] + 0 .. windows[i] - 1 for each text i
    keep = np.arange(int(windows.sum()), dtype=np.intp) + np.repeat(starts - offsets, windows)
    return _fmix64(h[keep]), offsets


def _shingle_hashes(text: str) -> tuple[npt.NDArray[np.uint64], np.uint64] | None:
    """64-bit hashes of the n-grams of `text` and one hash of its numbers; None if too short."""
    prepared = _prepare(text)
    if prepared is None:
        return None
    reduced, n, numbers = prepared
    return _ngram_hashes([reduced], n)[0], numbers


def _finish(text_min: npt.NDArray[np.uint64], numbers: np.uint64) -> Signature:
    """Turn per-permutation minima (uint64) into the uint32 signature.

    The last `NUMBER_GATED` values also hash the text's numbers, so they only agree when
    both texts carry the same numbers: "records 2,054 new cases" and "records 214 new
    cases" then share at most half of their values.
    """
    sig = text_min >> _S32
    sig[NUM_PERM - NUMBER_GATED :] = _fmix64(sig[NUM_PERM - NUMBER_GATED :] ^ numbers) >> _S32
    return sig.astype(np.uint32)


def minhash_signature(text: str) -> Signature:
    """64 MinHash values (uint32) of the character n-grams of `text`.

    Texts too short to link safely (see `MIN_CHARS`) get the empty signature (all values
    0xFFFFFFFF), which has no band keys and an estimated Jaccard of 0 with everything.
    """
    hashed = _shingle_hashes(text)
    if hashed is None:
        return _empty()
    shingles, numbers = hashed
    # (a*h + b) mod 2^64, minimised before the shift to 32 bits (the shift is monotonic).
    text_min = (shingles[:, None] * _PERM_A + _PERM_B).min(axis=0)
    return _finish(text_min, numbers)


def minhash_signatures(texts: Sequence[str], chunk: int = 512) -> npt.NDArray[np.uint32]:
    """`minhash_signature` of each text, as rows of one (n, 64) array.

    Same values as the one-text function. The n-grams of a whole chunk of texts are hashed
    and permuted in a few numpy passes over one array, not one pass per text."""
    out = np.full((len(texts), NUM_PERM), _EMPTY_VALUE, dtype=np.uint32)
    prepared = [_prepare(t) for t in texts]
    for n in (CJK_NGRAM, OTHER_NGRAM):
        rows = [i for i, p in enumerate(prepared) if p is not None and p[1] == n]
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            reduced = [prepared[i][0] for i in part]  # type: ignore[index]
            numbers = np.array([prepared[i][2] for i in part], dtype=np.uint64)  # type: ignore[index]
            shingles, offsets = _ngram_hashes(reduced, n)
            # (a*h + b) mod 2^64 as (64, n-grams): reducing along rows is several times
            # faster than along columns of the transposed layout
            permuted = np.multiply(_PERM_A[:, None], shingles[None, :])
            np.add(permuted, _PERM_B[:, None], out=permuted)
            sig = np.minimum.reduceat(permuted, offsets, axis=1).T >> _S32
            gated = sig[:, NUM_PERM - NUMBER_GATED:] ^ numbers[:, None]
            sig[:, NUM_PERM - NUMBER_GATED:] = _fmix64(gated) >> _S32
            out[np.array(part)] = sig.astype(np.uint32)
    return out


def lsh_band_key_array(
    sigs: npt.NDArray[np.uint32],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The band keys of each row of an (n, 64) signature array as an (n, 16) array, and
    which rows have keys at all (the empty signature has none; its row holds filler)."""
    sigs = np.asarray(sigs, dtype=np.uint32).reshape(-1, NUM_PERM)
    rows = sigs.reshape(len(sigs), BANDS, ROWS).astype(np.uint64)
    h = np.broadcast_to(_BAND_SEEDS, (len(sigs), BANDS)).copy()
    for r in range(ROWS):
        h = _fmix64((h ^ rows[:, :, r]) * _FNV_PRIME)
    return h.view(np.int64), ~np.all(sigs == _EMPTY_VALUE, axis=1)


def lsh_band_keys_many(sigs: npt.NDArray[np.uint32]) -> list[list[int]]:
    """`lsh_band_keys` of each row of an (n, 64) signature array."""
    if len(sigs) == 0:
        return []
    keys, has_keys = lsh_band_key_array(sigs)
    rows = keys.tolist()
    return [rows[i] if has_keys[i] else [] for i in range(len(rows))]


def _is_empty(sig: Signature) -> bool:
    return bool(np.all(sig == _EMPTY_VALUE))


def lsh_band_keys(sig: Signature) -> list[int]:
    """One signed 64-bit key per band (16), or [] for the empty signature.

    Each key hashes the band's 4 values together with the band index, so equal values in
    different bands give different keys.
    """
    sig = np.asarray(sig, dtype=np.uint32)
    if sig.shape != (NUM_PERM,):
        raise ValueError(f"expected a signature of {NUM_PERM} values, got shape {sig.shape}")
    if _is_empty(sig):
        return []
    rows = sig.reshape(BANDS, ROWS).astype(np.uint64)
    h = _BAND_SEEDS.copy()
    for r in range(ROWS):
        h = _fmix64((h ^ rows[:, r]) * _FNV_PRIME)
    return [int(k) for k in h.view(np.int64)]


def estimated_jaccard(sig_a: Signature, sig_b: Signature) -> float:
    """Share of equal MinHash values: an estimate of the n-gram Jaccard similarity.

    0.0 when either signature is empty.
    """
    a = np.asarray(sig_a, dtype=np.uint32)
    b = np.asarray(sig_b, dtype=np.uint32)
    if a.shape != b.shape:
        raise ValueError(f"signatures differ in shape: {a.shape} vs {b.shape}")
    if _is_empty(a) or _is_empty(b):
        return 0.0
    return float(np.count_nonzero(a == b)) / a.size


class NearDuplicateIndex:
    """In-memory LSH index: which earlier text is a near-duplicate of this one?"""

    def __init__(self) -> None:
        self._buckets: dict[int, list[str]] = {}
        self._sigs: dict[str, Signature] = {}
        self._order: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._sigs)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._sigs

    def add(self, item_id: str, sig: Signature) -> None:
        """Index `sig` under `item_id`. Re-adding an id keeps its first signature."""
        if item_id in self._sigs:
            return
        self._sigs[item_id] = np.asarray(sig, dtype=np.uint32)
        self._order[item_id] = len(self._order)
        for key in lsh_band_keys(sig):
            self._buckets.setdefault(key, []).append(item_id)

    def candidates(self, sig: Signature) -> set[str]:
        """Ids sharing at least one band key with `sig` (before the Jaccard check)."""
        found: set[str] = set()
        for key in lsh_band_keys(sig):
            found.update(self._buckets.get(key, ()))
        return found

    def find(self, sig: Signature, threshold: float = DEFAULT_THRESHOLD) -> str | None:
        """The earliest added id whose estimated Jaccard with `sig` is >= `threshold`."""
        matches = [
            item_id
            for item_id in self.candidates(sig)
            if estimated_jaccard(sig, self._sigs[item_id]) >= threshold
        ]
        return min(matches, key=self._order.__getitem__) if matches else None
