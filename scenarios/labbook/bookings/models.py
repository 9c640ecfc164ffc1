"""Lab equipment bookings for a research group."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse


class ResearchGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A user's membership in a group; the API token belongs to the membership."""

    class Role(models.TextChoices):
        LEAD = "lead", "Group lead"
        RESEARCHER = "researcher", "Researcher"
        STUDENT = "student", "Student"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    group = models.ForeignKey(ResearchGroup, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESEARCHER)
    api_token = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["group__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "group"], name="member_unique_user_group"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.group})"


class Instrument(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    group = models.ForeignKey(ResearchGroup, on_delete=models.PROTECT, related_name="instruments")
    location = models.CharField(max_length=100)
    max_booking_hours = models.PositiveSmallIntegerField()
    is_active = models.BooleanField(default=True)
    setup_snippet = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_booking_hours__gt=0), name="instrument_max_booking_hours_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("instrument-detail", args=[self.slug])


class Booking(models.Model):
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="bookings")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="bookings")
    start = models.DateTimeField()
    end = models.DateTimeField()
    purpose = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="booking_end_after_start"
            ),
            models.UniqueConstraint(
                fields=["instrument", "start"], name="booking_unique_instrument_start"
            ),
        ]
        indexes = [
            models.Index(fields=["instrument", "start"], name="booking_instrument_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument} {self.start:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("booking-detail", args=[self.pk])

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


class MaintenanceWindow(models.Model):
    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="maintenance")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="maintenance_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument}: {self.reason}"


class Attachment(models.Model):
    """A file attached to a booking, stored in the database so every environment sees the same."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename

    def get_absolute_url(self) -> str:
        return reverse("attachment-download", args=[self.pk])

    @classmethod
    def from_bytes(
        cls, booking: Booking, filename: str, content_type: str, data: bytes
    ) -> Attachment:
        return cls(
            booking=booking,
            filename=filename,
            content_type=content_type or "application/octet-stream",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
        )
