"""Explicit citations: which named sources a text attributes its statements to.

Rules, not a model. A *mention* is a name from the alias table, or an unknown capitalised
name; a mention becomes a citation when a cue makes it the source of what is said:

* en: ``X says|warns|urges|reports ...``, ``..., says X``, ``according to X``, ``told X``
  (outlets as venue), headline tags ``...: X`` / ``... - X`` and ``X: ...``;
* ru / uk: ``X заявил|сообщили|считает|заявив|повідомив|назвав ...``, ``В X заявили``,
  ``— заявил X``, ``по данным|по словам|за даними|як повідомляє X``, ``... – X``, ``X: ...``;
* zh: ``X说|称|表示|：|强调|批评 ...``, ``据X报道``, ``X发言人Y说``.

Unknown names are kept with ``resolved=False`` (name as written) so they can be reviewed;
vague sources (experts, officials, СМИ, 美媒 ...) and the publishing outlet never count.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from echolens.echo.aliases import AliasTable, Kind, Match, Source, Token, packaged_text, tokenize

LANGS = ("en", "ru", "uk", "zh")
# Bump when a rule changes what is extracted: stored citations are then extracted again.
RULES_VERSION = "2"


def extractor_version() -> str:
    """The rules version and a hash of the packaged alias table: stored citations made by
    another version are stale (a grown alias table re-extracts too)."""
    digest = hashlib.sha1(packaged_text().encode("utf-8")).hexdigest()[:10]
    return f"rules-{RULES_VERSION}+aliases-{digest}"


@dataclass(frozen=True)
class Citation:
    """One cited source: canonical English name (as written when not resolved) and its cue;
    `ecosystem` is the one the alias table gives the source (None when unknown)."""

    name: str
    cue: str
    kind: Kind
    resolved: bool
    start: int
    end: int
    ecosystem: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "cue": self.cue, "kind": self.kind, "resolved": self.resolved,
                "ecosystem": self.ecosystem}


@dataclass(frozen=True)
class CitationResult:
    """The citations of one item, and whether it rests on a single named source."""

    citations: tuple[Citation, ...]

    @property
    def sole_source(self) -> bool:
        """True when exactly one named source (an outlet, official or body) is cited."""
        return len({c.name for c in self.citations}) == 1

    @property
    def unresolved(self) -> list[str]:
        return [c.name for c in self.citations if not c.resolved]


@dataclass(frozen=True)
class Mention:
    source: Source | None  # None: an unknown capitalised name
    start: int
    end: int
    first: int  # token range (Latin/Cyrillic) or -1 (Chinese)
    last: int
    text: str

    @property
    def is_person(self) -> bool:
        return self.source is None or self.source.kind == "person"


def detect_lang(text: str) -> str:
    """Script-based guess, enough to pick the rules: zh, uk, ru or en."""
    if re.search(r"[\u4e00-\u9fff]", text):
        return "zh"
    if re.search(r"[іїєґІЇЄҐ]", text):
        return "uk"
    if re.search(r"[\u0400-\u04ff]", text):
        return "ru"
    return "en"


def extract_citations(text: str, lang: str | None = None, *, publisher: str | None = None,
                      aliases: AliasTable | None = None) -> list[Citation]:
    """Named sources `text` attributes content to, first occurrence first, one per name.

    `lang` is en|ru|uk|zh (guessed from the script when None); `publisher` is the canonical
    name of the outlet that published the text, which is never a citation of its own text.
    """
    return list(trace_citations(text, lang, publisher=publisher, aliases=aliases).citations)


def trace_citations(text: str, lang: str | None = None, *, publisher: str | None = None,
                    aliases: AliasTable | None = None) -> CitationResult:
    """Like `extract_citations`, with the item-level flags (`sole_source`)."""
    table = aliases or AliasTable.load()
    language = lang if lang in LANGS else detect_lang(text)
    if language == "zh":
        found = _zh(text, table)
    elif language == "en":
        found = _en(text, table)
    else:
        found = _cyr(text, table)
    own = table.canonical(publisher) if publisher else None
    own_name = (own.name if own else publisher or "").casefold()
    if language == "en" and own is not None:
        found = [*found, *_home_ministry(text, own, table)]
    out: dict[str, Citation] = {}
    adjectives = table.adjectives()
    for m in sorted(found, key=lambda m: m.start):
        cit = _citation(m)
        if cit.name.casefold() == own_name or cit.name in out:
            continue
        if not cit.resolved and cit.name.casefold() in adjectives:
            continue  # "Ukrainian" alone (a clipped "Ukrainian FMs ..."): nobody in particular
        if m.source is not None and m.source.place:
            continue  # a city does not speak; its offices do (role tags)
        out[cit.name] = cit
    return CitationResult(tuple(out.values()))


# -- shared ------------------------------------------------------------------------------
_INSTITUTION = re.compile(
    r"\b(?:Ministry|Office|Department|Bureau|Commission|Committee|Council|Administration|"
    r"Agency|Embassy|Government|Police|Court|Parliament|Army|Service|Authority|Directorate|"
    r"Staff|Command|Prosecutor|Cabinet|President|Premier|PM|FM|Chancellor|Military|Navy|"
    r"Gov't|Mayor|Governor)\b", re.I)
_ORGANIZATION = re.compile(
    r"\b(?:Company|Group|Bank|Fund|Institute|Association|Union|Organization|Organisation|"
    r"Foundation|University|Party|Center|Centre|Corporation|Federation|Alliance)\b")
_MEDIA = re.compile(r"\b(?:News|Times|Post|Journal|Daily|TV|Radio|Herald|Gazette|Tribune)\b")


def _citation(m: Mention) -> Citation:
    if m.source is not None:
        return Citation(m.source.name, m.text, m.source.kind, True, m.start, m.end,
                        m.source.ecosystem)
    kind: Kind = "person"
    if _MEDIA.search(m.text):
        kind = "media"
    elif _INSTITUTION.search(m.text) or re.search(r"област|обл\b|ОВА|адміністрац", m.text):
        kind = "government"
    elif _ORGANIZATION.search(m.text) or (m.text.isupper() and " " not in m.text):
        kind = "organization"
    return Citation(m.text, m.text, kind, False, m.start, m.end)


VAGUE = frozenset("""
expert experts official officials study studies poll polls survey report reports source sources
media analyst analysts organizer organizers organiser spokesperson spokesman spokeswoman minister
diplomat diplomats census resident residents scientist scientists researcher researchers doctor
doctors witness witnesses police authorities government people observers insiders data
statistics lawmakers lawmaker insider economists economist scholars scholar netizens envoy envoys
negotiator negotiators ambassador ова fm pm mfa mod premier president ministry chief head leader
leaders vice deputy adviser advisor advisers advisors senator senators mayor governor
americans russians ukrainians chinese europeans britons germans thousands hundreds dozens
mps legislators parliamentarians deputies secessionists separatists protesters activists
millions evidence images footage video videos photos documents research analysis findings
satellite surveys studies polls someone nobody everyone many most some
эксперт эксперты источник источники сми зми змі власти влада журналисты журналісти военные
військові аналитики аналітики ученые учёные вчені жители жителі депутаты депутати очевидцы
очевидці оккупанты окупанти росзмі мешканці мешканців жителей медики правозащитники синоптики
пограничники прикордонники дипломат дипломаты дипломати опрос опросы опитування
исследование дослідження
партизаны партизани спасатели рятувальники он она они оно він вона вони воно это это эти
тот та те ці цей ця це в у во об про по как як так но але а и і й та однако проте при на из с со
также кроме поэтому потом тогда теперь сейчас сегодня вчера ранее позже затем именно лишь только
даже уже еще ещё тоже хотя если когда пока после тому вот всё все весь вся первый первая первое
також крім тому потім тоді тепер зараз сьогодні вчора раніше пізніше саме лише тільки навіть вже
ще теж хоча якщо коли поки недавно нередко впрочем напомним кстати наконец вероятно возможно
наверное очевидно конечно причем зато итак ведь между среди согласно вместе помимо несмотря
благодаря нещодавно нарешті можливо звісно зокрема водночас натомість окрім
к от до за для под над під від з із зі через після после перед між между без
""".split())

TITLES = frozenset("""
pm president prime minister foreign defense defence secretary chancellor mr mrs ms dr general
gen sen senator rep governor mayor ambassador spokesman spokeswoman outgoing former premier
chairman chairwoman head deputy vice king queen prince pope
президент премьер премьер-министр министр посол генерал губернатор мэр глава председатель
спикер канцлер советник прем'єр прем’єр-міністр прем'єр-міністр міністр голова мер радник
""".split())

SURNAME = re.compile(
    r"(?:ов|ев|ёв|ин|ын|ский|цкий|ская|цкая|ський|цький|ова|ева|ина|енко|ук|юк|чук|ич|ян|дзе|"
    r"швили|ко|ак|ка|ба|ль|ер|ан|он|ун|ай|ей|ой|ий|уй|из|ус|ас|ес|ос|ис|от|ет|ат|ит|ут)$")


def _dedupe(mentions: Iterable[Mention]) -> list[Mention]:
    seen: set[tuple[int, int]] = set()
    out = []
    for m in mentions:
        if (m.start, m.end) not in seen:
            seen.add((m.start, m.end))
            out.append(m)
    return out


def _mentions(text: str, tokens: list[Token], table: AliasTable, connectors: frozenset[str]
              ) -> list[Mention]:
    """Alias matches (longest first) and runs of unknown capitalised words, left to right."""
    out: list[Mention] = []
    i = 0
    while i < len(tokens):
        match: Match | None = table.match_tokens(tokens, i)
        if match is not None:
            out.append(Mention(match.source, match.start, match.end, match.first, match.last,
                               text[match.start:match.end]))
            i = match.last
            continue
        if tokens[i].capitalised and tokens[i].text.casefold() not in VAGUE:
            person = (table.match_tokens(tokens, i + 1) if i + 1 < len(tokens)
                      and tokens[i + 1].joined else None)
            if person is not None and person.source.kind == "person":
                # "Дэвид Кэмерон": an unknown first name before a known surname
                out.append(Mention(person.source, tokens[i].start, person.end, i, person.last,
                                   text[tokens[i].start:person.end]))
                i = person.last
                continue
            j = i + 1
            while j < len(tokens):
                tok = tokens[j]
                gap = text[tokens[j - 1].end:tok.start]
                if gap.strip(" ") or table.match_tokens(tokens, j) is not None:
                    break
                if tok.capitalised:
                    j += 1
                elif (tok.text in connectors and j + 1 < len(tokens)
                      and tokens[j + 1].capitalised):
                    j += 2
                else:
                    break
            k = i
            while k < j - 1 and tokens[k].text.casefold() in TITLES:
                k += 1
            out.append(Mention(None, tokens[k].start, tokens[j - 1].end, k, j,
                               text[tokens[k].start:tokens[j - 1].end]))
            i = j
            continue
        i += 1
    return out


# -- English -----------------------------------------------------------------------------
EN_VERB = re.compile(
    r"^(?:says?|said|tells?|told|warn(?:s|ed)?|urge[sd]?|reports?|reported|claim(?:s|ed)?|"
    r"confirm(?:s|ed)?|den(?:y|ies|ied)|criti[cs]i[sz]e[sd]?|slam(?:s|med)?|blast(?:s|ed)?|"
    r"accuse[sd]?|stress(?:es|ed)?|insist(?:s|ed)?|states|stated|notes|noted|"
    r"reiterate[sd]?|vow(?:s|ed)?|condemn(?:s|ed)?|reject(?:s|ed)?|refute[sd]?|denounce[sd]?|"
    r"argue[sd]?|assert(?:s|ed)?|allege[sd]?|admit(?:s|ted)?|acknowledge[sd]?|"
    r"reveal(?:s|ed)?|expect(?:s|ed)?|predict(?:s|ed)?|forecasts?|estimate[sd]?|"
    r"believe[sd]?|calls|called|asks|asked|demand(?:s|ed)?|emphasi[sz]e[sd]?|"
    r"underline[sd]?|highlight(?:s|ed)?|dismiss(?:es|ed)?|voice[sd]|express(?:es|ed)|raps|"
    r"adds|added|tweets|tweeted|describe[sd]|labels|"
    r"brands|hail(?:s|ed)|praise[sd]|lauds|cautions|cautioned|"
    r"threatens|threatened|pledges|pledged|explains|explained|suggests|suggested|"
    r"questions|questioned|accuses|blames|blamed|views|considers|thinks)$")
EN_INVERTED = re.compile(r"^(?:says|said|warns|warned|claims|claimed|reports|reported|adds|"
                         r"added|notes|noted|according)$")
EN_STRICT = re.compile(r"^(?:says|said|tells|warns|claims|reports|urges|denies|confirms)$")
EN_FILLER = frozenset("""official officials envoy spokesperson spokesman spokeswoman chief head
representative representatives ambassador leader leaders also again further now still
reportedly has have had on monday tuesday wednesday thursday friday saturday sunday
""".split())
EN_GOV_FILLER = frozenset("government gov't govt authorities also again".split())
EN_PASSIVE = frozenset("""told urged asked warned called advised expected predicted forecast
estimated believed reported said""".split())
_NATIONALITY = (r"(?:U\.S\.|US|UK|EU|(?:(?:South|North|New|Sierra|Saudi|Sri|Costa|El|Puerto|"
                r"Papua|Burkina|East|West)\s)?[A-Z][a-z]+(?:an|ese|ish|ian|i|ch))")
_ROLE = (r"(?:(?:foreign|defen[cs]e|health|finance|interior|justice|economy|trade|commerce|"
         r"agriculture|energy|emergency|education|environment)\s+(?:ministry|minister)|"
         r"military|army|navy|air force|embassy|government|gov't|president|prime minister|"
         r"PM|premier|chancellor|FM|parliament|police|cabinet|central bank|foreign office|"
         r"state department|defen[cs]e department|justice department|coast guard)")
EN_ROLE = re.compile(r"\b(?P<nat>" + _NATIONALITY + r")\s+(?P<role>" + _ROLE + r")\b", re.I)
EN_PREPS = frozenset("""in at from of on to for with across over by into against about near
within under between amid""".split())
EN_VENUE = frozenset("told tells tell in interview with to".split())
EN_CONNECT = frozenset("of for the and".split()) - {"and"}
SECTION = re.compile(r"^(?:Feature|Interview|Economic Watch|China Focus|News Analysis|Xinhua "
                     r"Headlines|Highlights|Commentary|Editorial|Opinion|Explainer|Update|"
                     r"Analysis|Spotlight|Roundup|Profile|Factbox|Live|Video|Photos?)$", re.I)


_ROLE_NAMES = (
    (re.compile(r"(?i)^(?:foreign\s+(?:ministry|minister|office)|FM)$"), "Foreign Ministry"),
    (re.compile(r"(?i)^defen[cs]e\s+(?:ministry|minister|department)$"), "Defense Ministry"),
    (re.compile(r"(?i)^(?:military|army)$"), "Armed Forces"),
    (re.compile(r"(?i)^(?:prime\s+minister|PM|premier)$"), "Prime Minister"),
    (re.compile(r"(?i)^(?:government|gov't)$"), ""),
)


def _role_source(nat: str, role: str, table: AliasTable) -> Source | None:
    """A known country's office as a named source: "Ukrainian defense minister" ->
    Ukrainian Defense Ministry (a minister without a name stands for the ministry), "French
    PM" -> French Prime Minister, "Polish government" -> Poland."""
    country = next((s for s in table.sources() if s.country and s.adjective
                    and s.adjective.casefold() == nat.replace(".", "").casefold()), None)
    if country is None:
        return None
    words = " ".join(role.split())
    name = next((n for pattern, n in _ROLE_NAMES if pattern.match(words)),
                " ".join(w if w.isupper() else w.capitalize() for w in words.split()))
    if not name:
        return country
    full = f"{country.adjective} {name}"
    return table.canonical(full) or replace(country, name=full, country=False, adjective="")


