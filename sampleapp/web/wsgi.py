"""WSGI entry point for gunicorn: ``sampleapp.web.wsgi:application``.

DJANGO_SETTINGS_MODULE is set by whoever starts the server (``sampleapp serve``, the gunicorn
config ``sampleapp.gunicorn_conf``, ``manage.py``), keeping settings.py the only environment reader.
"""

from __future__ import annotations

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
