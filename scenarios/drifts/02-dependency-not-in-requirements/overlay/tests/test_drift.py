"""Drift 02: the developer turned highlighting on and tested it; it passes in the virtualenv."""


def test_instrument_page_highlights_the_setup_snippet(http):
    r = http.get("/instruments/nmr-600/")
    assert r.status_code == 200
    assert '<div class="highlight"><pre>' in r.text
