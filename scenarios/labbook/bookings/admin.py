from django.contrib import admin

from bookings.models import (
    Attachment,
    Booking,
    Instrument,
    MaintenanceWindow,
    Member,
    ResearchGroup,
)


@admin.register(ResearchGroup)
class ResearchGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["user", "group", "role"]
    list_filter = ["group", "role"]


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["name", "group", "location", "max_booking_hours", "is_active"]
    list_filter = ["group", "is_active"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["instrument", "member", "start", "end", "purpose"]
    list_filter = ["instrument"]
    date_hierarchy = "start"


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ["instrument", "start", "end", "reason"]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "booking", "content_type", "size"]
    exclude = ["data"]
