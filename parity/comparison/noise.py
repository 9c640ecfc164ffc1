"""Noise: what may differ between the two environments without being a divergence.

A rule names one kind of volatile thing and why it is volatile; the report shows the reason
and how often each rule suppressed a real difference. Rule kinds:

    header        a response header, ignored entirely (target: lowercase name)
    header_value  a header's value, not its presence (target: "last-modified")
    header_default  a header value that means what the header's absence means
                  (target: "content-disposition:inline": `inline; filename=...` == absent)
    header_relative  a time header compared as an offset from the response's Date
                  (target: "expires": a never_cache page's Expires is "Date + 0 s")
    header_alias  media types that name the same type, compared as that one (target:
                  "content-type:text/javascript": application/javascript is text/javascript)
    header_policy a header whose difference is the frontend's policy: shown as a note
                  (`Verdict.policy`), never a divergence (target: "cache-control")
    header_token  one token of a comma-separated header (target: "vary:accept-encoding")
    cookie_value  the value of a Set-Cookie, not its name or attributes (target: name or "*")
    cookie_attr   one Set-Cookie attribute's value, not its presence (target: "expires")
    cookie_flag   one attribute of one cookie, its presence too (target: "sessionid:secure")
    json_path     a JSON path and everything under it ("$.results[*].id", "$..token")
    text_pattern  a regex (re.MULTILINE) masked in text bodies; with groups only the groups
    scheme        a JSON value that is exactly each side's own scheme (built-in only)
    asset_url     the cache-busting part of asset URLs under a prefix (target: STATIC_URL):
                  ManifestStaticFilesStorage's `.<12 hex>.` before the extension and a
                  `?v=<hash>` query, in bodies, URL headers and request paths (parity.comparison.assets)
    error_body    the body of a response that is an error (status >= 400) in both
                  environments, and the headers that describe it (ERROR_BODY_HEADERS); the
                  status codes and every other header are still compared (target: ">=400")

A rule with `paths` applies only to responses for requests under one of those URL path
prefixes (STATIC_URL, MEDIA_URL); without, to every response.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from parity.configuration import CompareConfig

RuleKind = Literal["header", "header_value", "header_default", "header_relative",
                   "header_alias", "header_policy", "header_token", "cookie_value", "cookie_attr", "cookie_flag",
                   "json_path", "text_pattern", "asset_url", "error_body", "scheme"]
HEADER_TREATMENTS: tuple[str, ...] = ("header_value", "header_default", "header_relative",
                                      "header_alias")
"""Kinds that change how a header's values compare, in the order they apply."""
RuleSource = Literal["built-in", "config", "test", "learned", "declared"]
KINDS: tuple[str, ...] = get_args(RuleKind)
SOURCES: tuple[str, ...] = get_args(RuleSource)

MASK = "{ignored}"

JsonSegment = str | int
"""A concrete step in a JSON document: an object key or a list index."""


