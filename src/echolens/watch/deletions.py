"""Deletion figures: watched items deleted, altered or blocked, by source, ecosystem and
narrative, and over time. "Criticism of Moscow is deleted while the Russian narrative is
amplified" becomes a comparison of these frames with the narrative timelines.

An item counts once per result: at the first observation with that result (a page deleted,
restored and deleted again counts once as deleted). `since` keeps events from that time on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from echolens.watch.alerts import main_model, table_exists

EVENTS = ("deleted", "altered", "blocked", "unavailable")


@dataclass(frozen=True)
class DeletionFigures:
    items: pl.DataFrame  # one row per watched item with a first time for each result
    by_source: pl.DataFrame
    by_ecosystem: pl.DataFrame
    by_narrative: pl.DataFrame
    over_time: pl.DataFrame  # week, result, items

    def to_json(self) -> dict[str, Any]:
        def rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
            return [{k: (v.isoformat() if isinstance(v, datetime) else v)
                     for k, v in row.items()} for row in frame.to_dicts()]

        affected = self.items.filter(
            pl.any_horizontal(pl.col(f"{r}_at").is_not_null() for r in EVENTS[:3]))
        return {"by_source": rows(self.by_source), "by_ecosystem": rows(self.by_ecosystem),
                "by_narrative": rows(self.by_narrative), "over_time": rows(self.over_time),
                "items": rows(affected.drop("text") if "text" in affected.columns
                              else affected)}


def deletion_figures(con: duckdb.DuckDBPyConnection, *, since: datetime | None = None,
                     model_id: str | None = None) -> DeletionFigures:
    """The figures over the watched items (see `echolens watch`)."""
    model = model_id or main_model(con)
    narrative_join = ""
    narrative_cols = "NULL::VARCHAR AS narrative_id, NULL::VARCHAR AS narrative"
    params: dict[str, Any] = {"since": since or datetime(1970, 1, 1, tzinfo=UTC)}
    if model is not None and table_exists(con, "narratives"):
        narrative_join = ("LEFT JOIN narrative_members nm ON nm.item_id = w.item_id "
                          "AND nm.model_id = $model LEFT JOIN narratives n "
                          "ON n.id = nm.narrative_id AND n.model_id = nm.model_id")
        narrative_cols = ("any_value(nm.narrative_id) AS narrative_id, "
                          "any_value(n.label) AS narrative")
        params["model"] = model
    firsts = ", ".join(
        f"min(o.checked_at) FILTER (WHERE o.result = '{r}' AND o.checked_at >= $since) "
        f"AS {r}_at" for r in EVENTS)
    reader = con.cursor()  # its own result set, whatever is pending on `con`
    reader.execute("SET TimeZone = 'UTC'")
    items: pl.DataFrame = reader.sql(
        f"""
        SELECT w.item_id, any_value(i.source_id) AS source,
               any_value(coalesce(s.ecosystem, 'unknown')) AS ecosystem,
               any_value(i.url) AS url, any_value(i.title) AS title,
               any_value(i.published_at) AS published_at, any_value(w.status) AS status,
               {narrative_cols}, {firsts},
               bool_or(e.item_id IS NOT NULL) AS evidence
        FROM watch_items w JOIN items i ON i.id = w.item_id
        LEFT JOIN sources s ON s.id = i.source_id
        LEFT JOIN observations o ON o.item_id = w.item_id
        LEFT JOIN evidence e ON e.item_id = w.item_id
        {narrative_join}
        GROUP BY w.item_id ORDER BY w.item_id
        """, params=params).pl()
    reader.close()
    counts = [pl.col(f"{r}_at").is_not_null().sum().alias(r) for r in EVENTS]
    watched = pl.len().alias("watched")

    def grouped(keys: list[str]) -> pl.DataFrame:
        frame = items.group_by(keys).agg(watched, *counts)
        return frame.with_columns(
            (pl.col("deleted") / pl.col("watched")).round(4).alias("deleted_share")
        ).sort(["deleted", "altered", *keys], descending=[True, True, *[False] * len(keys)])

    by_narrative = grouped(["narrative_id", "narrative"]).filter(
        pl.col("narrative_id").is_not_null())
    long = pl.concat([
        items.select(pl.col(f"{r}_at").alias("at")).drop_nulls().with_columns(
            pl.lit(r).alias("result")) for r in EVENTS])
    over_time = (long.with_columns(pl.col("at").dt.truncate("1w").alias("week"))
                 .group_by("week", "result").agg(pl.len().alias("items"))
                 .sort("week", "result"))
    return DeletionFigures(items, grouped(["source", "ecosystem"]), grouped(["ecosystem"]),
                           by_narrative, over_time)
