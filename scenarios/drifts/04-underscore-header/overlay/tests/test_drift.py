"""Drift 04: a client that spells its token header with underscores."""


def test_legacy_client_token_header(http):
    r = http.get("/whoami", headers={"X_Hello_Token": "grace-token"})
    assert r.json() == {"user": "grace"}
