"""``Workflow``: a named definition, and the run / continue / stream entry points."""

from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from . import events as ev
from . import keys
from .agents import as_tool
from .errors import DefinitionChangedError, DefinitionError, RunStateError, ValidationError
from .events import Event
from .interpreter import Interpreter
from .jsonvalues import check_json
from .persistence import RunStore, get_default_store
from .primitives import (
    Condition,
    Loop,
    Parallel,
    Router,
    RunStatus,
    Step,
    StepOutput,
    Steps,
    _as_nodes,
    replace,
    validate_review,
)
from .requirements import EXECUTOR_KINDS, Requirement
from .state import RunState, utcnow

# When a run's progress is stored (``Workflow(durability=...)``): after every step, or only at
# pauses, before effects that must not repeat (tools, agents) and at the end.
DURABILITY = ("step", "pause")

_DEFAULT_PREFIX = {
    "Step": "step",
    "Steps": "steps",
    "Loop": "loop",
    "Router": "router",
    "Condition": "condition",
    "Parallel": "parallel",
}


def _actor(user) -> str | None:
    if user is None or isinstance(user, str):
        return user
    get = getattr(user, "get_username", None)
    return get() if get else str(user)


class WorkflowRunOutput:
    """A run as seen from Python: status, results and the requirements to resolve."""

    def __init__(
        self,
        state: RunState,
        workflow: Workflow | None = None,
        clock: Callable[[], datetime] = utcnow,
        events: list[Event] | None = None,
    ):
        self.run_id = state.run_id
        self.workflow_name = state.workflow_name
        self.status = RunStatus(state.status)
        self.input = state.input
        self.additional_data = state.additional_data
        self.content = state.content
        self.error = state.error
        self.pause_kind = state.pause_kind if self.status == RunStatus.PAUSED else None
        self.paused_step_name = state.paused_step_name if self.pause_kind else None
        self.paused_step_path = state.paused_step_path if self.pause_kind else None
        self.session_state = state.session_state
        self.created_by = state.created_by
        self.created_at = state.created_at
        self.events = events or []
        self.step_requirements: list[Requirement] = list(state.requirements)
        index = workflow.index if workflow else {}
        for req in self.step_requirements:
            req._clock = clock
            node = index.get(req.path)
            if node is not None:
                req.step_type, req._review = node.kind, node.human_review
        count = len(workflow.steps) if workflow else 0
        memo = state.memo
        done = [memo.get(keys.memo(keys.DONE, keys.child("", i))) for i in range(count)]
        self.step_results: list[StepOutput] = [
            StepOutput.from_dict(out) for out in done if out is not None and not out.get("skipped")
        ]

    def __repr__(self):
        return f"<WorkflowRunOutput {self.workflow_name} {self.run_id} {self.status.value}>"

    @property
    def is_paused(self) -> bool:
        return self.status == RunStatus.PAUSED

    @property
    def is_cancelled(self) -> bool:
        return self.status == RunStatus.CANCELLED

    @property
    def has_completed(self) -> bool:
        return self.status in (RunStatus.COMPLETED, RunStatus.ERROR)

    @property
    def active_requirements(self) -> list[Requirement]:
        return [r for r in self.step_requirements if r.is_active]

    active_step_requirements = active_requirements

    def _active(self, *kinds) -> list[Requirement]:
        return [r for r in self.step_requirements if r.is_active and r.kind in kinds]

    @property
    def steps_requiring_confirmation(self):
        """Confirmations, and user input that must also be confirmed (listed in both)."""
        return [r for r in self.step_requirements if r.is_active and r.requires_confirmation and not r.is_executor]

    @property
    def steps_requiring_user_input(self):
        return self._active("user_input")

    @property
    def paused_step_index(self) -> int | None:
        return int(self.paused_step_path.split("/", 1)[0]) if self.paused_step_path else None

    @property
    def steps_requiring_output_review(self):
        return self._active("output_review", "iteration_review")

    @property
    def steps_requiring_iteration_review(self):
        return self._active("iteration_review")

    @property
    def steps_requiring_route(self):
        return self._active("route_selection")

    @property
    def steps_requiring_executor_resolution(self):
        return self._active(*EXECUTOR_KINDS)

    @property
    def steps_with_errors(self):
        return self._active("error")

    active_error_requirements = steps_with_errors

    @property
    def error_requirements(self) -> list[Requirement]:
        """Every error pause of the run, decided or not (history, in creation order)."""
        return [r for r in self.step_requirements if r.kind == "error"]


