"""Site-wide middleware."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import Http404
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
