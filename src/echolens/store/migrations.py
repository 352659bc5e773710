"""Named schema migrations, applied in order and recorded in `schema_migrations`."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged `store/migrations/NNN_name.sql` files, sorted by name."""
    folder = resources.files("echolens.store").joinpath("migrations")
    found = [
        Migration(name=entry.name.removesuffix(".sql"), sql=entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda m: m.name)
