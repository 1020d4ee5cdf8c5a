"""Sign-in throttling with django-axes: what counts as one client, and what a locked-out one gets."""

from __future__ import annotations

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessBase
from django.conf import settings
from django.shortcuts import render

API_PREFIX = "/api/"


def client_address(request) -> str | None:
    """The client's address (``AXES_CLIENT_IP_CALLABLE``): the connection's; behind
    ``HITL_TRUSTED_PROXIES`` proxies, the address the outermost one saw, which is that many entries
    from the right of X-Forwarded-For (whatever a client wrote there itself is further left)."""
    proxies = settings.HITL_TRUSTED_PROXIES
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


def lockout_parameters(request_or_attempt, credentials=None) -> list[str]:
    """Failures count per username and per address, each on its own (``AXES_LOCKOUT_PARAMETERS``).

    A failure without a username (an invalid API token) counts for its address only: counted
    "per username" it would join every other such failure, from every address, under one null
    username, and lock the API for everybody.
    """
    if isinstance(request_or_attempt, AccessBase):
        username = request_or_attempt.username
    else:
        username = get_client_username(request_or_attempt, credentials)
    return ["username", "ip_address"] if username else ["ip_address"]


def lockout_response(request, original_response=None, credentials=None):
    """What a refused sign-in gets (``AXES_LOCKOUT_CALLABLE``): the API's JSON error under
    /api/, else the login page's message; 429 either way, with the wait in ``Retry-After``."""
    if request.path.startswith(API_PREFIX):
        from workflows.web.api import throttled_response

        return throttled_response(request)
    cool_off = get_cool_off(request)
    context = {"failure_limit": get_failure_limit(request, credentials), "cooloff_timedelta": cool_off}
    response = render(request, "registration/locked_out.html", context, status=429)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
