"""The run page's socket: on each change of the run, its live part (``run-live``) for the user,
from the context the page renders (``contexts``)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.template.loader import render_to_string

from workflows import selectors
from workflows.runtime.broadcast import run_group

from .contexts import run_live_context
from .live import CLOSE_SIGNED_OUT, LiveConsumer, csrf_token


class RunConsumer(LiveConsumer):
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
        return selectors.runs_visible_to(self.scope["user"]).filter(id=self.run_id).exists()

    run_changed = LiveConsumer.changed

    def may_watch(self, user) -> bool:
        return selectors.runs_visible_to(user).filter(id=self.run_id).exists()

    def render(self, user) -> str:
        run = selectors.visible_run(user, self.run_id)
        if run is None:  # no longer visible since may_watch(): the next change closes the socket
            return ""
        context = {**run_live_context(user=user, run=run), "oob": True, "csrf_token": csrf_token(self.scope)}
        return render_to_string("workflows/run_detail.html#run-live", context)
