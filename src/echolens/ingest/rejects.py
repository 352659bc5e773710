"""Reject identity and helpers: a reject is keyed by where it came from and why."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from echolens.model import Provenance, Reject


def reject_id(reject: Reject) -> str:
    """Stable id, so re-importing the same bad line does not add a second reject."""
    key = "\x1f".join(
        (reject.provenance.connector, reject.provenance.location, reject.provenance.locator,
         reject.reason)
    )
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def make_reject(provenance: Provenance, reason: str, detail: str, payload: Any) -> Reject:
    """A reject with its raw payload serialised as text (JSON when possible)."""
    if isinstance(payload, bytes):
        text = payload.decode("utf-8", errors="backslashreplace")
    elif isinstance(payload, str):
        text = payload
    else:
        text = json.dumps(payload, ensure_ascii=False, default=str)
    return Reject(provenance=provenance, reason=reason, detail=detail, payload=text)
