"""``/api/v1/webhooks``: operators register, list and remove outbound webhook endpoints.

The same plumbing as the rest of the API (``workflows.web.api``): bearer token or session, JSON errors.
"""

from __future__ import annotations

from django.urls import reverse

from workflows.engine.errors import ValidationError
from workflows.web.api import ApiError, api_view, json_body, json_response, unknown_fields, uuid_or_404

from . import services
from .models import WebhookEndpoint

MANAGE_PERM = "workflows.manage_webhooks"


def endpoint_json(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict:
    data = {
        "id": str(endpoint.id),
        "url": endpoint.url,
        "events": endpoint.events,
        "is_active": endpoint.is_active,
        "created_at": endpoint.created_at,
    }
    if secret:  # only in the answer to its creation
        data["secret"] = endpoint.secret
    return data


def _check_permission(request) -> None:
    if not (request.user.is_active and request.user.has_perm(MANAGE_PERM)):
        raise ApiError(403, f"You may not manage webhooks (needs {MANAGE_PERM}).", code="forbidden")


@api_view("GET", "POST")
def webhooks(request):
    """``GET /api/v1/webhooks``; ``POST`` ``{url, events}`` -> 201 with the secret (shown once)."""
    _check_permission(request)
    if request.method in ("GET", "HEAD"):
        return json_response({"results": [endpoint_json(e) for e in WebhookEndpoint.objects.order_by("created_at")]})
    body = json_body(request)
    errors = unknown_fields(body, ("url", "events"))
    if errors:
        raise ApiError(400, errors=errors)
    try:
        endpoint = services.webhook_create(url=body.get("url"), events=body.get("events"), user=request.user)
    except ValidationError as exc:
        raise ApiError(400, errors=exc.errors) from None
    response = json_response(endpoint_json(endpoint, secret=True), status=201)
    response["Location"] = reverse("notifications:api-webhook", args=[endpoint.id])
    return response


@api_view("GET", "DELETE")
def webhook_detail(request, webhook_id: str):
    """``GET`` or ``DELETE /api/v1/webhooks/<id>`` (204)."""
    _check_permission(request)
    key = uuid_or_404(webhook_id)
    if request.method == "DELETE":
        if not services.webhook_delete(endpoint_id=key):
            raise ApiError(404, "No such webhook.", code="not_found")
        return json_response(None, status=204)
    endpoint = WebhookEndpoint.objects.filter(id=key).first()
    if endpoint is None:
        raise ApiError(404, "No such webhook.", code="not_found")
    return json_response(endpoint_json(endpoint))
