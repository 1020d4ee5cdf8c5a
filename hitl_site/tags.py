"""Template tags that compose the apps (``{% load site %}``): base.html's navigation, and what one
app's page shows of another (the inbox's desktop-notifications button is notifications'). The site
knows its apps; an app's templates name no app above it, only this library and their own.
"""

from __future__ import annotations

from django import template

from approvals import selectors
from approvals.templatetags.approvals import count_label
from notifications.templatetags import notifications

register = template.Library()
register.filter(count_label)
register.tags["browser_notifications"] = notifications.register.tags["browser_notifications"]


@register.filter
def startswith(value, prefix) -> bool:
    return str(value or "").startswith(str(prefix))


@register.simple_tag(takes_context=True)
def inbox_badge_count(context) -> int | None:
    """Pending requirements the signed-in user may resolve (the nav badge), once per request."""
    if "inbox_pending_count" in context:
        return context["inbox_pending_count"]
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(request, "_inbox_pending_count"):
        request._inbox_pending_count = selectors.inbox_count(user=user)
    return request._inbox_pending_count