@dataclass(frozen=True)
class IgnoreRule:
    kind: RuleKind
    target: str
    reason: str
    source: RuleSource = "built-in"
    paths: tuple[str, ...] = ()
    """URL path prefixes the rule is limited to (STATIC_URL, MEDIA_URL); empty: everywhere."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown ignore rule kind {self.kind!r}; use one of "
                             + ", ".join(KINDS))
        if self.source not in SOURCES:
            raise ValueError(f"unknown ignore rule source {self.source!r}; use one of "
                             + ", ".join(SOURCES))
        if self.kind.startswith("header") or self.kind in ("cookie_attr", "cookie_flag"):
            object.__setattr__(self, "target", self.target.strip().lower())
        object.__setattr__(self, "paths", tuple(self.paths))
        if self.kind == "json_path":
            parse_json_path(self.target)
        if self.kind == "text_pattern":
            try:
                compiled(self.target)
            except re.error as exc:
                raise ValueError(f"text pattern {self.target!r} is not a valid regular "
                                 f"expression ({exc})") from None

    def applies(self, path: str | None) -> bool:
        """Whether the rule covers a response to `path` ("/x?y"); None: path-free rules only."""
        if not self.paths:
            return True
        return path is not None and any(path.startswith(prefix) for prefix in self.paths)

    def describe(self) -> str:
        """"header Date"-style label for reports ("header etag on /static/, /media/")."""
        where = f" on {', '.join(self.paths)}" if self.paths else ""
        return f"{self.kind.replace('_', ' ')} {self.target}{where}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "reason": self.reason,
                "source": self.source, "paths": list(self.paths)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IgnoreRule:
        return cls(kind=cast(RuleKind, data["kind"]), target=str(data["target"]),
                   reason=str(data.get("reason", "")),
                   source=cast(RuleSource, data.get("source", "built-in")),
                   paths=tuple(str(p) for p in data.get("paths") or ()))


@dataclass
class NoiseRules:
    rules: list[IgnoreRule] = field(default_factory=list)

    def __iter__(self) -> Iterator[IgnoreRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def merge(self, *others: NoiseRules) -> NoiseRules:
        """These rules, then the others' rules; the first rule for a (kind, target, paths)
        wins."""
        seen: set[tuple[str, str, tuple[str, ...]]] = set()
        merged: list[IgnoreRule] = []
        for rule in (r for rules in (self, *others) for r in rules):
            if (rule.kind, rule.target, rule.paths) not in seen:
                seen.add((rule.kind, rule.target, rule.paths))
                merged.append(rule)
        return NoiseRules(merged)

    def of_kind(self, kind: RuleKind, path: str | None = None) -> list[IgnoreRule]:
        """The rules of one kind that apply to a response for `path` (None: path-free ones)."""
        return [rule for rule in self.rules if rule.kind == kind and rule.applies(path)]

    def header(self, name: str, path: str | None = None) -> IgnoreRule | None:
        name = name.lower()
        return next((r for r in self.rules if r.kind == "header" and r.target == name
                     and r.applies(path)), None)

    def header_treatments(self, name: str, path: str | None = None) -> list[IgnoreRule]:
        """The rules that change how this header's values compare (HEADER_TREATMENTS order)."""
        name = name.lower()
        found = [r for r in self.rules if r.kind in HEADER_TREATMENTS and r.applies(path)
                 and r.target.partition(":")[0] == name]
        return sorted(found, key=lambda r: HEADER_TREATMENTS.index(r.kind))

    def header_policy(self, name: str, path: str | None = None) -> IgnoreRule | None:
        name = name.lower()
        return next((r for r in self.rules if r.kind == "header_policy" and r.target == name
                     and r.applies(path)), None)

    def cookie_value(self, name: str) -> IgnoreRule | None:
        return next((r for r in self.rules if r.kind == "cookie_value"
                     and r.target in (name, "*")), None)

    def cookie_attr(self, attribute: str) -> IgnoreRule | None:
        attribute = attribute.lower()
        return next((r for r in self.rules if r.kind == "cookie_attr"
                     and r.target == attribute), None)

    def cookie_flag(self, cookie: str, attribute: str) -> IgnoreRule | None:
        wanted = {f"{cookie.lower()}:{attribute.lower()}", f"*:{attribute.lower()}"}
        return next((r for r in self.rules if r.kind == "cookie_flag" and r.target in wanted), None)

    def header_tokens(self, name: str, path: str | None = None) -> list[tuple[str, IgnoreRule]]:
        prefix = name.lower() + ":"
        return [(r.target[len(prefix):], r) for r in self.rules
                if r.kind == "header_token" and r.target.startswith(prefix) and r.applies(path)]

    def error_body(self) -> IgnoreRule | None:
        return next((r for r in self.rules if r.kind == "error_body"), None)

    def json_path(self, path: Sequence[JsonSegment]) -> IgnoreRule | None:
        return next((r for r in self.rules if r.kind == "json_path"
                     and json_path_matches(parse_json_path(r.target), path)), None)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"rules": [rule.to_dict() for rule in self.rules]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoiseRules:
        return cls([IgnoreRule.from_dict(item) for item in data.get("rules", [])])

    @classmethod
    def declared(cls, *, headers: Iterable[str] = (), json_paths: Iterable[str] = (),
                 text_patterns: Iterable[str] = (), cookies: Iterable[str] = (),
                 reason: str, source: RuleSource) -> NoiseRules:
        """Rules a user declared; raises ValueError naming a bad path or pattern."""
        for group in (headers, json_paths, text_patterns, cookies):
            if isinstance(group, str):
                raise ValueError(f"expected a list of strings, got the string {group!r}; "
                                 f"wrap it in brackets: [{group!r}]")
        rules = [IgnoreRule("header", h, reason, source) for h in headers]
        rules += [IgnoreRule("json_path", p, reason, source) for p in json_paths]
        rules += [IgnoreRule("text_pattern", t, reason, source) for t in text_patterns]
        rules += [IgnoreRule("cookie_value", c, reason, source) for c in cookies]
        return cls(rules)

    @classmethod
    def from_config(cls, compare: CompareConfig) -> NoiseRules:
        return cls.declared(headers=compare.ignore_headers, json_paths=compare.ignore_json_paths,
                            text_patterns=compare.ignore_text_patterns,
                            reason="declared in [tool.parity.compare]", source="config")


