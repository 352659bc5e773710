"""Live monitoring: scheduled polling, re-checks for deleted, altered or blocked items,
evidence (WARC), deletion figures, alerts and the weekly digest.

    from echolens.watch import Watcher, load_config
    Watcher(echolens.open("echolens.duckdb"), load_config("watch.yaml")).run(once=True)
"""

from echolens.watch.config import WatchConfig, config_from_mapping, load_config
from echolens.watch.deletions import DeletionFigures, deletion_figures
from echolens.watch.watcher import CycleReport, Watcher, WatcherThread

__all__ = ["CycleReport", "DeletionFigures", "WatchConfig", "Watcher", "WatcherThread",
           "config_from_mapping", "deletion_figures", "load_config"]
