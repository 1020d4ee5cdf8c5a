"""Workflows by name.

Every module-level ``Workflow`` of each installed app's ``flows.py`` and of each module named in
``settings.HITL_WORKFLOW_MODULES`` is registered under its name; ``register()`` adds one.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading

from django.apps import apps
from django.conf import settings

from workflows.engine import Workflow
from workflows.engine.errors import ConflictError

_registry: dict[str, Workflow] = {}
_discovered = False
# Held while importing: a thread that finds discovery under way waits for it instead of reading a
# half-filled registry. Reentrant, since a workflow module may itself call get() or discover().
_discover_lock = threading.RLock()


class WorkflowNotFound(LookupError):
    pass


# What people see on a run whose workflow this deployment does not have (renamed or removed in
# code, or started from a script with another module list). Runs set aside for it carry an error
# that starts with this text (see ``services.runs_retry_unavailable``).
UNAVAILABLE = "Workflow not available in this deployment"


class WorkflowUnavailableError(ConflictError):
    """A decision on a run whose workflow is not registered here: refused, nothing changes."""

    def __init__(self, name: str):
        super().__init__(
            f"{UNAVAILABLE}: no workflow named '{name}' is registered, so decisions on its runs are "
            "refused until it is registered again."
        )


def register(workflow: Workflow) -> Workflow:
    if not isinstance(workflow, Workflow):
        raise TypeError(f"register() takes a Workflow, not {type(workflow).__name__}")
    _registry[workflow.name] = workflow
    return workflow


def _register_module(module) -> None:
    for value in vars(module).values():
        if isinstance(value, Workflow):
            register(value)


def discover() -> None:
    """Import the workflow modules (once; ``WorkflowsConfig.ready`` does it at startup). Import
    errors propagate: a broken definition is loud, and the next call tries again.

    Discovery counts as done only once every module is imported: marking it done first let
    concurrent first requests after a restart see an empty registry ("No workflow named ...").
    """
    global _discovered
    if _discovered:
        return
    with _discover_lock:
        if _discovered:  # another thread finished it while this one waited
            return
        names = [
            f"{config.name}.flows"
            for config in apps.get_app_configs()
            if importlib.util.find_spec(f"{config.name}.flows") is not None
        ]
        names += list(getattr(settings, "HITL_WORKFLOW_MODULES", []))
        for name in names:
            _register_module(importlib.import_module(name))
        _discovered = True


def is_registered(name: str) -> bool:
    discover()
    return name in _registry


def get(name: str) -> Workflow:
    discover()
    try:
        return _registry[name]
    except KeyError:
        raise WorkflowNotFound(f"No workflow named '{name}'") from None


def all_workflows() -> list[Workflow]:
    discover()
    return sorted(_registry.values(), key=lambda wf: wf.name)
