from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("bookings.urls")),
]
if settings.LABBOOK_SERVES_MEDIA:
    # The app serves its media files itself, as in development; in production the frontend
    # does (see scenarios/drifts/15-file-server-control).
    urlpatterns.append(re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}))

handler404 = "bookings.views.not_found"
