"""compare(), the built-in noise, declared noise and learn_noise, on hand-made recordings."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from parity.comparison.compare import (
    BUILTIN_NOISE,
    Difference,
    IgnoreRule,
    NoiseRules,
    Verdict,
    compare,
    default_noise,
    learn_noise,
)
from parity.comparison.noise import json_path_matches, mask_text, parse_json_path
from parity.comparison.recording import Exchange, Recording
from parity.configuration import CompareConfig

HTML = "text/html; charset=utf-8"
JSON = "application/json"


def ex(body: str = "ok", *, status: int | None = 200, headers: list[tuple[str, str]] | None = None,
       content_type: str | None = HTML, path: str = "/", method: str = "GET",
       **fields: Any) -> Exchange:
    all_headers = [("Content-Type", content_type)] if content_type else []
    all_headers += headers or []
    return Exchange(method=method, path=path, status=status, headers=all_headers, body=body,
                    content_type=content_type, **fields)


def rec(*exchanges: Exchange, environment: str = "local", outcome: str = "passed",
        failure: str | None = None, ignores: NoiseRules | None = None,
        base_url: str = "") -> Recording:
    return Recording("t.py::test_x", environment, list(exchanges), outcome, failure,
                     ignores or NoiseRules(), base_url)


def verdict_of(local: Exchange, stack: Exchange, noise: NoiseRules | None = None) -> Verdict:
    return compare(rec(local), rec(stack, environment="stack"), noise)


def fields_of(verdict: Verdict) -> list[str]:
    return [d.field for d in verdict.differences]


def ignored_targets(verdict: Verdict) -> dict[str, int]:
    return {rule.target: count for rule, count in verdict.ignored}


def test_identical_recordings_match() -> None:
    verdict = verdict_of(ex("<p>hi</p>"), ex("<p>hi</p>"))
    assert (verdict.kind, verdict.differences, verdict.ignored) == ("match", [], [])
    assert not verdict.failed


@pytest.mark.parametrize(("local", "stack"), [
    ([("Server", "WSGIServer/0.2 CPython/3.11")], [("Server", "nginx/1.22.1")]),
    ([("Date", "Mon, 01 Jan 2024 00:00:00 GMT")], [("Date", "Mon, 01 Jan 2024 00:00:09 GMT")]),
    ([("Connection", "close")], [("Connection", "keep-alive"), ("Keep-Alive", "timeout=5")]),
    ([("Content-Length", "2")], [("Transfer-Encoding", "chunked")]),
    ([], [("Content-Encoding", "gzip")]),
    ([("Vary", "Cookie")], [("Vary", "Cookie"), ("Vary", "Accept-Encoding")]),
    ([("Vary", "Accept-Encoding, Cookie")], [("vary", "Cookie")]),
    ([("X-Frame-Options", "DENY")], [("x-frame-options", "DENY")]),
])
def test_builtin_header_noise_is_not_reported(local: list[tuple[str, str]],
                                              stack: list[tuple[str, str]]) -> None:
    verdict = verdict_of(ex(headers=local), ex(headers=stack))
    assert verdict.kind == "match", verdict.differences


@pytest.mark.parametrize(("local", "stack", "field"), [
    ([("X-Frame-Options", "DENY")], [("X-Frame-Options", "SAMEORIGIN")], "header:X-Frame-Options"),
    ([("X-Content-Type-Options", "nosniff")], [], "header:X-Content-Type-Options"),
    ([("Vary", "Cookie")], [("Vary", "Accept-Encoding")], "header:Vary"),
    ([("Strict-Transport-Security", "max-age=60")], [], "header:Strict-Transport-Security"),
])
def test_security_and_other_headers_are_compared(local: list[tuple[str, str]],
                                                 stack: list[tuple[str, str]], field: str) -> None:
    verdict = verdict_of(ex(headers=local), ex(headers=stack))
    assert verdict.kind == "diverge"
    assert fields_of(verdict) == [field]


def test_noise_counts_only_what_actually_differed() -> None:
    verdict = verdict_of(ex(headers=[("Server", "a"), ("Date", "x")]),
                         ex(headers=[("Server", "b"), ("Date", "x")]))
    assert ignored_targets(verdict) == {"server": 1}
    rule, _ = verdict.ignored[0]
    assert rule.source == "built-in" and "name themselves" in rule.reason


CSRF_COOKIE = ("csrftoken={}; expires=Thu, 26 Nov 2026 10:{}:00 GMT; Max-Age=31449600; Path=/; "
               "SameSite=Lax")


def test_cookie_values_and_expiry_are_noise() -> None:
    verdict = verdict_of(
        ex(headers=[("Set-Cookie", CSRF_COOKIE.format("aaa", "00")),
                    ("Set-Cookie", "sessionid=s1; HttpOnly; Path=/")]),
        ex(headers=[("Set-Cookie", "sessionid=s2; HttpOnly; Path=/"),
                    ("Set-Cookie", CSRF_COOKIE.format("bbb", "07"))]))
    assert verdict.kind == "match", verdict.differences
    assert ignored_targets(verdict) == {"csrftoken": 1, "sessionid": 1, "expires": 1}


@pytest.mark.parametrize(("local", "stack"), [
    ("sessionid=s1; HttpOnly; Path=/", "session=s1; HttpOnly; Path=/"),
    ("sessionid=s1; HttpOnly; Path=/", "sessionid=s1; Path=/"),
    ("sessionid=s1; Path=/; SameSite=Lax", "sessionid=s1; Path=/; SameSite=None; Secure"),
    ("sessionid=s1; Path=/", "sessionid=s1; Path=/app"),
    (CSRF_COOKIE.format("a", "00"), CSRF_COOKIE.format("a", "00").replace("31449600", "60")),
    ("csrftoken=abc; Path=/", "csrftoken=; Path=/"),
    ("messages=abc; Path=/", "messages=def; Path=/"),
])
def test_cookie_names_and_attributes_are_compared(local: str, stack: str) -> None:
    verdict = verdict_of(ex(headers=[("Set-Cookie", local)]), ex(headers=[("Set-Cookie", stack)]))
    assert verdict.kind == "diverge"
    assert all(f.startswith("cookie:") for f in fields_of(verdict))


def test_csrf_tokens_in_forms_and_json_are_noise() -> None:
    form = '<form><input type="hidden" name="csrfmiddlewaretoken" value="{}"><p>{}</p></form>'
    verdict = verdict_of(ex(form.format("tok1", "same")), ex(form.format("tok2", "same")))
    assert verdict.kind == "match"
    assert any(rule.kind == "text_pattern" for rule, _ in verdict.ignored)
    # the token is masked, nothing more: the rest of the form is still compared
    verdict = verdict_of(ex(form.format("tok1", "a")), ex(form.format("tok2", "b")))
    assert verdict.kind == "diverge"
    assert "tok1" not in (verdict.differences[0].diff or "")
    body = {"csrfToken": "t1", "user": "ann"}
    verdict = verdict_of(ex(json.dumps(body), content_type=JSON),
                         ex(json.dumps({**body, "csrfToken": "t2"}), content_type=JSON))
    assert verdict.kind == "match"
    assert ignored_targets(verdict) == {"$..*csrf*": 1}


def test_json_difference_names_the_path_and_both_values() -> None:
    local = {"results": [{"name": "Ann", "start": "09:00"}], "count": 1}
    stack = {"count": 1, "results": [{"name": "Ann", "start": "10:00"}], "extra": True}
    verdict = verdict_of(ex(json.dumps(local), content_type=JSON),
                         ex(json.dumps(stack), content_type=JSON))
    assert verdict.kind == "diverge"
    assert [(d.field, d.local, d.stack) for d in verdict.differences] == [
        ("body:$.results[0].start", '"09:00"', '"10:00"'),
        ("body:$.extra", "(absent)", "true"),
    ]
    assert verdict.differences[0].request == "GET /"


def test_json_types_are_strict() -> None:
    verdict = verdict_of(ex('{"a": 1, "b": true}', content_type=JSON),
                         ex('{"a": 1.0, "b": 1}', content_type=JSON))
    assert fields_of(verdict) == ["body:$.a", "body:$.b"]


def test_own_base_url_matches_but_wrong_scheme_or_host_is_reported() -> None:
    same = verdict_of(ex('{"next": "{base_url}/x"}', content_type=JSON),
                      ex('{"next": "{base_url}/x"}', content_type=JSON))
    assert same.kind == "match"
    scheme = verdict_of(ex('{"next": "{base_url}/x"}', content_type=JSON),
                        ex('{"next": "https://{host}/x"}', content_type=JSON))
    assert [(d.field, d.stack) for d in scheme.differences] == [("body:$.next",
                                                                 '"https://{host}/x"')]
    host = verdict_of(ex(status=302, headers=[("Location", "{base_url}/x")]),
                      ex(status=302, headers=[("Location", "http://app:8000/x")]))
    assert [(d.field, d.local, d.stack) for d in host.differences] == [
        ("header:Location", "{base_url}/x", "http://app:8000/x")]


def test_text_difference_has_a_bounded_unified_diff() -> None:
    local = "\n".join(f"line {i}" for i in range(20))
    stack = local.replace("line 7", "line seven")
    (difference,) = verdict_of(ex(local), ex(stack)).differences
    assert difference.field == "body"
    assert difference.local == "line 8: line 7" and difference.stack == "line 8: line seven"
    assert difference.diff is not None
    assert "-line 7" in difference.diff and "+line seven" in difference.diff
    big = "\n".join(f"row {i}" for i in range(20000))
    (difference,) = verdict_of(ex(big), ex(big.replace("row 1", "ROW 1"))).differences
    assert difference.diff is not None and len(difference.diff.splitlines()) <= 201


def test_binary_bodies_compare_by_digest_and_size() -> None:
    def binary(sha: str, size: int) -> Exchange:
        return ex("", content_type="image/png", body_encoding="base64", body_sha256=sha,
                  body_size=size)
    assert verdict_of(binary("a" * 64, 10), binary("a" * 64, 10)).kind == "match"
    (difference,) = verdict_of(binary("a" * 64, 10), binary("b" * 64, 12)).differences
    assert difference.field == "body"
    assert "10 bytes" in difference.local and "12 bytes" in difference.stack


def test_exchange_count_mismatch_lists_the_requests() -> None:
    verdict = compare(rec(ex(path="/a"), ex(path="/b")),
                      rec(ex(path="/a"), environment="stack"))
    assert verdict.kind == "diverge"
    (difference,) = verdict.differences
    assert difference.field == "exchange count"
    assert difference.local.splitlines() == ["2 requests", "GET /a", "GET /b"]
    assert difference.stack.splitlines() == ["1 request", "GET /a"]


def test_requests_out_of_step_stop_the_pairwise_comparison() -> None:
    verdict = compare(rec(ex(path="/a"), ex("x", path="/b")),
                      rec(ex(path="/c"), ex("y", path="/b"), environment="stack"))
    assert fields_of(verdict) == ["request"]


def test_a_different_request_body_is_context_not_a_divergence() -> None:
    verdict = verdict_of(ex(method="POST", request_body_sha256="a" * 64),
                         ex(method="POST", request_body_sha256="b" * 64))
    assert verdict.kind == "match"
    verdict = verdict_of(ex("x", method="POST", request_body_sha256="a" * 64),
                         ex("y", method="POST", request_body_sha256="b" * 64))
    assert fields_of(verdict) == ["request body", "body"]


def test_outcome_verdict_carries_both_failures() -> None:
    verdict = compare(rec(ex()), rec(ex(), environment="stack", outcome="failed",
                                     failure="AssertionError: assert 404 == 200"))
    assert verdict.kind == "outcome" and verdict.failed
    assert verdict.failures == {"local": None, "stack": "AssertionError: assert 404 == 200"}
    assert verdict.differences[0].field == "outcome"
    assert verdict.differences[0].stack == "failed: AssertionError: assert 404 == 200"


def test_both_failed_the_same_way_matches_and_differently_diverges() -> None:
    def failed(message: str, side: str, port: int) -> Recording:
        return rec(ex(), environment=side, outcome="failed", failure=message,
                   base_url=f"http://127.0.0.1:{port}")
    same = compare(failed("ConnectionError: port=5000 at 0x7f01", "local", 5000),
                   failed("ConnectionError: port=6000 at 0x7f99", "stack", 6000))
    assert same.kind == "match"
    different = compare(failed("assert 1 == 2", "local", 5000), failed("KeyError", "stack", 6000))
    assert (different.kind, fields_of(different)) == ("diverge", ["failure"])


def test_skips() -> None:
    both = compare(rec(outcome="skipped", failure="no db"),
                   rec(outcome="skipped", environment="stack"))
    assert (both.kind, both.note) == ("skipped", "no db")
    marked = compare(rec(ex("a")), rec(ex("b"), environment="stack"), skip_reason="flaky")
    assert (marked.kind, marked.note, marked.differences) == ("skipped", "flaky", [])
    one = compare(rec(ex()), rec(environment="stack", outcome="skipped"))
    assert one.kind == "outcome"


def test_connection_error_is_an_observation() -> None:
    error = Exchange("GET", "/", error="ConnectionError: refused", body_encoding="unread")
    verdict = verdict_of(ex(), error)
    assert [(d.field, d.local, d.stack) for d in verdict.differences] == [
        ("error", "status 200", "ConnectionError: refused")]
    other = Exchange("GET", "/", error="ConnectionError: refused elsewhere", body_encoding="unread")
    assert verdict_of(error, other).kind == "match"
    timeout = Exchange("GET", "/", error="ReadTimeout: slow", body_encoding="unread")
    assert verdict_of(error, timeout).kind == "diverge"


def test_declared_noise_from_config_and_from_the_test() -> None:
    config = CompareConfig(ignore_headers=("x-request-id",), ignore_json_paths=("$.items[*].id",),
                           ignore_text_patterns=(r"Rendered in (\d+) ms",))
    noise = default_noise(config)
    local = ex('{"items": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}], "at": "1"}',
               content_type=JSON, headers=[("X-Request-Id", "r1")])
    stack = ex('{"items": [{"id": 7, "n": "a"}, {"id": 8, "n": "b"}], "at": "2"}',
               content_type=JSON, headers=[("X-Request-Id", "r2")])
    verdict = compare(rec(local), rec(stack, environment="stack"), noise)
    assert fields_of(verdict) == ["body:$.at"]
    assert ignored_targets(verdict) == {"x-request-id": 1, "$.items[*].id": 2}
    assert {rule.source for rule, _ in verdict.ignored} == {"config"}

    declared = NoiseRules.declared(json_paths=["$.at"], reason="timestamps", source="test")
    verdict = compare(rec(local, ignores=declared), rec(stack, environment="stack"), noise)
    assert verdict.kind == "match"
    assert ("$.at", "test", "timestamps") in {(r.target, r.source, r.reason)
                                              for r, _ in verdict.ignored}

    text = compare(rec(ex("<p>Rendered in 12 ms</p>")),
                   rec(ex("<p>Rendered in 40 ms</p>"), environment="stack"), noise)
    assert text.kind == "match"


def test_json_path_patterns() -> None:
    assert json_path_matches(parse_json_path("$.results[*].id"), ("results", 3, "id"))
    assert json_path_matches(parse_json_path("$.meta"), ("meta", "generated", 0))
    assert not json_path_matches(parse_json_path("$.results[0].id"), ("results", 1, "id"))
    assert json_path_matches(parse_json_path("$..token"), ("a", 0, "b", "token"))
    assert json_path_matches(parse_json_path("$['odd key'].x"), ("odd key", "x"))
    assert not json_path_matches(parse_json_path("$.a"), ("ab",))
    with pytest.raises(ValueError, match="not understood"):
        parse_json_path("$.a[")


def test_text_pattern_groups_mask_only_the_group() -> None:
    masked, found = mask_text("id=42 name=x", r"id=(\d+)")
    assert (masked, found) == ("id={ignored} name=x", ["42"])
    masked, found = mask_text("id=42", r"\d+")
    assert (masked, found) == ("id={ignored}", ["42"])


def test_builtin_rules_all_have_reasons() -> None:
    assert all(rule.reason and rule.source == "built-in" for rule in BUILTIN_NOISE)
    assert BUILTIN_NOISE.header("X-Frame-Options") is None
    with pytest.raises(ValueError, match="kind"):
        IgnoreRule("colour", "x", "r")  # type: ignore[arg-type]


def test_merge_keeps_the_first_rule_per_target() -> None:
    ours = NoiseRules([IgnoreRule("header", "Date", "mine", "config")])
    merged = BUILTIN_NOISE.merge(ours)
    assert len(merged) == len(BUILTIN_NOISE)
    assert merged.header("date") is not None and merged.header("date").source == "built-in"  # type: ignore[union-attr]


def test_learn_noise_from_two_runs_of_the_same_side() -> None:
    def run(request_id: str, stamps: tuple[str, str], generated: str) -> Recording:
        page = f"<h1>Report</h1>\n<p>Generated at {generated} UTC</p>\n<p>total 3</p>"
        items = {"items": [{"ts": stamps[0], "n": 1}, {"ts": stamps[1], "n": 2}]}
        return rec(ex(json.dumps(items), content_type=JSON, path="/api",
                      headers=[("X-Request-Id", request_id), ("Date", request_id)]),
                   ex(page, path="/page"))
    first = run("r1", ("t1", "t2"), "12:00:01")
    second = run("r2", ("t3", "t4"), "12:00:05")
    learned = learn_noise(first, second)
    targets = {(r.kind, r.target) for r in learned}
    assert ("header", "x-request-id") in targets
    assert ("header", "date") not in targets  # built-in already
    assert ("json_path", "$.items[*].ts") in targets
    (pattern,) = [r.target for r in learned if r.kind == "text_pattern"]
    assert re.search(pattern, "<p>Generated at 23:59:59 UTC</p>", re.MULTILINE)
    assert not re.search(pattern, "<p>total 3</p>", re.MULTILINE)
    assert all(r.source == "learned" and "two runs" in r.reason for r in learned)

    stack = run("r9", ("t5", "t6"), "13:14:15")
    stack.environment = "stack"
    assert compare(first, stack).kind == "diverge"
    assert compare(first, stack, BUILTIN_NOISE.merge(learned)).kind == "match"
    changed = run("r9", ("t5", "t6"), "13:14:15")
    changed.exchanges[1].body = changed.exchanges[1].body.replace("total 3", "total 4")
    assert compare(first, changed, BUILTIN_NOISE.merge(learned)).kind == "diverge"


def test_learn_noise_leaves_an_expires_that_moves_with_date_to_the_built_in_rule() -> None:
    def run(date: str, expires: str) -> Recording:
        return rec(ex("<form>", path="/accounts/login/", headers=[
            ("Date", date), ("Expires", expires), ("X-Request-Id", date)]))
    first = run("Tue, 03 Jun 2025 10:00:00 GMT", "Tue, 03 Jun 2025 10:00:00 GMT")
    second = run("Tue, 03 Jun 2025 10:00:04 GMT", "Tue, 03 Jun 2025 10:00:04 GMT")
    targets = {(r.kind, r.target) for r in learn_noise(first, second)}
    assert ("header", "x-request-id") in targets and ("header", "expires") not in targets
    # An Expires that moves relative to Date between two runs is learned as noise.
    third = run("Tue, 03 Jun 2025 10:00:04 GMT", "Tue, 03 Jun 2025 11:00:04 GMT")
    assert ("header", "expires") in {(r.kind, r.target) for r in learn_noise(first, third)}


def test_learn_noise_skips_lines_without_enough_context() -> None:
    learned = learn_noise(rec(ex("a1")), rec(ex("b2")))
    assert len(learned) == 0


def test_verdict_round_trips_through_json() -> None:
    verdict = compare(rec(ex("a\nb", headers=[("Server", "x")])),
                      rec(ex("a\nc", headers=[("Server", "y")]), environment="stack",
                          outcome="failed", failure="boom"))
    data = json.loads(json.dumps(verdict.to_dict()))
    assert Verdict.from_dict(data) == verdict
    assert set(data) == {"test_id", "kind", "local_outcome", "stack_outcome", "failures", "note",
                         "differences", "ignored", "layer", "evidence", "policy"}
    assert Difference.from_dict(data["differences"][0]) == verdict.differences[0]
    assert data["ignored"][0]["count"] == 1


# --- a declared DEBUG: error page bodies are noise, their status codes are not ---------------

DEBUG_PAGE = "<h1>Page not found <span>(404)</span></h1><p>Using the URLconf defined in x.urls</p>"
PLAIN_PAGE = "<h1>Not found</h1><p>There is nothing here.</p>"


@pytest.mark.parametrize("declared", [["DEBUG"], ["settings:DEBUG"], ["debug"], ["settings"]])
def test_declared_debug_ignores_error_page_bodies(declared: list[str]) -> None:
    noise = default_noise(CompareConfig(), declared)
    verdict = verdict_of(ex(DEBUG_PAGE, status=404, content_type="text/html"),
                         ex(PLAIN_PAGE, status=404, headers=[("Vary", "Cookie")]), noise)
    assert verdict.kind == "match", verdict.differences
    (rule, count), = [(r, c) for r, c in verdict.ignored if r.kind == "error_body"]
    assert (rule.source, count) == ("config", 1)
    assert "DEBUG differs by declaration" in rule.reason


def test_declared_debug_still_compares_status_codes_and_successful_bodies() -> None:
    noise = default_noise(CompareConfig(), ["DEBUG"])
    verdict = verdict_of(ex(DEBUG_PAGE, status=404), ex(PLAIN_PAGE, status=500), noise)
    assert fields_of(verdict) == ["status"]
    verdict = verdict_of(ex(DEBUG_PAGE, status=200), ex(PLAIN_PAGE, status=404), noise)
    assert fields_of(verdict) == ["status", "body"]
    verdict = verdict_of(ex("<p>a</p>"), ex("<p>b</p>"), noise)
    assert fields_of(verdict) == ["body"]
    verdict = verdict_of(ex(DEBUG_PAGE, status=404, headers=[("X-Frame-Options", "DENY")]),
                         ex(PLAIN_PAGE, status=404), noise)
    assert fields_of(verdict) == ["header:X-Frame-Options"]


def test_error_page_bodies_differ_without_the_declaration() -> None:
    for noise in (default_noise(CompareConfig()), default_noise(CompareConfig(), ["TIME_ZONE"])):
        assert not any(rule.kind == "error_body" for rule in noise)
        verdict = verdict_of(ex(DEBUG_PAGE, status=404), ex(PLAIN_PAGE, status=404), noise)
        assert fields_of(verdict) == ["body"]
