"""Which layer of the stack a divergence comes from, and the evidence for it.

    frontend    the app server, asked directly, answers like [local]: nginx changed the answer
                (evidence: the nginx directive that is the likely cause, where it is a known one)
    app image   the app server's own answer already differs: code, dependencies, settings or
                environment of the image (evidence: the differing facts)
    database    as "app image", but the schema after the release step differs
    unknown     no direct observation: the request was not replayed (and why)

A stack without a frontend (the tests talk to the app service itself: uwsgi or gunicorn serving
HTTP, WhiteNoise the static files) has no frontend layer: its answer is the app image's own,
so a divergence is the app image's or the database's, and nothing is replayed.

The first differing exchange decides: later ones are usually its consequences. A test whose
outcome differs while every response both sides got is alike (beyond noise) saw the
difference through its database or the app container, never through the frontend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parity.comparison.compare import Difference, NoiseRules, Verdict
from parity.comparison.normalize import header_map
from parity.comparison.recording import Exchange, Recording
from parity.comparison.replay import Replay, pair_differences, replays_of
from parity.facts.gather import APP_IMAGE, DATABASE
from parity.facts.rules import SERVERS, TOOLING

FRONTEND, UNKNOWN = "frontend", "unknown"
LAYERS = (FRONTEND, APP_IMAGE, DATABASE, UNKNOWN)
APP_OR_DATABASE = "app image or database"
"""Shown in a failing [stack] test's message while the facts (the schema) are not known yet."""
MAX_EVIDENCE = 10
NGINX_PROXY_BUFFER = 4096
"""nginx's default proxy_buffer_size is one memory page: 4k (8k on some platforms)."""
_SUSPECT_FACTS = ("settings", "env names", "packages", "user", "python", "libpq", "libssl",
                  "timezone", "locale")
_URL = re.compile(r"\b(https?)://([^/\s\"'<>]+)")
_WORD = re.compile(r"[A-Za-z][\w.-]{2,}")
_TOOLS = "|".join(map(re.escape, sorted(TOOLING | SERVERS)))
_INFORMATIONAL = re.compile(
    rf"^package (?:{_TOOLS}):|not imported by the app|not read by the settings|"
    r"^locale: [A-Z_]+ local|^user: local|same version, other files")
"""Detail lines of the `info` kind inside a failing fact: never a suspect."""
_COMMON = frozenset({"local", "stack", "setting", "settings", "package", "env", "only", "the",
                     "and", "not", "set", "missing", "installed", "read", "by", "true", "false",
                     "none", "null", "absent"})


@dataclass
class Attribution:
    layer: str
    evidence: list[str] = field(default_factory=list)


