"""The stylesheet a page links, fetched from the URL the page names."""

import re

STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)">')


def test_the_stylesheet_a_page_links_is_served(http):
    page = http.get("/instruments/")
    assert page.status_code == 200
    href = STYLESHEET.search(page.text).group(1)
    assert href.startswith("/static/labbook/site.") and href.endswith(".css")
    r = http.get(href)
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "text/css"
    assert "/* Labbook: lab equipment bookings */" in r.text
