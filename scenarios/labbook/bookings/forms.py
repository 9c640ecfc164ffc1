from __future__ import annotations

from typing import Any

from django import forms

from bookings import rules
from bookings.models import Instrument, Member


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class BookingForm(forms.Form):
    """Book an instrument; times are read in the site's time zone (LABBOOK_TIME_ZONE)."""

    instrument = forms.ModelChoiceField(queryset=Instrument.objects.filter(is_active=True))
    start = forms.DateTimeField(widget=DateTimeLocalInput())
    end = forms.DateTimeField(widget=DateTimeLocalInput())
    purpose = forms.CharField(max_length=200)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.member: Member | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        instrument, start, end = data.get("instrument"), data.get("start"), data.get("end")
        if instrument is None or start is None or end is None:
            return data
        self.member = Member.objects.filter(user=self.user, group=instrument.group).first()
        if self.member is None:
            self.add_error("instrument", rules.not_a_member(instrument))
            return data
        for field, messages in rules.booking_errors(instrument, self.member, start, end).items():
            for message in messages:
                self.add_error(field, message)
        return data


class AttachmentForm(forms.Form):
    file = forms.FileField()

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        for message in rules.upload_errors(upload.name, upload.size).get("file", []):
            raise forms.ValidationError(message)
        return upload
