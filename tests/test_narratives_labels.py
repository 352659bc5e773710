"""Labels: tokenizing per language, class-based TF-IDF, representatives, short label."""

from __future__ import annotations

import numpy as np

from echolens.narratives.labels import LabelInput, ctfidf_keywords, label_narratives, tokens


def test_tokens_per_language() -> None:
    zh = [surface for _, surface in tokens("乌克兰军队收复赫尔松市", "zh")]
    assert "乌克兰" in zh and "的" not in zh
    ru = tokens("Российские войска покинули Херсон", "ru")
    assert [stem for stem, _ in ru][-1] == "херсон"
    assert tokens("Херсона", "ru")[0][0] == tokens("Херсоном", "ru")[0][0]  # same stem
    assert tokens("Херсона", "uk")[0][0] == tokens("Херсону", "uk")[0][0]
    assert [s for s, _ in tokens("The tanks of Germany", "en")] == ["tanks", "germany"]


def test_ctfidf_prefers_the_words_of_each_narrative() -> None:
    docs = {
        "a": [("Leopard tanks for Ukraine", "en"), ("Germany sends Leopard tanks", "en")],
        "b": [("Prisoner exchange with Ukraine", "en"), ("New prisoner exchange", "en")],
    }
    keywords = ctfidf_keywords(docs, top=2)
    assert set(keywords["a"]["en"]) == {"leopard", "tanks"}
    assert set(keywords["b"]["en"]) == {"prisoner", "exchange"}


def test_label_and_representatives_come_from_central_members() -> None:
    centre = np.array([1.0, 0.0], dtype=np.float32)
    members = [
        LabelInput("1", "Off-centre English item", "en", "west", np.array([0.0, 1.0])),
        LabelInput("2", "Central English item", "en", "west", np.array([1.0, 0.0])),
        LabelInput("3", "Центральный материал", "ru", "ru_state", np.array([0.9, 0.1])),
    ]
    label = label_narratives({"n": members}, {"n": centre})["n"]
    assert label.label == "Central English item"
    assert label.representatives == {"ru_state/ru": "3", "west/en": "2"}
