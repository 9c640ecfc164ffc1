"""Pages as a visitor sees them: the home page, and an article with its photo and assets."""

import re


def test_home_page(http):
    response = http.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["Content-Type"]
    assert "Welcome to your new Wagtail site!" in response.text


def test_article_shows_its_photo(http):
    response = http.get("/opening-hours/")
    assert response.status_code == 200
    assert "<h1>Opening hours</h1>" in response.text
    photo = re.search(r'<img[^>]+src="([^"]+)"', response.text)
    assert photo, response.text
    rendition = http.get(photo.group(1))
    assert rendition.status_code == 200
    assert rendition.headers["Content-Type"] == "image/png"


def test_stylesheets_and_scripts_of_a_page_are_served(http):
    page = http.get("/opening-hours/")
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert len(assets) >= 2, page.text
    for asset in assets:
        response = http.get(asset)
        assert response.status_code == 200, asset


def test_search_finds_the_article(http):
    response = http.get("/search/", params={"query": "opening"})
    assert response.status_code == 200
    assert "Opening hours" in response.text


def test_an_unknown_page_is_not_found(http):
    assert http.get("/no-such-page/").status_code == 404
