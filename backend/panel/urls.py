"""Panel's URL map: the admin is the product's home for now."""

import re

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import path, re_path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

if settings.SERVE_STATIC:
    # The admin's CSS and JS straight from the apps' static folders, DEBUG on or off, so `make run`
    # under uvicorn needs no collectstatic; production turns SERVE_STATIC off (docs/operations.md).
    urlpatterns += [
        re_path(
            rf"^{re.escape(settings.STATIC_URL.lstrip('/'))}(?P<path>.*)$",
            serve_static,
            {"insecure": True},
        ),
    ]