_HOME_ROLE = re.compile(r"^(?P<role>(?:foreign|defen[cs]e)\s+(?:ministry|minister)|FM)\s*:\s+\S",
                       re.I)
_HOME_COUNTRY = {"russia-state": "Russian", "russia": "Russian", "china-state": "Chinese",
                 "china": "Chinese", "ukraine": "Ukrainian"}


def _home_ministry(text: str, publisher: Source, table: AliasTable) -> list[Mention]:
    """"Defense ministry: ..." without a nationality in a state outlet's headline: the
    ministry of the outlet's own country (as "Минобороны" in TASS is Russia's)."""
    head = _HOME_ROLE.match(text)
    adjective = _HOME_COUNTRY.get(publisher.ecosystem or "")
    if head is None or adjective is None:
        return []
    source = _role_source(adjective, head.group("role"), table)
    if source is None:
        return []
    return [Mention(source, head.start("role"), head.end("role"), -1, -1, head.group("role"))]


def _en_roles(text: str, tokens: list[Token], mentions: list[Mention],
              table: AliasTable) -> list[Mention]:
    """"Iranian foreign ministry", "French PM", "Israeli military": a nationality and a
    unique institution or office, as one source: named after the country's office when the
    table knows the nationality, else unresolved as written."""
    out = list(mentions)
    for r in EN_ROLE.finditer(text):
        nat = r.group("nat")
        if not nat[:1].isupper() or nat.casefold() in VAGUE or (
                nat.islower() or (nat.isupper() and nat not in ("US", "UK", "EU"))):
            continue
        if re.match(r"(?i)vice|deputy", text[r.end("nat"):].strip()):
            continue
        first = next((i for i, t in enumerate(tokens) if t.start == r.start()), None)
        last = next((i + 1 for i, t in enumerate(tokens) if t.end == r.end()), None)
        if first is None or last is None:
            continue
        if any(m.source is not None and m.first <= first and m.last >= last for m in out):
            continue  # the table has it ("Russian Defense Ministry")
        out = [m for m in out if m.last <= first or m.first >= last]
        out.append(Mention(_role_source(nat, r.group("role"), table), r.start(), r.end(),
                           first, last, r.group(0)))
    return sorted(out, key=lambda m: m.first)


