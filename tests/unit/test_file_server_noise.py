"""What nginx, whitenoise and manifest storage change by nature is absorbed, and a real
difference in the same response is still reported, with its layer.

Each rule gets both halves: the headers a file server sets by nature (recorded from runserver's
static view, nginx with `etag on; expires 30d;` and whitenoise), the time in `Expires`, and
asset URLs with ManifestStaticFilesStorage's hash, against the same response with a status,
Content-Type, body or a missing asset that differs.
"""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import pytest

from parity.comparison.compare import Verdict, compare, default_noise
from parity.comparison.layers import APP_IMAGE, FRONTEND, attribute
from parity.comparison.noise import IgnoreRule, NoiseRules
from parity.comparison.recording import Exchange, Recording
from parity.comparison.replay import Replay

CSS = "text/css"
HTML = "text/html; charset=utf-8"
SITE_CSS = "/* Labbook */\nbody { margin: 0; }\n"
DATE = "Tue, 03 Jun 2025 10:00:00 GMT"
LATER = "Tue, 03 Jun 2025 10:00:07 GMT"

RUNSERVER = [  # django.views.static.serve, as runserver --insecure answers
    ("Server", "WSGIServer/0.2 CPython/3.11.7"), ("Date", DATE), ("Content-Length", "34"),
    ("Content-Disposition", 'inline; filename="site.css"'),
    ("Last-Modified", "Mon, 02 Jun 2025 09:00:00 GMT"),
]
NGINX = [  # location /static/ { alias ...; etag on; expires 30d; }
    ("Server", "nginx/1.22.1"), ("Date", LATER), ("Content-Length", "34"),
    ("Last-Modified", "Tue, 03 Jun 2025 08:12:40 GMT"), ("Connection", "keep-alive"),
    ("ETag", '"683eae28-22"'), ("Expires", "Thu, 03 Jul 2025 10:00:07 GMT"),
    ("Cache-Control", "max-age=2592000"), ("Accept-Ranges", "bytes"),
]
WHITENOISE = [  # whitenoise 6 in the app, DEBUG off
    ("Server", "gunicorn"), ("Date", LATER), ("Content-Length", "34"),
    ("Last-Modified", "Tue, 03 Jun 2025 08:12:40 GMT"), ("ETag", '"683eae28-22"'),
    ("Cache-Control", "max-age=60, public"), ("Access-Control-Allow-Origin", "*"),
    ("Vary", "Accept-Encoding"),
]


def ex(path: str, headers: list[tuple[str, str]], body: str = SITE_CSS, *, status: int = 200,
       content_type: str = CSS) -> Exchange:
    return Exchange("GET", path, status=status, body=body, content_type=content_type,
                    headers=[("Content-Type", content_type), *headers])


def recordings(local: list[Exchange], stack: list[Exchange],
               replays: list[Replay] | None = None) -> tuple[Recording, Recording]:
    return (Recording("t.py::test_x", "local", local),
            Recording("t.py::test_x", "stack", stack, replays=[r.to_dict() for r in replays or []]))


def verdict_of(local: list[Exchange], stack: list[Exchange],
               noise: NoiseRules | None = None) -> Verdict:
    return compare(*recordings(local, stack), noise or default_noise())


def hidden(verdict: Verdict) -> set[str]:
    return {f"{rule.kind} {rule.target}" for rule, count in verdict.ignored if count}


def fields(verdict: Verdict) -> dict[str, tuple[str, str]]:
    return {d.field: (d.local, d.stack) for d in verdict.differences}


def layer_of(local: list[Exchange], stack: list[Exchange], direct: Exchange,
             **facts: Any) -> tuple[Verdict, str, list[str]]:
    """The verdict and the layer, the [stack] request replayed straight to the app server."""
    mine, theirs = recordings(local, stack, [Replay(len(local) - 1, direct)])
    noise = default_noise()
    verdict = compare(mine, theirs, noise)
    found = attribute(verdict, mine, theirs, noise, facts=facts.get("facts", []),
                      static_url="/static/", media_url="/media/")
    return verdict, found.layer, found.evidence


APP_404 = ex("/static/site.css", [("Server", "gunicorn")], "<h1>Not Found</h1>", status=404,
             content_type=HTML)
"""What the app server answers for a static file in production: it does not serve them."""


