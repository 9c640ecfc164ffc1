"""The pins every fresh database starts with: three published, one draft."""

from datetime import datetime, timezone

from django.db import migrations

PINS = [
    ("Standup moved to 9:30", "From Monday on, in the small meeting room.", True, (2024, 3, 4, 8, 0)),
    ("Coffee machine descaled", "It works again. Please empty the drip tray.", True, (2024, 3, 5, 14, 30)),
    ("Release 2.4 is out", "Notes are on the wiki.", True, (2024, 3, 6, 16, 45)),
    ("Team lunch (draft)", "Date and place still open.", False, (2024, 3, 7, 11, 0)),
]


def add_pins(apps, schema_editor):
    Pin = apps.get_model("pinboard", "Pin")
    for title, body, published, when in PINS:
        Pin.objects.create(title=title, body=body, published=published,
                           created=datetime(*when, tzinfo=timezone.utc))


class Migration(migrations.Migration):
    dependencies = [("pinboard", "0001_initial")]
    operations = [migrations.RunPython(add_pins, migrations.RunPython.noop)]