def attribute(verdict: Verdict, local: Recording, stack: Recording, noise: NoiseRules, *,
              facts: Sequence[Mapping[str, Any]] | None = None,
              declared: Mapping[str, Any] | None = None,
              static_url: str | None = None, media_url: str | None = None,
              frontend: bool = True) -> Attribution:
    """The layer of a failing verdict. `facts` None: not gathered yet (a live verdict).
    `static_url`, `media_url`: the prefixes the frontend may serve from files itself.
    `frontend` False: the stack has none (entry_service is the app service)."""
    exchange_level = [d for d in verdict.differences if d.exchange is not None]
    if not exchange_level:
        return _behind_the_app(_no_http_difference(verdict), verdict, facts, declared)
    index = min(d.exchange for d in exchange_level if d.exchange is not None)
    first = [d for d in exchange_level if d.exchange == index]
    label = f"#{index + 1} {first[0].request}"
    if any(d.field == "request" for d in first):
        why = (f"{label}: the test sent another request in the stack ({first[0].stack}) after "
               "alike responses: what it read came from the database or the app container")
        return _behind_the_app([why], verdict, facts, declared)
    if not frontend:
        why = (f"{label}: the stack has no frontend layer (the tests talk to the app service "
               "itself): its answer is the app image's own")
        return _behind_the_app([why], verdict, facts, declared)
    replay = replays_of(stack).get(index)
    if replay is None or replay.exchange is None:
        reason = replay.reason if replay is not None else "no direct observation was recorded"
        return Attribution(UNKNOWN, [f"{label}: not replayed against the app server: {reason}"])
    if index >= len(local.exchanges) or index >= len(stack.exchanges):
        return Attribution(UNKNOWN, [f"{label}: one side has no such exchange"])
    mine, theirs, direct = local.exchanges[index], stack.exchanges[index], replay.exchange
    # The app server answers as if served at the stack's address (the frontend told it so).
    found = pair_differences(mine, direct, noise, (local.ignores, stack.ignores),
                             (local.base_url, stack.base_url))
    if not found:
        changed = (_status(theirs) if _status(theirs) != _status(mine) else
                   "its " + ", ".join(dict.fromkeys(d.field for d in first
                                                    if d.field != "request body")) + " differs")
        agrees = (f"{label}: the app server, asked directly, answers like [local] "
                  f"({_status(direct)}); through the frontend: {changed}")
        return Attribution(FRONTEND, [agrees, *https_causes(stack, theirs),
                                      *frontend_causes(mine, theirs, direct, replay, first)])
    served = [(prefix, kind) for prefix, kind in ((static_url, "static"), (media_url, "media"))
              if prefix and mine.path.startswith(prefix)]
    passed_on = not pair_differences(direct, theirs, noise, (stack.ignores, stack.ignores),
                                     (stack.base_url, stack.base_url))
    if served and direct.status == 404 and not passed_on:
        prefix, kind = served[0]
        return Attribution(FRONTEND, [
            f"{label}: a {kind} file, which nginx serves itself ({prefix}); the app server does "
            f"not serve it (status 404 directly), [local] answers {_status(mine)}",
            file_cause(kind, mine, theirs, first)])
    shown = found[0] if found[0].field != "request body" or len(found) == 1 else found[1]
    said = [f"{label}: the app server's own answer already differs from [local]: "
            f"{shown.field} {_clip(shown.local)} → {_clip(shown.stack)}", *https_causes(stack, theirs)]
    if served and passed_on:
        said.append(f"{served[0][1]} files: the app serves this file itself (whitenoise) and "
                    "the frontend passes its answer on: "
                    + ("the image lacks it (collectstatic at build, STATIC_ROOT)"
                       if served[0][1] == "static" and direct.status == 404 else
                       "compare the app image's copy of the file"))
    underscored = [name for name in replay.request_headers if "_" in name]
    if underscored:
        said.append(f"the request sent {', '.join(underscored)}: gunicorn (>= 22) drops header "
                    "names with underscores (`--header-map`), and nginx does too unless "
                    "`underscores_in_headers on;`")
    attribution = _behind_the_app(said, verdict, facts, declared)
    if passed_on:
        return attribution
    attribution.evidence.insert(len(said), "the frontend changes this answer further (the "
                                           "stack's answer differs from the app server's too)")
    return attribution


REDIRECT_LOOP = 3
"""Redirects of one request to itself that make a loop (requests gives up after 30)."""


def https_causes(stack: Recording, exchange: Exchange) -> list[str]:
    """What a stack behind TLS gets wrong on the first day: a redirect loop (the app does
    not see the request came over TLS), a POST refused by the CSRF origin check."""
    causes = []
    loop = _redirect_loop(stack.exchanges)
    if loop:
        causes.append(f"redirect loop: {loop} redirects of {exchange.request} to itself: the app "
                      "redirects to https a request that came over https, because it does not "
                      "see the TLS (SECURE_SSL_REDIRECT is on): trust the frontend's "
                      "X-Forwarded-Proto with SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', "
                      "'https'), and make the frontend send it")
    if exchange.status == 403 and "CSRF verification failed" in exchange.body:
        causes.append("CSRF_TRUSTED_ORIGINS: the stack refused the request with 403 (CSRF "
                      "verification failed): its Origin is not the site the app believes it "
                      "serves behind the frontend; add the https origin to CSRF_TRUSTED_ORIGINS, "
                      "or let the frontend pass the Host the client used (`proxy_set_header "
                      "Host $http_host;`)")
    return causes


def _redirect_loop(exchanges: Sequence[Exchange]) -> int:
    """How many consecutive redirects sent a request back to itself (0: no loop)."""
    longest = run = 0
    for exchange in exchanges:
        locations = header_map(exchange.headers).get("location", ("", []))[1]
        to_itself = 300 <= (exchange.status or 0) < 400 and any(
            location in (exchange.path, "{base_url}" + exchange.path) for location in locations)
        run = run + 1 if to_itself else 0
        longest = max(longest, run)
    return longest if longest >= REDIRECT_LOOP else 0


