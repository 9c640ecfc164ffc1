"""The JSON API: pagination, detail, validation errors, token-authenticated writes."""

from urllib.parse import urlsplit


def test_api_root_links_are_absolute(http, environment):
    r = http.get("/api/")
    assert r.status_code == 200
    assert r.json() == {
        "instruments": environment.base_url + "/api/instruments/",
        "bookings": environment.base_url + "/api/bookings/",
        "whoami": environment.base_url + "/api/whoami/",
        "echo": environment.base_url + "/api/echo/",
        "health": environment.base_url + "/health/",
    }


def test_instruments_first_page(http, environment):
    r = http.get("/api/instruments/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert (body["count"], body["page"], body["num_pages"]) == (7, 1, 2)
    assert body["previous"] is None
    assert body["next"] == environment.base_url + "/api/instruments/?page=2"
    assert [i["slug"] for i in body["results"]] == [
        "confocal-lsm980", "cryo-em-krios", "itc-calorimeter", "lightsheet-z1", "nmr-600",
    ]


def test_instruments_second_page(http, environment):
    body = http.get("/api/instruments/", params={"page": 2}).json()
    assert [i["slug"] for i in body["results"]] == ["two-photon", "xray-diffractometer"]
    assert body["next"] is None
    assert body["previous"] == environment.base_url + "/api/instruments/?page=1"
    assert body["results"][0]["is_active"] is False


def test_instruments_filtered_by_group(http):
    body = http.get("/api/instruments/", params={"group": "microscopy-core"}).json()
    assert body["count"] == 3
    assert {i["group"] for i in body["results"]} == {"microscopy-core"}


def test_page_out_of_range_is_404(http):
    r = http.get("/api/instruments/", params={"page": 9})
    assert r.status_code == 404
    assert r.json() == {"error": "Page 9 does not exist; there are 2."}


def test_page_that_is_not_a_number_is_400(http):
    r = http.get("/api/instruments/", params={"page": "last"})
    assert r.status_code == 400
    assert r.json() == {"errors": {"page": ["'last' is not a page number."]}}


def test_instrument_detail(http, environment):
    r = http.get("/api/instruments/cryo-em-krios/")
    assert r.status_code == 200
    assert r.json() == {
        "slug": "cryo-em-krios",
        "name": "Cryo-EM Titan Krios",
        "group": "structural-biology",
        "location": "B2.014",
        "max_booking_hours": 24,
        "is_active": True,
        "url": environment.base_url + "/api/instruments/cryo-em-krios/",
        "maintenance": [
            {
                "start": "2030-03-20T07:00:00+01:00",
                "end": "2030-03-22T19:00:00+01:00",
                "reason": "Annual service",
            },
        ],
    }


def test_unknown_instrument_is_json_404(http):
    r = http.get("/api/instruments/no-such-thing/")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": "Not found."}


def test_unknown_api_path_is_json_404(http):
    r = http.get("/api/nothing/here/")
    assert r.status_code == 404
    assert r.json() == {"error": "Not found."}


def test_booking_detail(http, environment):
    r = http.get("/api/bookings/1/")
    assert r.status_code == 200
    body = r.json()
    assert body["instrument"] == "cryo-em-krios"
    assert body["member"] == "ada"
    assert body["start"] == "2030-03-10T09:00:00+01:00"
    assert body["end"] == "2030-03-10T21:00:00+01:00"
    assert body["hours"] == 12.0
    assert body["page"] == environment.base_url + "/bookings/1/"
    assert [a["filename"] for a in body["attachments"]] == ["grid-plan.txt"]


def test_booking_list_count_matches_this_database(http, environment):
    body = http.get("/api/bookings/").json()
    with environment.db.cursor() as cur:
        cur.execute("select count(*) from bookings_booking")
        assert body["count"] == cur.fetchone()[0]
    starts = [b["start"] for b in body["results"]]
    assert starts == sorted(starts)


def test_bookings_filtered_by_instrument(http):
    body = http.get("/api/bookings/", params={"instrument": "confocal-lsm980"}).json()
    assert body["count"] >= 1
    assert {b["instrument"] for b in body["results"]} == {"confocal-lsm980"}


def test_create_booking_needs_a_token(http):
    r = http.post("/api/bookings/", json={"instrument": "nmr-600"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'LabToken header="X-Lab-Token"'
    assert r.json() == {"error": "Send your API token in the X-Lab-Token header."}


def test_create_booking(http, environment, as_user):
    new = {"instrument": "itc-calorimeter", "start": "2030-05-06T09:00:00+02:00",
           "end": "2030-05-06T12:30:00+02:00", "purpose": "Binding of ligand 7"}
    r = http.post("/api/bookings/", json=new, headers=as_user("ada"))
    assert r.status_code == 201
    body = r.json()
    assert r.headers["Location"] == body["url"]
    assert body["url"] == f"{environment.base_url}/api/bookings/{body['id']}/"
    assert (body["start"], body["end"], body["hours"]) == (new["start"], new["end"], 3.5)

    with environment.db.cursor() as cur:
        cur.execute(
            "select i.slug, b.purpose from bookings_booking b"
            " join bookings_instrument i on i.id = b.instrument_id where b.id = %s",
            [body["id"]],
        )
        assert cur.fetchone() == ("itc-calorimeter", "Binding of ligand 7")
    assert http.get(urlsplit(body["url"]).path).json()["purpose"] == "Binding of ligand 7"


def test_create_booking_reports_every_missing_field(http, as_user):
    r = http.post("/api/bookings/", json={}, headers=as_user("ada"))
    assert r.status_code == 400
    assert r.json() == {"errors": {
        "instrument": ["This field is required."],
        "start": ["This field is required."],
        "end": ["This field is required."],
        "purpose": ["This field is required."],
    }}


def test_create_booking_needs_offsets_and_real_dates(http, as_user):
    new = {"instrument": "nmr-600", "start": "2030-05-07T09:00:00",
           "end": "2030-02-30T10:00:00+01:00", "purpose": "bad times"}
    r = http.post("/api/bookings/", json=new, headers=as_user("ada"))
    assert r.status_code == 400
    assert r.json() == {"errors": {
        "start": ["Include a UTC offset, e.g. 2030-03-10T09:00:00+01:00."],
        "end": ["'2030-02-30T10:00:00+01:00' is not an ISO 8601 date and time."],
    }}


def test_create_booking_longer_than_allowed(http, as_user):
    new = {"instrument": "itc-calorimeter", "start": "2030-05-08T08:00:00+02:00",
           "end": "2030-05-08T14:00:00+02:00", "purpose": "too long"}
    r = http.post("/api/bookings/", json=new, headers=as_user("ada"))
    assert r.status_code == 400
    assert r.json() == {"errors": {"end": ["ITC Calorimeter can be booked for at most 4 hours."]}}


def test_create_booking_that_clashes(http, as_user):
    new = {"instrument": "cryo-em-krios", "start": "2030-03-10T20:00:00+01:00",
           "end": "2030-03-11T02:00:00+01:00", "purpose": "overlaps booking 1"}
    r = http.post("/api/bookings/", json=new, headers=as_user("ada"))
    assert r.status_code == 400
    assert r.json() == {"errors": {"start": [
        "Cryo-EM Titan Krios is already booked from 2030-03-10 09:00 CET to 2030-03-10 21:00 CET.",
    ]}}


def test_create_booking_on_retired_instrument(http, as_user):
    new = {"instrument": "two-photon", "start": "2030-05-09T08:00:00+02:00",
           "end": "2030-05-09T09:00:00+02:00", "purpose": "retired"}
    r = http.post("/api/bookings/", json=new, headers=as_user("grace"))
    assert r.status_code == 400
    assert r.json() == {
        "errors": {"instrument": ["Two-photon Microscope is retired and cannot be booked."]},
    }


def test_create_booking_with_broken_json(http, as_user):
    headers = {**as_user("ada"), "Content-Type": "application/json"}
    r = http.post("/api/bookings/", data=b"{not json", headers=headers)
    assert r.status_code == 400
    assert r.json() == {"errors": {"__all__": ["The request body is not valid JSON."]}}


def test_cancel_own_booking(http, environment, as_user):
    new = {"instrument": "lightsheet-z1", "start": "2030-05-10T08:00:00+02:00",
           "end": "2030-05-10T10:00:00+02:00", "purpose": "to be cancelled"}
    created = http.post("/api/bookings/", json=new, headers=as_user("grace")).json()
    path = urlsplit(created["url"]).path
    r = http.delete(path, headers=as_user("grace"))
    assert r.status_code == 204
    assert r.content == b""
    assert http.get(path).status_code == 404
    with environment.db.cursor() as cur:
        cur.execute("select count(*) from bookings_booking where id = %s", [created["id"]])
        assert cur.fetchone()[0] == 0


def test_cancel_someone_elses_booking_is_forbidden(http, as_user):
    r = http.delete("/api/bookings/1/", headers=as_user("grace"))
    assert r.status_code == 403
    assert r.json() == {"error": "Only the member who made a booking can cancel it."}


def test_wrong_method_is_json_405(http):
    r = http.put("/api/bookings/", json={})
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, POST"
    assert r.json() == {"error": "PUT is not allowed here."}
