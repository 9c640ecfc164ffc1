"""parity.comparison.layers on hand-made recordings, and parity.comparison.replay against in-process HTTP servers."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from parity.comparison.compare import BUILTIN_NOISE, NoiseRules, Verdict, compare
from parity.comparison.layers import (
    APP_IMAGE,
    APP_OR_DATABASE,
    DATABASE,
    FRONTEND,
    UNKNOWN,
    Attribution,
    attribute,
)
from parity.comparison.recording import Exchange, Recording, RecordingSession
from parity.comparison.replay import Replay, Replayer, replays_of

JSON = "application/json"
SETTINGS_FACT: dict[str, Any] = {"name": "settings", "severity": "fail", "local": "90 settings",
                 "stack": "90 settings", "expected": False,
                 "detail": ["setting GREETING: local hello, stack moin"]}
PACKAGES_FACT: dict[str, Any] = {"name": "packages", "severity": "fail", "local": "", "stack": "", "expected": False,
                 "detail": ["package requests: installed locally (2.34), missing in the stack"]}
SCHEMA_FACT: dict[str, Any] = {"name": "schema", "severity": "fail", "local": "", "stack": "", "expected": False,
               "detail": ["table bookings_room: column notes only in local"]}


def ex(status: int = 200, body: str = "ok", *, path: str = "/", method: str = "GET",
       headers: list[tuple[str, str]] | None = None, content_type: str = "text/plain") -> Exchange:
    return Exchange(method=method, path=path, status=status, body=body, content_type=content_type,
                    headers=[("Content-Type", content_type), *(headers or [])])


def rec(environment: str, *exchanges: Exchange, replays: list[Replay] | None = None,
        outcome: str = "passed") -> Recording:
    return Recording("t.py::test_x", environment, list(exchanges), outcome=outcome,
                     replays=[r.to_dict() for r in replays or []])


def judge(local: list[Exchange], stack: list[Exchange], replays: list[Replay] | None = None, *,
          facts: list[dict[str, Any]] | None = None, declared: dict[str, Any] | None = None,
          stack_outcome: str = "passed") -> tuple[Verdict, Attribution]:
    mine, theirs = rec("local", *local), rec("stack", *stack, replays=replays,
                                               outcome=stack_outcome)
    verdict = compare(mine, theirs)
    assert verdict.failed
    return verdict, attribute(verdict, mine, theirs, BUILTIN_NOISE,
                              facts=[] if facts is None else facts, declared=declared)


def test_nginx_refusing_a_large_body_is_the_frontend_with_client_max_body_size() -> None:
    upload: dict[str, Any] = {"path": "/upload/", "method": "POST"}
    _, found = judge([ex(201, **upload)], [ex(413, "<html>too large</html>", **upload)],
                     [Replay(0, ex(201, **upload), request_body_size=2 * 1024 * 1024)])
    assert found.layer == FRONTEND
    assert "answers like [local] (status 201)" in found.evidence[0]
    assert "status 413" in found.evidence[0]
    assert found.evidence[1].startswith("client_max_body_size:") and "2.0 MB" in found.evidence[1]


def test_a_header_with_an_underscore_points_at_underscores_in_headers() -> None:
    _, found = judge([ex(200, '{"client": "3"}', content_type=JSON)],
                     [ex(200, '{"client": null}', content_type=JSON)],
                     [Replay(0, ex(200, '{"client": "3"}', content_type=JSON),
                             request_headers=["Accept", "X_Client_Version"])])
    assert found.layer == FRONTEND
    assert any(line.startswith("underscores_in_headers:") and "X_Client_Version" in line
               for line in found.evidence)


@pytest.mark.parametrize(("stack", "direct_headers", "directive"), [
    (ex(200, "<a href='http://app:8000/x'>"), [], "missing Host"),
    (ex(200, "<a href='https://{host}/x'>"), [], "missing X-Forwarded-Proto"),
    (ex(502, "bad gateway"), [("X-Big", "v" * 5000)], "proxy_buffer_size"),
    (ex(404, "not found"), [], "proxy_pass URI rewriting"),
    (ex(301, "", headers=[("Location", "{base_url}/x/")]), [], "trailing slash"),
    (ex(200, "ok", headers=[("Content-Encoding", "gzip"), ("ETag", 'W/"1"')]),
     [("ETag", '"1"')], "gzip"),
])
def test_known_nginx_directives_are_named(stack: Exchange, direct_headers: list[tuple[str, str]],
                                          directive: str) -> None:
    local = ex(200, "<a href='{base_url}/x'>" if "href" in stack.body else "ok",
               headers=direct_headers)
    direct = ex(200, local.body, headers=direct_headers)
    _, found = judge([local], [stack], [Replay(0, direct)])
    assert found.layer == FRONTEND
    assert any(directive in line for line in found.evidence[1:]), found.evidence


def test_a_static_file_missing_from_the_frontend_is_the_frontend() -> None:
    css: dict[str, Any] = {"path": "/static/site.css"}
    mine, theirs = rec("local", ex(200, "body {}", **css)), rec(
        "stack", ex(404, "nginx 404", **css), replays=[Replay(0, ex(404, "django 404", **css))])
    found = attribute(compare(mine, theirs), mine, theirs, BUILTIN_NOISE, facts=[],
                      static_url="/static/")
    assert found.layer == FRONTEND and "nginx serves itself (/static/)" in found.evidence[0]
    assert "collectstatic" in found.evidence[1]
    # Outside the static prefix the same answers mean the app server is at fault.
    assert attribute(compare(mine, theirs), mine, theirs, BUILTIN_NOISE, facts=[],
                     static_url="/assets/").layer == APP_IMAGE


def test_an_underscore_header_that_gunicorn_drops_too_is_the_app_image() -> None:
    local, stack = ex(200, '{"user": "grace"}', content_type=JSON), \
        ex(200, '{"user": null}', content_type=JSON)
    _, found = judge([local], [stack], [Replay(0, stack, request_headers=["X_Hello_Token"])])
    assert found.layer == APP_IMAGE
    assert found.evidence[1].startswith("the request sent X_Hello_Token: gunicorn (>= 22) drops")


def test_an_unknown_frontend_difference_says_so() -> None:
    _, found = judge([ex(200, "a")], [ex(200, "b")], [Replay(0, ex(200, "a"))])
    assert found.layer == FRONTEND and "no known nginx directive" in found.evidence[-1]


def test_an_app_server_that_already_differs_is_the_app_image_with_the_relevant_facts() -> None:
    local, stack = ex(200, '{"greeting": "hello"}', content_type=JSON), \
        ex(200, '{"greeting": "moin"}', content_type=JSON)
    _, found = judge([local], [stack], [Replay(0, stack)],
                     facts=[PACKAGES_FACT, SETTINGS_FACT],
                     declared={"local": {}, "stack": {"TINYAPP_GREETING": "moin"}})
    assert found.layer == APP_IMAGE
    assert "already differs" in found.evidence[0] and "body:$.greeting" in found.evidence[0]
    # What names the differing value ranks first; declared names show, their values do not.
    assert found.evidence[1:3] == ["declared: TINYAPP_GREETING ([tool.parity.stack] env only)",
                                   "setting GREETING: local hello, stack moin"]
    assert "package requests" in found.evidence[3]
    assert not any("moin" in line for line in found.evidence if "declared" in line)


def test_informational_lines_of_a_failing_fact_are_not_suspects() -> None:
    packages: dict[str, Any] = {"name": "packages", "severity": "fail", "expected": False, "detail": [
        "package pip: local 26.3, stack 23.0.1",
        "package pygments: installed locally (2.21.0), missing in the stack, imported by x.py",
        "package gunicorn: local missing, stack 23.0",
        "3 packages installed locally only, not imported by the app: a, b, c"]}
    env: dict[str, Any] = {"name": "env names", "severity": "warn", "expected": False, "detail": [
        "env TZ_NAME: set in local only (read by the settings)",
        "env: 36 names set in local only, not read by the settings: AWS_CA_BUNDLE"]}
    _, found = judge([ex(200)], [ex(500, "Server Error")], [Replay(0, ex(500, "Server Error"))],
                     facts=[env, packages])
    assert found.evidence[1:] == [packages["detail"][1], env["detail"][0]]


def test_what_only_one_side_shows_ranks_the_suspects() -> None:
    local = ex(200, "<td>/bookings/1/ 04:00 EDT</td>")
    stack = ex(200, "<td>/bookings/1/ 09:00 CET</td>")
    facts = [{"name": "packages", "severity": "fail", "expected": False,
              "detail": ["package pygments: missing in the stack, imported by bookings/views.py"]},
             {"name": "settings", "severity": "fail", "expected": False,
              "detail": ["setting TIME_ZONE: local 'America/New_York' (EDT), stack 'CET'"]}]
    _, found = judge([local], [stack], [Replay(0, stack)], facts=facts)
    assert found.evidence[1].startswith("setting TIME_ZONE"), found.evidence


def test_a_frontend_change_with_the_same_status_names_the_fields() -> None:
    _, found = judge([ex(200, '{"url": "{base_url}/x"}', content_type=JSON)],
                     [ex(200, '{"url": "http://127.0.0.1/x"}', content_type=JSON)],
                     [Replay(0, ex(200, '{"url": "{base_url}/x"}', content_type=JSON))])
    assert found.evidence[0].endswith("(status 200); through the frontend: its body:$.url differs")
    assert found.evidence[1].startswith("missing Host: the app built URLs for http://127.0.0.1")


def test_a_differing_schema_makes_it_the_database() -> None:
    _, found = judge([ex(200)], [ex(500, "error")], [Replay(0, ex(500, "error"))],
                     facts=[SCHEMA_FACT, SETTINGS_FACT])
    assert found.layer == DATABASE
    assert found.evidence[1] == SCHEMA_FACT["detail"][0]


def test_without_facts_yet_the_live_answer_is_app_image_or_database() -> None:
    mine, theirs = rec("local", ex(200)), rec("stack", ex(500), replays=[Replay(0, ex(500))])
    found = attribute(compare(mine, theirs), mine, theirs, BUILTIN_NOISE, facts=None)
    assert found.layer == APP_OR_DATABASE


def test_the_frontend_changing_the_apps_answer_further_is_mentioned() -> None:
    _, found = judge([ex(200, "a")], [ex(502, "gateway")], [Replay(0, ex(500, "boom"))])
    assert found.layer == APP_IMAGE and "changes this answer further" in found.evidence[1]


def test_an_unsafe_request_that_was_not_replayed_is_unknown_with_the_fix() -> None:
    post: dict[str, Any] = {"path": "/items/", "method": "POST"}
    reason = "POST is not safe to replay; add @pytest.mark.parity_replay to the test to allow it"
    _, found = judge([ex(201, **post)], [ex(413, **post)], [Replay(0, reason=reason)])
    assert found == Attribution(UNKNOWN, [f"#1 POST /items/: not replayed against the app "
                                          f"server: {reason}"])
    _, found = judge([ex(201, **post)], [ex(413, **post)])
    assert found.layer == UNKNOWN and "no direct observation" in found.evidence[0]


def test_the_first_differing_exchange_decides() -> None:
    local = [ex(201, path="/a", method="POST"), ex(200, "1 item", path="/b")]
    stack = [ex(413, path="/a", method="POST"), ex(200, "0 items", path="/b")]
    replays = [Replay(0, ex(201, path="/a", method="POST")), Replay(1, ex(200, "0 items"))]
    _, found = judge(local, stack, replays)
    assert found.layer == FRONTEND and found.evidence[0].startswith("#1 POST /a")


def test_an_outcome_with_alike_responses_came_through_the_database_or_container() -> None:
    _, found = judge([ex(200)], [ex(200)], stack_outcome="failed",
                     facts=[{"name": "user", "severity": "fail", "expected": False,
                             "detail": ["user: stack runs as root (uid 0)"]}])
    assert found.layer == APP_IMAGE
    assert "no response differed" in found.evidence[0]
    assert found.evidence[1] == "user: stack runs as root (uid 0)"
    _, found = judge([ex(200)], [ex(200)], stack_outcome="failed", facts=[SCHEMA_FACT])
    assert found.layer == DATABASE


def test_a_test_that_took_another_path_is_not_the_frontend() -> None:
    _, found = judge([ex(200, path="/a"), ex(200, path="/b")],
                     [ex(200, path="/a"), ex(200, path="/c")])
    assert found.layer == APP_IMAGE and "another request" in found.evidence[0]


def test_without_a_frontend_there_is_no_frontend_layer_to_blame() -> None:
    """The tests talk to the app service itself (uwsgi serving HTTP, WhiteNoise the static
    files): nothing was replayed, and a missing static file is the app image's, not nginx's."""
    mine, theirs = rec("local", ex(200, path="/static/site.css")), rec("stack", ex(404, path="/static/site.css"))
    verdict = compare(mine, theirs)
    found = attribute(verdict, mine, theirs, BUILTIN_NOISE, facts=[SETTINGS_FACT],
                      static_url="/static/", frontend=False)
    assert found.layer == APP_IMAGE
    assert found.evidence[0] == ("#1 GET /static/site.css: the stack has no frontend layer (the tests "
                                 "talk to the app service itself): its answer is the app image's own")
    assert found.evidence[1] == "setting GREETING: local hello, stack moin"
    found = attribute(verdict, mine, theirs, BUILTIN_NOISE, facts=[SCHEMA_FACT], frontend=False)
    assert found.layer == DATABASE


def test_expected_facts_are_not_evidence_and_evidence_is_bounded() -> None:
    many = {"name": "packages", "severity": "fail", "expected": False,
            "detail": [f"package p{i}: local 1, stack 2" for i in range(20)] + ["x (expected)"]}
    _, found = judge([ex(200, "a")], [ex(200, "b")], [Replay(0, ex(200, "b"))], facts=[many])
    assert len(found.evidence) == 10 and found.evidence[-1].startswith("… 12 more")
    assert not any("(expected)" in line for line in found.evidence)


# --- replaying against real (in-process) servers ------------------------------------------


class _App(BaseHTTPRequestHandler):
    """The app server: echoes what it got; builds absolute URLs from the Host header."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int) -> None:
        length = int(self.headers.get("Content-Length", 0))
        got = {"method": self.command, "path": self.path, "size": len(self.rfile.read(length)),
               "cookie": self.headers.get("Cookie"), "self": f"http://{self.headers['Host']}/x",
               "origin": self.headers.get("Origin")}
        body = json.dumps(got).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", f"served_by={type(self).__name__}; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        self._answer(201)