@functools.lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


def mask_text(text: str, pattern: str) -> tuple[str, list[str]]:
    """`text` with the pattern's matches (or their groups) masked, and what was masked."""
    regex = compiled(pattern)
    found: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if not regex.groups:
            found.append(match.group(0))
            return MASK
        start = match.start()
        whole = match.group(0)
        pieces: list[str] = []
        cursor = 0
        for index in range(1, regex.groups + 1):
            if match.start(index) < 0:
                continue
            found.append(match.group(index))
            pieces.append(whole[cursor:match.start(index) - start])
            pieces.append(MASK)
            cursor = match.end(index) - start
        pieces.append(whole[cursor:])
        return "".join(pieces)

    return regex.sub(replace, text), found


# --- JSON paths: "$", ".key", "['key']", "[3]", "[*]", ".*", "..key" (any depth), key globs.

_TOKEN = re.compile(r"""\.\.|\.([^.\[\]]+)|\[(\d+|\*)\]|\[(?:'([^']*)'|"([^"]*)")\]""")
DESCEND = ("..",)
"""Token for recursive descent: matches zero or more segments."""
WILDCARD = "*"

PathToken = str | int | tuple[str]


@functools.lru_cache(maxsize=512)
def parse_json_path(path: str) -> tuple[PathToken, ...]:
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$', e.g. '$.results[*].id'")
    tokens: list[PathToken] = []
    position = 1
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            raise ValueError(f"JSON path {path!r} is not understood at {path[position:]!r}; "
                             "use .key, ['key'], [0], [*] or ..key")
        if match.group(0) == "..":
            tokens.append(DESCEND)
            # "..key" continues with the key itself, without a dot of its own.
            rest = re.match(r"[^.\[\]]+", path[match.end():])
            if rest:
                tokens.append(rest.group(0))
                position = match.end() + rest.end()
                continue
        elif match.group(1) is not None:
            tokens.append(match.group(1))
        elif match.group(2) is not None:
            index = match.group(2)
            tokens.append(WILDCARD if index == "*" else int(index))
        else:
            tokens.append(match.group(3) if match.group(3) is not None else match.group(4))
        position = match.end()
    return tuple(tokens)


def _step_matches(token: PathToken, segment: JsonSegment) -> bool:
    if token == WILDCARD:
        return True
    if isinstance(token, int):
        return isinstance(segment, int) and segment == token
    if isinstance(token, str) and isinstance(segment, str):
        if any(c in token for c in "*?["):
            return fnmatch.fnmatchcase(segment.lower(), token.lower())
        return segment == token
    return False


def json_path_matches(pattern: Sequence[PathToken], path: Sequence[JsonSegment]) -> bool:
    """True when the pattern names `path` or one of its ancestors."""
    if not pattern:
        return True
    head, rest = pattern[0], pattern[1:]
    if head == DESCEND:
        return any(json_path_matches(rest, path[skip:]) for skip in range(len(path) + 1))
    return bool(path) and _step_matches(head, path[0]) and json_path_matches(rest, path[1:])


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_json_path(path: Sequence[JsonSegment | None]) -> str:
    """"$.results[0].name"; None stands for any index ("[*]")."""
    out = ["$"]
    for segment in path:
        if segment is None:
            out.append("[*]")
        elif isinstance(segment, int):
            out.append(f"[{segment}]")
        elif _IDENTIFIER.match(segment):
            out.append(f".{segment}")
        elif "'" not in segment:
            out.append(f"['{segment}']")
        else:
            out.append(f'["{segment}"]')
    return "".join(out)


