"""The editors' entrance."""


def test_admin_login_page(http):
    response = http.get("/admin/login/")
    assert response.status_code == 200
    assert "Sign in" in response.text
    assert 'name="csrfmiddlewaretoken"' in response.text


def test_admin_requires_a_login(http):
    response = http.get("/admin/", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login/?next=")


def test_a_wrong_password_is_refused_by_the_login_form(http):
    """A form POST with its CSRF token, as a browser sends it (over HTTPS in the stack)."""
    form = http.get("/admin/login/")
    token = form.cookies.get("csrftoken") or http.cookies.get("csrftoken")
    assert token
    response = http.post("/admin/login/", data={"username": "nobody", "password": "wrong",
                                                "csrfmiddlewaretoken": token, "next": "/admin/"})
    assert response.status_code == 200
    assert "Your username and password didn" in response.text