class _Frontend(_App):
    """nginx, sort of: refuses bodies over 1000 bytes, and answers /broken itself."""

    def do_POST(self) -> None:
        if int(self.headers.get("Content-Length", 0)) > 1000:
            self.send_response(413)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_POST()

    def do_GET(self) -> None:
        self._answer(502 if self.path == "/broken" else 200)


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    yield from _serve(_App)


@pytest.fixture(scope="module")
def stack_url() -> Iterator[str]:
    yield from _serve(_Frontend)


def recorded(stack_url: str, app_url: str | None, *, mode: str = "safe",
             local: Recording | None = None) -> tuple[RecordingSession, Recording]:
    recording = Recording("t.py::test_x", "stack")
    session = RecordingSession(stack_url, recording, timeout=5)
    replayer = Replayer(recording, stack_url=stack_url, app_url=app_url, mode=mode,  # type: ignore[arg-type]
                        local=lambda: local, noise=lambda: BUILTIN_NOISE, timeout=5)
    session.observer = replayer.observe
    return session, recording


def test_without_the_local_recording_every_safe_request_is_replayed(stack_url: str,
                                                                     app_url: str) -> None:
    session, recording = recorded(stack_url, app_url)
    session.cookies.set("sessionid", "abc")
    session.get("/page", headers={"X_Client": "1", "Origin": stack_url})
    replay = replays_of(recording)[0]
    assert replay.exchange is not None and replay.exchange.status == 200
    seen = json.loads(replay.exchange.body)
    assert (seen["path"], seen["cookie"]) == ("/page", "sessionid=abc")
    # The app's own URL is normalized like the stack's: {base_url} on both.
    assert seen["self"] == "{base_url}/x" and seen["origin"] == "{base_url}"
    assert "X_Client" in replay.request_headers and "1" not in replay.request_headers
    assert session.cookies["served_by"] == "_Frontend", "a replay leaves the test's session be"


