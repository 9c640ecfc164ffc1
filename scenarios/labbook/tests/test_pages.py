"""The HTML pages anyone can see."""

import pytest


def test_home_redirects_to_the_instrument_list(http):
    r = http.get("/", allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == "/instruments/"


def test_instrument_list(http):
    r = http.get("/instruments/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    for name in ("Confocal LSM 980", "Cryo-EM Titan Krios", "NMR 600 MHz", "X-ray Diffractometer"):
        assert name in r.text
    assert "retired" in r.text  # the two-photon microscope


def test_instrument_page_shows_setup_and_maintenance(http):
    r = http.get("/instruments/cryo-em-krios/")
    assert r.status_code == 200
    assert "<h1>Cryo-EM Titan Krios</h1>" in r.text
    assert "relion_import --do_movies" in r.text
    assert "2030-03-20 07:00 CET – 2030-03-22 19:00 CET: Annual service" in r.text


def test_unknown_page_is_the_html_404(http):
    r = http.get("/instruments/no-such-thing/")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "There is nothing at /instruments/no-such-thing/." in r.text


def test_booking_list(http):
    r = http.get("/bookings/")
    assert r.status_code == 200
    assert "Apoferritin grid screening" in r.text
    assert "Live-cell imaging, HeLa" in r.text


@pytest.mark.parametrize(
    ("booking", "start"),
    [(1, "Sunday, 10 March 2030, 09:00 CET"), (3, "Saturday, 1 June 2030, 09:00 CEST")],
)
def test_booking_page_shows_local_time(http, booking, start):
    r = http.get(f"/bookings/{booking}/")
    assert r.status_code == 200
    assert f'<dd class="start">{start}</dd>' in r.text
    assert "Times are shown in Europe/Berlin." in r.text


def test_pages_link_the_stylesheet(http):
    r = http.get("/bookings/")
    assert '<link rel="stylesheet" href="/static/labbook/site.css">' in r.text


def test_stylesheet_is_served(http):
    r = http.get("/static/labbook/site.css")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "text/css"
    assert "/* Labbook: lab equipment bookings */" in r.text


def test_security_headers(http):
    r = http.get("/instruments/")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"


def test_post_without_csrf_token_is_forbidden(http):
    r = http.post("/bookings/new/", data={"purpose": "no token"})
    assert r.status_code == 403
    assert "CSRF verification failed" in r.text