def _en_subject_ok(m: Mention, tokens: list[Token]) -> bool:
    if m.source is not None or EN_ROLE.fullmatch(m.text):
        return True
    words = [t.text for t in tokens[m.first:m.last]]
    if SECTION.match(m.text) or words[-1].casefold() in VAGUE:
        return False
    if m.first == 0 and len(words) == 1:
        # a lone capitalised first word may be any noun ("Blast hits ..."): strict verbs only
        nxt = m.last
        while nxt < len(tokens) and tokens[nxt].text.casefold() in EN_FILLER | EN_GOV_FILLER:
            nxt += 1
        return nxt < len(tokens) and bool(EN_STRICT.match(tokens[nxt].text.casefold()))
    return True


def _en(text: str, table: AliasTable) -> list[Mention]:
    tokens = tokenize(text)
    mentions = _mentions(text, tokens, table, EN_CONNECT)
    low = [t.text.casefold() for t in tokens]
    cited: list[Mention] = []

    mentions = _en_roles(text, tokens, mentions, table)

    def verb_after(j: int, m: Mention) -> bool:
        fillers = EN_FILLER if m.source is not None else EN_GOV_FILLER
        while j < len(tokens) and low[j] in fillers:
            j += 1
        if j + 1 < len(tokens) and low[j] in EN_PASSIVE and low[j + 1] == "to":
            return False  # "Japan urged to ...", "Thousands told to evacuate"
        if j + 1 < len(tokens) and low[j] in ("reports", "report") and low[j + 1] in ("on", "of"):
            return False  # "U.S. reports on long COVID fail ...": a noun
        return j < len(tokens) and bool(EN_VERB.match(low[j]))

    for idx in range(len(mentions) - 1, -1, -1):
        m = mentions[idx]
        gap_after = text[m.end:tokens[m.last].start] if m.last < len(tokens) else ""
        subject = False
        after_prep = m.first > 0 and low[m.first - 1] in EN_PREPS
        if (not gap_after.strip() and verb_after(m.last, m) and _en_subject_ok(m, tokens)
                and not after_prep):
            subject = True
        # coordination: "South Sudan and Kenya report"
        nxt = mentions[idx + 1] if idx + 1 < len(mentions) else None
        if (not subject and nxt is not None and nxt in cited and m.source is not None
                and low[m.last:nxt.first] == ["and"]):
            subject = True
        if subject:
            cited.append(m)
            continue
        prev = low[m.first - 1] if m.first > 0 else ""
        prev2 = low[m.first - 2] if m.first > 1 else ""
        if prev == "the" and m.first > 1:
            prev, prev2 = prev2, low[m.first - 3] if m.first > 2 else ""
        if prev == "to" and prev2 == "according":
            cited.append(m)
            continue
        if (prev and EN_INVERTED.match(prev) and m.first > 0
                and "," in text[tokens[m.first - 2].end if m.first > 1 else 0:
                                tokens[m.first - 1].start]
                and _en_subject_ok(m, tokens)
                and (m.source is not None or m.last == len(tokens)
                     or text[m.end:tokens[m.last].start].strip())):
            cited.append(m)
            continue
        if (m.source is not None and m.source.kind == "media" and prev in EN_VENUE
                and any(low[k] in ("told", "tells", "interview") for k in
                        range(max(0, m.first - 4), m.first))):
            cited.append(m)
    cited.extend(_en_tags(text, tokens, mentions, table))
    return _dedupe(cited)