def test_an_exchange_that_matches_local_is_not_replayed(stack_url: str, app_url: str) -> None:
    local = Recording("t.py::test_x", "local", [ex(200, "ok")])
    session, recording = recorded(stack_url, app_url, local=local)
    session.get("/broken")  # 502 against local's 200: replayed
    assert list(replays_of(recording)) == [0]
    local.exchanges.append(local.exchanges[0])
    session2, recording2 = recorded(stack_url, app_url, local=Recording(
        "t.py::test_x", "local", [recording.exchanges[0]]))
    session2.get("/broken")
    assert recording2.replays == []


def test_unsafe_requests_need_the_opt_in(stack_url: str, app_url: str) -> None:
    session, recording = recorded(stack_url, app_url)
    assert session.post("/upload/", data=b"x" * 2000).status_code == 413
    replay = replays_of(recording)[0]
    assert replay.exchange is None and "parity_replay" in (replay.reason or "")
    session, recording = recorded(stack_url, app_url, mode="all")
    session.post("/upload/", data=b"x" * 2000)
    replay = replays_of(recording)[0]
    assert replay.exchange is not None and replay.exchange.status == 201
    assert json.loads(replay.exchange.body)["size"] == 2000 and replay.request_body_size == 2000
    assert replay.exchange.request_body_sha256 == recording.exchanges[0].request_body_sha256