# --- what a file server sets by nature ---------------------------------------------------------

@pytest.mark.parametrize("server", [NGINX, WHITENOISE], ids=["nginx", "whitenoise"])
@pytest.mark.parametrize("path", ["/static/site.css", "/media/scans/grid.css"])
def test_what_a_file_server_sets_by_nature_is_absorbed(server: list[tuple[str, str]],
                                                       path: str) -> None:
    verdict = verdict_of([ex(path, RUNSERVER)], [ex(path, server)])
    assert (verdict.kind, verdict.differences) == ("match", [])
    assert {"header etag", "header_value last-modified",
            "header_default content-disposition:inline"} <= hidden(verdict)
    # What only the frontend adds for caching is a note on its policy, never a divergence.
    notes = {d.field: d.stack for d in verdict.policy}
    assert notes["header:Cache-Control"] in ("max-age=2592000", "max-age=60, public")
    if server is NGINX:
        assert notes["header:Expires"] == "Date + 30 days"
        assert "header accept-ranges" in hidden(verdict)
    else:
        assert notes["header:Access-Control-Allow-Origin"] == "*"
    rules = [rule for rule, _ in verdict.ignored if rule.paths]
    assert rules and all(rule.paths == ("/static/", "/media/") and rule.reason for rule in rules)


