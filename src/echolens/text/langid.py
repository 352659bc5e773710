"""Language identification for short news texts (headlines, posts, claims).

The script decides first: Han text is Chinese, kana Japanese, Hangul Korean, and text in a
script none of the configured languages use is "other". Cyrillic text is split into Ukrainian
and Russian by letters only one of the two uses, and Latin text that is plainly English (ASCII
letters, several English function words, no function words of other languages) is English.
Only what these rules leave open goes to `lingua`, restricted to the languages of that script,
and built lazily on first use. Languages that are not configured come back as "other".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property
from typing import Final

from lingua import (
    ConfidenceValue,
    IsoCode639_1,
    Language,
    LanguageDetector,
    LanguageDetectorBuilder,
)

__all__ = [
    "DEFAULT_CYRILLIC_CANDIDATES",
    "DEFAULT_LATIN_CANDIDATES",
    "OTHER",
    "UNDETERMINED",
    "LanguageIdentifier",
]

OTHER: Final = "other"
UNDETERMINED: Final = "und"

# Languages lingua chooses among for Latin and Cyrillic text. A text lingua assigns to one of
# them that is not configured is reported as "other"; a wider list makes "other" more
# reliable but slows the fallback path and risks more false "other" on short English text.
# Ten frequent ones: text in another Latin-script language still resembles one of them more
# than English, so it comes back "other"; 25 candidates gave the same accuracy on the real
# corpus (benchmarks/langid_eval.py) at half the speed.
DEFAULT_LATIN_CANDIDATES: Final[tuple[str, ...]] = (
    "en", "de", "fr", "es", "it", "pt", "nl", "pl", "id", "tr",
)  # fmt: skip
DEFAULT_CYRILLIC_CANDIDATES: Final[tuple[str, ...]] = (
    "ru", "uk", "be", "bg", "mk", "sr", "kk", "mn",
)  # fmt: skip

_CJK_CODES: Final = frozenset({"zh", "ja", "ko"})

# Script counters (C-speed regex scans beat a Python loop over characters).
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_NON_ASCII_LATIN_RE = re.compile(r"[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_CYRILLIC_RE = re.compile(r"[\u0400-\u0481\u048a-\u052f]")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KANA_RE = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3131-\u318e]")
_LETTER_RE = re.compile(r"[^\W\d_]")
_ASCII_LETTER_RE = re.compile(r"[A-Za-z]")
_NOISE_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|[@#](?=\w)")
_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")

# Han characters carry about as much text as three Latin letters; weighting them keeps a
# Chinese sentence with a few Latin acronyms ("北约NATO") Chinese.
_HAN_WEIGHT: Final = 3
_KANA_WEIGHT: Final = 2
_HANGUL_WEIGHT: Final = 2
# Japanese mixes kana into nearly every sentence; Chinese text practically never does.
_MIN_KANA_SHARE: Final = 0.1

# Cyrillic letters (lowercase) that tell the East Slavic languages apart.
_UK_ONLY: Final = frozenset("їєґ")  # Ukrainian (and Rusyn) only
_UK_BE: Final = frozenset("і")  # Ukrainian, Belarusian, Kazakh; never Russian
_RU_BE: Final = frozenset("ыэё")  # Russian, Belarusian; never Ukrainian
_BE_ONLY: Final = frozenset("ў")
_SOUTH_SLAVIC: Final = frozenset("јљњћђџѓќѕ")  # Serbian, Macedonian
_OTHER_CYRILLIC: Final = frozenset("ғқңөұүһәӣӯҳҷӈ")  # Kazakh, Mongolian, Tajik, Uzbek...
_APOSTROPHE_IN_WORD_RE = re.compile(r"[бвгґджзклмнпрстфхцчшщ]['’ʼ][яюєї]")


def _words(text: str) -> list[str]:
    return text.split()


# English function words that are not (common) words in the other Latin candidates, and
# frequent function words of those languages that are not English words. Both are used only
# to let obviously English text skip the statistical model; anything unclear goes to lingua.
_EN_WORDS: Final = frozenset(
    _words(
        """the and with from into that this these those its it's says said been would could
    should they their them which when what why how where after amid about against his who
    has have had will are were was than not but for over under after before more most new
    first says our your you she he we can may must been being than then there here also
    just now still only any some such very own off out up all one two three four five six
    seven eight nine ten year years day week month people world country government police
    president minister top says warns calls urges asks vows plans seeks set report"""
    )
)
_FOREIGN_WORDS: Final = (
    frozenset(
        _words(
            """der die das und ist nicht mit von zu den dem des ein eine einen einem auf sich auch
    bei nach wird werden wurde hat aus wie oder aber noch nur gegen sind zum zur vom le la
    les et est une du pour dans qui sur pas par avec ce cette sont ont aux ses leur el los
    las y que del por con para una lo su como se pero sus mas il di che della dei delle gli
    nel nella per sono alla anche dalla do da em os uma pelo pela nao ao dos das mais het
    een van op voor niet ook zijn naar maar och att och inte som det av jest nie sie na z
    w ze po od oraz przez dla je se na ako aj pre sa ve pro jsou ale byl og ikke er til
    af paa og ja ei ovat ta ja ve bir ile ve bu da de mit og yang dan di ini itu"""
        )
    )
    - _EN_WORDS
)


def _lingua_language(code: str) -> Language:
    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code.upper()))
    except ValueError:
        raise ValueError(f"unknown ISO 639-1 language code {code!r}") from None


def _iso(language: Language) -> str:
    return language.iso_code_639_1.name.lower()


# A configured language wins unless another candidate is this many times more likely: the
# configured languages are the ones expected in the input, and short headlines full of names
# ("Sichuan to build new Sanxingdui museum") otherwise drift to other languages.
CONFIGURED_PREFERENCE: Final = 1 / 0.3
_PARALLEL_MIN: Final = 8
# Texts in one call to a script's models from which all its candidates' models are loaded
# together up front (see `_ScriptModel._preload`).
_PRELOAD_MIN: Final = 200


class _ScriptModel:
    """lingua over the candidate languages of one script, with a preference for configured ones.

    A low-accuracy (trigram) pass runs first; when it names a configured language that is
    kept (it is rarely wrong in that direction). Otherwise the high-accuracy model decides
    between the configured languages of this script and the language the fast pass named,
    preferring configured ones (`CONFIGURED_PREFERENCE`). The accurate models are built per
    such pair, so a process loads the high-accuracy n-grams of only the few languages its
    input actually resembles (loading all 25 Latin ones takes 10-15 s on 2 cores).
    """

    def __init__(self, candidates: Sequence[str], configured: frozenset[str]) -> None:
        languages = [_lingua_language(c) for c in candidates]
        self._configured = configured
        self._script_configured = frozenset(lang for lang in languages
                                            if _iso(lang) in configured)
        self._fast: LanguageDetector = (
            LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()
        )
        self._accurate_by_guess: dict[Language | None, LanguageDetector] = {}
        self._languages = languages
        self._preloaded = False

    def _preload(self) -> None:
        """Load the high-accuracy models of every candidate at once, on all cores.

        lingua keeps loaded models in one cache per process, shared by every detector, so
        this changes no result: the detectors built later find their models loaded. A large
        batch of undecided text soon needs most of them (loaded one by one as guesses come
        up, they cost about as much CPU on one core as all the detection that follows).
        """
        LanguageDetectorBuilder.from_languages(*self._languages) \
            .with_preloaded_language_models().build()
        self._preloaded = True

    def _accurate(self, guess: Language | None) -> LanguageDetector:
        detector = self._accurate_by_guess.get(guess)
        if detector is None:
            languages = set(self._script_configured) | ({guess} if guess else set())
            if len(languages) < 2:  # lingua needs two; a neighbour keeps the decision real
                languages |= {Language.GERMAN if Language.ENGLISH in languages
                              else Language.ENGLISH}
            detector = LanguageDetectorBuilder.from_languages(*languages).build()
            self._accurate_by_guess[guess] = detector
        return detector

    def detect_many(self, texts: list[str]) -> list[str]:
        if len(texts) >= _PRELOAD_MIN and not self._preloaded:
            self._preload()
        if len(texts) < _PARALLEL_MIN:
            first = [self._fast.detect_language_of(t) for t in texts]
        else:
            first = self._fast.detect_languages_in_parallel_of(texts)
        results = [self._code(lang) for lang in first]
        unsure: dict[Language | None, list[int]] = {}
        for i, code in enumerate(results):
            if code not in self._configured:
                unsure.setdefault(first[i], []).append(i)
        for guess, indices in unsure.items():
            accurate = self._accurate(guess)
            subset = [texts[i] for i in indices]
            if len(subset) < _PARALLEL_MIN:
                values = [accurate.compute_language_confidence_values(t) for t in subset]
            else:
                values = accurate.compute_language_confidence_values_in_parallel(subset)
            for i, confidences in zip(indices, values, strict=True):
                results[i] = self._decide(confidences)
        return results

    def _code(self, language: Language | None) -> str:
        if language is None:
            return OTHER
        code = _iso(language)
        return code if code in self._configured else OTHER

    def _decide(self, confidences: list[ConfidenceValue]) -> str:
        if not confidences or confidences[0].value <= 0.0:
            return OTHER
        top = confidences[0].value
        for cv in confidences:
            if cv.value * CONFIGURED_PREFERENCE < top:
                break
            code = _iso(cv.language)
            if code in self._configured:
                return code
        return OTHER


class LanguageIdentifier:
    """Detect the language of short texts among a configured set of ISO 639-1 codes.

    `detect` returns one of the configured codes, "other" for text in any other language, or
    "und" for text without letters. Instances are cheap to create; the lingua models load on
    first use of a script that needs them.
    """

    def __init__(
        self,
        languages: Sequence[str] = ("zh", "ru", "uk", "en"),
        *,
        latin_candidates: Sequence[str] = DEFAULT_LATIN_CANDIDATES,
        cyrillic_candidates: Sequence[str] = DEFAULT_CYRILLIC_CANDIDATES,
    ) -> None:
        codes = tuple(dict.fromkeys(code.strip().lower() for code in languages))
        if not codes:
            raise ValueError("LanguageIdentifier needs at least one language")
        for code in codes:
            if code in (OTHER, UNDETERMINED):
                raise ValueError(f"{code!r} is reserved; it is always a possible result")
            _lingua_language(code)
        self.languages: tuple[str, ...] = codes
        self._configured = frozenset(codes)
        latin_all = {_iso(lang) for lang in Language.all_with_latin_script()}
        cyrillic_all = {_iso(lang) for lang in Language.all_with_cyrillic_script()}
        self._latin_candidates = tuple(
            dict.fromkeys([*latin_candidates, *(c for c in codes if c in latin_all)])
        )
        self._cyrillic_candidates = tuple(
            dict.fromkeys([*cyrillic_candidates, *(c for c in codes if c in cyrillic_all)])
        )
        self._rest_codes = tuple(
            c for c in codes if c not in latin_all and c not in cyrillic_all and c not in _CJK_CODES
        )
        self._latin_active = any(c in latin_all for c in codes)
        self._cyrillic_active = any(c in cyrillic_all for c in codes)

    # -- lazily built lingua detectors -------------------------------------------------------

    @cached_property
    def _latin_detector(self) -> _ScriptModel:
        return _ScriptModel(self._latin_candidates, self._configured)

    @cached_property
    def _cyrillic_detector(self) -> _ScriptModel:
        return _ScriptModel(self._cyrillic_candidates, self._configured)

    @cached_property
    def _rest_detector(self) -> _ScriptModel:
        # Configured languages in other scripts (Arabic, Greek, Hindi...) compete with every
        # language lingua knows outside the Latin, Cyrillic and CJK groups.
        latin_or_cyrillic = Language.all_with_latin_script() | Language.all_with_cyrillic_script()
        cjk = {_lingua_language(c) for c in _CJK_CODES}
        codes = [_iso(lang) for lang in Language.all() - latin_or_cyrillic - cjk]
        return _ScriptModel(sorted(codes), self._configured)

    def settings(self) -> dict[str, list[str]]:
        """The arguments that rebuild this identifier (in a worker process, say) exactly."""
        return {"languages": list(self.languages),
                "latin_candidates": list(self._latin_candidates),
                "cyrillic_candidates": list(self._cyrillic_candidates)}

    # -- public API --------------------------------------------------------------------------

    def detect(self, text: str) -> str:
        """Return the language code of `text`: a configured code, "other" or "und"."""
        verdict, model = self._rules(text)
        if model is None:
            return verdict
        return model.detect_many([verdict])[0]

    def detect_many(self, texts: Sequence[str]) -> list[str]:
        """`detect` over a batch; texts that need lingua are run through it in parallel."""
        results: list[str] = [UNDETERMINED] * len(texts)
        pending: dict[int, tuple[_ScriptModel, list[int], list[str]]] = {}
        for i, text in enumerate(texts):
            verdict, model = self._rules(text)
            if model is None:
                results[i] = verdict
                continue
            _, indices, prepared = pending.setdefault(id(model), (model, [], []))
            indices.append(i)
            prepared.append(verdict)
        for model, indices, prepared in pending.values():
            for i, code in zip(indices, model.detect_many(prepared), strict=True):
                results[i] = code
        return results

    # -- internals ---------------------------------------------------------------------------

    def _pick(self, code: str) -> str:
        return code if code in self._configured else OTHER

    def _rules(self, text: str) -> tuple[str, _ScriptModel | None]:
        """Decide by script and letters where possible.

        Returns (code, None) when decided, else (text prepared for lingua, detector).
        """
        if ("http" in text or "www." in text or "@" in text or "#" in text) and (
            stripped := _NOISE_RE.sub(" ", text)
        ):
            text = stripped
        if text.isascii():  # only Latin letters, if any: no need to count scripts
            return self._latin(text) if _ASCII_LETTER_RE.search(text) else (UNDETERMINED, None)
        letters = len(_LETTER_RE.findall(text))
        if letters == 0:
            return UNDETERMINED, None
        latin = len(_LATIN_RE.findall(text))
        if latin == letters:  # the common case for English, checked without further scans
            return self._latin(text)
        cyrillic = len(_CYRILLIC_RE.findall(text))
        han = len(_HAN_RE.findall(text))
        kana = len(_KANA_RE.findall(text)) if han or not (latin + cyrillic) else 0
        hangul = len(_HANGUL_RE.findall(text)) if latin + cyrillic + han < letters else 0
        rest = letters - latin - cyrillic - han - kana - hangul
        cjk = _HAN_WEIGHT * han + _KANA_WEIGHT * kana
        scores = (
            (cjk, "cjk"),
            (cyrillic, "cyrillic"),
            (latin, "latin"),
            (_HANGUL_WEIGHT * hangul, "hangul"),
            (rest, "rest"),
        )
        script = max(scores, key=lambda pair: pair[0])[1]
        if script == "cjk":
            if kana >= max(1.0, _MIN_KANA_SHARE * (han + kana)):
                return self._pick("ja"), None
            return self._pick("zh"), None
        if script == "cyrillic":
            return self._cyrillic(text)
        if script == "latin":
            return self._latin(text)
        if script == "hangul":
            return self._pick("ko"), None
        if not self._rest_codes:
            return OTHER, None
        return text, self._rest_detector

    def _cyrillic(self, text: str) -> tuple[str, _ScriptModel | None]:
        if not self._cyrillic_active:
            return OTHER, None
        lower = text.lower()
        chars = set(lower)
        if chars & (_SOUTH_SLAVIC | _OTHER_CYRILLIC | _BE_ONLY):
            return text, self._cyrillic_detector
        uk = sum(lower.count(ch) for ch in chars & (_UK_ONLY | _UK_BE))
        uk += len(_APOSTROPHE_IN_WORD_RE.findall(lower))
        ru = sum(lower.count(ch) for ch in chars & _RU_BE)
        # і without ї/є/ґ is also Belarusian or Kazakh, but those need ў or their own letters,
        # excluded above. Both sets present: a quotation ("Первый канал" in Ukrainian text),
        # decided by a clear majority.
        if uk and (not ru or uk >= 3 * ru):
            return self._pick("uk"), None
        if ru and (not uk or ru >= 3 * uk):
            return self._pick("ru"), None
        return text, self._cyrillic_detector

    def _latin(self, text: str) -> tuple[str, _ScriptModel | None]:
        if not self._latin_active:
            return OTHER, None
        if "en" in self._configured and (text.isascii() or not _NON_ASCII_LATIN_RE.search(text)):
            words = _WORD_RE.findall(text.lower().replace("’", "'"))
            english = len(_EN_WORDS.intersection(words))
            foreign = len(_FOREIGN_WORDS.intersection(words))
            # two English function words outweigh a stray foreign one; one is enough when
            # no function word of another Latin-script language occurs at all
            if (english >= 2 and foreign * 3 <= english - 2) or (english >= 1 and not foreign):
                return "en", None
        return text, self._latin_detector


class QueryLanguage:
    """The language of a short search query, always one of the configured ones.

    Queries are a word or two ("Azovstal", "Буча"): the open-set identifier above would
    weigh them against every language of their script and load new models for each odd
    guess (hundreds of ms per query). Here lingua chooses only among the configured
    languages, with their models loaded once up front.
    """

    def __init__(self, languages: Sequence[str], fallback: str = "en") -> None:
        supported = [code for code in languages if code not in (OTHER, UNDETERMINED)]
        self.languages = tuple(supported)
        self.fallback = fallback
        chosen = [_lingua_language(code) for code in supported]
        if len(chosen) < 2:  # lingua needs two languages to choose between
            chosen.append(Language.GERMAN if Language.ENGLISH in chosen else Language.ENGLISH)
        self._detector = (LanguageDetectorBuilder.from_languages(*chosen)
                          .with_preloaded_language_models().build())

    def detect(self, text: str) -> str:
        language = self._detector.detect_language_of(text)
        code = _iso(language) if language is not None else self.fallback
        return code if code in self.languages else self.fallback
