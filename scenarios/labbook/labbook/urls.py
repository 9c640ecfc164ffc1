from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("bookings.urls")),
]

handler404 = "bookings.views.not_found"
