"""Session login and logout."""


def test_booking_form_needs_login(http):
    r = http.get("/bookings/new/", allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == "/accounts/login/?next=/bookings/new/"


def test_login_form_sets_csrf_cookie(http):
    r = http.get("/accounts/login/")
    assert r.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in r.text
    assert "csrftoken" in r.cookies


def test_wrong_password_is_refused(http, browser):
    r = browser.submit("/accounts/login/", {"username": "ada", "password": "not-her-password"})
    assert r.status_code == 200
    assert "didn't match" in r.text
    assert http.get("/api/whoami/").json() == {"username": None, "auth": None, "groups": []}


def test_login_then_logout(http, browser):
    r = browser.login("ada")
    assert r.headers["Location"] == "/bookings/mine/"
    assert http.get("/api/whoami/").json() == {
        "username": "ada", "auth": "session", "groups": ["structural-biology"],
    }
    r = browser.submit("/bookings/mine/", {}, action="/accounts/logout/")
    assert r.status_code == 302
    assert r.headers["Location"] == "/instruments/"
    assert http.get("/api/whoami/").json()["username"] is None


def test_login_returns_to_next(browser):
    r = browser.login("grace", next_url="/bookings/new/")
    assert r.headers["Location"] == "/bookings/new/"


def test_logout_needs_post(http, browser):
    browser.login("ada")
    r = http.get("/accounts/logout/")
    assert r.status_code == 405


def test_my_bookings_lists_only_mine(http, browser):
    browser.login("grace")
    r = http.get("/bookings/mine/")
    assert r.status_code == 200
    assert "<h1>My bookings</h1>" in r.text
    assert "Live-cell imaging, HeLa" in r.text
    assert "Apoferritin grid screening" not in r.text
    assert "Log out grace" in r.text
