"""``{% browser_notifications %}``: the inbox's "Enable desktop notifications" button and its script,
for people whose browser channel is on."""

from django import template

from notifications.selectors import channels_of

register = template.Library()


@register.inclusion_tag("notifications/browser_notifications.html", takes_context=True)
def browser_notifications(context):
    user = context.get("user")
    return {"enabled": bool(user and user.is_authenticated and channels_of(user).browser)}
