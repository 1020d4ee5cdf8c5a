"""Per-user API tokens. Only a token's SHA-256 digest is stored; the token is shown once.

A token works while its user is active and has a usable password: deactivating a user, or making
their password unusable (Django's way to shut an account out of password sign-in), stops their
tokens too, and no token is made for such a user.
"""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from workflows.models import ApiToken

PREFIX = "hitl_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_new() -> str:
    return PREFIX + secrets.token_urlsafe(32)


class TokenRefused(ValueError):
    """This user may not hold a token (inactive, or no usable password)."""


def user_may_hold_token(user) -> bool:
    return bool(user.is_active and user.has_usable_password())


def token_create(*, user) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row and the token itself (not stored anywhere)."""
    if not user_may_hold_token(user):
        raise TokenRefused(f"User {user.get_username()!r} is inactive or has no usable password.")
    token = token_new()
    row = ApiToken.objects.create(user=user, digest=token_digest(token))
    return row, token


def token_user(token: str):
    """The user ``token`` belongs to if they may hold it now, or None."""
    if not token or len(token) > 200:
        return None
    row = ApiToken.objects.select_related("user").filter(digest=token_digest(token)).first()
    if row is None or not user_may_hold_token(row.user):
        return None
    ApiToken.objects.filter(id=row.id).update(last_used_at=timezone.now())
    return row.user
