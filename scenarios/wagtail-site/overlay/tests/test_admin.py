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
