"""Canonical URLs for deduplication and the domain of a URL for source resolution.

`canonical_url` maps the many spellings of one article URL to one string:

- scheme and host lower case, `http` upgraded to `https` (the same article is served on both;
  the item keeps its original `url` for display);
- host in ASCII (IDNA/punycode, as browsers serialize it), trailing dot, user info, default
  port and a leading `www.`, `m.`, `mobile.` or `amp.` removed;
- fragment dropped; tracking parameters (`utm_*`, `fbclid`, `gclid`, `yclid`, `spm`, `from`,
  `share*`, `_ga`, ...) dropped; the remaining query parameters sorted;
- percent-escapes normalized (upper-case hex, unreserved characters decoded, non-ASCII
  characters encoded) so a Cyrillic path and its escaped form compare equal;
- an AMP suffix (`/amp`, `.amp`, `?amp=1`, `outputType=amp`) and a trailing slash dropped,
  except on the root path.

Anything that is not an http(s) URL with a plausible host gives None.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "canonical_url", "domain_of", "is_tracking_param"]


def _words(text: str) -> list[str]:
    return text.split()


# Exact names (compared lower-case) of parameters that identify a click or share, not a page.
TRACKING_PARAMS: frozenset[str] = frozenset(
    _words(
        """fbclid gclid gclsrc dclid gbraid wbraid msclkid yclid ysclid twclid ttclid li_fat_id
    mc_cid mc_eid igshid igsh ref ref_src ref_url referer referrer spm spm_id_from scm from
    share shared share_source share_medium share_from share_token share_id sharesource
    sharer_shareid sharer_sharetime isappinstalled scene chksm clicktime enterid wxshare_count
    _ga _gl _hsenc _hsmi _openstat mkt_tok cmpid ncid ocid sr_share smid smtyp at_medium
    at_campaign at_custom1 at_custom2 at_custom3 at_custom4 xtor wt.mc_id wt_mc_id
    __twitter_impression amp outputtype rss feature via s_cid icid intcmp"""
    )
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmsr", "oly_", "vero_")

_STRIP_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{2,63}$"
)
_IPV4_RE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_SCHEMELESS_RE = re.compile(r"^(?:www\.)?[^\s/:?#@]+\.[^\s/:?#@]{2,}(?::\d+)?(?:[/?#]|$)")
_PERCENT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "%:@!$'()*,;/?-._~"
_AMP_PATH_RE = re.compile(r"(?:/amp/?|\.amp)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_param(name: str) -> bool:
    """True for query parameters that only track a click or share (`utm_source`, `fbclid`...)."""
    key = name.lower()
    return key in TRACKING_PARAMS or key.startswith(_TRACKING_PREFIXES)


def _normalize_escapes(part: str, safe: str) -> str:
    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return quote(_PERCENT_RE.sub(repl, part), safe=safe)


def _ascii_host(host: str) -> str | None:
    host = host.strip().rstrip(".").lower()
    if not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if _IPV4_RE.match(host) or _HOST_RE.match(host):
        return host
    return None


def _bare_host(host: str) -> str:
    for prefix in _STRIP_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            return host[len(prefix) :]
    return host


def canonical_url(url: str | None) -> str | None:
    """The canonical form of an http(s) URL, or None if `url` is not one."""
    if not url:
        return None
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    if "://" not in url:
        if url.startswith("//"):
            url = "https:" + url
        elif _SCHEMELESS_RE.match(url):
            url = "https://" + url
        else:
            return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or parts.hostname is None:
        return None
    host = _ascii_host(parts.hostname)
    if host is None:
        return None
    host = _bare_host(host)
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"

    path = _normalize_escapes(parts.path or "/", _PATH_SAFE)
    path = re.sub(r"/{2,}", "/", path)
    path = _AMP_PATH_RE.sub("", path) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"

    params = [
        (_normalize_escapes(k, _QUERY_SAFE), _normalize_escapes(v, _QUERY_SAFE))
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k and not is_tracking_param(k)
    ]
    query = "&".join(f"{k}={v}" if v else k for k, v in sorted(params))
    return urlunsplit(("https", netloc, path, query, ""))


def domain_of(url: str | None) -> str | None:
    """The host of `url` in lower case without `www.` (or `m.`, `mobile.`, `amp.`).

    Subdomains are kept (`world.people.com.cn`): callers that want the registrable domain walk
    up the labels themselves. Returns None when `url` is not an http(s) URL or a bare host.
    """
    canonical = canonical_url(url)
    if canonical is None:
        return None
    host = urlsplit(canonical).hostname
    return host or None
