from django.urls import path

from pinboard import views

urlpatterns = [
    path("", views.board, name="board"),
    path("pins/<int:pin_id>/", views.pin_page, name="pin"),
    path("api/pins/", views.pins_api, name="pins-api"),
    path("api/visits/", views.visits, name="visits"),
    path("health/", views.health, name="health"),
]
