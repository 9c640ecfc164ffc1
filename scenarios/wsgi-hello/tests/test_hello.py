"""wsgi-hello's behavior: the same file runs against the WSGI dev server and the stack."""

TOKEN = {"X-Hello-Token": "hello-token"}


def test_home_page(http):
    r = http.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<li>Hello, world!</li><li>Hello, parity!</li>" in r.text


def test_health(http):
    r = http.get("/health")
    assert r.json() == {"status": "ok", "database": "ok"}


def test_greetings_from_the_release_step(http):
    r = http.get("/greetings")
    assert r.status_code == 200
    assert [g["name"] for g in r.json()["greetings"]] == ["world", "parity"]


def test_add_a_greeting(http, environment):
    r = http.post("/greetings", json={"name": "stack"}, headers=TOKEN)
    assert r.status_code == 201
    body = r.json()
    assert (body["name"], body["by"]) == ("stack", "ada")
    assert r.headers["Location"] == body["url"]
    assert http.get(body["url"]).json() == body
    with environment.db.cursor() as cur:
        cur.execute("select by from greetings where name = 'stack'")
        assert cur.fetchone() == ("ada",)


def test_adding_needs_a_token(http):
    r = http.post("/greetings", json={"name": "nobody"})
    assert r.status_code == 401
    assert r.json() == {"error": "Send your token in the X-Hello-Token header."}


def test_adding_refuses_bad_input(http):
    assert http.post("/greetings", data=b"{not json", headers=TOKEN).status_code == 400
    r = http.post("/greetings", json={"name": "x" * 41}, headers=TOKEN)
    assert r.json() == {"error": "Give a name of 1 to 40 characters."}
    r = http.post("/greetings", json={"name": "world"}, headers=TOKEN)
    assert r.json() == {"error": "world is greeted already."}


def test_token_header_reaches_the_app(http):
    assert http.get("/whoami", headers={"X-Hello-Token": "grace-token"}).json() == {"user": "grace"}
    assert http.get("/whoami").json() == {"user": None}


def test_old_address_redirects(http):
    r = http.get("/old-greetings", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == "/greetings"


def test_unknown_greeting_and_path_are_json_404(http):
    assert http.get("/greetings/999").json() == {"error": "There is no greeting 999."}
    r = http.get("/no/such/thing")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"


def test_wrong_method_is_405(http):
    r = http.delete("/greetings")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, POST"
