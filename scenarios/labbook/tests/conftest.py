"""Helpers for labbook's behavior tests.

The tests themselves use only parity's `http` and `environment` fixtures. The demo data
they rely on comes from migration bookings/0002_demo_data, so every environment's fresh
database starts with the same rows and no test writes the database directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests

DEMO_PASSWORD = "labbook-demo"
TOKENS = {"ada": "ada-structbio-token", "grace": "grace-microscopy-token"}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Browser:
    """Form-filling on top of `http`: CSRF tokens from the page, session login."""

    def __init__(self, http: requests.Session) -> None:
        self.http = http

    def csrf_token(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, f"GET {path} gave {page.status_code}"
        match = CSRF_INPUT.search(page.text)
        assert match, f"no CSRF token in the form at {path}"
        return match.group(1)

    def submit(self, path: str, data: dict[str, str], *, action: str | None = None,
               files: dict[str, tuple[str, bytes, str]] | None = None) -> requests.Response:
        """GET the form at `path`, then POST `data` with its CSRF token (redirects not followed)."""
        token = self.csrf_token(path)
        return self.http.post(action or path, data={**data, "csrfmiddlewaretoken": token},
                              files=files, allow_redirects=False)

    def login(
        self, username: str, password: str = DEMO_PASSWORD, next_url: str = ""
    ) -> requests.Response:
        form = {"username": username, "password": password, "next": next_url}
        response = self.submit("/accounts/login/", form)
        assert response.status_code == 302, f"login as {username} failed: {response.status_code}"
        return response


@pytest.fixture
def browser(http: requests.Session) -> Browser:
    return Browser(http)


@pytest.fixture
def as_user() -> Callable[[str], dict[str, str]]:
    """`as_user("ada")`: the headers that authenticate an API request as that member."""

    def headers(username: str) -> dict[str, str]:
        return {"X-Lab-Token": TOKENS[username]}

    return headers