_TAIL = re.compile(r"(?::|\s[-–—])\s+(?P<tail>[^:–—]{1,60}?)[\s\"'”»).!]*$")
_HEAD = re.compile(r"^(?P<head>[^:]{1,50}?)\s*:\s+\S")


def _en_tags(text: str, tokens: list[Token], mentions: list[Mention], table: AliasTable
             ) -> list[Mention]:
    out = []
    tail = _TAIL.search(text)
    if tail:
        start, end = tail.start("tail"), tail.end("tail")
        inside = [m for m in mentions if m.start >= start and m.end <= end]
        words = [t for t in tokens if t.start >= start and t.end <= end]
        if inside and words and len(words) <= 7:
            last = inside[-1]
            if (len(inside) > 1 and inside[-2].source is None and last.source is not None
                    and last.source.country and inside[-2].last == last.first):
                # "...: Boeing China": a company's branch, not the country
                prev = inside[-2]
                last = Mention(None, prev.start, last.end, prev.first, last.last,
                               text[prev.start:last.end])
            covers = last.end == words[-1].end
            lead = [t for t in words if t.end <= last.start]
            lead_ok = all(t.text == "the" or t.capitalised for t in lead) and len(lead) <= 3
            before = text[:tail.start()]
            sentence = len(re.findall(r"\b[a-z][a-z'’]+\b", before)) >= 3
            if covers and lead_ok and (last.source is not None or (
                    sentence and _tag_name_ok(last))):
                if last.source is None and lead and lead[0].text != "the":
                    # "...: U.S. Justice Department": keep the qualifier with an unknown name
                    last = Mention(None, lead[0].start, last.end, last.first - len(lead),
                                   last.last, text[lead[0].start:last.end])
                out.append(last)
    head = _HEAD.match(text)
    if head:
        end = head.end("head")
        inside = [m for m in mentions if m.end <= end]
        if (len(inside) == 1 and inside[0].source is not None and inside[0].start == 0
                and inside[0].end == end and not SECTION.match(head.group("head"))):
            out.append(inside[0])
    return out


