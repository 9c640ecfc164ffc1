"""wsgi-hello: greetings on Postgres, as one WSGI callable with no framework.

The database comes from DATABASE_URL (parity gives each environment its own). Requests that
write need the `X-Hello-Token` header; TOKENS says whose it is.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import psycopg2

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]

TOKENS = {"hello-token": "ada", "grace-token": "grace"}
MAX_NAME = 40
REASONS = {200: "OK", 201: "Created", 301: "Moved Permanently", 400: "Bad Request",
           401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
GREETING_PATH = re.compile(r"^/greetings/(\d+)$")


class Response:
    def __init__(self, status: int, body: bytes, content_type: str,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        self.status = status
        self.body = body
        self.headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
                        ("X-Content-Type-Options", "nosniff"), *headers]


def as_json(status: int, data: object, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, json.dumps(data, sort_keys=True).encode(), "application/json", headers)


def connect() -> Any:
    return psycopg2.connect(os.environ["DATABASE_URL"])


def user_of(environ: Environ) -> str | None:
    # The WSGI server turns a request header `X-Hello-Token` into HTTP_X_HELLO_TOKEN.
    return TOKENS.get(environ.get("HTTP_X_HELLO_TOKEN", ""))


def greeting_json(row: tuple[int, str, str]) -> dict[str, object]:
    return {"id": row[0], "name": row[1], "by": row[2], "url": f"/greetings/{row[0]}"}


def home(environ: Environ) -> Response:
    with connect() as db, db.cursor() as cur:
        cur.execute("select name from greetings order by id")
        names = [name for (name,) in cur.fetchall()]
    items = "".join(f"<li>Hello, {html.escape(name)}!</li>" for name in names)
    page = (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>wsgi-hello</title></head>\n"
        f"<body><h1>Hello</h1>\n<p>{len(names)} greetings</p>\n<ul>{items}</ul>\n</body></html>\n"
    )
    return Response(200, page.encode(), "text/html; charset=utf-8")


def health(environ: Environ) -> Response:
    with connect() as db, db.cursor() as cur:
        cur.execute("select 1")
        ok = cur.fetchone() == (1,)
    return as_json(200, {"status": "ok", "database": "ok" if ok else "broken"})


def greetings(environ: Environ) -> Response:
    if environ["REQUEST_METHOD"] == "POST":
        return add_greeting(environ)
    with connect() as db, db.cursor() as cur:
        cur.execute("select id, name, by from greetings order by id")
        rows = cur.fetchall()
    return as_json(200, {"count": len(rows), "greetings": [greeting_json(r) for r in rows]})


def add_greeting(environ: Environ) -> Response:
    user = user_of(environ)
    if user is None:
        return as_json(401, {"error": "Send your token in the X-Hello-Token header."})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        data = json.loads(environ["wsgi.input"].read(length) or b"null")
    except ValueError:
        return as_json(400, {"error": "The body is not JSON."})
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        return as_json(400, {"error": f"Give a name of 1 to {MAX_NAME} characters."})
    with connect() as db, db.cursor() as cur:
        cur.execute("insert into greetings (name, by) values (%s, %s) on conflict (name) do nothing"
                    " returning id, name, by", [name.strip(), user])
        row = cur.fetchone()
    if row is None:
        return as_json(400, {"error": f"{name.strip()} is greeted already."})
    return as_json(201, greeting_json(row), [("Location", f"/greetings/{row[0]}")])


def greeting(environ: Environ, number: int) -> Response:
    with connect() as db, db.cursor() as cur:
        cur.execute("select id, name, by from greetings where id = %s", [number])
        row = cur.fetchone()
    if row is None:
        return as_json(404, {"error": f"There is no greeting {number}."})
    return as_json(200, greeting_json(row))


def whoami(environ: Environ) -> Response:
    return as_json(200, {"user": user_of(environ)})


def moved(environ: Environ) -> Response:
    return Response(301, b"", "text/plain", [("Location", "/greetings")])


ROUTES: dict[str, tuple[tuple[str, ...], Callable[[Environ], Response]]] = {
    "/": (("GET",), home),
    "/health": (("GET",), health),
    "/greetings": (("GET", "POST"), greetings),
    "/whoami": (("GET",), whoami),
    "/old-greetings": (("GET",), moved),
}


def route(environ: Environ) -> Response:
    path, method = environ.get("PATH_INFO") or "/", environ["REQUEST_METHOD"]
    match = GREETING_PATH.match(path)
    if match and method == "GET":
        return greeting(environ, int(match.group(1)))
    if path not in ROUTES:
        return as_json(404, {"error": f"Nothing at {path}."})
    methods, view = ROUTES[path]
    if method not in methods:
        return as_json(405, {"error": f"{method} is not allowed here."}, [("Allow", ", ".join(methods))])
    return view(environ)


def application(environ: Environ, start_response: StartResponse) -> list[bytes]:
    response = route(environ)
    start_response(f"{response.status} {REASONS[response.status]}", response.headers)
    return [response.body]