class Workflow:
    """A named, immutable workflow definition.

    ``run()`` and ``continue_run()`` persist through the default store (the Django store once the
    app is loaded), so a run paused here can be continued from a fresh ``Workflow`` in another
    process with ``continue_run(run_id=...)``.

    ``durability``: "step" (the default) stores what each step did before anything runs after it;
    "pause" stores only at pauses, before tools and agents' turns, and at the end (see
    ``self.durability``). A stream stores every event before handing it out either way.
    """

    def __init__(
        self,
        name: str,
        steps,
        *,
        description: str | None = None,
        store: RunStore | None = None,
        parallel_max_workers: int | None = None,
        durability: str = "step",
    ):
        if not name or not isinstance(name, str):
            raise DefinitionError("Workflow needs a name")
        if durability not in DURABILITY:
            raise DefinitionError(
                f"Workflow '{name}': durability must be one of {', '.join(map(repr, DURABILITY))}, not {durability!r}"
            )
        self.name = name
        self.description = description
        self.index: dict[str, Any] = {}
        self.steps = self._normalise(_as_nodes(steps, where=f"Workflow '{name}'"), "")
        if not self.steps:
            raise DefinitionError(f"Workflow '{name}' has no steps")
        self.fingerprint = hashlib.sha256(
            json.dumps(self.describe(), sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        self.store = store
        self.parallel_max_workers = parallel_max_workers  # the cap of each Parallel without its own
        # "step": what a step did is stored before anything runs after it, so a crash never runs a
        # completed step again. "pause": stored only at pauses, before an effect that must not
        # repeat (a tool call, an agent's turn) and at the end: a crash may run plain steps again
        # since the last stored point, never a tool; far fewer writes.
        self.durability = durability
        self.clock: Callable[[], datetime] = utcnow

    def __repr__(self):
        return f"<Workflow {self.name}>"

    # -- definition -----------------------------------------------------------------------------
    def _normalise(self, nodes, prefix: str) -> tuple:
        out = []
        for i, node in enumerate(nodes):
            path = keys.child(prefix, i)
            changes = {}
            if not node.name:
                changes["name"] = f"{_DEFAULT_PREFIX[node.kind]}_{i + 1}"
            name = changes.get("name", node.name)
            validate_review(node, name)
            if isinstance(node, (Steps, Loop, Parallel)):
                seg = "branches" if isinstance(node, Parallel) else "steps"
                changes["steps"] = self._normalise(node.steps, keys.child(path, seg))
            elif isinstance(node, Condition):
                changes["steps"] = self._normalise(node.steps, keys.child(path, "if"))
                changes["else_steps"] = self._normalise(node.else_steps, keys.child(path, "else"))
            elif isinstance(node, Router):
                if not node.choices:
                    raise DefinitionError(f"Router '{name}' has no choices")
                if node.selector is None and not (node.human_review and node.human_review.requires_user_input):
                    # Nothing could pick a route: say so now rather than fail when the run gets there.
                    raise DefinitionError(f"Router '{name}' needs a selector or route selection (requires_user_input)")
                choices = self._normalise(node.choices, keys.child(path, "choices"))
                names = [c.name for c in choices]
                if len(set(names)) != len(names):
                    raise DefinitionError(f"Router '{name}': choice names must be unique: {names}")
                changes["choices"] = choices
            node = replace(node, **changes) if changes else node
            self.index[path] = node
            out.append(node)
        return tuple(out)

    def describe(self) -> list[dict]:
        """A plain description of the definition (steps, gates), for pages and fingerprints."""

        def one(path, node):
            item = {
                "path": path,
                "kind": node.kind,
                "name": node.name,
                "description": getattr(node, "description", None),
                "human_review": node.human_review.fingerprint() if node.human_review else None,
            }
            if isinstance(node, Step):
                if node.agent is not None:
                    item["agent"] = node.agent.name
                    tools = [as_tool(t) for t in node.agent.tools]
                    item["tools"] = [{"name": t.name, "kind": t.pause_kind} for t in tools]
                else:
                    item["executor"] = getattr(node.executor, "__qualname__", repr(node.executor))
                item["max_retries"] = node.max_retries
            if isinstance(node, Loop):
                item["max_iterations"] = node.max_iterations
            return item

        return [one(path, node) for path, node in self.index.items()]

    # -- running --------------------------------------------------------------------------------
    def _store(self) -> RunStore:
        return self.store or get_default_store()

    def run(
        self,
        input: Any = None,
        *,
        additional_data: dict | None = None,
        user=None,
        stream: bool = False,
        run_id: str | None = None,
        session_state: dict | None = None,
    ):
        """Start a run. Returns a ``WorkflowRunOutput``, or an iterator of events with ``stream=True``.

        A streamed event is handed out once it is stored. At ``StepPaused`` the requirement is
        stored and can be seen, but the run is still RUNNING (other Parallel branches may still
        run, and more of them may pause); at ``WorkflowPaused`` the run is stored PAUSED: decide
        and continue from there.

        ``session_state``: the run's initial session state, shared by its steps (``step_input.
        session_state``, or a ``session_state`` parameter of the step function) and kept across
        resumes.

        Raises ``ValidationError`` when ``input`` or ``additional_data`` is not JSON the system
        accepts (see ``jsonvalues``): nothing is stored then.
        """
        if additional_data is not None and not isinstance(additional_data, dict):
            raise ValidationError({"additional_data": "Must be an object."})
        check_json(input, "input")
        check_json(additional_data or {}, "additional_data")
        store = self._store()
        state = RunState.new(
            workflow_name=self.name,
            fingerprint=self.fingerprint,
            input=input,
            additional_data=additional_data,
            created_by=_actor(user),
            run_id=run_id,
            now=self.clock(),
        )
        if session_state:
            state.memo[keys.SESSION_STATE] = copy.deepcopy(dict(session_state))
        state.status, state.version = RunStatus.RUNNING.value, 1  # inserted already claimed: one write less
        store.insert(state)
        events = self._advance(store, state.run_id, state, defer_checkpoints=not stream, stream=stream)
        return events if stream else self._collect(events)

    def continue_run(
        self, run_output: WorkflowRunOutput | None = None, *, run_id: str | None = None, user=None, stream: bool = False
    ):
        """Store the decisions made on ``run_output``'s requirements and resume the run.

        A decision on a requirement someone else already decided raises ``ConflictError`` and
        nothing is applied; continuing with nothing decided raises ``RunStateError``.
        """
        if run_output is None and run_id is None:
            raise ValueError("continue_run needs a run output or a run_id")
        run_id = run_id or run_output.run_id
        store = self._store()
        decisions = []
        if run_output is not None:
            unconfirmed = [r.step_name for r in run_output.step_requirements if r.awaits_confirmation]
            if unconfirmed:
                raise RunStateError(
                    f"Cannot continue run - input was given but not confirmed for: {unconfirmed}. "
                    "Call confirm() (or reject()) on these requirements."
                )
            decisions = [
                (req.id, req.local, req.version, _actor(user))
                for req in run_output.step_requirements
                if req.local is not None and req.is_active
            ]
        events = self._advance(
            store, run_id, decisions=decisions, applied_to=run_output, defer_checkpoints=not stream, stream=stream
        )
        return events if stream else self._collect(events)

    def advance(self, run_id: str, *, store: RunStore | None = None, stream: bool = False):
        """Claim and advance a stored run until it pauses or ends (what workers do); returns its
        state, or with ``stream=True`` an iterator of its events, each handed out once it is
        stored. Without a stream a checkpoint is stored when operator code is about to run, or
        with the end of the execution."""
        events = self._advance(store or self._store(), run_id, defer_checkpoints=not stream, stream=stream)
        return events if stream else _drain(events)

    def get_run_output(self, run_id: str) -> WorkflowRunOutput:
        return WorkflowRunOutput(self._store().load(run_id), self, self.clock)

    def get_session_state(self, run_id: str) -> dict:
        """The run's session state as last stored (agno's ``get_session_state``; a run is its own
        session here)."""
        return self._store().load(run_id).session_state

    async def arun(self, input: Any = None, **kwargs):
        """``run()`` from async code. With ``stream=True``, an async iterator of the events."""
        if kwargs.get("stream"):
            return _in_a_thread(functools.partial(self.run, input, **kwargs), self._store())
        return await _call_in_a_thread(functools.partial(self.run, input, **kwargs), self._store())

    async def acontinue_run(self, run_output: WorkflowRunOutput | None = None, **kwargs):
        """``continue_run()`` from async code. With ``stream=True``, an async iterator of the events."""
        if kwargs.get("stream"):
            return _in_a_thread(functools.partial(self.continue_run, run_output, **kwargs), self._store())
        return await _call_in_a_thread(functools.partial(self.continue_run, run_output, **kwargs), self._store())

    async def aget_run_output(self, run_id: str) -> WorkflowRunOutput:
        """``get_run_output()`` from async code (the store is used from a thread)."""
        return await _call_in_a_thread(functools.partial(self.get_run_output, run_id), self._store())

    def check_compatible(self, state: RunState) -> None:
        """Refuse to resume a run whose recorded steps no longer exist in this definition: it stops
        with a clear error (and stays paused) instead of running a different workflow than it started."""
        if state.fingerprint == self.fingerprint:
            return
        missing = set()
        for key in state.memo:
            path = keys.work_path(key)
            if path is not None and path not in self.index:
                missing.add(path)
        for req in state.requirements:
            node = self.index.get(req.path)
            if node is None or node.name != req.step_name:
                missing.add(req.path)
        if missing:
            raise DefinitionChangedError(
                f"Workflow '{self.name}' changed since run {state.run_id} started: step(s) "
                f"{', '.join(sorted(missing))} no longer exist. Restore the definition or cancel the run."
            )

    def _advance(
        self,
        store: RunStore,
        run_id: str,
        state: RunState | None = None,
        *,
        decisions=(),
        applied_to: WorkflowRunOutput | None = None,
        defer_checkpoints: bool = False,
        stream: bool = False,
    ) -> Iterator[Event]:
        """Claim (unless ``state`` is given) and execute the run; yield its public events. The end
        of the execution is stored before its last event (WorkflowPaused, WorkflowCompleted...)
        is handed out; with ``stream``, every other event is stored before it is handed out."""
        if state is None:
            # The decisions are stored in the claim's transaction: all of them and the claim, or nothing.
            state = store.claim(run_id, now=self.clock(), check=self.check_compatible, decisions=decisions)
            if applied_to is not None:  # the caller's objects now say what was stored
                stored = {r.id: r for r in state.requirements}
                for req in applied_to.step_requirements:
                    if req.id in stored and req.local is not None:
                        new = stored[req.id]
                        req.status, req.resolution, req.version = new.status, new.resolution, new.version
                        req.resolved_by, req.resolved_at, req.local = new.resolved_by, new.resolved_at, None
        state.fingerprint = self.fingerprint
        interpreter = Interpreter(
            self,
            state,
            clock=self.clock,
            checkpoint=lambda: store.checkpoint(state),
            defer_checkpoints=defer_checkpoints,
            stream=stream,
            parallel_max_workers=self.parallel_max_workers or getattr(store, "parallel_max_workers", None),
            durability=self.durability,
        )
        events = interpreter.execute()
        end = None
        try:
            for event in events:
                if event.event in ev.END_EVENTS:  # the last one: handed out once the end is stored
                    end = event
                    events.close()  # the execution is over: let it clean up here, not when collected
                    break
                if event.event == ev.CHECKPOINT:  # bookkeeping, stored for recovery only
                    continue
                try:
                    yield event
                except GeneratorExit:
                    # The consumer stopped listening (e.g. broke out of a stream at StepPaused): the
                    # run goes on to its next pause or end, or it would stay RUNNING for ever.
                    for _ in events:
                        pass
                    store.finish(state)
                    raise
        except BaseException as exc:  # an engine or store failure: never leave the run RUNNING
            if isinstance(exc, GeneratorExit):
                raise
            state.status, state.error = RunStatus.ERROR.value, f"{type(exc).__name__}: {exc}"
            state.content = f"Workflow execution failed: {state.error}"
            interpreter.cancel_pending()
            store.finish(state)
            raise
        store.finish(state)
        if end is not None:
            yield end
        return state

    def _collect(self, events) -> WorkflowRunOutput:
        seen = []
        return WorkflowRunOutput(_drain(events, seen.append), self, self.clock, seen)


_END = object()


def _done_with(store: RunStore) -> None:
    done = getattr(store, "thread_done", None)  # e.g. close this thread's database connections
    if done is not None:
        done()


async def _call_in_a_thread(fn: Callable[[], Any], store: RunStore) -> Any:
    """``fn()`` in a thread of its own (a store may block), which then lets the store go."""

    def call():
        try:
            return fn()
        finally:
            _done_with(store)

    with ThreadPoolExecutor(1, thread_name_prefix="hitl-async") as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, call)


async def _in_a_thread(start: Callable[[], Iterator[Event]], store: RunStore):
    """The events of ``start()`` (a sync stream) as an async iterator. The stream is started and
    advanced in one thread of its own, never in the event loop's: a store may block (a database
    connection belongs to the thread that opened it), and so may steps. When the consumer stops
    early the run still goes on to its next pause or end, as with a sync stream."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1, thread_name_prefix="hitl-stream")
    events = None
    try:
        events = await loop.run_in_executor(pool, start)
        while (event := await loop.run_in_executor(pool, next, events, _END)) is not _END:
            yield event
    finally:
        if events is not None:
            await loop.run_in_executor(pool, events.close)
        await loop.run_in_executor(pool, _done_with, store)
        pool.shutdown(wait=False)


def _drain(events: Iterator[Event], on_event=None) -> RunState:
    """Run ``_advance``'s generator to its end (handing each event to ``on_event``); its state."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)
