from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from bookings import api, views

api_patterns = [
    path("", api.root, name="api-root"),
    path("instruments/", api.instrument_list, name="api-instrument-list"),
    path("instruments/<slug:slug>/", api.instrument_detail, name="api-instrument-detail"),
    path("bookings/", api.booking_list, name="api-booking-list"),
    path("bookings/<int:pk>/", api.booking_detail, name="api-booking-detail"),
    path("bookings/<int:pk>/attachments/", api.attachment_create, name="api-attachment-create"),
    path("whoami/", api.whoami, name="api-whoami"),
    path("echo/", api.echo, name="api-echo"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="instrument-list"), name="home"),
    path("instruments/", views.instrument_list, name="instrument-list"),
    path("instruments/<slug:slug>/", views.instrument_detail, name="instrument-detail"),
    path("bookings/", views.booking_list, name="booking-list"),
    path("bookings/mine/", views.my_bookings, name="my-bookings"),
    path("bookings/new/", views.booking_create, name="booking-create"),
    path("bookings/<int:pk>/", views.booking_detail, name="booking-detail"),
    path("bookings/<int:pk>/attachments/", views.attachment_upload, name="attachment-upload"),
    path("attachments/<int:pk>/download/", views.attachment_download, name="attachment-download"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", views.health, name="health"),
    path("api/", include(api_patterns)),
]
