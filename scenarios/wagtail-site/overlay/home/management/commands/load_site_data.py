"""The site's starting content, loaded by the release step after `migrate`: a photo and a
document in the media library (files in MEDIA_ROOT), and an article page that shows the photo."""

from io import BytesIO

from articles.models import ArticlePage
from django.core.files.base import ContentFile
from django.core.files.images import ImageFile
from django.core.management.base import BaseCommand
from home.models import HomePage
from PIL import Image as PILImage
from wagtail.documents import get_document_model
from wagtail.images import get_image_model


class Command(BaseCommand):
    help = "Load the site's starting content (idempotent)."

    def handle(self, *args, **options):
        home = HomePage.objects.get(slug="home")
        if ArticlePage.objects.filter(slug="opening-hours").exists():
            self.stdout.write("site data already loaded")
            return
        picture = BytesIO()
        PILImage.new("RGB", (640, 400), (36, 110, 185)).save(picture, "PNG")
        photo = get_image_model().objects.create(
            title="Lab bench", file=ImageFile(picture, name="lab-bench.png"))
        get_document_model().objects.create(
            title="Safety rules", file=ContentFile(b"Wear goggles.\n", name="safety-rules.txt"))
        article = ArticlePage(title="Opening hours", slug="opening-hours",
                              intro="The lab is open on weekdays.",
                              body="<p>Monday to Friday, 8:00 to 18:00.</p>", photo=photo)
        home.add_child(instance=article)
        article.save_revision().publish()
        self.stdout.write("loaded: 1 image, 1 document, 1 article")
