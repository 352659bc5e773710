"""Where alerts go: a webhook (JSON POST signed with HMAC-SHA256 of the body under a shared
secret, in the `X-Echolens-Signature: sha256=<hex>` header), e-mail over SMTP, or the log.

A receiver checks a webhook with `verify_signature(secret, body, header)`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx

from echolens.errors import EcholensError, UsageError

SIGNATURE_HEADER = "X-Echolens-Signature"
EVENT_HEADER = "X-Echolens-Event"
KINDS = ("webhook", "email", "log")

alert_log = logging.getLogger("echolens.alerts")


@dataclass(frozen=True)
class Message:
    """What a delivery sends: a subject, plain text, optional HTML, and a JSON payload."""

    subject: str
    text: str
    payload: dict[str, Any]
    html: str | None = None
    event: str = "alert"


@dataclass(frozen=True)
class Sent:
    delivery: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Delivery:
    name: str
    kind: str  # webhook | email | log
    params: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_mapping(raw: dict[str, Any], index: int, where: str) -> Delivery:
        kind = str(raw.get("type", ""))
        if kind not in KINDS:
            raise UsageError(f"{where}: delivery {index + 1} has type {kind!r}",
                             f"use one of {', '.join(KINDS)}")
        params = {k: v for k, v in raw.items() if k not in ("type", "name")}
        if kind == "webhook" and not isinstance(params.get("url"), str):
            raise UsageError(f"{where}: webhook delivery {index + 1} has no url",
                             "add url: https://...")
        if kind == "webhook" and not (params.get("secret") or params.get("secret_env")):
            raise UsageError(f"{where}: webhook delivery {index + 1} has no secret",
                             "add secret_env: NAME_OF_AN_ENVIRONMENT_VARIABLE (or secret:)")
        if kind == "email" and not (params.get("to") and params.get("from")):
            raise UsageError(f"{where}: email delivery {index + 1} needs `from` and `to`",
                             "add from: me@example.org and to: [you@example.org]")
        return Delivery(str(raw.get("name") or f"{kind}-{index + 1}"), kind, params)

    def send(self, message: Message) -> Sent:
        try:
            if self.kind == "webhook":
                return self._webhook(message)
            if self.kind == "email":
                return self._email(message)
        except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
            return Sent(self.name, False, f"{type(exc).__name__}: {exc}")
        except EcholensError as exc:
            return Sent(self.name, False, str(exc))
        alert_log.warning("%s: %s", message.subject, message.text)
        return Sent(self.name, True, "logged")

    def _webhook(self, message: Message) -> Sent:
        body = json.dumps(message.payload, ensure_ascii=False, sort_keys=True,
                          default=str).encode("utf-8")
        secret = _secret(self.params, self.name)
        headers = {"Content-Type": "application/json", EVENT_HEADER: message.event,
                   SIGNATURE_HEADER: sign(secret, body)}
        response = httpx.post(str(self.params["url"]), content=body, headers=headers,
                              timeout=float(self.params.get("timeout", 10.0)))
        ok = 200 <= response.status_code < 300
        return Sent(self.name, ok, f"HTTP {response.status_code}")

    def _email(self, message: Message) -> Sent:
        p = self.params
        to = p["to"] if isinstance(p["to"], list) else [p["to"]]
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = str(p["from"])
        mail["To"] = ", ".join(str(t) for t in to)
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        host = str(p.get("host", "localhost"))
        port = int(p.get("port", 25))
        with smtplib.SMTP(host, port, timeout=float(p.get("timeout", 10.0))) as smtp:
            if p.get("starttls"):
                smtp.starttls()
            if p.get("username"):
                password = os.environ.get(str(p.get("password_env", "")), "")
                smtp.login(str(p["username"]), password)
            refused = smtp.send_message(mail)
        return Sent(self.name, not refused, f"sent to {len(to) - len(refused)} of {len(to)}")


def sign(secret: str, body: bytes) -> str:
    """The signature header value of a webhook body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body` under `secret` (constant time)."""
    return bool(header) and hmac.compare_digest(sign(secret, body), str(header))


def _secret(params: dict[str, Any], name: str) -> str:
    if params.get("secret_env"):
        value = os.environ.get(str(params["secret_env"]))
        if not value:
            raise UsageError(f"delivery {name}: ${params['secret_env']} is not set",
                             f"export {params['secret_env']}=<the shared secret>")
        return value
    return str(params["secret"])
