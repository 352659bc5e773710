"""A small, bounded HTTP GET helper over httpx, shared by the web connectors.

`fetch` streams the body so that an oversized response is cut off early, follows at most
five redirects, supports conditional GET (ETag / Last-Modified) and turns every failure
into a `FetchError` with a short, stable `reason` code:

- ``too-large``: the body (declared Content-Length or streamed size) exceeds `max_bytes`;
- ``timeout``: connect/read timed out, or the whole transfer took longer than `timeout`;
- ``http-error``: the server answered 4xx or 5xx (`status` is set);
- ``connection-error``: DNS, refused connection, reset, TLS or protocol failure;
- ``too-many-redirects``: more than five redirects;
- ``bad-url``: the URL is malformed or not http(s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

DEFAULT_USER_AGENT = "echolens/0.1 (+https://github.com/echolens)"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchResult:
    """A completed GET. On 304 `not_modified` is True and `body` is empty."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    etag: str | None
    last_modified: str | None
    not_modified: bool


class FetchError(Exception):
    """A fetch that failed; `reason` is a stable short code, `detail` is for humans."""

    def __init__(
        self, reason: str, detail: str, *, url: str = "", status: int | None = None
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.url = url
        self.status = status


def new_client(*, timeout: float = 20.0, user_agent: str = DEFAULT_USER_AGENT) -> httpx.Client:
    """An httpx client configured like `fetch`'s own; reuse it across many fetches.

    Creating a client costs ~0.1 s (TLS context), so pollers reading many feeds should make
    one, pass it as `client=` and close it when done.
    """
    return httpx.Client(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": user_agent},
    )


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 20.0,
    max_bytes: int = 10_000_000,
    user_agent: str = DEFAULT_USER_AGENT,
    client: httpx.Client | None = None,
) -> FetchResult:
    """GET `url` and return the whole body, or raise `FetchError`.

    `timeout` bounds each network operation and also the whole transfer (a server that
    trickles bytes forever is cut off). `etag` / `last_modified` are the validators from a
    previous response; when given they are sent as If-None-Match / If-Modified-Since and a
    304 answer yields `not_modified=True` with the old validators kept unless the server
    sent new ones. `client` (see `new_client`) is used as is, including its redirect limit;
    without one a client is made and closed for this call.
    """
    headers = {"User-Agent": user_agent, "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        if client is None:
            with new_client(timeout=timeout, user_agent=user_agent) as own:
                return _get(own, url, headers, etag, last_modified, timeout, max_bytes)
        return _get(client, url, headers, etag, last_modified, timeout, max_bytes)
    except FetchError:
        raise
    except httpx.TimeoutException as exc:
        raise FetchError(
            "timeout", f"{url} timed out after {timeout:g}s ({type(exc).__name__})", url=url
        ) from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError(
            "too-many-redirects", f"{url} redirected more than {MAX_REDIRECTS} times", url=url
        ) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise FetchError("bad-url", f"{url!r} is not a valid http(s) URL: {exc}", url=url) from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise FetchError(
            "connection-error", f"{url}: {type(exc).__name__}: {exc}".rstrip(": "), url=url
        ) from exc


def _get(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    etag: str | None,
    last_modified: str | None,
    timeout: float,
    max_bytes: int,
) -> FetchResult:
    deadline = time.monotonic() + timeout
    with client.stream(
        "GET", url, headers=headers, timeout=httpx.Timeout(timeout), follow_redirects=True
    ) as response:
        final_url = str(response.url)
        status = response.status_code
        resp_headers = {k.lower(): v for k, v in response.headers.items()}
        new_etag = response.headers.get("etag") or None
        new_modified = response.headers.get("last-modified") or None
        if status == 304:
            return FetchResult(
                url=url,
                final_url=final_url,
                status=status,
                headers=resp_headers,
                body=b"",
                etag=new_etag or etag,
                last_modified=new_modified or last_modified,
                not_modified=True,
            )
        if status >= 400:
            phrase = response.reason_phrase or ""
            raise FetchError(
                "http-error",
                f"HTTP {status} {phrase}".rstrip() + f" for {final_url}",
                url=url,
                status=status,
            )
        declared = _content_length(response.headers.get("content-length"))
        if declared is not None and declared > max_bytes:
            raise FetchError(
                "too-large",
                f"{final_url} declares {declared} bytes (Content-Length), "
                f"over the {max_bytes}-byte limit",
                url=url,
                status=status,
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(
                    "too-large",
                    f"{final_url} sent more than {max_bytes} bytes, the limit",
                    url=url,
                    status=status,
                )
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise FetchError(
                    "timeout",
                    f"{final_url} took longer than {timeout:g}s to download",
                    url=url,
                    status=status,
                )
        return FetchResult(
            url=url,
            final_url=final_url,
            status=status,
            headers=resp_headers,
            body=b"".join(chunks),
            etag=new_etag,
            last_modified=new_modified,
            not_modified=False,
        )


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
