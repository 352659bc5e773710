"""echolens: how narratives travel between media ecosystems.

    import echolens
    db = echolens.open("echolens.duckdb")
    db.items()    # polars DataFrame of items with source and ecosystem
    db.sources()
    db.stats()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from echolens.database import Database, open

__all__ = ["Database", "open"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`echolens.open` and `echolens.Database`, imported when first used: a process that
    needs one module of the package (the narrative index process, a command) does not pay
    for DuckDB, pyarrow and the ingestion pipeline (~0.5 s)."""
    if name in __all__:
        from echolens import database

        return getattr(database, name)
    raise AttributeError(f"module 'echolens' has no attribute {name!r}")
