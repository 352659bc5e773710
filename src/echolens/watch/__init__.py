"""Live monitoring: scheduled polling, re-checks for deleted, altered or blocked items,
evidence (WARC), deletion figures, alerts and the weekly digest.

    from echolens.watch import Watcher, load_config
    Watcher(echolens.open("echolens.duckdb"), load_config("watch.yaml")).run(once=True)

The names are imported on first use: every `echolens` command registers the `watch`
commands, and the watcher's imports (page extraction, HTTP) took ~0.4 s of each start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from echolens.watch.config import WatchConfig, config_from_mapping, load_config
    from echolens.watch.deletions import DeletionFigures, deletion_figures
    from echolens.watch.watcher import CycleReport, Watcher, WatcherThread

_MODULES = {
    "WatchConfig": "config", "config_from_mapping": "config", "load_config": "config",
    "DeletionFigures": "deletions", "deletion_figures": "deletions",
    "CycleReport": "watcher", "Watcher": "watcher", "WatcherThread": "watcher",
}
__all__ = ["CycleReport", "DeletionFigures", "WatchConfig", "Watcher", "WatcherThread",
           "config_from_mapping", "deletion_figures", "load_config"]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"echolens.watch.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'echolens.watch' has no attribute {name!r}")
