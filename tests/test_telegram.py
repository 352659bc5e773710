"""Telegram Desktop channel export (result.json) connector."""

from __future__ import annotations

import json
from pathlib import Path

from echolens.ingest.telegram import read_telegram_export
from echolens.model import RawItem, Reject

EXPORT = Path(__file__).parent / "fixtures" / "telegram" / "result.json"


def _read(path: Path, **kwargs: str) -> list[RawItem | Reject]:
    return list(read_telegram_export(path, **kwargs))


def test_export_yields_items_and_rejects_in_order() -> None:
    records = _read(EXPORT)
    # message 1 is a service message: no record at all
    assert [(type(r).__name__, r.provenance.locator) for r in records] == [
        ("RawItem", "message 2"),
        ("RawItem", "message 3"),
        ("Reject", "message 4"),
        ("RawItem", "message 5"),
    ]


def test_plain_text_message_with_counters() -> None:
    item = _read(EXPORT)[0]
    assert isinstance(item, RawItem)
    assert item.text == "Ports reopened today after the storm."
    assert item.external_id == "1234567890/2"
    assert item.url == "https://t.me/echotest/2"
    assert item.source == "Echo Test Channel"
    assert item.author == "Echo Test Channel"
    # date_unixtime 1646730672 is exact UTC; "date" (10:11:12) was the exporter's local time
    assert item.published_at == "2022-03-08T09:11:12+00:00"
    assert item.views == 1520
    assert item.shares == 12
    assert item.likes == 37  # 30 + 5 + 2 across emoji and custom emoji
    assert item.comments is None
    assert item.provenance.connector == "telegram"
    assert item.provenance.location == str(EXPORT)
    json.dumps(item.payload)


def test_entity_list_text_is_joined_and_links_kept() -> None:
    item = _read(EXPORT)[1]
    assert isinstance(item, RawItem)
    assert item.text == "Порты снова открыты, подробности: https://example.org/ports и здесь"
    assert item.payload["links"] == ["https://example.org/ports", "https://example.org/more"]
    assert item.payload["forwarded_from"] == "Другой канал"
    assert item.payload["edited"] == "2022-03-08T11:05:00"
    assert item.comments == 7
    assert item.likes is None  # no reactions field: unknown, not zero
    assert item.views == 800


def test_photo_only_message_is_empty_text_reject() -> None:
    reject = _read(EXPORT)[2]
    assert isinstance(reject, Reject)
    assert reject.reason == "empty-text"
    assert reject.provenance.locator == "message 4"
    assert "photo" in reject.detail
    assert json.loads(reject.payload)["photo"].startswith("photos/")


def test_message_without_unixtime_uses_local_date_and_tz_hint() -> None:
    default = _read(EXPORT)[3]
    assert isinstance(default, RawItem)
    assert default.published_at == "2022-03-09T08:30:00"
    assert default.tz_hint == "UTC"
    assert default.date_format == "%Y-%m-%dT%H:%M:%S"
    hinted = _read(EXPORT, tz="Europe/Kyiv")[3]
    assert isinstance(hinted, RawItem)
    assert hinted.tz_hint == "Europe/Kyiv"
    assert hinted.published_at == "2022-03-09T08:30:00"


def test_source_and_username_overrides() -> None:
    item = _read(EXPORT, source="echo", username="@other")[0]
    assert isinstance(item, RawItem)
    assert item.source == "echo"
    assert item.url == "https://t.me/other/2"


def test_export_without_username_or_name(tmp_path: Path) -> None:
    data = json.loads(EXPORT.read_text(encoding="utf-8"))
    del data["username"]
    del data["name"]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    item = _read(path)[0]
    assert isinstance(item, RawItem)
    assert item.url is None
    assert item.source == "telegram:1234567890"
    assert item.external_id == "1234567890/2"


def test_invalid_json_is_one_bad_json_reject(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    text = EXPORT.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")  # truncated export
    records = _read(path)
    assert len(records) == 1
    reject = records[0]
    assert isinstance(reject, Reject)
    assert reject.reason == "bad-json"
    assert "line" in reject.detail and "truncated" in reject.detail
    assert "Machine-readable JSON" in reject.detail  # how to fix


def test_missing_messages_is_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"name": "x", "id": 1}), encoding="utf-8")
    (reject,) = _read(path)
    assert isinstance(reject, Reject)
    assert reject.reason == "bad-json"
    assert "'messages'" in reject.detail

    path.write_text(json.dumps({"chats": {"list": []}}), encoding="utf-8")
    (reject,) = _read(path)
    assert isinstance(reject, Reject)
    assert "full account export" in reject.detail


def test_malformed_message_entry_is_rejected_and_rest_read(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    messages = [
        "not a message",
        {"id": 9, "type": "message", "date_unixtime": "0", "text": "still read"},
    ]
    path.write_text(json.dumps({"name": "c", "id": 5, "messages": messages}), encoding="utf-8")
    bad, good = _read(path)
    assert isinstance(bad, Reject)
    assert bad.reason == "bad-message"
    assert bad.provenance.locator == "message index 0"
    assert isinstance(good, RawItem)
    assert good.text == "still read"
    assert good.published_at == "1970-01-01T00:00:00+00:00"
