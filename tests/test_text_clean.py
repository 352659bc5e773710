from __future__ import annotations

from echolens.text.clean import clean_text, is_mostly_garbage


def test_html_tags_and_double_escaped_entities() -> None:
    raw = "<p>Putin&nbsp;says &amp;quot;never&amp;quot; &#8212; <b>TASS</b></p>"
    assert clean_text(raw) == 'Putin says "never" — TASS'


def test_script_and_style_blocks_removed_but_comparisons_kept() -> None:
    raw = "<script>var x = 1 < 2;</script>Prices: a < b > c <3"
    assert clean_text(raw) == "Prices: a < b > c <3"


def test_escaped_markup_is_removed_after_unescaping() -> None:
    assert clean_text("&lt;i&gt;Xinhua&lt;/i&gt; reports") == "Xinhua reports"


def test_invisible_and_control_characters() -> None:
    raw = "Зе\u200bленський\x00 заявив\u00ad\ufeff:\u00a0Росія\u3000–\u2009терорист"
    assert clean_text(raw) == "Зеленський заявив: Росія – терорист"


def test_nfc_normalization() -> None:
    decomposed = "Cafe\u0301 и\u0306"  # e + combining acute, и + combining breve
    assert clean_text(decomposed) == "Café й"


def test_chinese_text_whitespace() -> None:
    assert clean_text("  外交部：\n\n 美方应作出澄清\t ") == "外交部： 美方应作出澄清"


def test_paragraphs() -> None:
    raw = "First line\nstill first.\r\n\r\n<p>Second</p>\n\n\n  Third  "
    assert clean_text(raw) == "First line still first. Second Third"
    assert clean_text(raw, keep_paragraphs=True) == "First line still first.\n\nSecond\n\nThird"


def test_empty_and_blank() -> None:
    assert clean_text("") == ""
    assert clean_text(" \u200b\u00a0\n") == ""


def test_is_mostly_garbage() -> None:
    assert is_mostly_garbage("")
    assert is_mostly_garbage("12:45 — 2022 !!! ###")
    assert is_mostly_garbage("Ð¿Ñ€Ð¸Ð²ÐµÑ‚ Ð¼Ð¸Ñ€")  # UTF-8 read as Latin-1
    assert not is_mostly_garbage("Russia-Ukraine talks resume in Istanbul")
    assert not is_mostly_garbage("俄罗斯外长说愿与乌克兰继续保持对话")

