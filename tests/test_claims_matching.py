"""Lexical tokens, BM25, the hybrid index, storage links and match events."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from echolens.claims.dense import DirCache, NoCache, embed_cached
from echolens.claims.lexical import BM25, script_lang, shared_terms, tokenize, translit_key
from echolens.claims.lexicon import concepts_in
from echolens.claims.matcher import ClaimIndex, MatcherConfig, clean_query, reference_sample
from echolens.claims.records import FactCheck
from echolens.claims.service import (
    ClaimMatcher,
    EmptyFactCheckStore,
    Query,
    match_events,
    match_items,
)
from echolens.claims.storage import FactCheckStore
from echolens.store.duckdb_store import DuckDBStore


def fake_encode(kind: str, texts: Sequence[str]) -> np.ndarray:
    """Hashed bag of words: same words -> similar vectors; no cross-lingual ability."""
    out = np.zeros((len(texts), 384), np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 384] += 1.0
        out[i, 0] += 0.1
    return out / np.linalg.norm(out, axis=1, keepdims=True)


FACTS = [
    FactCheck("euvs:biolabs", "US runs secret biological laboratories in Ukraine", "en"),
    FactCheck("euvs:nazis", "Ukraine is ruled by neo-Nazis", "en"),
    FactCheck("euvs:poland", "Poland plans to annex western Ukraine", "en"),
    FactCheck("stopfake:1", "Зеленський втік з Києва до Польщі", "uk"),
    FactCheck("euvs:mh17", "MH17 was shot down by a Ukrainian fighter jet", "en"),
    FactCheck("euvs:vaccine", "Western vaccines are unsafe and kill people", "en"),
]


def test_tokens_per_script_and_anchors() -> None:
    assert script_lang("美国生物实验室") == "zh" and script_lang("Київ") == "uk"
    assert script_lang("Зеленский") == "ru" and script_lang("Zelensky") == "en"
    zh = tokenize("美国在乌克兰设立生物实验室")
    assert "c:biolab" in zh and "实验室" in zh
    en = tokenize("US biological laboratories in Ukraine")
    assert "c:biolab" in en and "laboratori" in en and "the" not in en
    assert translit_key("Зеленский") == translit_key("Zelensky") == translit_key("Зеленський")
    assert "n:2022" in tokenize("in 2022")
    assert concepts_in("the usual suspects") == []  # "us" only as a whole word
    assert "dirty_bomb" in concepts_in("Киев готовит грязную бомбу")


def test_bm25_ranks_the_matching_document_first() -> None:
    docs = [tokenize(f.text) for f in FACTS]
    scores = BM25(docs).scores([tokenize("secret laboratories of the US in Ukraine")])
    assert int(np.argmax(scores[0])) == 0
    assert BM25(docs).scores([]).shape == (0, len(FACTS))


def blind(n: int) -> np.ndarray:
    """The same vector for every text: the dense side carries no information."""
    return np.full((n, 384), 1 / np.sqrt(384), np.float32)


def test_cross_lingual_anchor_finds_english_case_with_a_blind_dense_side() -> None:
    index = ClaimIndex(FACTS, blind(len(FACTS)))
    query = "美国在乌克兰设立生物实验室"
    found = index.match([query], blind(1), top_k=3, explain=True)[0]
    assert found[0].factcheck_id == "euvs:biolabs"
    assert "biolab" in found[0].shared_terms
    assert found[0].closest_sentence.startswith("US runs")
    assert 0.0 <= found[0].probability <= 1.0
    assert [m.rank for m in found] == [1, 2, 3]
    assert found[0].score >= found[1].score >= found[2].score


def test_russian_query_meets_ukrainian_debunk_by_transliterated_name() -> None:
    index = ClaimIndex(FACTS, blind(len(FACTS)))
    query = "Зеленский сбежал из Киева в Польшу"
    found = index.match([query], blind(1), top_k=1)[0]
    assert found[0].factcheck_id == "stopfake:1"


def test_shared_terms_are_readable_words() -> None:
    terms = shared_terms("secret biolabs of the Pentagon", "Pentagon runs secret labs")
    assert "pentagon" in terms and "secret" in terms


def test_embed_cached_never_embeds_a_text_twice(tmp_path: object) -> None:
    calls: list[int] = []

    def counting(kind: str, texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        return fake_encode(kind, texts)

    cache = DirCache(str(tmp_path))
    first = embed_cached(["a b", "c d", "a b"], "passage", cache, counting)
    again = embed_cached(["c d", "a b"], "passage", DirCache(str(tmp_path)), counting)
    assert calls == [2]
    assert np.allclose(first[1], again[0])
    assert embed_cached([], "query", NoCache(), counting).shape == (0, 384)


@pytest.fixture
def store() -> DuckDBStore:
    return DuckDBStore(":memory:")


def test_duplicates_across_sources_are_linked_not_repeated(store: DuckDBStore) -> None:
    facts = FactCheckStore(store)
    kalkun = FactCheck("euvsk:0", "Long summary of the case.", "en",
                       title="Explosions in Vinnitsa were organized by Ukrainian soldiers")
    report = facts.add([kalkun])
    assert (report.new, report.linked) == (1, 0)
    cknabs = FactCheck("euvs:vinnitsa", "Explosions in Vinnitsa were organized by "
                       "Ukrainian soldiers", "en", url="https://euvsdisinfo.eu/report/v/")
    truncated = FactCheck("euvs:vinn2", "Explosions in Vinnitsa were organized by Ukra…", "en")
    report = facts.add([cknabs, truncated, cknabs])
    assert (report.new, report.linked, report.duplicate) == (0, 2, 1)
    assert facts.count() == 1 and facts.count(include_duplicates=True) == 3
    assert facts.linked("euvsk:0") == ["euvs:vinn2", "euvs:vinnitsa"]
    again = facts.add([cknabs])
    assert again.duplicate == 1 and facts.count(include_duplicates=True) == 3


def test_a_long_batch_is_scored_in_blocks_with_the_answers_of_one_query_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import echolens.claims.matcher as matcher

    monkeypatch.setattr(matcher, "MATCH_CHUNK", 4)  # 10 queries: blocks of 4, 4 and 2
    index = ClaimIndex(FACTS, fake_encode("passage", [f.match_text() for f in FACTS]),
                       query_reference=fake_encode("query", ["reference"])[0])
    texts = [f"{claim} ({k})" for k, claim in enumerate(
        ["Poland wants to annex western Ukraine", "secret US biolabs in Ukraine",
         "Zelensky fled Kyiv for Poland", "neo-Nazis rule Ukraine", "MH17 jet"] * 2)]
    langs: list[str | None] = ["en", None, "en", "uk", None] * 2
    together = index.match(texts, fake_encode("query", texts), top_k=3, langs=langs)
    for text, lang, found in zip(texts, langs, together, strict=True):
        alone = index.match([text], fake_encode("query", [text]), top_k=3, langs=[lang])[0]
        assert [m.factcheck_id for m in found] == [m.factcheck_id for m in alone]
        assert [m.probability for m in found] == pytest.approx(
            [m.probability for m in alone], abs=1e-3)


def test_fact_check_terms_are_cached_per_text_and_tokenizer_version(
        store: DuckDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import echolens.claims.storage as storage

    facts = FactCheckStore(store)
    facts.add(FACTS)
    stored = facts.factchecks()
    expected = [tokenize(f.match_text()) for f in stored]
    calls: list[str] = []

    def counting_tokenize(text: str) -> list[str]:
        calls.append(text)
        return tokenize(text)

    monkeypatch.setattr(storage, "tokenize", counting_tokenize)
    assert facts.terms(stored) == expected and len(calls) == len(stored)
    calls.clear()
    assert facts.terms(stored) == expected and calls == []  # read back, none tokenized
    # the index built from the store uses them: the same ranking as tokenizing in place
    matcher = ClaimMatcher.from_store(store, fake_encode)
    assert calls == [] and matcher.index.tokens == expected
    # another tokenizer (its source or its stemmer changed) does not read them
    monkeypatch.setattr(storage, "tokenizer_version", lambda: "another")
    assert facts.terms(stored, write=False) == expected and len(calls) == len(stored)
    assert store.con.execute("SELECT count(*) FROM factcheck_terms").fetchall() == [
        (len(stored),)]
    with pytest.raises(ValueError, match="one list of terms"):
        ClaimIndex(stored, blind(len(stored)), terms=expected[:-1])
    # a store whose schema predates the table (a read-only server does not migrate it)
    store.con.execute("DROP TABLE factcheck_terms")
    assert facts.terms(stored) == expected


def test_matching_from_the_store_caches_vectors_and_stores_events(store: DuckDBStore) -> None:
    facts = FactCheckStore(store)
    with pytest.raises(EmptyFactCheckStore):
        ClaimMatcher.from_store(store, fake_encode)
    facts.add(FACTS)
    matcher = ClaimMatcher.from_store(store, fake_encode)
    assert store.count_embeddings("multilingual-e5-small-q4:passage") == len(FACTS)
    # the hubness reference sample is cached apart from the items' `query:` vectors
    assert store.count_embeddings("multilingual-e5-small-q4:query@factchecks") == len(FACTS)
    assert store.count_embeddings("multilingual-e5-small-q4:query") == 0
    assert matcher.index.query_reference is not None
    found = matcher.match([Query("q1", "Poland wants to annex western Ukraine")], top_k=2)[0]
    assert found[0].factcheck_id == "euvs:poland"
    events = facts.save_matches("item", "item-1", found, method="hybrid", threshold=0.0)
    assert [e.factcheck_id for e in events] == [m.factcheck_id for m in found]
    assert facts.save_matches("item", "item-1", found, method="hybrid", threshold=0.0) == []
    stored = facts.matches("item", "item-1")
    assert stored[0]["factcheck_id"] == "euvs:poland" and stored[0]["rank"] == 1


def test_over_long_query_is_truncated_with_a_warning(store: DuckDBStore) -> None:
    FactCheckStore(store).add(FACTS)
    matcher = ClaimMatcher.from_store(store, fake_encode)
    with pytest.warns(UserWarning, match="truncated"):
        found = matcher.match([Query("long", "Poland annex Ukraine " * 500)], top_k=1)
    assert found[0][0].factcheck_id == "euvs:poland"


@pytest.mark.slow
def test_real_model_cross_lingual_biolabs() -> None:
    from echolens.claims.dense import E5Encoder

    encode = E5Encoder()
    index = ClaimIndex(FACTS, encode("passage", [f.match_text() for f in FACTS]))
    queries = ["美国在乌克兰的生物实验室", "Пентагон финансирует биолаборатории на Украине"]
    found = index.match(queries, encode("query", queries), top_k=1)
    assert [f[0].factcheck_id for f in found] == ["euvs:biolabs", "euvs:biolabs"]


def every_match_an_event(index: ClaimIndex) -> ClaimIndex:
    """The index with both language pairs' event thresholds at 0."""
    return index.with_config(replace(index.config, threshold_same=0.0, threshold_cross=0.0))


