"""Drifts 09a/09b: tests that check status codes only, so they pass with DEBUG on or off."""


def test_missing_instrument_page_is_404(http):
    assert http.get("/instruments/no-such-instrument/").status_code == 404


def test_missing_booking_is_404(http):
    assert http.get("/bookings/999/").status_code == 404


def test_post_without_csrf_token_is_403(http):
    assert http.post("/bookings/new/", data={"purpose": "no token"}).status_code == 403


def test_instrument_list_is_200(http):
    assert http.get("/instruments/").status_code == 200
