"""The content API the site's apps read."""


def test_pages_are_listed(http):
    response = http.get("/api/v2/pages/", params={"type": "articles.ArticlePage", "fields": "intro"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(item["title"], item["intro"]) for item in items] == [
        ("Opening hours", "The lab is open on weekdays.")]


def test_a_page_in_detail(http):
    listing = http.get("/api/v2/pages/", params={"slug": "opening-hours"}).json()
    detail = http.get(f"/api/v2/pages/{listing['items'][0]['id']}/")
    assert detail.status_code == 200
    assert detail.json()["meta"]["html_url"].endswith("/opening-hours/")


def test_documents_are_listed(http):
    response = http.get("/api/v2/documents/")
    assert response.status_code == 200
    titles = [item["title"] for item in response.json()["items"]]
    assert "Safety rules" in titles
