"""Search result pages on a small real store: pages joined end to end give the whole
ranking (keyword hits without a vector last), the hits' JSON joined from parts kept per
store version is byte for byte what the API's encoder gives, and the API answers with it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from echolens.api import routes
from echolens.api.app import Dashboard
from echolens.api.search import (
    ItemFilter,
    ItemSearch,
    SearchQuery,
    SearchResult,
    api_json,
    scores_json,
)
from echolens.database import Database
from tests.api_stores import build_small_store

LATE = [  # ingested after the embedding: keyword hits without a vector
    {"id": "late-1", "source": "rt", "url": "https://www.rt.com/news/late-biolabs/",
     "title": "More on biolabs", "text": "Biolabs again, in a text not embedded yet.",
     "published_at": "2022-03-13T10:00:00Z"},
    {"id": "late-2", "source": "bbc", "url": "https://www.bbc.com/news/late-biolabs",
     "text": "Biolabs: the claim, once more, not embedded yet either.",
     "published_at": "2022-03-14T10:00:00Z"},
]


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    path = build_small_store(tmp_path_factory.mktemp("pages") / "small.duckdb")
    late = path.with_name("late.jsonl")
    late.write_text("".join(json.dumps(row) + "\n" for row in LATE), encoding="utf-8")
    with Database(path) as db:
        db.ingest([str(late)])
    board = Dashboard(Database(path, read_only=True))
    yield board
    board.database.close()


QUERIES = [("biolabs", "hybrid"), ("biolabs", "semantic"), ("grain deal Odesa", "hybrid"),
           ("Ukraine", "hybrid"), ("биолаборатории", "hybrid"), ("nothing like it", "hybrid")]


def _search(board: Dashboard, text: str, mode: str, limit: int, offset: int = 0,
            filters: ItemFilter | None = None) -> SearchResult:
    with board.cursor() as cur:
        return board.search.search(cur, SearchQuery(text, filters or ItemFilter(), mode,  # type: ignore[arg-type]
                                                     limit, offset))


@pytest.mark.parametrize(("text", "mode"), QUERIES)
def test_pages_join_into_the_whole_ranking(board: Dashboard, text: str, mode: str) -> None:
    whole = [(h.id, h.keyword, h.similarity) for h in _search(board, text, mode, 100).hits]
    paged: list[tuple[str, bool, float | None]] = []
    for offset in range(0, len(whole) + 3, 3):
        paged += [(h.id, h.keyword, h.similarity)
                  for h in _search(board, text, mode, 3, offset).hits]
    assert paged == whole
    if (text, mode) == ("biolabs", "hybrid"):  # the unembedded keyword hits come last
        assert [h[0] for h in whole[-2:]] == ["late-1", "late-2"]
        assert all(h[1] and h[2] is None for h in whole[-2:])
        assert all(h[2] is not None for h in whole[:-2])
    if mode == "semantic":
        assert not any(h[0].startswith("late-") for h in whole)


@pytest.mark.parametrize(("text", "mode"), QUERIES)
@pytest.mark.parametrize("offset", [0, 4])
def test_hits_json_is_what_the_api_encoder_gives(board: Dashboard, text: str, mode: str,
                                                 offset: int) -> None:
    result = _search(board, text, mode, 5, offset)
    assert result.hits_json == api_json([h.as_dict() for h in result.hits])
    for hit in result.hits:  # the parts of one hit, its query's scores between them
        head, tail = hit.json_parts()
        assert head + scores_json(hit.keyword, hit.similarity) + tail == api_json(
            hit.as_dict())


@pytest.mark.parametrize("filters", [ItemFilter(), ItemFilter(ecosystem="russia-state"),
                                     ItemFilter(lang="en", narrative="n-biolabs")])
def test_search_answer_bytes_are_the_generic_encoding(board: Dashboard, filters: ItemFilter
                                                      ) -> None:
    for text, mode in [*QUERIES, ("biolabs", "keyword"), ("", "hybrid")]:
        with board.cursor() as cur:
            fast = routes._search_body(board, cur, text, mode, filters, 7, 0)
            generic = api_json(routes._search_now(board, cur, text, mode, filters,
                                                           7, 0))
        assert fast == generic
        assert json.loads(fast)["q"] == text


def test_a_query_vector_is_queued_only_for_a_text_a_model_can_read(board: Dashboard) -> None:
    search = ItemSearch()
    assert search.query_vector("biolabs") is None  # models not loaded yet: the search embeds
    with board.cursor() as cur:
        search.warm_up(cur)
    future = search.query_vector("  US   biolabs ")
    assert future is not None
    again = search.query_vector("US biolabs")
    assert again is not None and future.result(10).tolist() == again.result(10).tolist()
    for text, mode in [("bio\x00labs", "hybrid"), ("bio\ud800labs", "hybrid"),
                       ("   ", "hybrid"), ("biolabs", "keyword"), ("x" * 501, "hybrid")]:
        assert search.query_vector(text, mode) is None
