"""A release step: the instrument photos, put into MEDIA_ROOT as an upload would be."""
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand

KRIOS = ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
         '<title>Cryo-EM Titan Krios</title><rect x="20" y="4" width="24" height="56"/></svg>\n')


class Command(BaseCommand):
    help = "Put the instrument photos into MEDIA_ROOT."

    def handle(self, *args, **options):
        if not default_storage.exists("instruments/krios.svg"):
            default_storage.save("instruments/krios.svg", ContentFile(KRIOS))
