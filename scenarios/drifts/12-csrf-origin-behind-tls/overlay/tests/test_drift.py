"""Drift 12: a form POST over HTTPS behind a frontend that drops the port from Host."""

import pytest


# parity may send the POST again straight to the app server, to tell which layer refused it.
@pytest.mark.parity_replay
def test_login_through_the_form(http, browser):
    response = browser.submit("/accounts/login/", {"username": "ada", "password": "labbook-demo",
                                                   "next": ""})
    assert response.status_code == 302
