"""Text cleaning: Unicode NFC, HTML remnants, control and invisible characters, whitespace.

All functions are pure and cheap; `clean_text` handles well over 50k short texts per second.
"""

from __future__ import annotations

import html
import re
import sys
import unicodedata

__all__ = ["clean_text", "is_mostly_garbage"]

# Characters deleted outright: C0/C1 controls except the whitespace ones, invisible format
# characters that only break words apart (zero-width space, word joiner, BOM, soft hyphen,
# direction marks), and lone surrogates left by bad decoding. ZWJ/ZWNJ (U+200C/U+200D) are
# kept: they are meaningful in Persian, Indic scripts and emoji sequences.
_DELETE = (
    [c for c in range(0x00, 0x20) if chr(c) not in "\t\n\r\x0b\x0c"]
    + [0x7F]
    + [c for c in range(0x80, 0xA0) if c != 0x85]
    + [0x00AD, 0x180E, 0x200B, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E]
    + [0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF]
    + list(range(0xD800, 0xE000))
)
# Characters turned into a plain space or newline before whitespace is collapsed.
_SPACE = [0x00A0, 0x1680, 0x202F, 0x205F, 0x3000] + list(range(0x2000, 0x200B))
_NEWLINE = [0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029]

_TABLE: dict[int, str | None] = {c: None for c in _DELETE}
_TABLE.update({c: " " for c in _SPACE})
_TABLE.update({c: "\n" for c in _NEWLINE})
_TABLE[0x09] = " "

# Anything outside printable ASCII may need the translate table; pure printable ASCII does not.
_NEEDS_TRANSLATE = re.compile(r"[^\x20-\x7e\n]")

_BLOCK_TAGS = re.compile(
    r"<(script|style|noscript|template)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
# A tag must start with a letter, "/" or "!" so that "a < b" or "<3" survive.
_BREAK_TAG = re.compile(r"<\s*(?:br|/p|p|/div|div|/li|li|/h[1-6]|h[1-6]|tr|/tr)\b[^<>]*>", re.I)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|<![A-Za-z][^<>]*>")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_PARAGRAPH_SPLIT = re.compile(r"\n[ \t]*\n\s*")


def _strip_html(s: str) -> str:
    if "<" in s:
        s = _BLOCK_TAGS.sub(" ", s)
        s = _COMMENT.sub(" ", s)
        s = _BREAK_TAG.sub("\n", s)
        s = _TAG.sub(" ", s)
    if "&" in s:
        # Feeds often escape twice ("&amp;quot;"); unescape until stable, at most three times.
        for _ in range(3):
            if not _ENTITY.search(s):
                break
            s = html.unescape(s)
        if "<" in s:  # escaped markup ("&lt;b&gt;") becomes real tags after unescaping
            s = _TAG.sub(" ", s)
    return s


def clean_text(s: str, *, keep_paragraphs: bool = False) -> str:
    """Return `s` cleaned for storage, hashing and language identification.

    NFC-normalizes, removes HTML tags, comments and (possibly double-escaped) entities,
    deletes control and zero-width characters, maps NBSP and other Unicode spaces to a plain
    space and collapses whitespace. With `keep_paragraphs=False` (the default) all line breaks
    become single spaces; with `keep_paragraphs=True` blank-line separated paragraphs are kept
    as ``"\\n\\n"`` while single line breaks inside a paragraph become spaces.
    """
    if not s:
        return ""
    s = _strip_html(s)
    if _NEEDS_TRANSLATE.search(s):
        s = s.translate(_TABLE)
        if not s.isascii() and not unicodedata.is_normalized("NFC", s):
            s = unicodedata.normalize("NFC", s)
    if not keep_paragraphs:
        return " ".join(s.split())
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPH_SPLIT.split(s))
    return "\n\n".join(p for p in paragraphs if p)


_MOJIBAKE = re.compile(r"(?:[\u00c2-\u00c3\u00d0-\u00d1][\u0080-\u00bf]|\u00e2\u20ac|\ufffd)")


def is_mostly_garbage(s: str, *, min_letter_share: float = 0.35) -> bool:
    """True when `s` is unlikely to be usable text.

    That is: empty or blank, fewer than `min_letter_share` of its non-space characters are
    letters (markup debris, numbers, emoji walls), or it shows many encoding errors (U+FFFD,
    UTF-8 read as Latin-1/cp1252 such as "Ã©" or "Ð¿").
    """
    chars = "".join(s.split())
    if not chars:
        return True
    letters = sum(1 for ch in chars if ch.isalpha())
    if letters < min_letter_share * len(chars):
        return True
    bad = len(_MOJIBAKE.findall(chars))
    return bad * 2 >= 0.2 * len(chars) or bad >= 0.2 * letters


if sys.flags.optimize == 0:  # cheap self-check of the tables at import, no I/O
    assert all(chr(c).isspace() for c in _SPACE), "non-space in _SPACE"
