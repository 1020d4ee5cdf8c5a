"""The reviewer's live sockets: the inbox (its table and the nav badge) and a decision page (its
team part, its decision panel, who else is looking). Each re-renders, for its own user, the
partials its page renders, from the same context (``contexts``); the session and permission
checks on each broadcast are ``workflows.web.live``'s.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from channels.db import database_sync_to_async
from django.http import QueryDict
from django.template.loader import render_to_string

from approvals import selectors
from approvals.contexts import decision_context, inbox_context
from approvals.forms import DecisionForm
from workflows import selectors as workflow_selectors
from workflows.runtime.broadcast import INBOX_GROUP, run_group
from workflows.web.live import CLOSE_FORBIDDEN, CLOSE_SIGNED_OUT, LiveConsumer, csrf_token, user_still_signed_in

MAX_QUERY_STRING = 2_000


def presence_group(requirement_id) -> str:
    return f"presence.{requirement_id}"


class InboxConsumer(LiveConsumer):
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

    inbox_changed = LiveConsumer.changed

    def may_watch(self, user) -> bool:
        return workflow_selectors.user_may_review(user)

    def render(self, user) -> str:
        if self.table:
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


class RequirementConsumer(LiveConsumer):
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
        user = user_still_signed_in(self.sign_in)
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

    run_changed = LiveConsumer.changed

    def may_watch(self, user) -> bool:
        return workflow_selectors.requirements_visible_to(user).filter(id=self.requirement_id).exists()

    def render(self, user) -> str:
        req = self._requirement(user)
        if req is None:  # no longer visible since may_watch(): the next change closes the socket
            return ""
        context = {
            **decision_context(user=user, req=req, form=DecisionForm(req)),
            "oob": True,
            "csrf_token": csrf_token(self.scope),
        }
        html = render_to_string("approvals/decide.html#team-live", context)
        state = self._panel_state(req)
        if state != self.shown:  # re-rendered only then: it would wipe what the user is typing
            self.shown = state
            html += render_to_string("approvals/decide.html#decision-panel", context)
        return html
