"""The JSON API and the service endpoints."""


def test_api_lists_published_pins_newest_first(http):
    r = http.get("/api/pins/")
    assert r.status_code == 200
    pins = r.json()["pins"]
    assert [p["title"] for p in pins] == ["Release 2.4 is out", "Coffee machine descaled",
                                          "Standup moved to 9:30"]
    assert all(p["published"] for p in pins)


def test_add_a_pin(http, environment):
    http.ignore(json_paths=["$.created", "$.pins[0].created"],
                reason="the new pin is created now, on each side at its own time")
    r = http.post("/api/pins/", json={"title": "Fire drill on Thursday", "body": "At 10:00."})
    assert r.status_code == 201
    assert r.json()["title"] == "Fire drill on Thursday"
    assert http.get("/api/pins/").json()["pins"][0]["title"] == "Fire drill on Thursday"
    with environment.db.cursor() as cur:
        cur.execute("select count(*) from pinboard_pin where title = 'Fire drill on Thursday'")
        assert cur.fetchone() == (1,)


def test_a_pin_needs_a_title(http):
    r = http.post("/api/pins/", json={"body": "no title"})
    assert r.status_code == 400
    assert r.json() == {"error": "title: 1 to 120 characters"}


def test_health(http):
    assert http.get("/health/").json() == {"database": "ok", "cache": "ok"}


def test_visits_are_counted_once_for_all_workers(http):
    counts = [http.get("/api/visits/").json()["visits"] for _ in range(6)]
    assert counts == [1, 2, 3, 4, 5, 6]