def frontend_causes(local: Exchange, stack: Exchange, direct: Exchange, replay: Replay,
                    differences: Sequence[Difference]) -> list[str]:
    """The nginx directives that likely explain a frontend divergence (known ones only)."""
    causes: list[str] = []
    if stack.status == 413 and local.status != 413:
        causes.append(f"client_max_body_size: nginx refused the {_size(replay.request_body_size)} "
                      "request body with 413 (its default limit is 1m); the app accepts it")
    underscored = [name for name in replay.request_headers if "_" in name]
    if underscored:
        causes.append(f"underscores_in_headers: the request sent {', '.join(underscored)}; nginx "
                      "drops header names with underscores unless `underscores_in_headers on;`")
    header_bytes = sum(len(n) + len(v) + 4 for n, v in direct.headers)
    if stack.status == 502 and local.status != 502 and header_bytes > NGINX_PROXY_BUFFER:
        causes.append(f"proxy_buffer_size: the app's response headers are {header_bytes} bytes, "
                      "more than nginx's default proxy buffer (4k): nginx answers 502 "
                      "\"upstream sent too big header\"")
    if _gzipped(stack) and not _gzipped(local):
        causes.append("gzip: nginx compressed this response (`gzip on;`, gzip_types), which also "
                      "weakens a strong ETag and drops Content-Length")
    causes += _url_causes(differences)
    if _path_rewritten(local, stack):
        causes.append("proxy_pass URI rewriting or trailing slash: nginx passed the app another "
                      "path (a URI part in `proxy_pass http://app/...;`, or a `location /x/` "
                      "block that redirects /x); check the trailing slashes")
    if not causes:
        causes.append("no known nginx directive matched: compare the frontend's configuration "
                      "with what the app expects")
    return causes


def file_cause(kind: str, local: Exchange, stack: Exchange,
               differences: Sequence[Difference]) -> str:
    """What differs about a file the frontend serves itself, and where to look."""
    where = f"{kind} files: "
    if stack.status == 404 and local.status != 404:
        if kind == "media":
            return (where + "the frontend lacks this file: the directory its `location` serves "
                    "(alias/root) is not the one the app stores media in (MEDIA_ROOT)")
        return (where + "the frontend image lacks this file: collectstatic not run at build, "
                "or the `location` alias/root points elsewhere")
    if stack.status != local.status:
        return (where + f"nginx answers {_status(stack)} for this file where [local] answers "
                f"{_status(local)}: check the `location` block and the file's permissions in "
                "the frontend image")
    fields = [d for d in differences if d.field not in ("request body", "status")]
    said = "; ".join(f"{d.field} {_clip(d.local, 40)} → {_clip(d.stack, 40)}" for d in fields[:3])
    hints = []
    if any(d.field.lower() == "header:content-type" for d in fields):
        hints.append("nginx's mime types (`include mime.types;`, `types {}`) name this file's "
                     "type differently from Django's")
    if any(d.field == "body" or d.field.startswith("body:") for d in fields):
        hints.append("the frontend's copy of the file differs from the app's: collect the "
                     f"{kind} files again when the image is built")
    return (where + f"nginx serves this file ({_status(stack)}, like [local]), but its "
            f"answer differs: {said or 'see the differences'}" + "".join(f"; {h}" for h in hints))


def _url_causes(differences: Sequence[Difference]) -> list[str]:
    causes: list[str] = []
    for difference in differences:
        for scheme, host in _URL.findall(difference.stack):
            if host == "{host}" and scheme == "https":
                text = ("missing X-Forwarded-Proto: the app built https URLs behind nginx "
                        "(`proxy_set_header X-Forwarded-Proto $scheme;` with "
                        "SECURE_PROXY_SSL_HEADER)")
            elif host == "{host}" and scheme == "http":
                # The stack is served over https: its own base URL would read {base_url}.
                text = ("missing X-Forwarded-Proto: the app built http URLs behind TLS: the "
                        "frontend must send `proxy_set_header X-Forwarded-Proto $scheme;` (and the "
                        "app trust it with SECURE_PROXY_SSL_HEADER)")
            elif host != "{host}":
                text = (f"missing Host: the app built URLs for {scheme}://{host} behind nginx "
                        "(`proxy_set_header Host $http_host;`, or X-Forwarded-Host without the "
                        "port)")
            else:
                continue
            if text not in causes:
                causes.append(text)
    return causes


