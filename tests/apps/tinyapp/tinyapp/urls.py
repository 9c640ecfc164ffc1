from django.conf import settings
from django.contrib.auth.models import Group
from django.http import JsonResponse
from django.urls import path


def greeting(request):
    return JsonResponse({"greeting": settings.GREETING, "groups": Group.objects.count(),
                         "self": request.build_absolute_uri("/greeting/")})


def status(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("greeting/", greeting), path("", status)]