MIDDLEWARE = [("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
              ("Referrer-Policy", "same-origin"), ("Cross-Origin-Opener-Policy", "same-origin")]


def test_what_the_apps_middleware_adds_to_the_media_it_serves_is_a_note_on_the_frontend() -> None:
    # Under runserver the app serves /media/ through its middleware; in production nginx does.
    local = ex("/media/scans/grid.svg", RUNSERVER + MIDDLEWARE, content_type="image/svg+xml")
    stack = ex("/media/scans/grid.svg", NGINX, content_type="image/svg+xml")
    verdict = verdict_of([local], [stack])
    assert verdict.kind == "match"
    notes = {d.field: (d.local, d.stack) for d in verdict.policy}
    assert notes["header:X-Content-Type-Options"] == ("nosniff", "(absent)")
    assert notes["header:X-Frame-Options"] == ("DENY", "(absent)")
    # ... while a real difference in the same response is still reported, with its layer.
    stack.headers = [("Content-Type", "application/octet-stream"), *stack.headers[1:]]
    stack.content_type = "application/octet-stream"
    verdict, layer, said = layer_of([local], [stack], ex("/media/scans/grid.svg", [], "Not Found",
                                                        status=404, content_type=HTML))
    assert list(fields(verdict)) == ["header:Content-Type"] and layer == FRONTEND
    assert "a media file" in said[0] and "nginx's mime types" in said[1]
    # The same headers missing from a page the app serves are a divergence.
    page = verdict_of([html("<p>hi</p>", headers=MIDDLEWARE)], [html("<p>hi</p>")])
    assert "header:X-Content-Type-Options" in fields(page) and page.policy == []


def test_a_scripts_obsolete_type_name_is_its_standard_one_and_other_types_still_differ() -> None:
    script = "/static/js/site.js"
    local = ex(script, RUNSERVER, "console.log(1);\n", content_type="text/javascript")
    stack = ex(script, NGINX, "console.log(1);\n", content_type="application/javascript")
    verdict = verdict_of([local], [stack])
    assert verdict.kind == "match" and "header_alias content-type:text/javascript" in hidden(verdict)
    # Another type (or the same file served as text) is a real difference, with its layer.
    stack = ex(script, NGINX, "console.log(1);\n", content_type="text/plain")
    verdict, layer, said = layer_of([local], [stack], APP_404)
    assert fields(verdict) == {"header:Content-Type": ("text/javascript", "text/plain")}
    assert layer == FRONTEND and "nginx's mime types" in said[1]
    # Outside STATIC_URL and MEDIA_URL the app's own Content-Type is compared as it is.
    page = verdict_of([ex("/api/script/", [], "x", content_type="text/javascript")],
                      [ex("/api/script/", [], "x", content_type="application/javascript")])
    assert "header:Content-Type" in fields(page)


def test_outside_static_and_media_the_same_headers_are_differences() -> None:
    verdict = verdict_of([ex("/api/report.css", RUNSERVER)], [ex("/api/report.css", NGINX)])
    assert verdict.kind == "diverge"
    assert {"header:ETag", "header:Last-Modified", "header:Content-Disposition",
            "header:Cache-Control", "header:Accept-Ranges"} <= set(fields(verdict))
    assert verdict.policy == []


def test_the_scope_follows_the_configured_urls() -> None:
    noise = default_noise(static_url="/assets/", media_url="/uploads/")
    assert verdict_of([ex("/assets/site.css", RUNSERVER)], [ex("/assets/site.css", NGINX)],
                      noise).kind == "match"
    assert verdict_of([ex("/static/site.css", RUNSERVER)], [ex("/static/site.css", NGINX)],
                      noise).kind == "diverge"


@pytest.mark.parametrize(("change", "field", "local", "stack", "evidence"), [
    ({"status": 404, "body": "<h1>404 Not Found</h1>", "content_type": "text/html"}, "status",
     "200", "404", "the frontend image lacks this file"),
    ({"content_type": "application/octet-stream"}, "header:Content-Type", CSS,
     "application/octet-stream", "nginx's mime types"),
    ({"body": SITE_CSS.replace("0", "1")}, "body", "", "", "the frontend's copy of the file "
     "differs"),
    ({"headers": [("Content-Disposition", 'attachment; filename="site.css"')]},
     "header:Content-Disposition", 'inline; filename="site.css"', "attachment", "nginx serves this "
     "file (status 200, like [local])"),
    ({"drop": "last-modified"}, "header:Last-Modified", "Mon, 02 Jun", "(absent)", "but its answer "
     "differs: header:Last-Modified"),
], ids=["missing asset", "content type", "body", "attachment", "no last-modified"])
def test_a_real_difference_in_the_same_static_response_is_still_the_frontend(
        change: dict[str, Any], field: str, local: str, stack: str, evidence: str) -> None:
    headers = [h for h in NGINX if h[0].lower() != change.get("drop")] + change.get("headers", [])
    served = ex("/static/site.css", headers, change.get("body", SITE_CSS),
                status=change.get("status", 200), content_type=change.get("content_type", CSS))
    verdict, layer, said = layer_of([ex("/static/site.css", RUNSERVER)], [served], APP_404)
    assert verdict.kind == "diverge"
    assert field in fields(verdict), verdict.differences
    assert local in fields(verdict)[field][0] and stack in fields(verdict)[field][1]
    assert "header:ETag" not in fields(verdict)  # the by-nature part stays absorbed
    assert layer == FRONTEND
    assert said[0].startswith("#1 GET /static/site.css: a static file, which nginx serves itself")
    assert evidence in said[1], said
    if field != "status":
        assert "lacks this file" not in " ".join(said)


@pytest.mark.parametrize(("served", "field", "hint"), [
    (ex("/static/site.css", [("Server", "gunicorn")], "<h1>Not Found</h1>", status=404,
        content_type=HTML), "status", "the image lacks it (collectstatic at build"),
    (ex("/static/site.css", WHITENOISE, content_type="text/plain"), "header:Content-Type",
     "compare the app image's copy"),
], ids=["missing asset", "content type"])
def test_a_real_difference_in_what_whitenoise_serves_is_the_app_image(
        served: Exchange, field: str, hint: str) -> None:
    # whitenoise answers inside the app: the app server, asked directly, says the same.
    verdict, layer, said = layer_of([ex("/static/site.css", RUNSERVER)], [served], served)
    assert verdict.kind == "diverge" and field in fields(verdict)
    assert "header:ETag" not in fields(verdict) and "header:Cache-Control" not in fields(verdict)
    assert layer == APP_IMAGE
    assert said[1].startswith("static files: the app serves this file itself (whitenoise)")
    assert hint in said[1]


def test_a_media_file_the_frontend_does_not_have_names_the_media_directory() -> None:
    verdict, layer, said = layer_of(
        [ex("/media/scans/grid.css", RUNSERVER)],
        [ex("/media/scans/grid.css", NGINX, "<h1>404</h1>", status=404, content_type="text/html")],
        ex("/media/scans/grid.css", [], "<h1>Not Found</h1>", status=404, content_type=HTML))
    assert (verdict.kind, layer) == ("diverge", FRONTEND)
    assert "a media file" in said[0] and "MEDIA_ROOT" in said[1]


# --- Expires: relative to the response's Date ------------------------------------------------

def page(expires_after: int, date: str, **extra: Any) -> Exchange:
    sent = parsedate_to_datetime(date)
    expires = format_datetime(sent + timedelta(seconds=expires_after), usegmt=True)
    return ex("/accounts/login/", [("Date", date), ("Expires", expires),
                                   ("Cache-Control", "max-age=0, no-cache, no-store, "
                                                     "must-revalidate, private")],
              "<form>", content_type=HTML, **extra)


def test_expires_is_compared_relative_to_date() -> None:
    # never_cache: Expires is the time of the response on both sides, seconds apart.
    verdict = verdict_of([page(0, DATE)], [page(0, LATER)])
    assert verdict.kind == "match" and "header_relative expires" in hidden(verdict)
    # The app stamps Expires, the server in front stamps Date: a second may tick between.
    assert verdict_of([page(0, DATE)], [page(-1, LATER)]).kind == "match"


def test_an_expires_that_differs_relative_to_date_is_the_app_image() -> None:
    verdict, layer, said = layer_of([page(0, DATE)], [page(3600, LATER)], page(3600, LATER))
    assert fields(verdict) == {"header:Expires": ("Date + 0 s", "Date + 1 hour")}
    assert layer == APP_IMAGE and "header:Expires Date + 0 s → Date + 1 hour" in said[0]


def download(modified_before: int, date: str, body: str = "report") -> Exchange:
    """The app serving a file the test uploaded (Wagtail's document view), outside media_url."""
    sent = parsedate_to_datetime(date)
    modified = format_datetime(sent - timedelta(seconds=modified_before), usegmt=True)
    return ex("/documents/2/run.txt", [("Date", date), ("Last-Modified", modified)], body,
              content_type="text/plain")


def test_last_modified_of_a_file_written_during_the_run_is_relative_to_date() -> None:
    # Each side uploaded at its own moment; the seconds tick differently before each answer.
    verdict = verdict_of([download(1, DATE)], [download(0, LATER)])
    assert verdict.kind == "match" and "header_relative last-modified" in hidden(verdict)
    # A file from another time (the image's build, a day ago) is still a difference ...
    assert fields(verdict_of([download(0, DATE)], [download(86400, LATER)])) == {
        "header:Last-Modified": ("Date + 0 s", "Date - 1 day")}
    # ... and so is the file's content in the same response.
    assert set(fields(verdict_of([download(1, DATE)], [download(0, LATER, "other")]))) == {"body"}


def test_an_expires_that_is_not_a_date_is_compared_as_it_is() -> None:
    local, stack = page(0, DATE), page(0, LATER)
    stack.headers = [(n, "0" if n == "Expires" else v) for n, v in stack.headers]
    assert fields(verdict_of([local], [stack]))["header:Expires"][1] == "0"


# --- asset URLs: without the cache-busting part, within STATIC_URL -----------------------------

DEV_PAGE = ('<link rel="stylesheet" href="/static/css/main.css">\n'
            '<link rel="stylesheet" href="{base_url}/static/wagtailadmin/css/core.css?v=81dc5f8d">\n'
            '<script src="/static/js/app.min.js"></script>\n<p>Instruments</p>\n')
PRODUCTION_PAGE = ('<link rel="stylesheet" href="/static/css/main.309e4bcbd0d4.css">\n'
                   '<link rel="stylesheet" href="{base_url}/static/wagtailadmin/css/core.21b470d754c3.css">\n'
                   '<script src="/static/js/app.min.0a1b2c3d4e5f.js"></script>\n<p>Instruments</p>\n')


def html(body: str, path: str = "/instruments/", headers: list[tuple[str, str]] | None = None,
         **extra: Any) -> Exchange:
    return ex(path, headers or [], body, content_type=HTML, **extra)


def test_asset_urls_compare_without_their_hash_or_version_query() -> None:
    verdict = verdict_of([html(DEV_PAGE)], [html(PRODUCTION_PAGE)])
    assert verdict.kind == "match", verdict.differences
    assert "asset_url /static/" in hidden(verdict)


@pytest.mark.parametrize(("production", "differs"), [
    (PRODUCTION_PAGE.replace("css/main.309e4bcbd0d4.css", "css/print.309e4bcbd0d4.css"),
     "print.css"),
    (PRODUCTION_PAGE.replace("Instruments", "Instrumente"), "Instrumente"),
    (PRODUCTION_PAGE.replace("/static/js/app.min.0a1b2c3d4e5f.js", "/js/app.min.0a1b2c3d4e5f.js"),
     "/js/app.min.0a1b2c3d4e5f.js"),
], ids=["another asset", "other text", "outside STATIC_URL"])
def test_a_real_difference_in_a_page_with_hashed_assets_is_still_reported(
        production: str, differs: str) -> None:
    verdict, layer, said = layer_of([html(DEV_PAGE)], [html(production)], html(production))
    assert verdict.kind == "diverge" and fields(verdict)["body"][1].count(differs) == 1, \
        verdict.differences
    assert "309e4bcbd0d4" not in (verdict.differences[0].diff or "")  # only what really differs
    assert layer == APP_IMAGE


def test_fetching_the_hashed_url_is_the_same_request_and_the_asset_is_compared() -> None:
    local = [html(DEV_PAGE), ex("/static/css/main.css", RUNSERVER)]
    stack = [html(PRODUCTION_PAGE), ex("/static/css/main.309e4bcbd0d4.css", NGINX)]
    verdict = verdict_of(local, stack)
    assert verdict.kind == "match", verdict.differences
    # ... and a missing or different asset at that URL is reported, with its layer.
    stack[1] = ex("/static/css/main.309e4bcbd0d4.css", NGINX, "<h1>404</h1>", status=404,
                  content_type="text/html")
    verdict, layer, said = layer_of(local, stack, ex("/static/css/main.309e4bcbd0d4.css", [],
                                                     "Not Found", status=404, content_type=HTML))
    assert fields(verdict)["status"] == ("200", "404")
    assert "request" not in fields(verdict)
    assert layer == FRONTEND and "lacks this file" in said[1]


def test_a_request_for_another_file_is_still_another_request() -> None:
    verdict = verdict_of([ex("/static/css/main.css", RUNSERVER)],
                         [ex("/static/css/print.309e4bcbd0d4.css", NGINX)])
    assert fields(verdict)["request"] == ("GET /static/css/main.css",
                                          "GET /static/css/print.309e4bcbd0d4.css")


def test_references_inside_a_collected_stylesheet_compare_without_their_hash() -> None:
    dev = 'body { background: url("../img/grid.png"); }\n@import "fonts.css";\n'
    collected = 'body { background: url("../img/grid.5f2a9c0e1b3d.png"); }\n@import "fonts.0d1c2b3a4f5e.css";\n'
    assert verdict_of([ex("/static/css/main.css", RUNSERVER, dev)],
                      [ex("/static/css/main.309e4bcbd0d4.css", NGINX, collected)]).kind == "match"
    # The same text in a page outside STATIC_URL is compared as it is.
    assert verdict_of([html(dev, "/notes/")], [html(collected, "/notes/")]).kind == "diverge"


def test_json_strings_with_asset_urls_compare_without_the_hash() -> None:
    local = ex("/api/instruments/1/", [], '{"photo": "/static/img/krios.png", "name": "Krios"}',
               content_type="application/json")
    stack = ex("/api/instruments/1/", [], '{"photo": "/static/img/krios.1234567890ab.png", '
               '"name": "Krios"}', content_type="application/json")
    assert verdict_of([local], [stack]).kind == "match"
    stack.body = stack.body.replace("Krios\"}", "Titan\"}")
    assert list(fields(verdict_of([local], [stack]))) == ["body:$.name"]


def test_rules_with_paths_round_trip_and_describe_their_scope() -> None:
    rule = IgnoreRule("header", "ETag", "why", paths=("/static/",))
    assert rule.target == "etag" and rule.describe() == "header etag on /static/"
    assert IgnoreRule.from_dict(rule.to_dict()) == rule
    assert IgnoreRule.from_dict({"kind": "header", "target": "x", "reason": ""}).paths == ()
    assert rule.applies("/static/site.css") and not rule.applies("/api/") \
        and not rule.applies(None)
    both = NoiseRules([rule]).merge(NoiseRules([IgnoreRule("header", "etag", "why")]))
    assert len(both) == 2  # a scoped and an unscoped rule for one header are different rules
