"""The booking rules, shared by the HTML form and the JSON API."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from bookings.models import Booking, Instrument, Member

Errors = dict[str, list[str]]


def booking_errors(
    instrument: Instrument, member: Member, start: datetime, end: datetime
) -> Errors:
    """Field errors for a new booking; empty when it may be made."""
    errors: Errors = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not instrument.is_active:
        add("instrument", f"{instrument.name} is retired and cannot be booked.")
    if member.group_id != instrument.group_id:
        add("instrument", not_a_member(instrument))
    if end <= start:
        add("end", "The end must be after the start.")
        return errors
    hours = (end - start).total_seconds() / 3600
    if hours > instrument.max_booking_hours:
        limit = instrument.max_booking_hours
        add("end", f"{instrument.name} can be booked for at most {limit} hours.")
    clash = (
        Booking.objects.filter(instrument=instrument, start__lt=end, end__gt=start)
        .order_by("start")
        .first()
    )
    if clash is not None:
        booked = f"{_local(clash.start)} to {_local(clash.end)}"
        add("start", f"{instrument.name} is already booked from {booked}.")
    maintenance = instrument.maintenance.filter(start__lt=end, end__gt=start).first()
    if maintenance is not None:
        add("start", f"{instrument.name} is under maintenance: {maintenance.reason}.")
    return errors


def not_a_member(instrument: Instrument) -> str:
    return f"{instrument.name} belongs to {instrument.group.name}; you are not a member."


def upload_errors(filename: str, size: int) -> Errors:
    if not filename:
        return {"file": ["The file needs a name."]}
    if size == 0:
        return {"file": ["The file is empty."]}
    if size > settings.LABBOOK_MAX_UPLOAD_BYTES:
        return {"file": [f"The file is larger than {settings.LABBOOK_MAX_UPLOAD_BYTES} bytes."]}
    return {}


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
