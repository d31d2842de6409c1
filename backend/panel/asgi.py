"""ASGI entry point (uvicorn backend.panel.asgi:application)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.panel.settings")

application = get_asgi_application()
