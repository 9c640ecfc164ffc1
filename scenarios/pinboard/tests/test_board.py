"""pinboard's behavior: the same tests against runserver and against the stack its own
Dockerfile and docker-compose.yml make (uWSGI, WhiteNoise, Redis; no nginx)."""

import re


def test_board_lists_the_published_pins(http):
    r = http.get("/")
    assert r.status_code == 200
    titles = re.findall(r'<a href="/pins/\d+/">([^<]+)</a>', r.text)
    assert titles[-3:] == ["Release 2.4 is out", "Coffee machine descaled", "Standup moved to 9:30"]
    assert "Team lunch (draft)" not in titles


def test_board_links_the_stylesheet(http):
    r = http.get("/")
    assert '<link rel="stylesheet" href="/static/pinboard/site.css">' in r.text


def test_stylesheet_is_served(http):
    http.ignore(headers=["Last-Modified", "ETag"],
                reason="the checkout's file and the image's copy have their own modification times")
    r = http.get("/static/pinboard/site.css")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "text/css"
    assert r.text.startswith("/* Pinboard */")


def test_pin_page(http):
    link = re.search(r'<a href="(/pins/\d+/)">Standup moved to 9:30</a>', http.get("/").text)
    assert link is not None
    r = http.get(link.group(1))
    assert r.status_code == 200
    assert "<h2>Standup moved to 9:30</h2>" in r.text
    assert "Pinned 4 March 2024, 08:00 UTC" in r.text


def test_missing_pin_is_404(http):
    assert http.get("/pins/9999/").status_code == 404


def test_security_headers(http):
    r = http.get("/")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
