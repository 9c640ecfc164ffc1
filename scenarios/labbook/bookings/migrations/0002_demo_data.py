"""Demo data: two research groups, their instruments, three users and a few bookings.

Every environment migrates its own fresh database, so these rows (and their ids) are the same
everywhere. Demo users log in with the password "labbook-demo".
"""

import hashlib
from datetime import UTC, datetime

from django.contrib.auth.hashers import make_password
from django.db import migrations

DEMO_PASSWORD = "labbook-demo"

GROUPS = [
    ("structural-biology", "Structural Biology"),
    ("microscopy-core", "Microscopy Core"),
]

INSTRUMENTS = [
    # slug, name, group, location, max_booking_hours, is_active
    ("cryo-em-krios", "Cryo-EM Titan Krios", "structural-biology", "B2.014", 24, True),
    ("xray-diffractometer", "X-ray Diffractometer", "structural-biology", "B1.102", 8, True),
    ("nmr-600", "NMR 600 MHz", "structural-biology", "B1.110", 12, True),
    ("itc-calorimeter", "ITC Calorimeter", "structural-biology", "B1.120", 4, True),
    ("confocal-lsm980", "Confocal LSM 980", "microscopy-core", "C0.201", 4, True),
    ("lightsheet-z1", "Lightsheet Z.1", "microscopy-core", "C0.205", 6, True),
    ("two-photon", "Two-photon Microscope", "microscopy-core", "C0.210", 4, False),
]

USERS = [
    # username, first name, last name, is_staff, [(group, role, api token)]
    ("ada", "Ada", "Lovelace", False, [("structural-biology", "lead", "ada-structbio-token")]),
    ("grace", "Grace", "Hopper", False, [("microscopy-core", "researcher", "grace-microscopy-token")]),
    ("dora", "Dorothy", "Hodgkin", False, []),
    ("admin", "Lab", "Admin", True, []),
]


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


BOOKINGS = [
    # instrument, member, start, end, purpose
    ("cryo-em-krios", "ada", utc(2030, 3, 10, 8), utc(2030, 3, 10, 20), "Apoferritin grid screening"),
    ("confocal-lsm980", "grace", utc(2030, 3, 11, 12), utc(2030, 3, 11, 14), "Live-cell imaging, HeLa"),
    ("xray-diffractometer", "ada", utc(2030, 6, 1, 7), utc(2030, 6, 1, 12), "Lysozyme crystals"),
]

GRID_PLAN = b"Grid plan for apoferritin screening\nA1-A4: 0.5 mg/ml\nB1-B4: 1.0 mg/ml\n"


def seed(apps, schema_editor):
    User = apps.get_model("auth", "User")
    ResearchGroup = apps.get_model("bookings", "ResearchGroup")
    Member = apps.get_model("bookings", "Member")
    Instrument = apps.get_model("bookings", "Instrument")
    Booking = apps.get_model("bookings", "Booking")
    MaintenanceWindow = apps.get_model("bookings", "MaintenanceWindow")
    Attachment = apps.get_model("bookings", "Attachment")

    groups = {slug: ResearchGroup.objects.create(slug=slug, name=name) for slug, name in GROUPS}
    instruments = {
        slug: Instrument.objects.create(
            slug=slug, name=name, group=groups[group], location=location,
            max_booking_hours=hours, is_active=active,
        )
        for slug, name, group, location, hours, active in INSTRUMENTS
    }
    password = make_password(DEMO_PASSWORD)
    members = {}
    for username, first, last, staff, memberships in USERS:
        user = User.objects.create(
            username=username, first_name=first, last_name=last, email=f"{username}@lab.example.org",
            password=password, is_staff=staff, is_superuser=staff,
        )
        for group, role, token in memberships:
            members[username] = Member.objects.create(user=user, group=groups[group], role=role, api_token=token)
    MaintenanceWindow.objects.create(
        instrument=instruments["cryo-em-krios"], start=utc(2030, 3, 20, 6), end=utc(2030, 3, 22, 18),
        reason="Annual service",
    )
    bookings = [
        Booking.objects.create(instrument=instruments[i], member=members[m], start=s, end=e, purpose=p)
        for i, m, s, e, p in BOOKINGS
    ]
    attachment = Attachment.objects.create(
        booking=bookings[0], filename="grid-plan.txt", content_type="text/plain", size=len(GRID_PLAN),
        sha256=hashlib.sha256(GRID_PLAN).hexdigest(), data=GRID_PLAN,
    )
    # auto_now fields get the migration's time: pin them so every environment has the same rows.
    fixed = utc(2030, 1, 1)
    Attachment.objects.filter(pk=attachment.pk).update(uploaded_at=fixed)
    Booking.objects.update(created_at=fixed)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("bookings", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
