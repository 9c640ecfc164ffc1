"""The board (HTML), one pin, a JSON API, a visit counter kept in the cache, and /health/."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from pinboard.models import Pin


def _visible():
    pins = Pin.objects.all()
    return pins if settings.SHOW_DRAFTS else pins.filter(published=True)


def board(request: HttpRequest) -> HttpResponse:
    return render(request, "pinboard/board.html", {"pins": _visible()})


def pin_page(request: HttpRequest, pin_id: int) -> HttpResponse:
    return render(request, "pinboard/pin.html", {"pin": get_object_or_404(_visible(), id=pin_id)})


@csrf_exempt
def pins_api(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            data = json.loads(request.body)
        except ValueError:
            return JsonResponse({"error": "send a JSON object"}, status=400)
        title = str(data.get("title", "")).strip() if isinstance(data, dict) else ""
        if not title or len(title) > 120:
            return JsonResponse({"error": "title: 1 to 120 characters"}, status=400)
        pin = Pin.objects.create(title=title, body=str(data.get("body", "")), created=timezone.now())
        return JsonResponse(pin.as_json(), status=201)
    return JsonResponse({"pins": [pin.as_json() for pin in _visible()]})


def visits(request: HttpRequest) -> JsonResponse:
    """How often this was asked, counted in the cache (one count for every worker only when
    they share it: Redis)."""
    cache.add("visits", 0)
    return JsonResponse({"visits": cache.incr("visits")})


def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("select 1")
    cache.set("health", "ok", 30)
    return JsonResponse({"database": "ok", "cache": cache.get("health")})