def test_an_unpublished_or_silent_app_port_leaves_a_reason(stack_url: str) -> None:
    session, recording = recorded(stack_url, None)
    session.get("/")
    assert replays_of(recording)[0].reason == "the app service's port is not published"
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    session, recording = recorded(stack_url, f"http://127.0.0.1:{port}")
    session.get("/")
    assert "did not answer" in (replays_of(recording)[0].reason or "")


def test_requests_to_other_hosts_are_not_replayed(stack_url: str, app_url: str) -> None:
    session, recording = recorded(stack_url, app_url)
    session.get(app_url + "/elsewhere")
    assert "another host" in (replays_of(recording)[0].reason or "")


def test_replays_travel_with_the_recording_and_name_the_layer(stack_url: str,
                                                              app_url: str) -> None:
    local = Recording("t.py::test_x", "local", [ex(201, "{}", path="/upload/", method="POST")])
    session, recording = recorded(stack_url, app_url, mode="all", local=local)
    session.post("/upload/", data=b"x" * 5000)
    travelled = Recording.from_dict(json.loads(json.dumps(recording.to_dict())))
    assert replays_of(travelled) == replays_of(recording)
    # Local answered 201 with the app's own body: make it the same body the app gave directly.
    direct = replays_of(travelled)[0].exchange
    assert direct is not None
    local.exchanges[0] = direct
    verdict = compare(local, travelled, NoiseRules())
    found = attribute(verdict, local, travelled, BUILTIN_NOISE, facts=[])
    assert found.layer == FRONTEND
    assert found.evidence[1].startswith("client_max_body_size: nginx refused the 5000-byte")


