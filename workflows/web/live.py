"""Live parts of pages: a websocket that, on each broadcast of what it watches, checks that its
session still signs its user in and that they may still watch, then sends the user's re-rendered
parts as htmx out-of-band swaps (or closes). Broadcasts carry ids only; nothing a page sends is
acted on: changes go through HTTP POST with CSRF.

A socket follows its session: on each broadcast the user is loaded again, through the session the
socket opened with (one query), so a logout, a deactivation or a password change closes it (4401)
and lost permissions or groups close it too (4403), before anything more is rendered for them.
The run page's socket (``consumers``) and the sockets of the apps built on workflows extend it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import import_module

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db.models import Exists
from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token
from django.utils import timezone
from django.utils.crypto import constant_time_compare

# Changes that land within this window are rendered once (a burst of timeouts, a parallel step).
COALESCE_SECONDS = 0.05


# Close codes: the session no longer signs the user in; the user may no longer watch this.
CLOSE_SIGNED_OUT = 4401
CLOSE_FORBIDDEN = 4403


class LiveConsumer(AsyncWebsocketConsumer):
    """Joins ``self.group`` once the user may watch; on each change (coalesced) checks that the
    session still signs the user in and that they may still watch (``may_watch``), then sends what
    ``render(user)`` returns, or closes. Whatever a page sends is ignored."""

    group: str | None = None

    async def join(self, group: str) -> None:
        self.group, self.pending = group, False
        self.sign_in = await database_sync_to_async(sign_in_of)(self.scope.get("session"))
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
        user = user_still_signed_in(self.sign_in)
        if user is None:
            return CLOSE_SIGNED_OUT, ""
        if not self.may_watch(user):
            return CLOSE_FORBIDDEN, ""
        return 0, self.render(user)

    def may_watch(self, user) -> bool:
        raise NotImplementedError

    def render(self, user) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class SignIn:
    """Whose session a live page (websocket) opened with: enough to tell later whether it still
    signs that user in, without loading the session again."""

    user_id: str
    session_key: str
    session_hash: str


def sign_in_of(session) -> SignIn | None:
    """The sign-in ``session`` holds (at the socket's handshake), or None."""
    if session is None or not session.session_key:
        return None
    user_id, session_hash = session.get(SESSION_KEY), session.get(HASH_SESSION_KEY)
    if not user_id or not session_hash:
        return None
    return SignIn(user_id=str(user_id), session_key=session.session_key, session_hash=session_hash)


def user_still_signed_in(sign_in: SignIn | None):
    """The user ``sign_in`` still signs in, freshly loaded (their permissions as they are now), or
    None: logged out (the session is gone), deactivated, or their password changed (the session's
    hash no longer matches), as Django's own session check decides for a request.

    One query with database-backed sessions: the user row, and whether their session row lives.
    """
    if sign_in is None:
        return None
    users = get_user_model()._default_manager.filter(pk=sign_in.user_id, is_active=True)
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if issubclass(store_class, DatabaseSessionStore):  # db and cached_db
        alive = store_class.get_model_class().objects.filter(
            session_key=sign_in.session_key, expire_date__gt=timezone.now()
        )
        user = users.filter(Exists(alive)).first()
    else:
        user = users.first() if store_class().exists(sign_in.session_key) else None
    if user is None:
        return None
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(sign_in.session_hash, h) for h in hashes):
        return None
    return user


def csrf_token(scope) -> str:
    """A CSRF token for the page's own CSRF cookie, so that the forms of a re-rendered part (Cancel,
    Rerun) still post. Empty without a well-formed cookie (such a form then fails the check, as it
    would have anyway)."""
    secret = (scope.get("cookies") or {}).get(settings.CSRF_COOKIE_NAME, "")
    if len(secret) != CSRF_SECRET_LENGTH or any(char not in CSRF_ALLOWED_CHARS for char in secret):
        return ""
    request = HttpRequest()
    request.META["CSRF_COOKIE"] = secret
    return get_token(request)