_CSRF_INPUT = (r"""name=["']csrfmiddlewaretoken["'][^>]*?\bvalue=["']([^"']*)"""
               r"""|\bvalue=["']([^"']*)["'][^>]*?\bname=["']csrfmiddlewaretoken["']""")
_CSRF_SCRIPT = r"""(?i)csrf\w*["']?\s*[:=]\s*["']([^"'\s]{16,})["']"""
_CSRF_META = r"""(?i)<meta\s+name=["']csrf[\w-]*["']\s+content=["']([^"']*)["']"""

BUILTIN_NOISE = NoiseRules([
    IgnoreRule("header", "server", "runserver, gunicorn and nginx name themselves differently"),
    IgnoreRule("header", "date", "the time the response was sent"),
    IgnoreRule("header", "connection", "connection handling differs between runserver and nginx"),
    IgnoreRule("header", "keep-alive", "connection handling differs between runserver and nginx"),
    IgnoreRule("header", "content-length", "nginx may send the same body chunked instead of with "
               "a length; the body itself is compared"),
    IgnoreRule("header", "transfer-encoding", "nginx may send the same body chunked instead of "
               "with a length; the body itself is compared"),
    IgnoreRule("header", "content-encoding", "nginx gzips some responses; bodies are compared "
               "after decoding"),
    IgnoreRule("header_token", "vary:accept-encoding", "added by nginx's gzip; the other Vary "
               "tokens are compared"),
    IgnoreRule("cookie_value", "csrftoken", "Django makes a fresh random CSRF token; the cookie's "
               "name and attributes are compared"),
    IgnoreRule("cookie_value", "sessionid", "a fresh random session key; the cookie's name and "
               "attributes are compared"),
    IgnoreRule("cookie_attr", "expires", "an absolute date computed when the response was sent; "
               "Max-Age and the other attributes are compared"),
    IgnoreRule("text_pattern", _CSRF_INPUT, "Django's per-response CSRF token in forms"),
    IgnoreRule("text_pattern", _CSRF_META, "a per-response CSRF token in a <meta> tag"),
    IgnoreRule("text_pattern", _CSRF_SCRIPT, "a per-response CSRF token in a script"),
    IgnoreRule("json_path", "$..*csrf*", "a per-response CSRF token in JSON"),
    IgnoreRule("header_relative", "expires", "an absolute time the server computes as it answers "
               "(a never_cache page expires at the time of the response): compared as an offset "
               "from the response's Date"),
    IgnoreRule("header_relative", "last-modified", "the time a file or row was written during the "
               "run (an upload the test made), which each side did at its own moment: compared as "
               "an offset from the response's Date"),
])


ERROR_STATUS = 400
ERROR_BODY_HEADERS = frozenset({"content-type", "vary"})
"""What describes an error body: a debug page is plain HTML where the production page may be
rendered with the session (Vary: Cookie) or be JSON."""
DEBUG_ERROR_PAGES = IgnoreRule(
    "error_body", f">={ERROR_STATUS}",
    "DEBUG differs by declaration ([tool.parity.facts] expected): error page bodies differ; "
    "their status codes are still compared", "config")


def declared_noise(expected_facts: Iterable[str]) -> NoiseRules:
    """The noise that differences declared in `[tool.parity.facts] expected` imply.

    A declared `DEBUG` (or `settings:DEBUG`, or all `settings`) means one side shows the
    framework's debug error pages: their bodies differ by design, their status codes must not.
    """
    names = ("debug", "settings", "settings:debug")
    for pattern in expected_facts:
        normalized = re.sub(r"[-_.\s]+", "-", pattern).casefold()
        if any(fnmatch.fnmatchcase(name, normalized) for name in names):
            return NoiseRules([DEBUG_ERROR_PAGES])
    return NoiseRules()
