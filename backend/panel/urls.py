"""Panel's URL map: the admin is the product's home for now."""

import re

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.views.generic import RedirectView

from backend.integrations.ai import admin_tools

urlpatterns = [
    # The AI playground sits beside the admin (its stream view is async, which the admin site's
    # view wrapper cannot serve); the page itself goes through the admin's login wrapper.
    path("admin/ai/playground/", admin.site.admin_view(admin_tools.playground_view), name="ai_playground"),
    path("admin/ai/playground/stream/", admin_tools.playground_stream_view, name="ai_playground_stream"),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]


def _serve_static(request: HttpRequest, path: str) -> HttpResponse:
    """An app's static file, DEBUG on or off, as one plain response.

    Django's view streams the file, and under ASGI every synchronous stream logs a warning; the
    admin's assets are small, so read them whole.
    """
    response = serve_static(request, path, insecure=True)
    if not response.streaming:
        return response
    plain = HttpResponse(b"".join(response.streaming_content), status=response.status_code)
    for header, value in response.headers.items():
        plain.headers[header] = value
    # Close the file only: response.close() would send request_finished mid-request.
    stream = getattr(response, "file_to_stream", None)
    if stream is not None:
        stream.close()
    return plain


if settings.SERVE_STATIC:
    # The admin's CSS and JS straight from the apps' static folders, so `make run` under uvicorn
    # needs no collectstatic; production turns SERVE_STATIC off (docs/operations.md).
    urlpatterns += [
        re_path(rf"^{re.escape(settings.STATIC_URL.lstrip('/'))}(?P<path>.*)$", _serve_static),
    ]
