"""Live inbox: a read-only relay from ``workflows.broadcast`` to open pages.

Broadcasts carry ids only. On each one the consumer re-renders, for its own user, the same
partials the inbox view renders (``inbox-table-body`` and the nav badge) and sends them as htmx
out-of-band swaps. Nothing a page sends is acted on: decisions go through HTTP POST with CSRF.

A socket follows its session: on each broadcast the user is loaded again, through the session the
socket opened with (one query), so a logout, a deactivation or a password change closes it (4401)
and lost permissions or groups close it too (4403), before anything more is rendered for them.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token
from django.template.loader import render_to_string

from approvals import selectors
from workflows import selectors as workflow_selectors
from workflows.broadcast import INBOX_GROUP, run_group


def presence_group(requirement_id) -> str:
    return f"presence.{requirement_id}"


# Changes that land within this window are rendered once (a burst of timeouts, a parallel step).
COALESCE_SECONDS = 0.05
MAX_QUERY_STRING = 2_000


# Close codes: the session no longer signs the user in; the user may no longer watch this.
CLOSE_SIGNED_OUT = 4401
CLOSE_FORBIDDEN = 4403


class _LiveConsumer(AsyncWebsocketConsumer):
    """Joins ``self.group`` once the user may watch; on each change (coalesced) checks that the
    session still signs the user in and that they may still watch (``may_watch``), then sends what
    ``render(user)`` returns, or closes. Whatever a page sends is ignored."""

    group: str | None = None

    async def join(self, group: str) -> None:
        self.group, self.pending = group, False
        self.sign_in = await database_sync_to_async(selectors.sign_in_of)(self.scope.get("session"))
        await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """Pages have nothing to say here; frames are ignored (nothing changes)."""

    async def changed(self, event):
        if self.pending:
            return
        self.pending = True
        try:
            await asyncio.sleep(COALESCE_SECONDS)
            close_code, html = await database_sync_to_async(self._check_and_render)()
        finally:
            self.pending = False
        if close_code:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.close(code=close_code)
        elif html:
            await self.send(text_data=html)

    def _check_and_render(self) -> tuple[int, str]:
        user = selectors.user_still_signed_in(self.sign_in)
        if user is None:
            return CLOSE_SIGNED_OUT, ""
        if not self.may_watch(user):
            return CLOSE_FORBIDDEN, ""
        return 0, self.render(user)

    def may_watch(self, user) -> bool:
        raise NotImplementedError

    def render(self, user) -> str:
        raise NotImplementedError


class InboxConsumer(_LiveConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT)  # the handshake is refused: log in first
            return
        raw = self.scope.get("query_string", b"")[:MAX_QUERY_STRING].decode("utf-8", "replace")
        params = QueryDict(mutable=True)
        for key, value in parse_qsl(raw):
            params.appendlist(key, value)
        self.table = params.pop("table", None) is not None
        self.params = params
        await self.join(INBOX_GROUP)

    inbox_changed = _LiveConsumer.changed

    def may_watch(self, user) -> bool:
        return workflow_selectors.user_may_review(user)

    def render(self, user) -> str:
        if self.table:
            from approvals.views import inbox_context

            context = inbox_context(user=user, params=self.params)
            count = context.get("inbox_pending_count")
            if count is None:
                count = selectors.inbox_count(user=user)
            body = render_to_string("approvals/inbox.html#inbox-table-body", context)
            html = f'<div id="inbox-table" hx-swap-oob="innerHTML">{body}</div>'
        else:
            count, html = selectors.inbox_count(user=user), ""
        badge = render_to_string("base.html#inbox-badge", {"pending_count": count, "oob": True})
        return html + badge


class RunConsumer(_LiveConsumer):
    """A run page: on each change of the run, its live part (``run-live``) for this user."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        self.run_id = str(self.scope["url_route"]["kwargs"]["run_id"])
        if not await database_sync_to_async(self._visible)():
            await self.close(code=4404)  # unknown, or not this user's to see: the same answer
            return
        await self.join(run_group(self.run_id))

    def _visible(self) -> bool:
        return workflow_selectors.runs_visible_to(self.scope["user"]).filter(id=self.run_id).exists()

    run_changed = _LiveConsumer.changed

    def may_watch(self, user) -> bool:
        return workflow_selectors.runs_visible_to(user).filter(id=self.run_id).exists()

    def render(self, user) -> str:
        from workflows.views import run_live_context

        run = workflow_selectors.visible_run(user, self.run_id)
        if run is None:  # no longer visible since may_watch(): the next change closes the socket
            return ""
        context = {**run_live_context(user=user, run=run), "oob": True, "csrf_token": _csrf_token(self.scope)}
        return render_to_string("workflows/run_detail.html#run-live", context)


