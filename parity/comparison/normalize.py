"""Make one environment's responses comparable with the other's.

Each environment is reached at its own base URL (`http://127.0.0.1:PORT`). Where a response
names that base URL (a redirect, a Link header, an absolute URL in a page or a JSON field,
also JSON-escaped or percent-encoded) it becomes `{base_url}`, and a bare `127.0.0.1:PORT`
becomes `{host}`, so both sides compare equal. Any other scheme or host stays as it is:
`http://app:8000/x`, or `https://...` from an environment served over http, is exactly the
proxy drift parity must report.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

BASE_URL = "{base_url}"
HOST = "{host}"
URL_HEADERS = frozenset({"location", "content-location", "link", "refresh"})

BodyKind = Literal["json", "text", "binary"]

_TEXT_MEDIA = frozenset({
    "application/json", "application/xml", "application/javascript", "application/ecmascript",
    "application/x-javascript", "application/x-www-form-urlencoded", "application/xhtml+xml",
    "application/problem+json", "application/manifest+json", "image/svg+xml",
})


class BaseUrlNormalizer:
    """Replaces one environment's own base URL and host in paths, headers and bodies."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        self.prefix = parts.path
        self._pattern: re.Pattern[str] | None = None
        if parts.netloc:
            full = [self.base_url, self.base_url.replace("/", "\\/"), quote(self.base_url, safe="")]
            hosts = [parts.netloc, quote(parts.netloc, safe="")]
            alternatives = "|".join(
                [f"(?P<u{i}>{re.escape(v)})" for i, v in enumerate(dict.fromkeys(full))]
                + [f"(?P<h{i}>{re.escape(v)})" for i, v in enumerate(dict.fromkeys(hosts))])
            self._pattern = re.compile(rf"(?<![\w.-])(?:{alternatives})(?!\w)", re.IGNORECASE)

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(
            lambda m: BASE_URL if (m.lastgroup or "").startswith("u") else HOST, text)

    def path(self, url: str) -> str:
        """The requested URL as the recording shows it: "/x?y" for this environment's own."""
        parts = urlsplit(url)
        own = f"{parts.scheme.lower()}://{parts.netloc.lower()}" == self.origin
        if own and (parts.path == self.prefix or parts.path.startswith(self.prefix + "/")
                    or not self.prefix):
            path = parts.path[len(self.prefix):] or "/"
            if parts.query:
                path += "?" + parts.query
            return self.text(path)
        return self.text(url)

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, self.text(value) if name.lower() in URL_HEADERS else value)
                for name, value in headers]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def charset(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"\'')
    return None


def is_json(content_type: str | None) -> bool:
    media = media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def is_textual(content_type: str | None) -> bool:
    media = media_type(content_type)
    return (media.startswith("text/") or media in _TEXT_MEDIA or media.endswith("+json")
            or media.endswith("+xml"))


def decode_body(content: bytes, content_type: str | None) -> tuple[Literal["text", "base64"], str]:
    """("text", str) for a textual body that decodes cleanly, else ("base64", str)."""
    if not content:
        return "text", ""
    declared = media_type(content_type)
    if is_textual(content_type) or (not declared and b"\0" not in content[:4096]):
        try:
            return "text", content.decode(charset(content_type) or "utf-8")
        except (UnicodeDecodeError, LookupError):
            pass
    return "base64", base64.b64encode(content).decode("ascii")


def body_kind(body_encoding: str, content_type: str | None) -> BodyKind:
    if body_encoding != "text":
        return "binary"
    return "json" if is_json(content_type) else "text"


def header_map(headers: Sequence[tuple[str, str]]) -> dict[str, tuple[str, list[str]]]:
    """lowercase name -> (the name as first seen, its values in order)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers:
        found.setdefault(name.lower(), (name, []))[1].append(value)
    return found


@dataclass
class Cookie:
    name: str
    value: str
    attributes: dict[str, str]
    """lowercase attribute name -> value ("" for flags such as HttpOnly)."""


def parse_cookie(header: str) -> Cookie:
    """One Set-Cookie header value."""
    first, *rest = header.split(";")
    name, _, value = first.partition("=")
    attributes: dict[str, str] = {}
    for part in rest:
        key, _, attr_value = part.partition("=")
        if key.strip():
            attributes[key.strip().lower()] = attr_value.strip()
    return Cookie(name.strip(), value.strip(), attributes)


def cookies_by_name(headers: Iterable[str]) -> dict[str, list[Cookie]]:
    found: dict[str, list[Cookie]] = {}
    for header in headers:
        cookie = parse_cookie(header)
        found.setdefault(cookie.name, []).append(cookie)
    return found