def _path_rewritten(local: Exchange, stack: Exchange) -> bool:
    if stack.status == 404 and local.status != 404:
        return True
    if stack.status in (301, 302, 307, 308) and local.status not in (301, 302, 307, 308):
        return True
    mine = header_map(local.headers).get("location", ("", []))[1]
    theirs = header_map(stack.headers).get("location", ("", []))[1]
    return bool(mine and theirs and mine != theirs
                and [v.rstrip("/") for v in mine] == [v.rstrip("/") for v in theirs])


def _gzipped(exchange: Exchange) -> bool:
    values = header_map(exchange.headers).get("content-encoding", ("", []))[1]
    return any("gzip" in value.lower() for value in values)


def _no_http_difference(verdict: Verdict) -> list[str]:
    counts = [d for d in verdict.differences if d.field == "exchange count"]
    if counts:
        return ["the tests made a different number of requests, and the requests both made "
                "were answered alike: what differs came through the database or the app "
                "container, not the frontend"]
    return ["no response differed beyond noise: the difference came through the database or "
            "the app container (environment.db, environment.host), not the frontend"]


def _behind_the_app(said: list[str], verdict: Verdict,
                    facts: Sequence[Mapping[str, Any]] | None,
                    declared: Mapping[str, Any] | None) -> Attribution:
    """`app image`, or `database` when the schema after the release step differs."""
    if facts is None:
        return Attribution(APP_OR_DATABASE, [*said, "the environment facts are not gathered yet: "
                                                    "the report tells the app image from the "
                                                    "database"])
    schema = [f for f in facts if f.get("name") == "schema" and f.get("severity") == "fail"]
    if schema:
        lines = [line for f in schema for line in _detail(f)] or ["schema: the two differ"]
        return Attribution(DATABASE, _limit([*said, *lines]))
    return Attribution(APP_IMAGE, _limit([*said, *suspects(facts, declared, verdict)]))


def suspects(facts: Sequence[Mapping[str, Any]], declared: Mapping[str, Any] | None,
             verdict: Verdict) -> list[str]:
    """Declared per-environment differences, then the differing facts about the image; the
    ones that name something the differing values show come first."""
    declared_lines = _declared(declared)  # (shown, matched): values help ranking, never shown
    lines = list(declared_lines)
    kinds = sorted((f for f in facts if f.get("name") in _SUSPECT_FACTS
                    and f.get("severity") in ("fail", "warn")),
                   key=lambda f: (f.get("severity") != "fail", _SUSPECT_FACTS.index(f["name"])))
    lines += [(line, line) for fact in kinds for line in _detail(fact)]
    words: set[str] = set()
    for difference in verdict.differences:  # what only one side shows names the suspect
        mine, theirs = (set(_WORD.findall(text)) for text in (difference.local, difference.stack))
        words |= {w.lower() for w in mine ^ theirs}
    words -= _COMMON
    words |= {shown.split()[1].lower() for shown, _ in declared_lines}
    relevant = [shown for shown, matched in lines
                if any(w.lower() in words for w in _WORD.findall(matched))]
    ranked = relevant + [shown for shown, _ in lines if shown not in relevant]
    return ranked or ["no environment fact differs: compare the app image's code and build"]


def _declared(declared: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    def side(name: str) -> dict[str, str]:
        value = (declared or {}).get(name) or {}
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        return {str(item): "(set)" for item in value}

    local, stack = side("local"), side("stack")
    found = []
    for name in sorted({*local, *stack}):
        if local.get(name) == stack.get(name):
            continue
        where = ("[tool.parity.stack] env only" if name not in local else
                 "[tool.parity.local] env only" if name not in stack else
                 "[tool.parity.local] and [tool.parity.stack] env set it differently")
        found.append((f"declared: {name} ({where})",
                      f"{name} {local.get(name, '')} {stack.get(name, '')}"))
    return found


def _detail(fact: Mapping[str, Any]) -> list[str]:
    detail = fact.get("detail") or []
    lines = [detail] if isinstance(detail, str) else [str(line) for line in detail]
    return [line for line in lines
            if not line.endswith("(expected)") and not _INFORMATIONAL.search(line)]


def _limit(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_EVIDENCE:
        return lines
    return [*lines[:MAX_EVIDENCE - 1], f"… {len(lines) - MAX_EVIDENCE + 1} more (see the facts)"]


def _status(exchange: Exchange) -> str:
    return exchange.error.split(":", 1)[0] if exchange.error else f"status {exchange.status}"


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size} byte" if size == 1 else f"{size}-byte"


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
