"""The WSGI application uWSGI serves in the image."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pinboard.settings")
application = get_wsgi_application()
