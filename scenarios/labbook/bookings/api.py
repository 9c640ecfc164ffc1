"""The JSON API. Reads are public; writes authenticate with the member's X-Lab-Token header."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from bookings import rules
from bookings.models import Attachment, Booking, Instrument, Member

TOKEN_HEADER = "X-Lab-Token"
View = Callable[..., HttpResponse]


def api(*methods: str) -> Callable[[View], View]:
    """Token-authenticated JSON views: CSRF does not apply, a wrong method gets JSON 405."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error(405, f"{request.method} is not allowed here.")
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return csrf_exempt(wrapper)

    return decorate


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def invalid(errors: rules.Errors) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=400)


def token_member(request: HttpRequest) -> Member | None:
    token = request.headers.get(TOKEN_HEADER, "").strip()
    if not token:
        return None
    return Member.objects.select_related("user", "group").filter(api_token=token).first()


def unauthorized() -> JsonResponse:
    response = error(401, f"Send your API token in the {TOKEN_HEADER} header.")
    response["WWW-Authenticate"] = f'LabToken header="{TOKEN_HEADER}"'
    return response


def local_iso(moment: datetime) -> str:
    return timezone.localtime(moment).isoformat()


def instrument_json(request: HttpRequest, instrument: Instrument) -> dict[str, Any]:
    return {
        "slug": instrument.slug,
        "name": instrument.name,
        "group": instrument.group.slug,
        "location": instrument.location,
        "max_booking_hours": instrument.max_booking_hours,
        "is_active": instrument.is_active,
        "url": request.build_absolute_uri(reverse("api-instrument-detail", args=[instrument.slug])),
    }


def attachment_json(request: HttpRequest, attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "booking": attachment.booking_id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "uploaded_at": local_iso(attachment.uploaded_at),
        "download_url": request.build_absolute_uri(attachment.get_absolute_url()),
    }


def booking_json(request: HttpRequest, booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.pk,
        "instrument": booking.instrument.slug,
        "member": booking.member.user.username,
        "start": local_iso(booking.start),
        "end": local_iso(booking.end),
        "hours": booking.hours,
        "purpose": booking.purpose,
        "url": request.build_absolute_uri(reverse("api-booking-detail", args=[booking.pk])),
        "page": request.build_absolute_uri(booking.get_absolute_url()),
    }


def paginated(
    request: HttpRequest, items: QuerySet[Any], serialize: Callable[[HttpRequest, Any], Any]
) -> JsonResponse:
    raw = request.GET.get("page", "1")
    try:
        number = int(raw)
    except ValueError:
        return invalid({"page": [f"{raw!r} is not a page number."]})
    paginator = Paginator(items, settings.LABBOOK_PAGE_SIZE)
    if not 1 <= number <= paginator.num_pages:
        return error(404, f"Page {number} does not exist; there are {paginator.num_pages}.")
    page = paginator.page(number)

    def link(target: int) -> str:
        query = request.GET.copy()
        query["page"] = str(target)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    return JsonResponse({
        "count": paginator.count,
        "page": number,
        "num_pages": paginator.num_pages,
        "next": link(number + 1) if page.has_next() else None,
        "previous": link(number - 1) if page.has_previous() else None,
        "results": [serialize(request, item) for item in page.object_list],
    })


@api("GET")
def root(request: HttpRequest) -> JsonResponse:
    names = {
        "instruments": "api-instrument-list",
        "bookings": "api-booking-list",
        "whoami": "api-whoami",
        "echo": "api-echo",
        "health": "health",
    }
    links = {key: request.build_absolute_uri(reverse(name)) for key, name in names.items()}
    return JsonResponse(links)


@api("GET")
def instrument_list(request: HttpRequest) -> JsonResponse:
    instruments = Instrument.objects.select_related("group")
    if "group" in request.GET:
        instruments = instruments.filter(group__slug=request.GET["group"])
    return paginated(request, instruments, instrument_json)


@api("GET")
def instrument_detail(request: HttpRequest, slug: str) -> JsonResponse:
    instrument = get_object_or_404(Instrument.objects.select_related("group"), slug=slug)
    data = instrument_json(request, instrument)
    data["maintenance"] = [
        {"start": local_iso(m.start), "end": local_iso(m.end), "reason": m.reason}
        for m in instrument.maintenance.all()
    ]
    return JsonResponse(data)


@api("GET", "POST")
def booking_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return create_booking(request)
    bookings = Booking.objects.select_related("instrument", "member__user")
    if "instrument" in request.GET:
        bookings = bookings.filter(instrument__slug=request.GET["instrument"])
    return paginated(request, bookings, booking_json)


