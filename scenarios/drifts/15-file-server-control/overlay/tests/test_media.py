"""Media files: served by the app under runserver, by nginx in the stack."""


def test_instrument_photo_is_served(http):
    r = http.get("/media/instruments/krios.svg")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/svg+xml"
    assert "<title>Cryo-EM Titan Krios</title>" in r.text

