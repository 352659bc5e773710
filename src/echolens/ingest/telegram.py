"""Telegram Desktop chat/channel exports (``result.json``) as `RawItem` records.

In Telegram Desktop: open the channel, menu > Export chat history, choose "Machine-readable
JSON". The export is one ``result.json``::

    {"name": ..., "type": "public_channel", "id": 1234567890,
     "messages": [{"id": 1, "type": "message", "date": "2022-03-08T10:11:12",
                   "date_unixtime": "1646730672", "from": ..., "text": ...}, ...]}

Dates: ``date`` is written in the local time zone of the computer that made the export, with
no offset. ``date_unixtime`` (present in exports since 2021) is exact and is preferred; it is
emitted as an ISO string in UTC. When only ``date`` exists the string is passed through with
``tz_hint`` set to the `tz` argument (an IANA name such as ``"Europe/Moscow"``), or "UTC"
when the caller does not know the exporter's time zone.

The whole file is loaded with `json` (exports of big channels can take a few hundred MB of
memory); records are yielded lazily after that.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from echolens.model import Provenance, RawItem, Reject

CONNECTOR = "telegram"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"  # the "date" field of Telegram Desktop exports


def read_telegram_export(
    path: str | Path,
    *,
    source: str | None = None,
    tz: str | None = None,
    username: str | None = None,
) -> Iterator[RawItem | Reject]:
    """Yield one `RawItem` per text message of a Telegram Desktop ``result.json`` export.

    Service messages (joins, pins, title changes) yield nothing. Messages without text
    (photo, sticker or poll only) yield a ``empty-text`` Reject. An unreadable file yields a
    single ``bad-json`` (or ``not-found``) Reject. `source` defaults to the channel name, else
    ``telegram:<id>``; `username` (the public @name, without "@") overrides the export's, and
    is needed for ``https://t.me/<username>/<id>`` links when the export has none.
    """
    location = str(path)
    top = _load(Path(path), location)
    if isinstance(top, Reject):
        yield top
        return
    messages = top["messages"]
    channel_id = top.get("id")
    channel_name = top.get("name") if isinstance(top.get("name"), str) else None
    handle = (username or _str_or_none(top.get("username")) or "").lstrip("@") or None
    default_source = (
        source or channel_name or (f"telegram:{channel_id}" if channel_id is not None else None)
    )
    id_prefix = str(channel_id) if channel_id is not None else (channel_name or "unknown")
    tz_hint = tz or "UTC"

    for index, msg in enumerate(messages):
        if not isinstance(msg, dict) or "id" not in msg:
            yield Reject(
                Provenance(CONNECTOR, location, f"message index {index}"),
                "bad-message",
                f"{location}: messages[{index}] is not a message object with an 'id'",
                json.dumps(msg, ensure_ascii=False, default=str)[:2000],
            )
            continue
        if msg.get("type", "message") != "message":
            continue  # service messages: joins, pins, renames... not items
        msg_id = msg["id"]
        prov = Provenance(CONNECTOR, location, f"message {msg_id}")
        text, links = _flatten_text(msg.get("text"))
        if not text.strip() and msg.get("text_entities"):
            text, links = _flatten_text(msg.get("text_entities"))
        text = text.strip()
        if not text:
            media = msg.get("media_type") or ("photo" if "photo" in msg else None)
            what = f" ({media} only)" if media else ""
            yield Reject(
                prov,
                "empty-text",
                f"message {msg_id} has no text{what}; media without a caption is not analysed",
                json.dumps(msg, ensure_ascii=False, default=str),
            )
            continue
        published_at, date_format = _date(msg)
        payload: dict[str, Any] = {
            "channel_id": channel_id,
            "channel_name": channel_name,
            "id": msg_id,
            "type": msg.get("type", "message"),
            "date": msg.get("date"),
            "date_unixtime": msg.get("date_unixtime"),
            "edited": msg.get("edited"),
            "edited_unixtime": msg.get("edited_unixtime"),
            "from": msg.get("from"),
            "from_id": msg.get("from_id"),
            "author": msg.get("author"),
            "forwarded_from": msg.get("forwarded_from"),
            "reply_to_message_id": msg.get("reply_to_message_id"),
            "links": links,
            "media_type": msg.get("media_type"),
            "photo": msg.get("photo"),
            "file": msg.get("file"),
            "views": msg.get("views"),
            "forwards": msg.get("forwards"),
            "reactions": msg.get("reactions"),
        }
        author = _str_or_none(msg.get("author")) or _str_or_none(msg.get("from"))
        yield RawItem(
            provenance=prov,
            payload=json.loads(json.dumps(payload, ensure_ascii=False, default=str)),
            source=default_source,
            text=text,
            url=f"https://t.me/{handle}/{msg_id}" if handle else None,
            published_at=published_at,
            external_id=f"{id_prefix}/{msg_id}",
            author=author,
            views=_int(msg.get("views")),
            likes=_reaction_total(msg.get("reactions")),
            shares=_int(msg.get("forwards")),
            comments=_replies(msg.get("replies")),
            tz_hint=tz_hint,
            date_format=date_format,
        )


def _load(path: Path, location: str) -> dict[str, Any] | Reject:
    prov = Provenance(CONNECTOR, location)
    fix = "export the channel from Telegram Desktop as 'Machine-readable JSON' and pass result.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Reject(prov, "not-found", f"{location}: no such file; {fix}", "")
    except OSError as exc:
        return Reject(prov, "read-error", f"{location}: {exc.strerror or exc}", "")
    try:
        top = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return Reject(prov, "bad-json", f"{location}: not UTF-8 text (byte {exc.start}); {fix}", "")
    except json.JSONDecodeError as exc:
        start = max(exc.pos - 80, 0)
        return Reject(
            prov,
            "bad-json",
            f"{location}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
            f"the file may be truncated; {fix}",
            exc.doc[start : exc.pos + 80],
        )
    if not isinstance(top, dict) or not isinstance(top.get("messages"), list):
        if isinstance(top, dict) and "chats" in top:
            why = "this is a full account export (it has 'chats'), not one channel's export"
        else:
            why = "no top-level 'messages' list"
        head = json.dumps(top, ensure_ascii=False, default=str)[:300]
        return Reject(prov, "bad-json", f"{location}: {why}; {fix}", head)
    return top


def _flatten_text(value: Any) -> tuple[str, list[str]]:
    """Join a message's ``text`` (a string, or a list of strings and entity objects)."""
    if isinstance(value, str):
        return value, []
    if not isinstance(value, list):
        return "", []
    parts: list[str] = []
    links: list[str] = []
    for part in value:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            piece = part.get("text")
            if isinstance(piece, str):
                parts.append(piece)
            kind = part.get("type")
            if kind == "text_link" and isinstance(part.get("href"), str):
                links.append(part["href"])
            elif kind == "link" and isinstance(piece, str):
                links.append(piece)
    return "".join(parts), links


def _date(msg: dict[str, Any]) -> tuple[str | None, str | None]:
    stamp = _int(msg.get("date_unixtime"))
    if stamp is not None:
        return datetime.fromtimestamp(stamp, tz=UTC).isoformat(), None
    date = msg.get("date")
    if isinstance(date, str) and date:
        return date, DATE_FORMAT  # exporter's local time; tz_hint says which zone
    return None, None


def _reaction_total(reactions: Any) -> int | None:
    if not isinstance(reactions, list):
        return None
    return sum(count for r in reactions if isinstance(r, dict) and (count := _int(r.get("count"))))


def _replies(value: Any) -> int | None:
    if isinstance(value, dict):
        return _int(value.get("replies", value.get("count")))
    return _int(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