def _tag_name_ok(m: Mention) -> bool:
    """An unknown name in a headline tag: an institution, or a person-like name."""
    if _INSTITUTION.search(m.text) or _ORGANIZATION.search(m.text) or _MEDIA.search(m.text):
        return True
    words = m.text.split()
    if any(len(w) > 5 and w.isupper() for w in words):
        return False  # "WARNING: DISTRESSING IMAGES"
    geo = re.compile(r"^(?:Province|City|County|Region|State|District|Island|Islands|River|"
                     r"Mountains?|Lake|Sea|Valley|Street|Square|Park|Games|Cup|Day|Week|Year)$")
    return 1 <= len(words) <= 3 and not any(geo.match(w) for w in words) and len(words) >= 2


# -- Russian and Ukrainian -----------------------------------------------------------------
CYR_VERB = re.compile(
    r"^(?:заяв|сообщ|отмет|рассказ|подчеркн|подчерк|счита|назв|называ|предупред|предупрежда|"
    r"призв|призыва|опроверг|обвин|раскритик|критику|указа|поясн|добав|уточн|призна|"
    r"подтверд|подтвержда|завер|выраз|высказ|прокомментир|напомн|полага|"
    r"сказа|говор|пиш|написа|переда|утвержд|объясн|потребова|требу|оцени|пожалова|"
    r"констатир|пригрози|угрожа|осуди|осужда|похвали|ответи|спрогнозир|прогнозир|отрица|"
    r"повідом|розпов|розповіда|наголос|наголошу|вважа|закли|попереди|попереджа|звинув|"
    r"підтверд|спросту|заперечу|запереч|зазнач|каж|пише|пишуть|проси|попроси|вимага|"
    r"розкритик|поскарж|поясни|дода|відпов|прокоментува|визна|інформу|стверджу|висловив|"
    r"висловил|оціни|пообіця|пообеща|анонсува|анонсир|опублікува|опубликова|обнародова|"
    r"оприлюдн|сообща|повідомля|прос|озвучи|довод|доказ|підтверджу)"
    r"[а-яіїєґё']*?(?:л|ла|ло|ли|лся|лась|лось|лись|ет|ют|ит|ят|ут|ёт|ается|аются|в|вся|"
    r"лася|лися|є|ють|ить|ять|ує|ують|ає|ають|ить|ать|ял|ял)$")
CYR_VERB_WORDS = frozenset("""верит верят уверен уверена уверены вірить вірять переконаний
переконана убежден убеждена впевнений впевнена впевнені""".split())
CYR_VAGUE_ROLES = frozenset("""вице-премьер вице-премьера посол посла депутат депутата эксперт
эксперты источник источники представитель представители сотрудник сотрудники чиновник
чиновники журналист журналисты военные житель жители министр министра заместитель
замминистра замглавы советник советника віце-прем'єр посол посла депутат експерт експерти
джерело джерела представник представники співробітник чиновник журналіст військові житель
жителі міністр заступник радник радника""".split())
CYR_MARKERS = (
    ("по", "данным"), ("по", "словам"), ("по", "информации"), ("по", "мнению"),
    ("по", "оценке"), ("по", "оценкам"), ("по", "сведениям"), ("по", "сообщению"),
    ("за", "даними"), ("за", "словами"), ("за", "інформацією"), ("за", "оцінками"),
    ("за", "оцінкою"), ("за", "повідомленням"), ("на", "думку"),
    ("как", "сообщает"), ("как", "сообщил"), ("как", "сообщила"), ("как", "сообщили"),
    ("как", "пишет"), ("как", "передает"), ("как", "передаёт"), ("как", "заявил"),
    ("как", "заявила"), ("как", "заявили"), ("как", "отметил"), ("как", "рассказал"),
    ("як", "повідомляє"), ("як", "повідомив"), ("як", "повідомила"), ("як", "повідомили"),
    ("як", "пише"), ("як", "заявив"), ("як", "заявила"), ("як", "заявили"),
    ("як", "передає"), ("як", "розповів"), ("со", "ссылкой"), ("з", "посиланням"),
    ("согласно",), ("цитирует",), ("цитує",),
)
CYR_VENUE = frozenset("""интервью изданию газете журналу телеканалу агентству корреспонденту
эфире радио інтерв'ю інтерв’ю виданню газеті журналу телеканалу агентству кореспонденту
ефірі""".split())
CYR_INSTITUTION = re.compile(
    r"(?i)министерств|міністерств|ведомств|відомств|посольств|штаб|администрац|адміністрац|"
    r"правительств|уряд|парламент|комитет|комітет|служб|департамент|управлени|управлінн|"
    r"агентств|совет|рад[аиіу]\b|парти|компани|корпорац|фонд|институт|інститут|"
    r"университет|університет|суд\b|суде\b|суді\b|прокуратур|мэри|мері|организац|"
    r"організац|палат|полици|поліц|банк|минздрав|минобр|минфин|минюст|минэнерго|минтранс|"
    r"минпромторг|мінфін|міноборон|мінздрав|мінекономік|мінцифр|"
    r"центр|комисси|комісі|инспекц|інспекц")
CYR_PRONOUNS = frozenset("он она они оно він вона вони воно его её их його її їх".split())
CYR_CONNECT: frozenset[str] = frozenset()
CYR_CLAUSE_WORDS = frozenset("""и і й та а но але что що также також тоже теж ранее раніше
затем потім вчера вчора сегодня сьогодні власти влада правительство уряд руководство
керівництво администрация адміністрація відео видео стаття статья доповідь доклад звіт отчет
отчёт дослідження исследование розслідування расследование заява заявление публікація публикация
материал матеріал сюжет репортаж""".split())
CLAUSE_END = re.compile(r"[.!?;,:«»\"“”()]")