class RequirementConsumer(_LiveConsumer):
    """A decision page: on each change of its run (a decision, a claim, a release, a reassignment,
    an approval, a comment, a cancellation), the team part for this user, and the decision panel
    when what it offers changed (decided, claimed by someone else, released): who did it and when
    shows there, and the form goes while the user may not decide."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        self.requirement_id = str(self.scope["url_route"]["kwargs"]["requirement_id"])
        found = await database_sync_to_async(self._find)(user)
        if found is None:
            await self.close(code=4404)  # unknown, or not this user's to see: the same answer
            return
        run_id, self.shown = found
        await self.join(run_group(run_id))
        # Presence ("Also looking: bob"): consumers of one requirement greet each other in a group
        # of their own (the run's group carries run changes only), with usernames, never more.
        self.username, self.others = user.get_username(), {}
        self.presence_group = presence_group(self.requirement_id)
        await self.channel_layer.group_add(self.presence_group, self.channel_name)
        await self.channel_layer.group_send(
            self.presence_group, {"type": "presence.hello", "channel": self.channel_name, "user": self.username}
        )

    async def disconnect(self, code):
        group = getattr(self, "presence_group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.channel_layer.group_send(group, {"type": "presence.bye", "channel": self.channel_name})
        await super().disconnect(code)

    async def presence_hello(self, event):
        if event["channel"] == self.channel_name:
            return
        self.others[event["channel"]] = str(event["user"])[:150]
        await self.channel_layer.send(
            event["channel"], {"type": "presence.here", "channel": self.channel_name, "user": self.username}
        )
        await self._send_presence()

    async def presence_here(self, event):
        self.others[event["channel"]] = str(event["user"])[:150]
        await self._send_presence()

    async def presence_bye(self, event):
        if self.others.pop(event["channel"], None) is not None:
            await self._send_presence()

    async def _send_presence(self):
        close_code = await database_sync_to_async(self._check)()
        if close_code:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.close(code=close_code)
            return
        looking = sorted(set(self.others.values()) - {self.username})
        await self.send(text_data=render_to_string("approvals/decide.html#presence", {"looking": looking, "oob": True}))

    def _check(self) -> int:
        """The session still signs the user in, and they may still see the requirement (0), else
        the close code: presence is only told to whoever may watch."""
        user = selectors.user_still_signed_in(self.sign_in)
        if user is None:
            return CLOSE_SIGNED_OUT
        return 0 if self.may_watch(user) else CLOSE_FORBIDDEN

    def _requirement(self, user):
        return (
            workflow_selectors.requirements_visible_to(user)
            .select_related("run", "claimed_by")
            .filter(id=self.requirement_id)
            .first()
        )

    @staticmethod
    def _panel_state(req) -> tuple:
        return (req.status, req.claimed_by_id, req.version)

    def _find(self, user):
        req = self._requirement(user)
        return None if req is None else (req.run_id, self._panel_state(req))

    run_changed = _LiveConsumer.changed

    def may_watch(self, user) -> bool:
        return workflow_selectors.requirements_visible_to(user).filter(id=self.requirement_id).exists()

    def render(self, user) -> str:
        from approvals.forms import DecisionForm
        from approvals.views import decision_context

        req = self._requirement(user)
        if req is None:  # no longer visible since may_watch(): the next change closes the socket
            return ""
        context = {
            **decision_context(user=user, req=req, form=DecisionForm(req)),
            "oob": True,
            "csrf_token": _csrf_token(self.scope),
        }
        html = render_to_string("approvals/decide.html#team-live", context)
        state = self._panel_state(req)
        if state != self.shown:  # re-rendered only then: it would wipe what the user is typing
            self.shown = state
            html += render_to_string("approvals/decide.html#decision-panel", context)
        return html


def _csrf_token(scope) -> str:
    """A CSRF token for the page's own CSRF cookie, so that the forms of a re-rendered part (Cancel,
    Rerun) still post. Empty without a well-formed cookie (such a form then fails the check, as it
    would have anyway)."""
    secret = (scope.get("cookies") or {}).get(settings.CSRF_COOKIE_NAME, "")
    if len(secret) != CSRF_SECRET_LENGTH or any(char not in CSRF_ALLOWED_CHARS for char in secret):
        return ""
    request = HttpRequest()
    request.META["CSRF_COOKIE"] = secret
    return get_token(request)
