from __future__ import annotations

import numpy as np
import pytest

from echolens.text.fingerprint import (
    DEFAULT_THRESHOLD,
    NearDuplicateIndex,
    content_hash,
    estimated_jaccard,
    lsh_band_keys,
    minhash_signature,
)


def sim(a: str, b: str) -> float:
    return estimated_jaccard(minhash_signature(a), minhash_signature(b))


def test_content_hash_ignores_formatting() -> None:
    a = content_hash("Russia says it will reduce military activity near Kyiv")
    assert a == content_hash("  RUSSIA says: it will reduce military-activity near Kyiv!! ")
    assert content_hash("俄罗斯外长说，愿与乌克兰“继续保持对话”。") == content_hash(
        "俄罗斯外长说愿与乌克兰继续保持对话"
    )
    assert content_hash("ＮＡＴＯ　２０２２") == content_hash("NATO 2022")  # full-width forms
    assert a != content_hash("Russia says it will increase military activity near Kyiv")
    assert content_hash("🇺🇦") != content_hash("🇷🇺")


REPOSTS = [
    (
        "Russia says it will drastically reduce military activity near Kyiv and Chernihiv",
        "BREAKING: Russia says it will drastically reduce military activity near Kyiv and "
        "Chernihiv - Xinhua",
    ),
    (
        "US owes the world a clear explanation on its biomilitary activities",
        "U.S. owes the world a clear explanation on its bio-military activities!",
    ),
    (
        "俄罗斯国防部称乌克兰境内发现美国资助的生物实验室",
        "快讯：俄罗斯国防部称，乌克兰境内发现“美国资助的生物实验室”（新华社）",
    ),
    ("俄罗斯外长拉夫罗夫说愿与乌克兰继续保持对话", "俄外长拉夫罗夫说，愿与乌克兰继续保持对话"),
    (
        "Песков: оскорбления от Байдена сужают окно возможностей для налаживания отношений с США",
        "СРОЧНО: Песков: оскорбления от Байдена сужают «окно возможностей» для налаживания "
        "отношений с США — ТАСС",
    ),
    (
        "Зеленський: Росія – найбільше джерело тероризму у світі",
        "ВІДЕО | Зеленський: Росія — найбільше джерело тероризму у світі",
    ),
]

DIFFERENT_STORIES = [
    (
        "Russia says it will drastically reduce military activity near Kyiv and Chernihiv",
        "Russia says it will not reduce military activity in Donbas and Kharkiv",
    ),
    (
        "Russia launches massive missile strikes on Kyiv and Lviv",
        "Ukraine says Russia launched missile strikes on Kharkiv and Odesa",
    ),
    (
        "Russia-Ukraine peace talks to resume in Istanbul on Monday",
        "Russia-Ukraine peace talks to resume in Belarus on Tuesday",
    ),
    (
        "Chinese mainland records 2,054 new confirmed COVID-19 cases",
        "Chinese mainland records 214 new confirmed COVID-19 cases",
    ),
    ("俄罗斯外长拉夫罗夫说愿与乌克兰继续保持对话", "乌克兰外长库列巴说愿与俄罗斯继续保持对话"),
    (
        "中国外交部：美方应就其在乌克兰的生物军事活动作出澄清",
        "俄罗斯外交部：美方应就其在格鲁吉亚的生物军事活动作出澄清",
    ),
    (
        "Росіяни знову атакували Запоріжжя, постраждала інфраструктура",
        "Росіяни знову атакували Харків, постраждала інфраструктура",
    ),
    (
        "Песков: оскорбления от Байдена сужают окно возможностей для налаживания отношений с США",
        "Лавров: заявления Байдена сужают возможности для отношений с США",
    ),
]


@pytest.mark.parametrize(("a", "b"), REPOSTS)
def test_reposts_match(a: str, b: str) -> None:
    assert sim(a, b) >= DEFAULT_THRESHOLD
    assert set(lsh_band_keys(minhash_signature(a))) & set(lsh_band_keys(minhash_signature(b)))


@pytest.mark.parametrize(("a", "b"), DIFFERENT_STORIES)
def test_different_stories_do_not_match(a: str, b: str) -> None:
    assert sim(a, b) < DEFAULT_THRESHOLD


def test_short_texts_get_no_keys() -> None:
    for text in ["Putin speaks", "英国首相访问乌克兰", "Зеленський у Києві", "", "!!!"]:
        sig = minhash_signature(text)
        assert lsh_band_keys(sig) == []
        assert estimated_jaccard(sig, sig) == 0.0


def test_signature_and_keys_are_stable() -> None:
    text = "Russia says it will drastically reduce military activity near Kyiv and Chernihiv"
    sig = minhash_signature(text)
    assert sig.dtype == np.uint32 and sig.shape == (64,)
    keys = lsh_band_keys(sig)
    assert len(keys) == 16 and len(set(keys)) == 16
    assert all(-(2**63) <= k < 2**63 for k in keys)
    # Pinned values: a change here invalidates every stored signature and band key.
    assert int(sig[0]) == PINNED_SIG0
    assert keys[0] == PINNED_KEY0


def test_band_index_is_mixed_into_keys() -> None:
    sig = np.arange(64, dtype=np.uint32) % 4  # every band holds the same four values
    keys = lsh_band_keys(sig)
    assert len(set(keys)) == 16


def test_near_duplicate_index_returns_earliest() -> None:
    index = NearDuplicateIndex()
    first = "Russia says it will drastically reduce military activity near Kyiv and Chernihiv"
    index.add("a", minhash_signature(first))
    index.add("b", minhash_signature("BREAKING: " + first))
    index.add("c", minhash_signature("Ukraine says Russia launched missile strikes on Kharkiv"))
    assert index.find(minhash_signature(first + " - Xinhua")) == "a"
    assert index.find(minhash_signature("Russia launches missile strikes on Lviv again")) is None
    assert index.find(minhash_signature("Kyiv")) is None
    assert len(index) == 3 and "b" in index



PINNED_SIG0 = 32673879
PINNED_KEY0 = 1912765840600270262


def test_batch_signatures_and_keys_equal_the_single_versions() -> None:
    from echolens.text.fingerprint import lsh_band_keys_many, minhash_signatures

    texts = [
        "Russia says it found evidence of US-funded biolabs in Ukraine: RT",
        "俄罗斯国防部称在乌克兰发现美国资助的生物实验室",
        "Kyiv",  # too short: empty signature, no keys
        "Зеленський: Україна не визнає окупацію Криму 2022 року",
        "",
    ] * 3
    sigs = minhash_signatures(texts, chunk=4)
    keys = lsh_band_keys_many(sigs)
    for text, sig, key in zip(texts, sigs, keys, strict=True):
        assert np.array_equal(sig, minhash_signature(text))
        assert key == lsh_band_keys(minhash_signature(text))
