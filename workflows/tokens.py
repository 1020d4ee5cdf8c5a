"""Per-user API tokens. Only a token's SHA-256 digest is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from .models import ApiToken

PREFIX = "hitl_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_new() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_create(*, user) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row and the token itself (not stored anywhere)."""
    token = token_new()
    row = ApiToken.objects.create(user=user, digest=token_digest(token))
    return row, token


def token_user(token: str):
    """The active user ``token`` belongs to, or None."""
    if not token or len(token) > 200:
        return None
    row = ApiToken.objects.select_related("user").filter(digest=token_digest(token)).first()
    if row is None or not row.user.is_active:
        return None
    ApiToken.objects.filter(id=row.id).update(last_used_at=timezone.now())
    return row.user
