from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def labbook(request: HttpRequest) -> dict[str, object]:
    """What every page shows in its footer: the time zone its times are in."""
    return {"labbook_time_zone": settings.TIME_ZONE}
