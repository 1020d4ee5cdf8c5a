"""Writes of the reviewer app: the audit row of each decision."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workflows.engine.jsonvalues import edit_diff
from workflows.engine.persistence import SYSTEM_ACTOR
from workflows.models import Requirement
from workflows.runtime import hooks
from workflows.store import sql

from .models import Decision


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no whitespace, UTF-8 kept (what ``shown_hash`` hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def decision_record(
    *, requirement: Requirement, user, resolution: dict, shown: dict, actor: str | None = None
) -> Decision:
    """Audit one resolution: a person's decision, from any path, or a timeout (``user`` None,
    ``actor`` "system"). A ``workflows.services.resolution_hooks`` hook: it runs inside the
    resolving transaction, so the row commits with the decision (or not at all).

    ``requirement``: its row, or the engine's requirement (``id`` and ``run_id`` are what is read);
    ``actor``: the name to record, default the user's (kept when the user is later deleted), else
    "system" (a timeout, or a Python-API decision made without naming a user)."""
    action = resolution.get("action", "")
    data = {key: value for key, value in resolution.items() if key != "action"}
    if via := hooks.decision_via.get():  # e.g. decided through a link in a message
        data["via"] = via
    diff = ""
    if action == "edit":  # an output review's output, or a tool call's arguments
        field = "args" if "args" in resolution else "output"
        diff = edit_diff(shown.get(field), resolution.get(field))
    authenticated = user is not None and user.is_authenticated
    decision = Decision(
        requirement_id=requirement.id,
        run_id=requirement.run_id,
        user=user if authenticated else None,
        username=actor or (user.get_username() if authenticated else SYSTEM_ACTOR),
        action=action,
        data=data,
        shown_hash=content_hash(shown),
        diff=diff,
    )
    # Every resolution writes one: a prepared statement rather than the ORM's save. The row is
    # never read back here, so it has no id (nothing uses it; Decision.save still refuses edits).
    sql.insert(Decision, [{name: getattr(decision, attname) for name, attname in _DECISION_FIELDS}])
    return decision


_DECISION_FIELDS = tuple((f.name, f.attname) for f in Decision._meta.concrete_fields if not f.primary_key)