def _cyr_unknown_ok(m: Mention, tokens: list[Token], text: str = "") -> bool:
    words = [t.text for t in tokens[m.first:m.last]]
    if any(w.casefold() in VAGUE or w.casefold() in CYR_VAGUE_ROLES for w in words):
        return False
    if any(sum(ch.isalpha() for ch in w) < 3 or "." in w for w in words):
        return False
    if len(words) == 1 and CYR_INSTITUTION.match(words[0]):
        return False  # "Института", "Центра": a clipped institution, not a name
    if len(words) == 1:
        w = words[0].casefold()
        if re.search(r"(?:ые|ие|ы|і|и|ї)$", w) and not w.endswith(("швили", "ели", "ні")):
            return False
        if re.search(r"(?:щина|щини|щину|чина|ье|ия|ія|жжя|ддя|лля|ззя|сся|ччя|ття|ння)$", w):
            return False  # regions (Луганщина, Запоріжжя, Приднестровье), not speakers
        if not re.search(r"[\u0400-\u04ff]", w):
            return True
        initial = m.first == 0 or bool(re.search(r"(?:[.!?:»\"”]|[—–-])\s*$", text[:m.start]))
        # a capitalised word inside a sentence is a name; at its start it must look like one
        return not initial or bool(SURNAME.search(w))
    if len(words[0]) > 5 and re.search(r"(?:ы|и|і|ие|ые)$", words[0].casefold()):
        return False  # a plural collective ("Мешканці Запоріжжя"), not a person
    return len(words) <= 3


def _oblique(m: Mention, tokens: list[Token]) -> bool:
    """A first name in an oblique case ("Надежды Савченко"): not the speaker."""
    if m.last - m.first < 2:
        return False
    first = tokens[m.first].text.casefold()
    return bool(re.search(r"(?:ы|у|ю|ой|ей|ого|ому|ої|ові|еві)$", first))


_GLUED = re.compile(r"^\s*(?:ВІДЕО|ВИДЕО|ФОТО|ДОКУМЕНТ|ОНОВЛЕНО|ОБНОВЛЕНО|ІНФОГРАФІКА|АУДІО|"
                    r"ОПИТУВАННЯ)(?=[А-ЯІЇЄҐA-Z])")


def _cyr(text: str, table: AliasTable) -> list[Mention]:
    # "ВІДЕОЗеленський: ..." (a scraping artefact): blank the label, keep the offsets
    text = _GLUED.sub(lambda g: " " * len(g.group(0)), text)
    tokens = tokenize(text)
    mentions = _mentions(text, tokens, table, CYR_CONNECT)
    low = [t.text.casefold() for t in tokens]
    starts = {m.first: m for m in mentions}
    is_verb = [bool(CYR_VERB.match(w)) or w in CYR_VERB_WORDS for w in low]
    cited: list[Mention] = []
    used_verbs: set[int] = set()

    def plain_gap(a: int, b: int, quotes_ok: bool = False) -> bool:
        gap = text[a:b]
        if quotes_ok:
            gap = re.sub(r"[«»\"“”]", "", gap)
        return not CLAUSE_END.search(gap)

    for idx, m in enumerate(mentions):
        prev = low[m.first - 1] if m.first > 0 else ""
        j = m.last
        # up to two lowercase words between subject and verb ("Захарова в Telegram заявила")
        gap = 0
        while (j < len(tokens) and not is_verb[j] and gap < 2 and not tokens[j].capitalised
               and low[j] not in ("не", "что", "и", "і", "що", "та")):
            j += 1
            gap += 1
        verb_ok = (j < len(tokens) and is_verb[j]
                   and plain_gap(m.end, tokens[j].start, quotes_ok=True)
                   and not (j > 0 and low[j - 1] == "не"))
        if m.source is None and gap:
            verb_ok = False
        if verb_ok:
            prep = prev in ("в", "во", "у", "на")
            if (m.source is not None and m.source.kind != "person" and prev and not prep
                    and prev not in CYR_CLAUSE_WORDS
                    and plain_gap(tokens[m.first - 1].end, m.start)):
                verb_ok = False  # "посол Украины заявил": the name only qualifies a role
            elif m.source is None and not prep:
                # an unknown name must look like a speaker and stand right before the verb
                verb_ok = _cyr_unknown_ok(m, tokens, text) and not (
                    idx + 1 < len(mentions) and mentions[idx + 1].first < j)
            elif m.source is None:
                # "В Минздраве Абхазии заявили": an institution; "В Донецке заявили": a place
                verb_ok = bool(CYR_INSTITUTION.search(m.text)) or (
                    m.text.isupper() and len(m.text) >= 2)
        if verb_ok:
            cited.append(m)
            used_verbs.add(j)
            continue
        # "по данным X", "за словами X", "как сообщает X"
        for marker in CYR_MARKERS:
            n = len(marker)
            k = m.first - n
            window = k - 3
            for s in range(max(0, window), k + 1):
                if tuple(low[s:s + n]) == marker and all(
                        not tokens[q].capitalised or q == s for q in range(s + n, m.first)) \
                        and plain_gap(tokens[s].end, m.start):
                    # "как заявил премьер-министр Великобритании Дэвид Кэмерон": the person
                    later = [x for x in mentions[idx + 1:] if x.first <= m.last + 4
                             and plain_gap(m.end, x.start) and x.is_person
                             and (x.source is not None or _cyr_unknown_ok(x, tokens, text))]
                    if m.source is not None and not m.is_person and later:
                        cited.append(later[0])
                    elif m.source is not None or _cyr_unknown_ok(m, tokens, text):
                        cited.append(m)
                    break
            else:
                continue
            break
    # "— заявил X", "рассказала RT Мишлин", "заявил в интервью Die Welt ... Штайнмайер"
    for j, verb in enumerate(is_verb):
        if not verb or j in used_verbs:
            continue
        if j > 0 and low[j - 1] in CYR_PRONOUNS | {"не"}:
            continue
        if any(m.last <= j and (m.last == j or m in cited) and plain_gap(m.end, tokens[j].start)
               for m in mentions):
            continue
        k = j + 1
        after: list[Mention] = []
        while k < len(tokens) and plain_gap(tokens[k - 1].end, tokens[k].start):
            if low[k] in CYR_PRONOUNS:
                after = []
                break
            if k in starts:
                after.append(starts[k])
                k = starts[k].last
                continue
            k += 1
        for m in after:
            first_after = m.first == j + 1
            venue = m.first > 0 and low[m.first - 1] in CYR_VENUE
            if m.source is not None and m.source.kind == "media" and (first_after or venue):
                cited.append(m)
        persons = [m for m in after if m.is_person and not (
            m.source is None and (not _cyr_unknown_ok(m, tokens, text) or _oblique(m, tokens)))
            and not (m.source is None and m.first > 0 and low[m.first - 1] in CYR_VENUE)]
        if persons:
            cited.append(persons[-1])
        elif after:
            inst = [m for m in after if m.source is not None and m.source.kind != "media"
                    and m.first in (j + 2, j + 3) and low[m.first - 1] in ("в", "во", "у")]
            cited.extend(inst[:1])
    # «...»: Зеленський про ... / «...», — Лавров
    for m in mentions:
        if (_QUOTE_BEFORE.search(text[:m.start]) and _ABOUT_AFTER.match(text[m.end:])
                and (m.source is not None or _cyr_unknown_ok(m, tokens, text))):
            cited.append(m)
    cited.extend(_cyr_tags(text, tokens, mentions))
    cited.extend(_cyr_role_tag(text, mentions, table))
    return _dedupe(cited)


