"""Booking an instrument through the HTML form: session, CSRF, validation, time zone."""


def instrument_id(environment, slug):
    with environment.db.cursor() as cur:
        cur.execute("select id from bookings_instrument where slug = %s", [slug])
        return cur.fetchone()[0]


def test_form_lists_only_active_instruments(http, browser):
    browser.login("ada")
    r = http.get("/bookings/new/")
    assert r.status_code == 200
    assert "Enter times in Europe/Berlin." in r.text
    assert "NMR 600 MHz</option>" in r.text
    assert "Two-photon Microscope</option>" not in r.text


def test_booking_through_the_form(http, environment, browser):
    browser.login("ada")
    form = {
        "instrument": str(instrument_id(environment, "nmr-600")),
        "start": "2030-04-01T10:00",
        "end": "2030-04-01T14:00",
        "purpose": "HSQC of the new construct",
    }
    r = browser.submit("/bookings/new/", form)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("/bookings/")

    page = http.get(location)
    assert "Booked NMR 600 MHz." in page.text
    assert '<dd class="start">Monday, 1 April 2030, 10:00 CEST</dd>' in page.text

    booking_id = int(location.strip("/").split("/")[-1])
    with environment.db.cursor() as cur:
        cur.execute(
            "select to_char(b.start at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),"
            " u.username, b.purpose from bookings_booking b"
            " join bookings_member m on m.id = b.member_id"
            " join auth_user u on u.id = m.user_id where b.id = %s",
            [booking_id],
        )
        assert cur.fetchone() == ("2030-04-01 08:00", "ada", "HSQC of the new construct")


def test_form_shows_field_errors(browser):
    browser.login("ada")
    form = {"start": "2030-04-02T10:00", "end": "2030-04-02T09:00", "purpose": ""}
    r = browser.submit("/bookings/new/", form)
    assert r.status_code == 400
    assert "This field is required." in r.text  # instrument, purpose


def test_form_refuses_end_before_start(environment, browser):
    browser.login("ada")
    form = {
        "instrument": str(instrument_id(environment, "nmr-600")),
        "start": "2030-04-02T10:00",
        "end": "2030-04-02T09:00",
        "purpose": "backwards",
    }
    r = browser.submit("/bookings/new/", form)
    assert r.status_code == 400
    assert "The end must be after the start." in r.text


def test_form_refuses_other_groups_instrument(environment, browser):
    browser.login("grace")
    form = {
        "instrument": str(instrument_id(environment, "cryo-em-krios")),
        "start": "2030-04-03T10:00",
        "end": "2030-04-03T12:00",
        "purpose": "not my group",
    }
    r = browser.submit("/bookings/new/", form)
    assert r.status_code == 400
    assert "Cryo-EM Titan Krios belongs to Structural Biology; you are not a member." in r.text


def test_form_refuses_maintenance_window(environment, browser):
    browser.login("ada")
    form = {
        "instrument": str(instrument_id(environment, "cryo-em-krios")),
        "start": "2030-03-21T08:00",
        "end": "2030-03-21T12:00",
        "purpose": "during the service",
    }
    r = browser.submit("/bookings/new/", form)
    assert r.status_code == 400
    assert "Cryo-EM Titan Krios is under maintenance: Annual service." in r.text


def test_form_post_without_token_is_forbidden(http, environment, browser):
    browser.login("ada")
    form = {"instrument": instrument_id(environment, "nmr-600"), "purpose": "no token"}
    r = http.post("/bookings/new/", data=form)
    assert r.status_code == 403
