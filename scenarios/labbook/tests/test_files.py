"""Attachments: multipart upload through the API and the HTML form, download."""

import hashlib
from urllib.parse import urlsplit

SPECTRUM = bytes(range(256)) * 40  # 10 KiB, the same bytes in every run


def test_download_seeded_attachment(http):
    r = http.get("/attachments/1/download/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Content-Disposition"] == 'attachment; filename="grid-plan.txt"'
    assert r.content.startswith(b"Grid plan for apoferritin screening\n")
    assert r.headers["X-Content-SHA256"] == hashlib.sha256(r.content).hexdigest()


def test_upload_and_download(http, environment, as_user):
    http.ignore(json_paths=["$.uploaded_at"], reason="the time of the upload")
    files = {"file": ("spectrum.bin", SPECTRUM, "application/octet-stream")}
    r = http.post("/api/bookings/3/attachments/", files=files, headers=as_user("ada"))
    assert r.status_code == 201
    body = r.json()
    assert (body["filename"], body["size"], body["booking"]) == ("spectrum.bin", 10240, 3)
    assert body["sha256"] == hashlib.sha256(SPECTRUM).hexdigest()
    assert body["download_url"] == f"{environment.base_url}/attachments/{body['id']}/download/"

    download = http.get(urlsplit(body["download_url"]).path)
    assert download.status_code == 200
    assert download.content == SPECTRUM
    assert download.headers["Content-Length"] == "10240"
    with environment.db.cursor() as cur:
        cur.execute(
            "select size, length(data), sha256 from bookings_attachment where id = %s", [body["id"]]
        )
        assert cur.fetchone() == (10240, 10240, body["sha256"])


def test_upload_needs_a_token(http):
    r = http.post("/api/bookings/3/attachments/", files={"file": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 401


def test_upload_to_someone_elses_booking_is_forbidden(http, as_user):
    r = http.post("/api/bookings/3/attachments/", files={"file": ("a.txt", b"hello", "text/plain")},
                  headers=as_user("grace"))
    assert r.status_code == 403


def test_upload_without_a_file_is_400(http, as_user):
    r = http.post("/api/bookings/3/attachments/", data={"note": "no file"}, headers=as_user("ada"))
    assert r.status_code == 400
    assert r.json() == {"errors": {"file": ["Send the file as multipart/form-data field 'file'."]}}


def test_upload_of_an_empty_file_is_400(http, as_user):
    r = http.post("/api/bookings/3/attachments/", files={"file": ("empty.txt", b"", "text/plain")},
                  headers=as_user("ada"))
    assert r.status_code == 400
    assert r.json() == {"errors": {"file": ["The file is empty."]}}


def test_upload_through_the_form(http, browser):
    browser.login("grace")
    notes = b"Laser power 5%\nObjective 63x oil\n" * 100
    r = browser.submit("/bookings/2/", {}, action="/bookings/2/attachments/",
                       files={"file": ("imaging-notes.txt", notes, "text/plain")})
    assert r.status_code == 302
    assert r.headers["Location"] == "/bookings/2/"
    page = http.get("/bookings/2/")
    assert "Attached imaging-notes.txt." in page.text
    assert f"imaging-notes.txt</a> ({len(notes)} bytes)" in page.text
