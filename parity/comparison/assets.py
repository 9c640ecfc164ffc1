"""Asset URLs without their cache-busting part, under one URL prefix (STATIC_URL).

Production settings often store static files with ManifestStaticFilesStorage, which names
each collected file after its content (`css/main.css` is served as `css/main.309e4bcbd0d4.css`),
while the dev server links the plain name; versioned URLs (`core.css?v=81dc5f8d`) do the same
with a query. Both point at the same asset: compared without that part, a page that links it
is alike on both sides, and a test that fetches the hashed URL makes the same request.

Only URLs under the prefix change, and in a response for a file under the prefix (a
stylesheet, a script) also its relative references (`url(...)`, `@import`,
`sourceMappingURL`), which the storage rewrites the same way.
"""

from __future__ import annotations

import functools
import re

_HASH = re.compile(r"\.[0-9a-f]{12}(?=(?:\.[A-Za-z0-9]+)?$)")
"""ManifestStaticFilesStorage's `.<md5[:12]>` before the extension (Django's hashed_name)."""
_REFERENCE = re.compile(
    r"""(url\(\s*["']?|@import\s+["']|sourceMappingURL=)([^"')\s?#]+)""")
"""The references ManifestStaticFilesStorage rewrites inside CSS and JS files."""


@functools.lru_cache(maxsize=16)
def _under(prefix: str) -> re.Pattern[str]:
    # Not inside another path or a word: "/x/static/" and "cdn.example/static/" stay as they are.
    return re.compile(rf"(?<![\w.~%/-]){re.escape(prefix)}[^\s\"'<>()\\?#,]*"
                      r"(?:\?v=[0-9A-Za-z_-]+(?![\w&=%.-]))?")


def _plain(url: str) -> str:
    """The URL's path without the hash; `_under` only takes in a `?v=` query, which goes."""
    return _HASH.sub("", url.partition("?")[0])


def strip_cache_busting(text: str, prefix: str, *, inside: bool = False) -> str:
    """`text` with every asset URL under `prefix` named without its hash or `?v=` query;
    `inside`: the text is a file under the prefix, so its relative references change too."""
    if prefix in text:
        text = _under(prefix).sub(lambda m: _plain(m.group(0)), text)
    if inside:
        text = _REFERENCE.sub(lambda m: m.group(1) + _HASH.sub("", m.group(2)), text)
    return text