def test_items_are_matched_and_new_matches_are_events(
        tmp_path: Path) -> None:
    import echolens
    from echolens.ingest.files import record_to_raw
    from echolens.model import Provenance

    with echolens.open(tmp_path / "i.duckdb") as db:
        FactCheckStore(db.store).add(FACTS)
        item = {"id": "i1", "source": "tass", "text": "Poland plans to annex western Ukraine",
                "published_at": "2022-05-01T00:00:00Z", "lang": "en"}
        db.ingest_records([record_to_raw(item, Provenance("test", "mem", "1"))])
        row = db.store.con.execute("SELECT id FROM items").fetchone()
        assert row is not None
        matcher = ClaimMatcher.from_store(db.store, fake_encode)
        matcher.index = every_match_an_event(matcher.index)
        events = match_items(db.store, matcher, top_k=2)
        assert [(e[0], e[1].factcheck_id) for e in events][0] == (row[0], "euvs:poland")
        assert len(events) == 2
        stored = FactCheckStore(db.store).matches("item", row[0])
        assert [m["factcheck_id"] for m in stored][0] == "euvs:poland"
        assert match_items(db.store, matcher, top_k=2) == []  # nothing new the second time


def test_hubness_prior_demotes_a_fact_check_close_to_every_query() -> None:
    rng = np.random.default_rng(7)
    common = rng.normal(size=384).astype(np.float32)
    common /= np.linalg.norm(common)
    target = rng.normal(size=384).astype(np.float32)
    target /= np.linalg.norm(target)
    others = rng.normal(size=(4, 384)).astype(np.float32)
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    hub = common + 0.05 * others[0]
    query = 0.75 * common + 0.6 * target
    vectors = np.stack([target, hub / np.linalg.norm(hub), *others[1:3]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    facts = [FactCheck("target", "alpha", "en"), FactCheck("hub", "beta", "en"),
             FactCheck("o1", "gamma", "en"), FactCheck("o2", "delta", "en")]
    qvec = (query / np.linalg.norm(query))[None, :].astype(np.float32)
    config = MatcherConfig(w_lexical=0.0, hub_weight=1.0, center=False)
    plain = ClaimIndex(facts, vectors, config)
    assert plain.match(["omega"], qvec, top_k=1)[0][0].factcheck_id == "hub"
    corrected = ClaimIndex(facts, vectors, config, query_reference=common)
    found = corrected.match(["omega"], qvec, top_k=4)[0]
    assert found[0].factcheck_id == "target"
    hub_match = next(m for m in found if m.factcheck_id == "hub")
    assert hub_match.dense == pytest.approx(float(qvec[0] @ vectors[1]), abs=1e-3)  # cosine
    assert plain.with_reference(common).match(["omega"], qvec, top_k=1)[0][0].factcheck_id \
        == "target"


def test_reference_sample_is_stable_as_the_pool_grows() -> None:
    small = reference_sample(FACTS, n=3)
    grown = reference_sample([*FACTS, FactCheck("new:1", "Something else entirely", "en")], n=3)
    assert len(small) == 3 and set(small) <= {f.match_text() for f in FACTS}
    assert len(set(small) & set(grown)) >= 2


def test_events_keep_the_time_a_match_first_crossed_the_threshold(store: DuckDBStore) -> None:
    facts = FactCheckStore(store)
    facts.add(FACTS)
    matcher = ClaimMatcher.from_store(store, fake_encode)
    found = matcher.match([Query("q", "Poland wants to annex western Ukraine")], top_k=2)[0]
    first = facts.save_matches("item", "i1", found, method="m", threshold=0.0)
    assert len(first) == 2
    events = match_events(store)
    assert {e["factcheck_id"] for e in events} == {m.factcheck_id for m in found}
    cut = max(e["matched_at"] for e in events)
    assert facts.save_matches("item", "i1", found, method="m", threshold=0.0) == []
    assert match_events(store, since=cut) == []  # re-matching is not a new event
    facts.save_matches("item", "i2", found[:1], method="m", threshold=0.0)
    later = match_events(store, since=cut)
    assert [(e["subject_id"], e["factcheck_id"]) for e in later] == [("i2", "euvs:poland")]


def test_narratives_are_matched_and_rematched_when_they_change(
        tmp_path: Path) -> None:
    import echolens
    from echolens.claims import service
    from echolens.ingest.files import record_to_raw
    from echolens.model import Provenance

    with echolens.open(tmp_path / "n.duckdb") as db:
        FactCheckStore(db.store).add(FACTS)
        texts = ["Poland plans to annex western Ukraine", "Warsaw wants to annex Lviv region"]
        db.ingest_records([record_to_raw(
            {"id": f"i{k}", "source": "tass", "text": t, "lang": "en",
             "published_at": "2022-05-01T00:00:00Z"}, Provenance("test", "mem", str(k)))
            for k, t in enumerate(texts)])
        con = db.store.con
        items = [r[0] for r in con.execute("SELECT id FROM items ORDER BY id").fetchall()]
        con.execute("INSERT INTO narratives VALUES ('n1', 'm', 'active', NULL, 'Poland annex',"
                    " '{}', ?, 2, NULL, NULL, now(), now())", [f'{{"en": "{items[0]}"}}'])
        con.executemany("INSERT INTO narrative_members VALUES ('m', ?, 'n1', ?, 'joined', NULL,"
                        " NULL, now())", [(item, k) for k, item in enumerate(items)])
        assert service.narratives_to_match(db.store) == ["n1"]
        matcher = ClaimMatcher.from_store(db.store, fake_encode)
        matcher.index = every_match_an_event(matcher.index)
        events = service.match_narratives(db.store, matcher, top_k=2)
        assert [(e[0], e[1].factcheck_id) for e in events][0] == ("n1", "euvs:poland")
        shown = service.narrative_claim_matches(db.store, "n1")
        assert shown[0]["factcheck_id"] == "euvs:poland" and shown[0]["shared_terms"]
        assert service.narratives_to_match(db.store) == []
        assert service.match_narratives(db.store, matcher) == []
        con.execute("UPDATE narratives SET updated_at = now() + INTERVAL 1 MINUTE")
        assert service.narratives_to_match(db.store) == ["n1"]

    from typer.testing import CliRunner

    from echolens.cli import app

    db_path = str(tmp_path / "n.duckdb")
    shown = CliRunner().invoke(app, ["narratives", "show", "n1", "--db", db_path])
    assert shown.exit_code == 0, shown.output
    assert "matching the narrative as a whole" in shown.stdout
    assert "Poland plans to annex western Ukraine" in shown.stdout


def test_camel_case_hashtags_are_split_into_words() -> None:
    terms = tokenize("#DefundTheCBC now, says #AustralianFires")
    assert {"defund", "cbc", "australian", "fire"} <= set(terms)
    assert "defundthecbc" not in terms


def test_twitter_handles_are_split_into_names() -> None:
    terms = tokenize("Thanks @realDonaldTrump and @jules_su for nothing")
    assert {"donald", "trump", "jule", "su"} <= set(terms)
    assert "realdonaldtrump" not in terms
    # the lexicon sees the name too (a handle alone used to carry no concept)
    assert "c:trump" in terms and "c:trump" not in tokenize("@realdonaldtrump")


def test_centred_dense_space_demotes_the_common_direction() -> None:
    rng = np.random.default_rng(11)
    common = rng.normal(size=384).astype(np.float32)
    common /= np.linalg.norm(common)
    topics = rng.normal(size=(6, 384)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    # every passage shares the common direction; the short "hub" one is almost only that
    vectors = np.stack([common * 2.0 + topics[i] for i in range(5)]
                       + [common * 2.0 + 0.1 * topics[5]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    facts = [FactCheck(f"f{i}", f"text {i}", "en") for i in range(5)] + [
        FactCheck("hub", "Virus hoaxes", "en")]
    query = common * 2.0 + 0.45 * topics[2]
    qvec = (query / np.linalg.norm(query))[None, :].astype(np.float32)
    raw = ClaimIndex(facts, vectors, MatcherConfig(w_lexical=0.0, hub_weight=0.0, center=False),
                     query_reference=common)
    assert raw.match(["q"], qvec, top_k=1)[0][0].factcheck_id == "hub"
    centred = raw.with_config(MatcherConfig(w_lexical=0.0, hub_weight=0.0, center=True))
    found = centred.match(["q"], qvec, top_k=6)[0]
    assert found[0].factcheck_id == "f2"
    assert found[0].dense == pytest.approx(float(qvec[0] @ vectors[2]), abs=1e-3)  # raw cosine
    # without a reference vector there is nothing to centre the queries on: raw cosines
    assert ClaimIndex(facts, vectors, MatcherConfig(w_lexical=0.0, hub_weight=0.0)).match(
        ["q"], qvec, top_k=1)[0][0].factcheck_id == "hub"


def test_clean_query_drops_links_and_tweet_bylines() -> None:
    tweet = ("Hurricane Dorian washed up bricks of cocaine pic.twitter.com/AbC123 "
             "https://t.co/xyz — NowThis (@nowthisnews) September 4, 2019")
    assert clean_query(tweet) == "Hurricane Dorian washed up bricks of cocaine — NowThis"
    assert clean_query("Пентагон www.example.com финансирует") == "Пентагон финансирует"
    assert clean_query("https://t.co/only") == "https://t.co/only"  # never emptied
