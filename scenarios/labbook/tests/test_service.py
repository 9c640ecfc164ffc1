"""Health, what the app sees of the request behind the proxy, and the database schema."""

from urllib.parse import urlsplit


def test_health(http):
    r = http.get("/health/")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "time_zone": "Europe/Berlin"}


def test_absolute_urls_use_the_address_the_client_used(http, environment):
    # The stack is served over https, runserver over http: is_secure says so, on purpose.
    http.ignore(json_paths=["$.is_secure"], reason="labbook's echo reports is_secure: "
                "local runserver speaks http, the stack https")
    r = http.get("/api/echo/", params={"probe": "1"})
    body = r.json()
    base = urlsplit(environment.base_url)
    assert body["host"] == base.netloc
    assert (body["scheme"], body["is_secure"]) == (base.scheme, base.scheme == "https")
    assert body["absolute_uri"] == environment.base_url + "/api/echo/?probe=1"
    assert (body["method"], body["path"], body["query"]) == ("GET", "/api/echo/", {"probe": "1"})


def test_lab_headers_reach_the_app(http):
    http.ignore(json_paths=["$.is_secure"], reason="labbook's echo reports is_secure: "
                "local runserver speaks http, the stack https")
    r = http.get("/api/echo/", headers={"X-Lab-Token": "shown-to-echo", "X-Lab-Request": "42"})
    assert r.json()["lab_headers"] == {"X-Lab-Request": "42", "X-Lab-Token": "shown-to-echo"}


def test_whoami_with_a_token(http, as_user):
    r = http.get("/api/whoami/", headers=as_user("grace"))
    assert r.json() == {"username": "grace", "auth": "token", "groups": ["microscopy-core"]}


def test_whoami_with_an_unknown_token(http):
    r = http.get("/api/whoami/", headers={"X-Lab-Token": "nobody"})
    assert r.json() == {"username": None, "auth": None, "groups": []}


def test_database_constraints(environment):
    with environment.db.cursor() as cur:
        cur.execute(
            "select conname, pg_get_constraintdef(oid) from pg_constraint"
            " where conrelid::regclass::text like 'bookings_%' and contype in ('c', 'u')"
            " order by conname"
        )
        constraints = dict(cur.fetchall())
    assert constraints["booking_end_after_start"] == 'CHECK (("end" > start))'
    assert constraints["booking_unique_instrument_start"] == "UNIQUE (instrument_id, start)"
    assert constraints["instrument_max_booking_hours_positive"] == "CHECK ((max_booking_hours > 0))"
    assert constraints["member_unique_user_group"] == "UNIQUE (user_id, group_id)"


def test_booking_index(environment):
    with environment.db.cursor() as cur:
        cur.execute(
            "select indexdef from pg_indexes where indexname = 'booking_instrument_start_idx'"
        )
        (definition,) = cur.fetchone()
    assert definition.endswith("USING btree (instrument_id, start)")


def test_times_are_stored_as_timestamptz(environment):
    with environment.db.cursor() as cur:
        cur.execute(
            "select data_type from information_schema.columns"
            " where table_name = 'bookings_booking' and column_name = 'start'"
        )
        assert cur.fetchone() == ("timestamp with time zone",)
