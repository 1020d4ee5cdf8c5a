"""Site-wide middleware."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import Http404, HttpResponseBadRequest
from django.urls import Resolver404, get_urlconf, resolve
from django.views import defaults


class NotFoundPageMiddleware:
    """With DEBUG on, Django answers a 404 with its debug page, which lists every URL pattern of
    the site; a development server shown to reviewers should not. With this, a path no URL
    matches and an ``Http404`` raised by a view get the app's own 404 page (templates/404.html),
    as with DEBUG off. Tracebacks of 500s stay; 404s a view builds itself (the API's JSON ones)
    pass through.
    """

    def __init__(self, get_response):
        if not settings.DEBUG:
            raise MiddlewareNotUsed  # Django renders templates/404.html itself then
        self.get_response = get_response

    def __call__(self, request):
        try:
            resolve(request.path_info, getattr(request, "urlconf", get_urlconf()))
        except Resolver404 as exc:
            return defaults.page_not_found(request, exc)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, Http404):
            return defaults.page_not_found(request, exception)
        return None


class FormEncodingMiddleware:
    """A form POST (``application/x-www-form-urlencoded``) whose text is not UTF-8 is refused
    with a 400, as the API refuses such JSON: Django would decode it with replacement characters,
    and a decision would store them as what the reviewer typed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            try:
                for part in request.body.split(b"&"):
                    unquote_to_bytes(part.replace(b"+", b" ")).decode()
            except UnicodeDecodeError:
                return HttpResponseBadRequest("The form's text must be UTF-8.", content_type="text/plain")
        return self.get_response(request)