# --- the layer in the reports ---------------------------------------------------------------


def test_every_report_shows_the_layer_and_its_evidence_beside_the_divergence(tmp_path: Any) -> None:
    from parity.reports.html import write_html
    from parity.reports.summary import Summary, read_json, write_json
    from parity.reports.terminal import terminal_lines

    verdict, found = judge([ex(201, path="/upload/", method="POST")],
                           [ex(413, path="/upload/", method="POST")],
                           [Replay(0, ex(201, path="/upload/", method="POST"),
                                   request_body_size=2 * 1024 * 1024)])
    verdict.layer, verdict.evidence = found.layer, found.evidence
    summary = Summary(verdicts=[verdict])
    lines = terminal_lines(summary, width=100)
    title = lines.index("DIVERGE t.py::test_x  (layer: frontend)")
    assert lines[title + 1].startswith("  ↳ #1 POST /upload/: the app server, asked directly")
    assert any(line.startswith("  ↳ client_max_body_size:") for line in lines[title:])
    assert all(len(line) <= 100 for line in lines)

    write_json(summary, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["verdicts"][0]["layer"] == "frontend"
    assert data["verdicts"][0]["evidence"] == found.evidence
    assert read_json(tmp_path / "r.json").verdicts[0].layer == "frontend"

    write_html(summary, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert '<div class="layer" data-layer="frontend">' in page
    assert "<li>client_max_body_size: nginx refused the 2.0 MB request body" in page


# --- the third port -------------------------------------------------------------------------


@pytest.mark.parametrize(("stack_table", "service", "port"), [
    ("", "app", 8000),
    ('[tool.parity.stack]\ncompose_file = "compose.yaml"\napp_service = "web"\napp_port = 5000\n'
     'entry_service = "proxy"\n', "web", 5000),
])
def test_the_app_service_port_is_published_on_loopback(tmp_path: Path, stack_table: str,
                                                        service: str, port: int) -> None:
    from types import SimpleNamespace

    from parity.configuration import load_config
    from parity.environments.stack.stack import Stack

    shutil.copytree(Path(__file__).parent.parent / "apps" / "tinyapp", tmp_path, dirs_exist_ok=True)
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    with open(tmp_path / "pyproject.toml", "a") as pyproject:
        pyproject.write("\n" + stack_table)
    config = load_config(tmp_path / "pyproject.toml", environ={})
    stack = Stack(config, {}, run=SimpleNamespace(id="r1"),  # type: ignore[arg-type]
                  images=SimpleNamespace(app="a:1", frontend="f:1", app_settings=None))
    services = stack.compose_document()["services"]
    assert services[service]["ports"] == [f"127.0.0.1::{port}"]
    assert stack.app_url is None
    stack.app_port = 32999
    assert stack.app_url == "http://127.0.0.1:32999"
