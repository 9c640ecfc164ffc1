"""Drift 03: an attachment bigger than nginx's default client_max_body_size (1 MiB)."""

import pytest

SCAN = bytes(range(256)) * 6000  # 1.5 MB; labbook accepts up to 5 MiB


# parity may send the POST again straight to the app server, to tell which layer refused it.
@pytest.mark.parity_replay
def test_upload_of_a_large_scan(http, as_user):
    http.ignore(json_paths=["$.uploaded_at"], reason="the time of the upload")
    files = {"file": ("scan.bin", SCAN, "application/octet-stream")}
    r = http.post("/api/bookings/3/attachments/", files=files, headers=as_user("ada"))
    assert r.status_code == 201
    assert r.json()["size"] == len(SCAN)
