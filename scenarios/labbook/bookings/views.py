"""HTML pages, the file download and the health check."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bookings.forms import AttachmentForm, BookingForm
from bookings.models import Attachment, Booking, Instrument


@require_GET
def instrument_list(request: HttpRequest) -> HttpResponse:
    instruments = Instrument.objects.select_related("group")
    return render(request, "bookings/instrument_list.html", {"instruments": instruments})


@require_GET
def instrument_detail(request: HttpRequest, slug: str) -> HttpResponse:
    instrument = get_object_or_404(Instrument.objects.select_related("group"), slug=slug)
    context = {
        "instrument": instrument,
        "bookings": instrument.bookings.select_related("member__user"),
        "maintenance": instrument.maintenance.all(),
        "snippet": _snippet_html(instrument.setup_snippet),
    }
    return render(request, "bookings/instrument_detail.html", context)


def _snippet_html(code: str) -> SafeString:
    if not settings.LABBOOK_HIGHLIGHT:
        return mark_safe(f"<pre>{escape(code)}</pre>")
    # Pygments is in the developer's virtualenv (pytest pulls it in), not in requirements.txt.
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import BashLexer

    return mark_safe(highlight(code, BashLexer(), HtmlFormatter(nowrap=False)))


@require_GET
def booking_list(request: HttpRequest) -> HttpResponse:
    bookings = Booking.objects.select_related("instrument", "member__user")
    context = {"bookings": bookings, "title": "All bookings"}
    return render(request, "bookings/booking_list.html", context)


@require_GET
@login_required
def my_bookings(request: HttpRequest) -> HttpResponse:
    bookings = Booking.objects.select_related("instrument", "member__user")
    context = {"bookings": bookings.filter(member__user=request.user), "title": "My bookings"}
    return render(request, "bookings/booking_list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def booking_create(request: HttpRequest) -> HttpResponse:
    form = BookingForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        assert form.member is not None
        booking = Booking.objects.create(
            instrument=form.cleaned_data["instrument"],
            member=form.member,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            purpose=form.cleaned_data["purpose"],
        )
        messages.success(request, f"Booked {booking.instrument.name}.")
        return redirect(booking)
    status = 400 if form.errors else 200
    return render(request, "bookings/booking_form.html", {"form": form}, status=status)


@require_GET
def booking_detail(request: HttpRequest, pk: int) -> HttpResponse:
    booking = get_object_or_404(Booking.objects.select_related("instrument", "member__user"), pk=pk)
    return _booking_page(request, booking, AttachmentForm())


def _booking_page(
    request: HttpRequest, booking: Booking, form: AttachmentForm, status: int = 200
) -> HttpResponse:
    context = {"booking": booking, "attachments": booking.attachments.defer("data"), "form": form}
    return render(request, "bookings/booking_detail.html", context, status=status)


@require_POST
@login_required
def attachment_upload(request: HttpRequest, pk: int) -> HttpResponse:
    booking = get_object_or_404(Booking, pk=pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        return _booking_page(request, booking, form, status=400)
    upload = form.cleaned_data["file"]
    Attachment.from_bytes(booking, upload.name, upload.content_type, upload.read()).save()
    messages.success(request, f"Attached {upload.name}.")
    return redirect(booking)


@require_GET
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = get_object_or_404(Attachment, pk=pk)
    response = HttpResponse(bytes(attachment.data), content_type=attachment.content_type)
    response["Content-Disposition"] = content_disposition_header(True, attachment.filename)
    response["X-Content-SHA256"] = attachment.sha256
    return response


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("select 1")
            cursor.fetchone()
    except Exception as exc:  # the health check reports any database failure
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "time_zone": settings.TIME_ZONE})


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """JSON under /api/, the HTML page elsewhere (only used with DEBUG off)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Not found."}, status=404)
    return render(request, "404.html", {"path": request.path}, status=404)
