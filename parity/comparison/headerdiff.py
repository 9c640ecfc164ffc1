"""Compare two responses' headers and cookies under noise rules, counting each rule that hid
a difference.

Per header, in order: a `header` rule ignores it; Set-Cookie compares cookie by cookie (masked
values and attributes); the others compare their values, with what the rules in scope say:
list headers as sorted tokens (minus `header_token` ones), then `header_value` (presence
only), `header_default` (a value that means absence), `header_relative` (an offset from the
response's Date), `header_alias` (a media type by its standard name). What still differs is
a Difference, or a note on the frontend's policy where a `header_policy` rule covers it
(`HeaderComparer.policy`, never a divergence).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime

from parity.comparison.assets import strip_cache_busting
from parity.comparison.bodydiff import ABSENT
from parity.comparison.difference import Difference
from parity.comparison.noise import MASK, IgnoreRule, NoiseRules
from parity.comparison.normalize import URL_HEADERS, Cookie, cookies_by_name, header_map

LIST_HEADERS = frozenset({
    "vary", "allow", "cache-control", "access-control-allow-methods",
    "access-control-allow-headers", "access-control-expose-headers",
})
_COOKIE_ATTRIBUTES = {"path": "Path", "domain": "Domain", "expires": "expires",
                      "max-age": "Max-Age", "secure": "Secure", "httponly": "HttpOnly",
                      "samesite": "SameSite"}
PRESENT = "(present)"
ALIASES = {
    "text/javascript": frozenset({"application/javascript", "application/x-javascript",
                                  "application/ecmascript", "text/ecmascript",
                                  "text/x-javascript", "application/x-ecmascript"}),
}
"""Standard media type -> its obsolete aliases (RFC 9239 for JavaScript), which file servers'
type tables still hand out (Debian's nginx: application/javascript)."""
CLOCK_SKEW = 2
"""Seconds a relative time may be off: the app stamps Expires, the server in front stamps Date,
and a second may tick between the two."""


class HeaderComparer:
    def __init__(self, rules: NoiseRules, tally: Counter[IgnoreRule]) -> None:
        self.rules = rules
        self.tally = tally
        self.policy: list[Difference] = []
        """What a `header_policy` rule turned from a divergence into a note."""

    def compare(self, index: int, request: str, path: str, local: Sequence[tuple[str, str]],
                stack: Sequence[tuple[str, str]]) -> list[Difference]:
        a, b = header_map(local), header_map(stack)
        dates = (_date(a), _date(b))
        found: list[Difference] = []
        for name in dict.fromkeys([*a, *b]):
            display = (a.get(name) or b[name])[0]
            values_a = a[name][1] if name in a else []
            values_b = b[name][1] if name in b else []
            rule = self.rules.header(name, path)
            if rule is not None:
                if values_a != values_b:
                    self.tally[rule] += 1
                continue
            if name == "set-cookie":
                found += self.cookies(index, request, values_a, values_b)
                continue
            canon, shown = self._values(name, path, (values_a, values_b), dates)
            if canon[0] == canon[1]:
                continue
            difference = Difference(index, request, f"header:{display}", shown[0] or ABSENT,
                                    shown[1] or ABSENT)
            policy = self.rules.header_policy(name, path)
            if policy is not None:
                self.tally[policy] += 1
                self.policy.append(difference)
            else:
                found.append(difference)
        return found

    def _values(self, name: str, path: str, values: tuple[list[str], list[str]],
                dates: tuple[datetime | None, datetime | None]
                ) -> tuple[tuple[list[str], list[str]], tuple[str, str]]:
        """Both sides' values as compared, and as shown."""
        if name in URL_HEADERS:
            for rule in self.rules.of_kind("asset_url"):
                plain = tuple([strip_cache_busting(v, rule.target) for v in side] for side in values)
                if values[0] != values[1] and plain != values:
                    self.tally[rule] += 1
                values = (plain[0], plain[1])
        shown = (", ".join(values[0]), ", ".join(values[1]))
        tokens = self.rules.header_tokens(name, path)
        canon_a, canon_b = (_canonical(name, values[0], bool(tokens)),
                            _canonical(name, values[1], bool(tokens)))
        for token, token_rule in tokens:
            if (token in canon_a) != (token in canon_b):
                self.tally[token_rule] += 1
            canon_a = [t for t in canon_a if t != token]
            canon_b = [t for t in canon_b if t != token]
        for rule in self.rules.header_treatments(name, path):
            before = (canon_a, canon_b)
            if rule.kind == "header_value":
                canon_a, canon_b = [PRESENT] * bool(canon_a), [PRESENT] * bool(canon_b)
            elif rule.kind == "header_default":
                default = rule.target.partition(":")[2]
                canon_a, canon_b = _without(canon_a, default), _without(canon_b, default)
            elif rule.kind == "header_alias":
                standard = rule.target.partition(":")[2]
                canon_a, canon_b = _standard(canon_a, standard), _standard(canon_b, standard)
            else:
                relative = _relative(canon_a, canon_b, dates)
                if relative is not None:
                    canon_a, canon_b = relative
                    shown = (", ".join(canon_a), ", ".join(canon_b))
            if before[0] != before[1] and canon_a == canon_b:
                self.tally[rule] += 1
        return (canon_a, canon_b), shown

    def cookies(self, index: int, request: str, local: Sequence[str],
                stack: Sequence[str]) -> list[Difference]:
        by_name_a, by_name_b = cookies_by_name(local), cookies_by_name(stack)
        found: list[Difference] = []
        for name in dict.fromkeys([*by_name_a, *by_name_b]):
            cookies_a, cookies_b = by_name_a.get(name, []), by_name_b.get(name, [])
            for x, y in zip(cookies_a, cookies_b, strict=False):
                self._tally_cookie(x, y)
            shown_a = [self._render_cookie(c) for c in cookies_a]
            shown_b = [self._render_cookie(c) for c in cookies_b]
            if shown_a != shown_b:
                found.append(Difference(index, request, f"cookie:{name}",
                                        "\n".join(shown_a) or ABSENT,
                                        "\n".join(shown_b) or ABSENT))
        return found

    def _tally_cookie(self, a: Cookie, b: Cookie) -> None:
        rule = self.rules.cookie_value(a.name)
        if rule is not None and a.value != b.value:
            self.tally[rule] += 1
        for attribute in set(a.attributes) ^ set(b.attributes):
            flag_rule = self.rules.cookie_flag(a.name, attribute)
            if flag_rule is not None:
                self.tally[flag_rule] += 1
        for attribute in set(a.attributes) & set(b.attributes):
            attr_rule = self.rules.cookie_attr(attribute)
            if attr_rule is not None and a.attributes[attribute] != b.attributes[attribute]:
                self.tally[attr_rule] += 1

    def _render_cookie(self, cookie: Cookie) -> str:
        value = cookie.value
        if value and self.rules.cookie_value(cookie.name) is not None:
            value = MASK
        parts = [f"{cookie.name}={value}"]
        for key in sorted(cookie.attributes):
            if self.rules.cookie_flag(cookie.name, key) is not None:
                continue
            shown = _COOKIE_ATTRIBUTES.get(key, key)
            attr_value = cookie.attributes[key]
            if attr_value and self.rules.cookie_attr(key) is not None:
                attr_value = MASK
            parts.append(f"{shown}={attr_value}" if attr_value else shown)
        return "; ".join(parts)


def _canonical(name: str, values: list[str], tokenize: bool) -> list[str]:
    if name in LIST_HEADERS or tokenize:
        return sorted({t.strip().lower() for v in values for t in v.split(",") if t.strip()})
    return values


def _without(values: list[str], default: str) -> list[str]:
    """The values other than `default` (`inline; filename="x"` is `inline`)."""
    return [v for v in values if v.split(";", 1)[0].strip().lower() != default]


def _standard(values: list[str], standard: str) -> list[str]:
    """The values with an alias of `standard` as their media type named `standard`."""
    aliases = ALIASES.get(standard, frozenset())
    found = []
    for value in values:
        media, sep, parameters = value.partition(";")
        found.append(standard + sep + parameters if media.strip().lower() in aliases else value)
    return found


def _http_date(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _date(headers: dict[str, tuple[str, list[str]]]) -> datetime | None:
    values = headers.get("date", ("", []))[1]
    return _http_date(values[0]) if values else None


def _relative(a: list[str], b: list[str],
              dates: tuple[datetime | None, datetime | None]) -> tuple[list[str], list[str]] | None:
    """Both sides as "Date + N s", equal within CLOCK_SKEW; None when a side has no Date or a
    value that is not a date (`Expires: 0` stays as it is)."""
    offsets: list[list[int]] = []
    for values, date in zip((a, b), dates, strict=True):
        times = [_http_date(v) for v in values]
        if date is None or None in times:
            return None
        offsets.append([round((t - date).total_seconds()) for t in times if t is not None])
    mine, theirs = offsets
    if len(mine) == len(theirs) and all(abs(x - y) <= CLOCK_SKEW for x, y in zip(mine, theirs,
                                                                                  strict=True)):
        theirs = mine
    return [_offset(s) for s in mine], [_offset(s) for s in theirs]


def _offset(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    size = abs(seconds)
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if size and size % length == 0:
            count = size // length
            return f"Date {sign} {count} {unit}{'s' if count != 1 else ''}"
    return f"Date {sign} {size} s"