_QUOTE_BEFORE = re.compile(r"[»\"”]\s*(?:[:,]\s*)?(?:[—–-]\s*)?$")
_ABOUT_AFTER = re.compile(r"(?:\s+(?:про|о|об)\s|\s*[:.]?\s*$)")


_CYR_TAIL = re.compile(r"\s[-–—]\s+(?P<tail>[^-–—:]{1,50}?)[\s\"'”»).!]*$")
_CYR_HEAD = re.compile(r"^\s*(?P<head>[^:«»\"\s][^:«»\"]{0,39}?)\s*:\s+\S")


# "... – мер", "... – МЗС країни": an unnamed office in a headline tag, named after the
# nearest city (place) or country mentioned before it; (pattern, anchor, English role)
_CYR_ROLE_TAILS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^(?:мер|мэр|міський голова|городской голова|глава города|голова міста)$"),
     "place", "Mayor"),
    (re.compile(r"^(?:глава|голова|начальник|керівник)\s+(?:райадміністрації|"
                r"райадминистрации|районної (?:військової |державної )?адміністрації|"
                r"районной администрации|рва)$"), "place", "District Administration head"),
    (re.compile(r"^(?:мзс|мид)\s+(?:країни|страны)$"), "country", "Foreign Ministry"),
    (re.compile(r"^(?:міноборони|минобороны)\s+(?:країни|страны)$"), "country",
     "Defense Ministry"),
    (re.compile(r"^президент\s+(?:країни|страны)$"), "country", "President"),
    (re.compile(r"^(?:прем['’]єр(?:-міністр)?|премьер(?:-министр)?)\s+(?:країни|страны)$"),
     "country", "Prime Minister"),
    (re.compile(r"^(?:уряд|правительство|влада|власти)\s+(?:країни|страны)$"), "country", ""),
)
_CYR_ROLE_TAIL = re.compile(r"\s[-–—]\s+(?P<tail>[^-–—:]{1,40}?)[\s\"'”»).!]*$")


def _cyr_role_tag(text: str, mentions: list[Mention], table: AliasTable) -> list[Mention]:
    tail = _CYR_ROLE_TAIL.search(text)
    if tail is None or text.rstrip("»\"” ").endswith("."):
        return []
    phrase = " ".join(tail.group("tail").split()).casefold()
    for pattern, anchor_kind, role in _CYR_ROLE_TAILS:
        if not pattern.match(phrase):
            continue
        anchors = [m.source for m in mentions if m.end <= tail.start() and m.source is not None
                   and (m.source.place if anchor_kind == "place"
                        else m.source.country and bool(m.source.adjective))]
        if not anchors:
            return []
        anchor = anchors[-1]
        if anchor_kind == "country" and not role:
            source = anchor
        else:
            name = (f"{anchor.name} {role}" if anchor_kind == "place"
                    else f"{anchor.adjective} {role}")
            source = table.canonical(name) or Source(name, "government",
                                                     ecosystem=anchor.ecosystem)
        start, end = tail.start("tail"), tail.end("tail")
        return [Mention(source, start, end, -1, -1, text[start:end])]
    return []


def _cyr_tags(text: str, tokens: list[Token], mentions: list[Mention]) -> list[Mention]:
    out = []
    tail = _CYR_TAIL.search(text)
    sentence = text.rstrip("»\"” ").endswith(".")  # a tag ends a headline, not a sentence
    if tail and not sentence and (
            tail.group("tail")[:1].isupper() or tail.group("tail").startswith("the ")):
        start, end = tail.start("tail"), tail.end("tail")
        inside = [m for m in mentions if m.start >= start and m.end <= end]
        words = [t for t in tokens if t.start >= start and t.end <= end]
        lead = 1 if words and words[0].text == "the" else 0
        if (inside and len(words) <= 5 and inside[0].start in (start, words[lead].start)
                and inside[-1].end == words[-1].end):
            m = inside[0]
            if m.source is not None and (len(inside) == 1 or m.end == words[-1].end):
                out.append(m)
            elif (m.source is None and m.text.casefold() not in VAGUE
                  and words[0].text.casefold() not in CYR_VAGUE_ROLES):
                # "– Академія оборони Данії": the whole tag is one (unknown) name
                first = m.first
                out.append(Mention(None, m.start, words[-1].end, first, first + len(words),
                                   text[m.start:words[-1].end]))
    head = _CYR_HEAD.match(text)
    if head:
        end = head.end("head")
        inside = [m for m in mentions if m.end <= end]
        words = [t for t in tokens if t.end <= end]
        about = bool(inside) and bool(re.match(r"\s*(?:про|о|об|[—–-])\s", text[inside[0].end:]))
        if inside and inside[0].start == head.start("head") and (about or len(words) - (
                inside[0].last - inside[0].first) <= 1):
            m = inside[0]
            rest = words[m.last:]
            if (about or all(not t.capitalised for t in rest)) and (
                    m.source is not None or (_cyr_unknown_ok(m, tokens, text)
                                             and m.last - m.first == 1)):
                out.append(m)
    return out


