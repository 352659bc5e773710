"""echolens: how narratives travel between media ecosystems.

    import echolens
    db = echolens.open("echolens.duckdb")
    db.items()    # polars DataFrame of items with source and ecosystem
    db.sources()
    db.stats()
"""

from __future__ import annotations

from echolens.database import Database, open

__all__ = ["Database", "open"]
__version__ = "0.1.0"
