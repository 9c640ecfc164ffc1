"""WSGI entry point: gunicorn serves `labbook.wsgi:application` in the stack."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")

application = get_wsgi_application()