# -- Chinese -------------------------------------------------------------------------------
ZH_VERB = ("说", "称", "表示", "：", ":", "强调", "警告", "批评", "抨击", "否认", "认为", "指出",
           "呼吁", "公布", "谴责", "声称", "宣称", "报道", "透露", "证实", "确认", "敦促", "重申",
           "驳斥", "回应", "指责", "坚称", "消息", "通报", "披露", "提醒", "要求", "主张",
           "介绍", "威胁", "预计", "预测", "估计", "指控", "质疑", "斥责", "痛批",
           "反驳", "澄清", "明确", "提出", "担忧", "发表", "报告", "劝说", "劝告", "放话",
           "喊话", "发声", "直言", "坦言", "表态", "声明", "怒斥", "痛斥", "发布消息", "发布声明",
           "发布公告", "斥")
ZH_ROLES = {"总统": "President", "总理": "Prime Minister", "首相": "Prime Minister",
            "外长": "Foreign Ministry", "外交部": "Foreign Ministry", "防长": "Defense Ministry",
            "国防部": "Defense Ministry", "议会": "Parliament", "政府": ""}
ZH_FILLER = re.compile(r"(?:当地时间(?:\d+月)?(?:\d+日)?|日前|当天|近日|此前|再次|也|还|则|仍|已|"
                       r"正式|周[一二三四五六日]|今天|昨天|\d+日|方面|官方|正|私下|公开|首次|又|均|都|"
                       r"一再|多次|坚决|严厉|强烈)")
ZH_SPOKES = re.compile(
    r"(?:新闻)?发言人(?P<name>[\u4e00-\u9fff·]{2,4}?)(?=说|称|表示|：|指出|强调)")


def _zh(text: str, table: AliasTable) -> list[Mention]:
    mentions: list[Mention] = []
    pos = 0
    while pos < len(text):
        match = table.match_cjk(text, pos)
        if match is None:
            pos += 1
            continue
        mentions.append(Mention(match.source, match.start, match.end, -1, -1,
                                text[match.start:match.end]))
        pos = match.end
    cited: list[Mention] = []
    for i, m in enumerate(mentions):
        rest = text[m.end:]
        role = next((r for r in ZH_ROLES if rest.startswith(r)), None)
        if (role is not None and m.source is not None and m.source.country
                and m.source.adjective and not rest.startswith(role + "办公室")):
            # "匈牙利总理：" -> Hungarian Prime Minister; "英国政府称" -> United Kingdom
            name = ZH_ROLES[role]
            full = f"{m.source.adjective} {name}" if name else m.source.name
            known = table.canonical(full)
            role_source = known or replace(m.source, name=full, country=False, adjective="")
            m = Mention(role_source, m.start, m.end + len(role), -1, -1,
                        text[m.start:m.end + len(role)])
            mentions[i] = m
            rest = text[m.end:]
        single = len(m.text) == 1
        if rest.startswith("斥资"):
            continue  # "spends", not "rebukes"
        if single and rest.startswith(ZH_VERB):
            cited.append(m)
            continue
        if single:
            continue
        skip = 0
        while True:
            f = ZH_FILLER.match(rest[skip:])
            if not f or not f.group(0):
                break
            skip += f.end()
        if m.source is not None and m.source.kind == "organization":
            member = re.match(r"(?:官员|代表|负责人|高级官员|发言人)", rest[skip:])
            if member and rest[skip + member.end():].startswith(ZH_VERB):
                skip += member.end()  # "欧盟官员：" -> the European Union
        if rest[skip:].startswith(ZH_VERB):
            cited.append(m)
            continue
        spokes = ZH_SPOKES.match(rest[skip:])
        if spokes and spokes.group("name") not in {x.text for x in mentions}:
            name = spokes.group("name")
            s = m.end + skip + spokes.start("name")
            cited.append(Mention(None, s, s + len(name), -1, -1, name))
            continue
        before = text[max(0, m.start - 2):m.start]
        if before.endswith(("据", "援引", "引述")):
            cited.append(m)
    taken = [(m.start, m.end) for m in mentions]
    bare = [v.start() for v in re.finditer(r"说|称|表示|强调|指出|：", text)
            if v.start() > 0 and not any(a < v.start() <= b for a, b in taken)]
    for start, end, word in (_zh_person_names(text) if bare else []):
        if text[end:].startswith(ZH_VERB) and not any(a < end and start < b for a, b in taken):
            cited.append(Mention(None, start, end, -1, -1, word))
    return _dedupe(cited)


def _zh_person_names(text: str) -> list[tuple[int, int, str]]:
    """Person names found by jieba's part-of-speech tagger (`nr`), if jieba is installed."""
    try:
        import jieba
        import jieba.posseg as pseg
    except ImportError:  # optional: without jieba only names in the alias table are found
        return []
    jieba.setLogLevel(60)
    out, pos = [], 0
    for pair in pseg.cut(text):
        word, flag = pair.word, pair.flag
        if flag in ("nr", "nrt") and len(word) >= 2:
            out.append((pos, pos + len(word), word))
        pos += len(word)
    return out
