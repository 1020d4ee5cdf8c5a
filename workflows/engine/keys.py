"""The grammar of the keys a run is stored under: runtime keys, memo keys and requirement keys.

A node's static path is its place in the definition: ``2/steps/0`` (the first step of the
third node's ``steps``). Its runtime key adds where the walk is: the container's attempt (``~1``,
after a retried error or a rejected review) and the loop iteration (``@3``), e.g.
``2/steps~1@3/0``. Memo entries (``state.py``) are ``<prefix>:<runtime key>``, with ``#<attempt>``
for entries a new attempt must not find again. Requirement keys are
``<runtime key>:<kind>:<n>``: replay finds the same requirement again.

These keys are stored (in events and checkpoints): a stored run advances only if they do not
change.
"""

from __future__ import annotations

import re

# Memo entries of the whole run.
STARTED = "started"  # WorkflowStarted was made
SESSION_STATE = "session_state"  # the session state as the last checkpoint left it

# Prefixes of a node's memo entries.
DONE = "done"  # its output, or that it was skipped: never run again
ATTEMPT = "attempt"  # its current attempt
FAILED = "failed"  # #attempt: that attempt's error
STARTED_AT = "t"  # #attempt: when that attempt started
EXECUTED = "exec"  # #attempt: a step's output awaiting its review
PRE_GATE = "pre"  # how many times the gate before it was asked
SELECTED = "sel"  # #attempt: the routes its selector chose
BRANCH = "cond"  # #attempt: the branch its evaluator chose
ENDED = "end"  # (loop iteration key) its end condition after that iteration
ROUTE_ASKED = "route"  # #attempt: how many times its route selection was asked again
AGENT = "agent"  # #attempt: its agent's turns and tool results
ACKNOWLEDGED = "ack"  # (requirement id) the decision's continued event was made

# The entries that say work was done at a path: a changed definition that lost such a path cannot
# advance the run (``Workflow.check_compatible``).
WORK = frozenset((DONE, EXECUTED, FAILED, AGENT, SELECTED, BRANCH, ATTEMPT, PRE_GATE, ROUTE_ASKED))

_RUNTIME_MARKS = re.compile(r"[~@]\d+")


# -- runtime keys (and static paths) ---------------------------------------------------------------
def child(parent: str, i: int | str) -> str:
    """The ``i``-th node under ``parent`` (``""`` for the top level); for paths and keys alike."""
    return f"{parent}/{i}" if parent else str(i)


def attempted(key: str, attempt: int) -> str:
    """A container's key in its ``attempt``: what it runs again gets new keys."""
    return f"{key}~{attempt}" if attempt else key


def iteration(key: str, i: int) -> str:
    return f"{key}@{i}"


def static_path(key: str) -> str:
    """The static path of a runtime key or a requirement key: ``2/steps~1@3/0`` -> ``2/steps/0``."""
    return _RUNTIME_MARKS.sub("", key.split(":", 1)[0].split("#", 1)[0])


# -- memo keys ---------------------------------------------------------------------------------------
def memo(prefix: str, key: str) -> str:
    return f"{prefix}:{key}"


def memo_of_attempt(prefix: str, key: str, attempt: int) -> str:
    return f"{prefix}:{key}#{attempt}"


def work_path(memo_key: str) -> str | None:
    """The static path of a memo entry in ``WORK``; None for any other entry."""
    prefix, _, rest = memo_key.partition(":")
    return static_path(rest) if prefix in WORK and rest else None


def acknowledged(requirement_id: str) -> str:
    return memo(ACKNOWLEDGED, requirement_id)


# -- requirement keys ----------------------------------------------------------------------------------
def requirement(key: str, kind: str, n: int) -> str:
    """The ``n``-th requirement of ``kind`` at ``key`` (a runtime key or one of the gate keys below)."""
    return f"{key}:{kind}:{n}"


def tool_call(key: str, attempt: int, call_id: str) -> str:
    """The gate key of an agent's tool call."""
    return f"{key}#{attempt}/{call_id}"


def agent_turn(key: str, attempt: int, turn: int) -> str:
    """The batch of the tool calls an agent made in one turn (decided together)."""
    return f"{key}#{attempt}/t{turn}"


def route_asked_again(key: str, asked: int) -> str:
    """The gate key of a route selection asked again after a rejection."""
    return f"{key}#r{asked}"