def create_booking(request: HttpRequest) -> HttpResponse:
    member = token_member(request)
    if member is None:
        return unauthorized()
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return invalid({"__all__": ["The request body is not valid JSON."]})
    if not isinstance(body, dict):
        return invalid({"__all__": ["The request body must be a JSON object."]})

    errors: rules.Errors = {}
    instrument = None
    if not body.get("instrument"):
        errors["instrument"] = ["This field is required."]
    else:
        instruments = Instrument.objects.select_related("group")
        instrument = instruments.filter(slug=str(body["instrument"])).first()
        if instrument is None:
            errors["instrument"] = [f"No instrument {body['instrument']!r}."]
    times = {name: _moment(body.get(name), name, errors) for name in ("start", "end")}
    purpose = body.get("purpose")
    if not isinstance(purpose, str) or not purpose.strip():
        errors["purpose"] = ["This field is required."]
    elif len(purpose) > 200:
        errors["purpose"] = ["At most 200 characters."]
    if errors:
        return invalid(errors)
    assert instrument is not None and times["start"] is not None and times["end"] is not None
    errors = rules.booking_errors(instrument, member, times["start"], times["end"])
    if errors:
        return invalid(errors)
    try:
        with transaction.atomic():
            booking = Booking.objects.create(
                instrument=instrument, member=member, start=times["start"], end=times["end"],
                purpose=purpose.strip(),
            )
    except IntegrityError:
        return invalid({"start": [f"{instrument.name} is already booked at that time."]})
    data = booking_json(request, booking)
    response = JsonResponse(data, status=201)
    response["Location"] = data["url"]
    return response


def _moment(value: object, name: str, errors: rules.Errors) -> datetime | None:
    if not value:
        errors[name] = ["This field is required."]
        return None
    try:
        moment = parse_datetime(str(value))
    except ValueError:
        moment = None
    if moment is None:
        errors[name] = [f"{value!r} is not an ISO 8601 date and time."]
        return None
    if timezone.is_naive(moment):
        errors[name] = ["Include a UTC offset, e.g. 2030-03-10T09:00:00+01:00."]
        return None
    return moment


@api("GET", "DELETE")
def booking_detail(request: HttpRequest, pk: int) -> HttpResponse:
    booking = get_object_or_404(Booking.objects.select_related("instrument", "member__user"), pk=pk)
    if request.method == "DELETE":
        member = token_member(request)
        if member is None:
            return unauthorized()
        if member.pk != booking.member_id:
            return error(403, "Only the member who made a booking can cancel it.")
        booking.delete()
        return HttpResponse(status=204)
    data = booking_json(request, booking)
    data["attachments"] = [attachment_json(request, a) for a in booking.attachments.defer("data")]
    return JsonResponse(data)


@api("POST")
def attachment_create(request: HttpRequest, pk: int) -> JsonResponse:
    booking = get_object_or_404(Booking, pk=pk)
    member = token_member(request)
    if member is None:
        return unauthorized()
    if member.pk != booking.member_id:
        return error(403, "Only the member who made a booking can attach files to it.")
    upload = request.FILES.get("file")
    if upload is None:
        return invalid({"file": ["Send the file as multipart/form-data field 'file'."]})
    errors = rules.upload_errors(upload.name or "", upload.size or 0)
    if errors:
        return invalid(errors)
    attachment = Attachment.from_bytes(
        booking, upload.name or "", upload.content_type or "", upload.read()
    )
    attachment.save()
    return JsonResponse(attachment_json(request, attachment), status=201)


@api("GET")
def whoami(request: HttpRequest) -> JsonResponse:
    member = token_member(request)
    if member is not None:
        username, auth, groups = member.user.username, "token", [member.group.slug]
    elif request.user.is_authenticated:
        username, auth = request.user.get_username(), "session"
        memberships = Member.objects.filter(user=request.user)
        groups = list(memberships.values_list("group__slug", flat=True))
    else:
        username, auth, groups = None, None, []
    return JsonResponse({"username": username, "auth": auth, "groups": groups})


@api("GET", "POST")
def echo(request: HttpRequest) -> JsonResponse:
    """What the app saw of the request, after every proxy in front of it."""
    return JsonResponse({
        "method": request.method,
        "path": request.path,
        "query": request.GET.dict(),
        "scheme": request.scheme,
        "host": request.get_host(),
        "is_secure": request.is_secure(),
        "absolute_uri": request.build_absolute_uri(),
        "lab_headers": {
            name: value for name, value in sorted(request.headers.items())
            if name.lower().startswith("x-lab")
        },
    })
