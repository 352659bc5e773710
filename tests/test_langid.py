from __future__ import annotations

import pytest

from echolens.text.langid import LanguageIdentifier

# Decided by script and letters alone: no lingua model is loaded for these.
RULE_CASES = [
    ("俄罗斯国防部称乌克兰境内发现美国资助的生物实验室", "zh"),
    ("中国外交部：美方应就其在乌克兰的生物军事活动作出澄清", "zh"),
    ("北约NATO秘书长：将向乌克兰提供更多援助", "zh"),
    ("Песков: слова Байдена вызывают сожаление в Кремле", "ru"),
    ("Минобороны России сообщило об уничтожении складов", "ru"),
    ("Зеленський: Росія – найбільше джерело тероризму у світі", "uk"),
    ("У п'ятницю ППО збила 5 російських ракет", "uk"),
    ("В Італії вийшов репортаж про Бучу. Російський «Первый канал» його підхопив", "uk"),
    ("Russia says it will drastically reduce military activity near Kyiv and Chernihiv", "en"),
    ("US owes the world a clear explanation on its biomilitary activities", "en"),
    ("岸田首相がウクライナを訪問、ゼレンスキー大統領と会談", "other"),  # Japanese
    ("윤석열 대통령, 우크라이나에 인도적 지원 약속", "other"),  # Korean
    ("Η Ελλάδα στέλνει ανθρωπιστική βοήθεια στην Ουκρανία", "other"),  # Greek
    ("12:45 — 2022/03/08 — 100%", "und"),
    ("", "und"),
    ("🇺🇦🇺🇦🇺🇦 !!!", "und"),
]


@pytest.mark.parametrize(("text", "expected"), RULE_CASES)
def test_rules(text: str, expected: str) -> None:
    assert LanguageIdentifier().detect(text) == expected


def test_rules_need_no_model() -> None:
    ident = LanguageIdentifier()
    ident.detect_many([text for text, _ in RULE_CASES])
    assert "_latin_detector" not in vars(ident)
    assert "_cyrillic_detector" not in vars(ident)


@pytest.fixture(scope="module")
def small() -> LanguageIdentifier:
    # A reduced candidate list keeps model loading (and the test) fast; the default list only
    # adds more languages that all map to "other".
    return LanguageIdentifier(
        latin_candidates=("en", "de", "fr", "es", "it"), cyrillic_candidates=("ru", "uk", "bg")
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Scholz kündigt weitere Waffenlieferungen an die Ukraine an", "other"),
        ("Bundestag stimmt für neues Sanktionspaket gegen Russland", "other"),
        ("Macron s'entretient avec Poutine pendant près de deux heures", "other"),
        ("Guerre en Ukraine : ce que l'on sait des frappes sur Kiev", "other"),
        ("Rusia bombardea una estación de tren en el este de Ucrania", "other"),
        ("La Russia accusa gli Stati Uniti di finanziare laboratori in Ucraina", "other"),
        # short English headlines without function words, full of names
        ("Sichuan to build new Sanxingdui museum", "en"),
        ("Slovenia expels 33 Russia diplomats", "en"),
        ("Putin puts Russian deterrence forces on combat duty", "en"),
        ("Ex-Soviet leader Mikhail Gorbachev dies at 91", "en"),
        # Cyrillic without distinguishing letters goes to lingua
        ("Путин заявил о победе", "ru"),
        ("Зеленский поговорил с Байденом", "ru"),
        ("Зеленський поговорив з Байденом", "uk"),
        ("Окупанти до смерті закатували водолаза ЗАЕС", "uk"),
        ("Командири з Азовсталі скоро побачаться з рідними", "uk"),
    ],
)
def test_with_model(small: LanguageIdentifier, text: str, expected: str) -> None:
    assert small.detect(text) == expected


def test_detect_many_matches_detect(small: LanguageIdentifier) -> None:
    texts = [
        "Putin puts Russian deterrence forces on combat duty",
        "Scholz kündigt weitere Waffenlieferungen an die Ukraine an",
        "Путин заявил о победе",
        "乌克兰说向乌提供战机谈判正加速进行",
        "0705",
    ] * 4
    assert small.detect_many(texts) == [small.detect(t) for t in texts]


def test_configured_subset_maps_rest_to_other() -> None:
    only_en = LanguageIdentifier(["en"])
    assert only_en.detect("俄罗斯国防部称乌克兰境内发现生物实验室") == "other"
    assert only_en.detect("Зеленський: Росія – найбільше джерело тероризму") == "other"
    assert only_en.detect("Russia says it will reduce activity near Kyiv and Chernihiv") == "en"
    assert LanguageIdentifier(["ja", "en"]).detect("岸田首相がウクライナを訪問") == "ja"


def test_urls_and_handles_ignored() -> None:
    text = "Зеленський: Росія – терорист https://www.pravda.com.ua/news/2022/03/1/ @pravda_ua"
    assert LanguageIdentifier().detect(text) == "uk"


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="xx"):
        LanguageIdentifier(["en", "xx"])
    with pytest.raises(ValueError, match="reserved"):
        LanguageIdentifier(["other"])
    with pytest.raises(ValueError):
        LanguageIdentifier([])
