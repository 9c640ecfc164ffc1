
# --- parity's reference overlay: the content API and an upload endpoint, before Wagtail's
# catch-all page route.
from mysite.api import api_router
from mysite.uploads import upload

urlpatterns = [
    path("api/v2/", api_router.urls),
    path("api/uploads/", upload, name="upload"),
] + urlpatterns
