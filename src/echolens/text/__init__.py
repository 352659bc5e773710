"""Text normalization: cleaning, language id, canonical URLs, exact and near-duplicate keys.

Pure functions without I/O; the lingua models behind `LanguageIdentifier` load lazily.
"""

from echolens.text.clean import clean_text, is_mostly_garbage
from echolens.text.fingerprint import (
    NearDuplicateIndex,
    content_hash,
    estimated_jaccard,
    lsh_band_keys,
    minhash_signature,
)
from echolens.text.langid import LanguageIdentifier
from echolens.text.urls import canonical_url, domain_of

__all__ = [
    "LanguageIdentifier",
    "NearDuplicateIndex",
    "canonical_url",
    "clean_text",
    "content_hash",
    "domain_of",
    "estimated_jaccard",
    "is_mostly_garbage",
    "lsh_band_keys",
    "minhash_signature",
]
