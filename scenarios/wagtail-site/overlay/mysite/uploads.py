"""Document uploads from scripts (a lab instrument posts its exports): the file goes to the
site's document library, in MEDIA_ROOT, like an upload through the admin."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from wagtail.documents import get_document_model


@csrf_exempt  # a machine client with no session: nothing for CSRF to protect
@require_POST
def upload(request):
    if "file" not in request.FILES:
        return JsonResponse({"error": "send the file as the multipart field 'file'"}, status=400)
    received = request.FILES["file"]
    document = get_document_model().objects.create(
        title=request.POST.get("title") or received.name, file=received)
    return JsonResponse({"id": document.id, "title": document.title, "file_url": document.file.url,
                         "download_url": document.url, "size": document.file.size}, status=201)
