"""The interpreter: one walk of a workflow definition, used for run, continue and stream.

Every time a run advances, the walk replays the definition from the top. Work already done is
read back from the state's memo (see ``state.py``), so a pause at any depth continues every
enclosing container where it was. Memo entries and requirements are keyed by runtime keys: the
static path extended with the loop iteration and the container attempt (see ``keys.py``).
Replay finds the same requirement again and applies its decision.

The walk is a generator of events; pauses, skips, retries and cancellation travel as exceptions.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import inspect
import queue
import threading
import types
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import events as ev
from . import keys
from .agents import ToolCall, ToolResult, as_tool
from .errors import RunCancelled
from .events import Event
from .primitives import HumanReview, OnError, OnReject, RunStatus, StepInput, StepOutput
from .requirements import CANCELLED, EXPIRED, PENDING, Requirement, effective_action

if TYPE_CHECKING:
    from .state import RunState
    from .workflow import Workflow

MAX_AGENT_TURNS = 50
# How many branches of a Parallel run at once when neither the Parallel (max_concurrency=) nor the
# workflow's store says otherwise.
PARALLEL_MAX_WORKERS = 8
_NO_REVIEW = HumanReview()


# -- control flow -------------------------------------------------------------------------------
class Pause(Exception):  # noqa: N818 - a signal, not an error
    def __init__(self, requirements: list[Requirement]):
        super().__init__(f"paused on {len(requirements)} requirement(s)")
        self.requirements = requirements


class StepFailure(Exception):
    def __init__(self, step_name: str, error: str, error_type: str = "Exception", *, final: bool = False):
        super().__init__(error)
        self.step_name, self.error, self.error_type, self.final = step_name, error, error_type, final


class _Skip(Exception):  # noqa: N818
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Retry(Exception):  # noqa: N818
    pass


class _Stop(Exception):  # noqa: N818
    def __init__(self, output: StepOutput):
        super().__init__("stop")
        self.output = output


@dataclass(frozen=True)
class Scope:
    input: Any
    previous: Any
    extra: dict
    iteration: int | None = None


@dataclass(slots=True)  # not frozen: made for every node walked, and a frozen one is slower to make
class Frame:
    """Where the walk is: a node, its static path and runtime key (see ``keys``), what it reads,
    and which attempt of it runs. Never changed once made."""

    node: Any
    path: str
    key: str
    scope: Scope
    attempt: int = 0

    def memo(self, prefix: str) -> str:
        return keys.memo(prefix, self.key)

    def memo_of_attempt(self, prefix: str) -> str:
        return keys.memo_of_attempt(prefix, self.key, self.attempt)

    def inner(self, segment: str) -> tuple[str, str]:
        """The path and key of the node's sequence ``segment`` (``steps``, ``if``...) in this attempt."""
        return keys.child(self.path, segment), keys.attempted(keys.child(self.key, segment), self.attempt)


class _Channel:
    """How a Parallel branch thread asks the thread driving the execution to store a checkpoint."""

    def __init__(self, inbox: queue.Queue):
        self.inbox = inbox
        self._done = threading.Event()
        self._error: BaseException | None = None

    def store(self) -> None:
        self._done.clear()
        self.inbox.put(("store", None, self))
        self._done.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def answer(self, store: Callable[[], None]) -> None:
        try:
            store()
        except BaseException as exc:  # noqa: BLE001 - raised in the branch that asked
            self._error = exc
        finally:
            self._done.set()


# -- helpers ------------------------------------------------------------------------------------
async def _await(awaitable):
    return await awaitable


class _EventLoop:
    """The event loop of an execution's async code, in a thread of its own (started on first
    use). Async steps of Parallel branches run on it as tasks, at the same time; and what one
    async step keeps (a client, a connection pool) still works in the next one."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, awaitable):
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="hitl-async", daemon=True)
                self._thread.start()
        return asyncio.run_coroutine_threadsafe(_await(awaitable), self._loop).result()

    def close(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None:
            asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()


def jsonable(value):
    """Make ``value`` storable as JSON (outputs, tool arguments and results)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, StepOutput):
        return value.to_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    return str(value)


# What steps usually return, never awaitable: the check (an ABC's) is skipped for them.
_NOT_AWAITABLE = frozenset({StepOutput, str, int, float, bool, dict, list, tuple, type(None)})


def _as_output(result, name: str) -> StepOutput:
    if isinstance(result, StepOutput):
        out = copy.copy(result)  # the operator's object is left as it is
        out.step_name = out.step_name or name
    else:
        out = StepOutput(step_name=name, content=result)
    out.content = jsonable(out.content)
    return out


def _takes_session_state(fn: Callable) -> bool:
    try:
        return _has_session_state_parameter(fn)
    except TypeError:  # an unhashable callable
        return _has_session_state_parameter.__wrapped__(fn)


@functools.cache
def _has_session_state_parameter(fn: Callable) -> bool:
    try:
        return "session_state" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or a callable without a signature
        return False


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class Interpreter:
    def __init__(
        self,
        workflow: Workflow,
        state: RunState,
        *,
        clock: Callable[[], datetime],
        checkpoint: Callable[[], None] = lambda: None,
        defer_checkpoints: bool = False,
        stream: bool = False,
        parallel_max_workers: int | None = None,
        durability: str = "step",
    ):
        self.wf = workflow
        self.state = state
        self.clock = clock
        self._store_checkpoint = checkpoint
        # Deferred: a checkpoint is stored just before the next operator code runs, or with the
        # end of the execution (one write less when nothing runs in between). For consumers that
        # act on events only at the end.
        self._defer = defer_checkpoints
        # Streamed: every event is stored when it is made, before anyone can see it (the end
        # event is stored by the execution's end, see Workflow._advance).
        self._stream = stream
        self._unstored = False
        # durability="pause": what plain operator code did (steps, predicates, selectors) is stored
        # only with a pause, the end, or before an effect that must not repeat (a tool, an agent's
        # turn); a crash may run such code again since the last stored point. A stream still stores
        # each event before handing it out.
        self._pause_only = durability == "pause" and not stream
        self._effect_unstored = False  # a tool's result waits to be stored: before anything else runs
        self.parallel_max_workers = parallel_max_workers or PARALLEL_MAX_WORKERS
        # Branches of a Parallel run in threads: the state's unstored lists and counters change
        # under this lock, and only the thread driving the execution talks to the store (a
        # branch thread asks it through its channel: database connections belong to a thread).
        self._lock = threading.RLock()
        self._branch = threading.local()
        self._event_loop = _EventLoop()
        self.outputs: dict[str, StepOutput] = {}
        self._outputs_view = types.MappingProxyType(self.outputs)
        self.session = copy.deepcopy(state.memo.get(keys.SESSION_STATE) or {})

    # -- entry point ----------------------------------------------------------------------------
    def execute(self) -> Generator[Event, None, None]:
        try:
            yield from self._execute()
        finally:
            self._event_loop.close()

    def _call(self, fn: Callable, *args, **kwargs):
        """Call operator code, sync or async (awaited on this execution's event loop)."""
        result = fn(*args, **kwargs)
        if type(result) not in _NOT_AWAITABLE and inspect.isawaitable(result):
            return self._event_loop.run(result)
        return result

    def _execute(self) -> Generator[Event, None, None]:
        st = self.state
        st.status = RunStatus.RUNNING.value
        st.pause_kind = st.paused_step_name = st.paused_step_path = None
        scope = Scope(input=st.input, previous=None, extra={})
        try:
            if not st.memo.get(keys.STARTED):
                yield self._emit(ev.WORKFLOW_STARTED, data={"input": jsonable(st.input)}, memo={keys.STARTED: True})
            for req in st.unapplied_requirements():
                yield from self._acknowledge(req)
            outs = yield from self._sequence(self.wf.steps, "", "", scope)
            last = outs[-1] if outs else None
            self._complete(last.content if last else None)
            yield self._emit(ev.WORKFLOW_COMPLETED, data={"content": st.content})
        except _Stop as stop:
            self._complete(stop.output.content)
            yield self._emit(ev.WORKFLOW_COMPLETED, data={"content": st.content, "stopped_by": stop.output.step_name})
        except Pause as pause:
            reqs = pause.requirements
            st.status = RunStatus.PAUSED.value
            kinds = {r.kind for r in reqs}
            st.pause_kind = (
                "error" if "error" in kinds else ("executor" if any(r.is_executor for r in reqs) else "step")
            )
            st.paused_step_name, st.paused_step_path = reqs[0].step_name, reqs[0].path
            yield self._emit(
                ev.WORKFLOW_PAUSED,
                path=reqs[0].path,
                name=reqs[0].step_name,
                data={"pause_kind": st.pause_kind, "requirements": [r.id for r in reqs]},
                # A step whose output awaits review is not re-run when the run advances: keep what it wrote.
                memo=self._session_memo() or None,
            )
        except RunCancelled as cancel:
            st.status = RunStatus.CANCELLED.value
            st.content = str(cancel)
            self.cancel_pending()
            yield self._emit(ev.WORKFLOW_CANCELLED, data={"reason": st.content})
        except StepFailure as failure:
            st.status = RunStatus.ERROR.value
            st.error = failure.error
            st.content = f"Workflow execution failed: {failure.error}"
            self.cancel_pending()
            yield self._emit(ev.WORKFLOW_ERROR, name=failure.step_name, data={"error": failure.error})

    def _complete(self, content):
        self.state.status = RunStatus.COMPLETED.value
        self.state.content = content

    def cancel_pending(self):
        now = self.clock()
        with self._lock:
            for req in self.state.pending_requirements:
                req.status, req.resolved_at = CANCELLED, now
                req.version += 1
                self.state.dirty_requirements.add(req.id)

    def _acknowledge(self, req: Requirement):
        if req.status == EXPIRED:
            name = ev.REQUIREMENT_TIMED_OUT
        elif req.is_executor:
            name = ev.STEP_EXECUTOR_CONTINUED
        else:
            name = ev.STEP_CONTINUED
        yield self._emit(
            name,
            path=req.path,
            name=req.step_name,
            data={
                "requirement_id": req.id,
                "kind": req.kind,
                "action": effective_action(req),
                "resolved_by": req.resolved_by,
            },
            memo={keys.acknowledged(req.id): True},
        )

    # -- checkpoints and operator code -----------------------------------------------------------
    def _checkpoint(self, *, effect: bool = False) -> None:
        """What happened is stored before the consumer sees the event just made, or (deferred)
        before anything runs after it. ``effect``: it is the result of an effect that must not
        repeat (a tool), stored before anything runs after it whatever the durability."""
        if self._stream:
            return  # the event was stored when it was made
        in_branch = getattr(self._branch, "channel", None) is not None
        if self._pause_only and not effect:
            self._unstored = True  # stored with the next pause, effect or end
        elif self._defer and not in_branch:
            self._unstored = True
            self._effect_unstored = self._effect_unstored or effect
        else:
            # In a Parallel branch other operator code runs meanwhile: store now, so a crash there
            # never makes this branch's completed work run again.
            self._store()

    def _store(self) -> None:
        channel = getattr(self._branch, "channel", None)
        if channel is not None:  # a branch thread: the thread driving the execution stores
            channel.store()
            return
        with self._lock:
            self._unstored = self._effect_unstored = False
            self._store_checkpoint()

    def _before_operator_code(self, *, effect: bool = False) -> None:
        """Called before operator code runs (a step, tool, predicate, selector...) and before a
        person is asked: a deferred checkpoint is stored first, so whatever that code does, and
        even if the process dies in it, completed work is never done again (and a run cancelled
        meanwhile stops here). Outside the ``try`` that guards that code: a store failure is not
        the code's failure. With durability="pause" only before an ``effect`` (a tool, an agent's
        turn), or when a tool's result is still unstored."""
        if self._unstored and (effect or self._effect_unstored or not self._pause_only):
            self._store()

    # -- events ---------------------------------------------------------------------------------
    def _emit(
        self,
        event_name: str,
        *,
        path: str | None = None,
        name: str | None = None,
        data: dict | None = None,
        memo: dict | None = None,
    ) -> Event:
        return self._stored(self._record(event_name, path=path, name=name, data=data, memo=memo))

    def _record(self, event_name: str, *, path=None, name=None, data=None, memo=None) -> Event:
        event = Event(
            event=event_name,
            run_id=self.state.run_id,
            path=path,
            step_name=name,
            data=data or {},
            memo=memo,
            created_at=self.clock(),
        )
        with self._lock:
            return self.state.record(event)

    def _stored(self, event: Event) -> Event:
        """Streaming: store ``event`` (and what came with it) before it is handed out. Never
        called under the lock: a branch thread waits here for the driving thread."""
        if self._stream and event.event not in ev.END_EVENTS:
            self._store()
        return event

    # -- walking ----------------------------------------------------------------------------------
    def _sequence(self, nodes, path: str, key: str, scope: Scope):
        outs: list[StepOutput] = []
        previous = scope.previous
        for i, node in enumerate(nodes):
            sub = Scope(scope.input, previous, scope.extra, scope.iteration)
            out = yield from self._node(node, keys.child(path, i), keys.child(key, i), sub)
            if out is not None:
                outs.append(out)
                previous = out.content
                if out.stop:
                    raise _Stop(out)
        return outs

    def _node(self, node, path: str, key: str, scope: Scope):
        memo = self.state.memo
        done = memo.get(keys.memo(keys.DONE, key))
        if done is not None:
            if done.get("skipped"):
                return None
            out = StepOutput.from_dict(done)
            self.outputs[out.step_name or node.name] = out
            return out
        handler = getattr(self, "_" + node.kind.lower())
        review = node.human_review or _NO_REVIEW
        while True:
            frame = Frame(node, path, key, scope, memo.get(keys.memo(keys.ATTEMPT, key), 0))
            failed = memo.get(frame.memo_of_attempt(keys.FAILED))
            if failed is None:
                try:
                    out = yield from handler(frame)
                    break
                except _Retry:
                    continue
                except _Skip as skip:
                    yield from self._finish(frame, None, skip.reason)
                    return None
                except StepFailure as failure:
                    if failure.final:
                        raise
                    failed = {"error": failure.error, "error_type": failure.error_type}
                    self._step_run(frame, "FAILED", error=failure.error)
                    event = self._emit(
                        ev.STEP_ERROR,
                        path=path,
                        name=node.name,
                        data={**failed, "attempt": frame.attempt},
                        memo={frame.memo_of_attempt(keys.FAILED): failed},
                    )
                    self._checkpoint()  # stored before the consumer sees it (it may die while handling it)
                    yield event
            # The node failed in this attempt: apply its on_error.
            on_error = review.on_error or OnError.fail
            if on_error == OnError.fail:
                raise StepFailure(node.name, failed["error"], failed["error_type"])
            if on_error == OnError.skip:
                out = StepOutput(
                    step_name=node.name,
                    content=f"Step skipped due to error: {failed['error']}",
                    success=False,
                    error=failed["error"],
                )
                break
            req = yield from self._gate(
                frame,
                "error",
                frame.attempt,
                message=f"Step '{node.name}' failed: {failed['error']}",
                payload={**failed, "retry_count": frame.attempt, "max_retries": review.max_retries},
            )
            action = effective_action(req)
            if action == "retry":
                if frame.attempt + 1 > review.max_retries:
                    raise StepFailure(
                        node.name,
                        f"Max retries ({review.max_retries}) reached for step '{node.name}': {failed['error']}",
                        failed["error_type"],
                        final=True,
                    )
                yield self._emit(
                    ev.CHECKPOINT, path=path, name=node.name, memo={keys.memo(keys.ATTEMPT, key): frame.attempt + 1}
                )
                continue
            if action == "timeout_cancel":
                raise RunCancelled(f"Workflow cancelled: Step '{node.name}' timed out")
            yield from self._finish(frame, None, "timed out" if action == "timeout_skip" else "skipped after error")
            return None
        yield from self._finish(frame, out, None)
        return out

    def _finish(self, frame: Frame, out: StepOutput | None, skip_reason: str | None):
        memo = {}
        if out is None:
            memo[frame.memo(keys.DONE)] = {"skipped": True, "reason": skip_reason}
            status, name = "SKIPPED", ev.STEP_SKIPPED
            data = {"reason": skip_reason}
        else:
            out.step_name = out.step_name or frame.node.name
            memo[frame.memo(keys.DONE)] = out.to_dict()
            status, name = "COMPLETED", ev.STEP_COMPLETED
            data = {"content": out.content, "success": out.success}
            self.outputs[out.step_name] = out
        memo.update(self._session_memo())
        self._step_run(frame, status, output=out, error=out.error if out else None)
        event = self._emit(name, path=frame.path, name=frame.node.name, data=data, memo=memo)
        self._checkpoint()  # stored before the consumer sees it: a crash there must not re-run the step
        yield event

    def _session_memo(self) -> dict:
        """The session state to checkpoint, when steps changed it since the last checkpoint."""
        if self.session != (self.state.memo.get(keys.SESSION_STATE) or {}):
            return {keys.SESSION_STATE: copy.deepcopy(self.session)}
        return {}

    def _step_run(self, frame: Frame, status, *, output=None, error=None):
        started = self.state.memo.get(frame.memo_of_attempt(keys.STARTED_AT))
        row = {
            "key": frame.key,
            "path": frame.path,
            "name": frame.node.name,
            "kind": frame.node.kind,
            "iteration": frame.scope.iteration,
            "attempt": frame.attempt,
            "status": status,
            "output": output.to_dict() if output is not None else None,
            "error": error,
            "started_at": datetime.fromisoformat(started) if started else None,
            "finished_at": self.clock(),
        }
        with self._lock:
            self.state.new_step_runs.append(row)

    def _started(self, frame: Frame):
        mark = frame.memo_of_attempt(keys.STARTED_AT)
        if mark not in self.state.memo:
            yield self._emit(
                ev.STEP_STARTED,
                path=frame.path,
                name=frame.node.name,
                data={"attempt": frame.attempt},
                memo={mark: self.clock().isoformat()},
            )

    def _input(self, frame: Frame, extra: dict) -> StepInput:
        data = dict(self.state.additional_data)
        data.update(extra)
        return StepInput(
            input=frame.scope.input,
            previous_step_content=frame.scope.previous,
            previous_step_outputs=self._outputs_view,
            additional_data=data,
            session_state=self.session,
            step_name=frame.node.name,
            iteration=frame.scope.iteration,
        )

    # -- gates ----------------------------------------------------------------------------------
    def _gate(self, frame: Frame, kind, n, *, message, payload, memo=None, batch=None, gate_key=None):
        """The ``n``-th requirement of ``kind`` at ``frame`` (or at ``gate_key``): asked the first time
        (the run pauses), its decision on replay."""
        node = frame.node
        rkey = keys.requirement(gate_key or frame.key, kind, n)
        req = self.state.requirement_for(rkey)
        if req is None:
            self._before_operator_code()  # what led here is stored before a person is asked
            review = node.human_review or _NO_REVIEW
            now = self.clock()
            with self._lock:
                req = Requirement(
                    run_id=self.state.run_id,
                    key=rkey,
                    path=frame.path,
                    step_name=node.name,
                    kind=kind,
                    message=message,
                    payload=jsonable(payload),
                    iteration=frame.scope.iteration,
                    attempt=n,
                    timeout_at=now + timedelta(seconds=review.timeout) if review.timeout else None,
                    on_timeout=review.on_timeout.value if review.timeout else None,
                    assignees=list(review.assignees),
                    groups=list(review.groups),
                    team=review.team_options,
                    due_at=now + timedelta(seconds=review.due_in) if review.due_in else None,
                    batch=batch,
                    created_at=now,
                    seq=self.state.seq + 1,  # its pause event's: creation order, even within one instant
                    _clock=self.clock,
                )
                self.state.add_requirement(req)
                event = self._record(
                    ev.PAUSE_EVENT_FOR_KIND[kind],
                    path=frame.path,
                    name=node.name,
                    memo=memo,
                    data={"requirement_id": req.id, "kind": kind, "message": message},
                )
            if self._pause_only and getattr(self._branch, "channel", None) is not None:
                # A pause is a stored point: other branches may run on for long, and the person
                # asked here can decide meanwhile.
                self._store()
            yield self._stored(event)  # StepPaused: the requirement is stored; the run is RUNNING
            raise Pause([req])
        if req.status == PENDING:
            raise Pause([req])
        if req.status == CANCELLED:
            raise RunCancelled(f"Workflow cancelled: requirement for step '{node.name}' was cancelled")
        return req

    def _pre_gate(self, frame: Frame, kind, *, message, payload, default_reject):
        """Confirmation or input before a node runs. Returns the requirement when the node runs."""
        node, review = frame.node, frame.node.human_review
        asked_key = frame.memo(keys.PRE_GATE)
        n = self.state.memo.get(asked_key, 0)
        while True:
            req = yield from self._gate(frame, kind, n, message=message, payload=payload)
            action = effective_action(req)
            if action in ("confirm", "submit", "select"):
                return req
            if action == "timeout_skip":
                raise _Skip("timed out")
            if action == "timeout_cancel":
                raise RunCancelled(f"Workflow cancelled: Step '{node.name}' timed out")
            on_reject = review.on_reject or default_reject
            if on_reject == OnReject.retry:  # re-ask; a rejected step never runs
                if n + 1 > review.max_retries:
                    raise RunCancelled(f"Max retries ({review.max_retries}) reached for step '{node.name}'")
                n += 1
                yield self._emit(ev.CHECKPOINT, path=frame.path, name=node.name, memo={asked_key: n})
                continue
            if on_reject == OnReject.else_branch:
                return req
            self._reject(node, on_reject)

    def _confirm_container(self, frame: Frame, message: str, payload: dict, default_reject=OnReject.skip):
        """A container's confirmation before it runs, when its review asks for one (``message``
        unless the review has its own). Returns the requirement when the container runs, None
        when nothing was asked."""
        review = frame.node.human_review
        if review is None or not review.requires_confirmation:
            return None
        return (
            yield from self._pre_gate(
                frame,
                "confirmation",
                message=review.confirmation_message or message,
                payload=payload,
                default_reject=default_reject,
            )
        )

    def _reject(self, node, on_reject):
        if on_reject == OnReject.cancel:
            raise RunCancelled(f"Workflow cancelled: Step '{node.name}' was rejected")
        raise _Skip("rejected")

    def _output_review(self, frame: Frame, out: StepOutput, *, message, payload, memo=None):
        """Ask a person to review ``out``. Returns it as approved (or edited); a rejection skips,
        cancels or (on_reject=retry) runs the node again with the feedback."""
        node, review = frame.node, frame.node.human_review
        req = yield from self._gate(frame, "output_review", frame.attempt, message=message, payload=payload, memo=memo)
        action = effective_action(req)
        if action == "confirm":
            return out
        if action == "edit":
            return dataclasses.replace(
                out, content=jsonable(req.resolution["output"]), metadata={**(out.metadata or {}), "edited": True}
            )
        if action == "timeout_skip":
            raise _Skip("timed out")
        if action == "timeout_cancel":
            raise RunCancelled(f"Workflow cancelled: Step '{node.name}' timed out")
        on_reject = review.on_reject or OnReject.skip
        if on_reject != OnReject.retry:
            self._reject(node, on_reject)
        if frame.attempt + 1 > review.max_retries:
            raise RunCancelled(f"Max retries ({review.max_retries}) reached for step '{node.name}'")
        self._step_run(frame, "REJECTED", output=out)
        yield self._emit(
            ev.CHECKPOINT, path=frame.path, name=node.name, memo={frame.memo(keys.ATTEMPT): frame.attempt + 1}
        )
        raise _Retry()

    def _rejected_review(self, frame: Frame) -> Requirement | None:
        """The output review the previous attempt's output was rejected in, if any."""
        if not frame.attempt:
            return None
        return self.state.requirement_for(keys.requirement(frame.key, "output_review", frame.attempt - 1))

    def _retry_extra(self, frame: Frame) -> dict:
        extra = dict(frame.scope.extra)
        prev = self._rejected_review(frame)
        if prev is not None:
            extra["rejection_feedback"] = prev.feedback
            extra["previous_output"] = prev.payload.get("output")
        return extra

    def _wants_review(self, review: HumanReview, out: StepOutput) -> bool:
        flag = review.requires_output_review
        if callable(flag):
            self._before_operator_code()
            try:
                return bool(self._call(flag, out))
            except Exception:  # a broken predicate must not bypass a review
                return True
        return bool(flag)

    # -- primitives -----------------------------------------------------------------------------
    def _step(self, frame: Frame):
        node = frame.node
        review = node.human_review or _NO_REVIEW
        extra = self._retry_extra(frame)
        if review.pre_gate:
            kind = "user_input" if review.requires_user_input else "confirmation"
            payload = {"schema": [f.to_dict() for f in review.user_input_schema or ()]}
            message = (
                review.confirmation_message
                if kind == "confirmation"
                else (review.user_input_message or review.confirmation_message)
            )
            req = yield from self._pre_gate(frame, kind, message=message, payload=payload, default_reject=OnReject.skip)
            if kind == "user_input":
                values = (req.resolution or {}).get("values")
                if values is None:  # timed out with on_timeout=approve: the defaults
                    values = {f.name: f.default for f in review.user_input_schema if f.default is not None}
                extra["user_input"] = values
        yield from self._started(frame)
        exec_key = frame.memo_of_attempt(keys.EXECUTED)
        stored = self.state.memo.get(exec_key)
        if stored is not None:
            out = StepOutput.from_dict(stored)
        else:
            step_input = self._input(frame, extra)
            if node.agent is not None:
                out = yield from self._agent(frame, step_input)
            else:
                out = self._call_step(node, step_input)
            if not (review.requires_output_review and self._wants_review(review, out)):
                return out
        return (
            yield from self._output_review(
                frame,
                out,
                message=review.output_review_message or f"Review output of step '{node.name}'?",
                payload={"output": out.content, "input": jsonable(frame.scope.input), "attempt": frame.attempt},
                memo={exec_key: out.to_dict()},
            )
        )

    def _call_step(self, node, step_input: StepInput) -> StepOutput:
        error = None
        self._before_operator_code()
        for _ in range(node.max_retries + 1):
            try:
                if _takes_session_state(node.executor):  # as agno passes it
                    result = self._call(node.executor, step_input, session_state=self.session)
                else:
                    result = self._call(node.executor, step_input)
                return _as_output(result, node.name)
            except (Pause, RunCancelled, _Skip, _Retry, _Stop):
                raise
            except Exception as exc:  # the step's own failure: retried, then on_error applies
                error = exc
        raise StepFailure(node.name, _error_text(error), type(error).__name__)

    def _steps(self, frame: Frame):
        node = frame.node
        yield from self._confirm_container(
            frame, f"Execute steps pipeline '{node.name}'?", {"steps": [s.name for s in node.steps]}
        )
        yield from self._started(frame)
        path, key = frame.inner("steps")
        outs = yield from self._sequence(node.steps, path, key, frame.scope)
        return StepOutput(step_name=node.name, content=outs[-1].content if outs else None, steps=outs)

    def _loop(self, frame: Frame):
        node, scope = frame.node, frame.scope
        review = node.human_review or _NO_REVIEW
        memo = self.state.memo
        yield from self._confirm_container(
            frame, f"Execute loop '{node.name}'?", {"max_iterations": node.max_iterations}
        )
        yield from self._started(frame)
        path, key = frame.inner("steps")
        own_key = keys.attempted(frame.key, frame.attempt)  # its iterations' end and review are keyed from it
        all_outs: list[StepOutput] = []
        loop_input, previous, extra = scope.input, scope.previous, dict(scope.extra)
        last = None
        iterations = 0
        for i in range(node.max_iterations):
            iterations = i + 1
            sub = Scope(loop_input, previous, extra, i)
            outs = yield from self._sequence(node.steps, path, keys.iteration(key, i), sub)
            all_outs.extend(outs)
            if outs:
                last = outs[-1]
                previous = last.content
            if i + 1 >= node.max_iterations:
                break
            if node.end_condition is not None:
                end_key = keys.memo(keys.ENDED, keys.iteration(own_key, i))
                if end_key not in memo:
                    self._before_operator_code()
                    try:
                        ended = bool(self._call(node.end_condition, outs))
                    except Exception as exc:
                        raise StepFailure(node.name, _error_text(exc), type(exc).__name__) from exc
                    yield self._emit(ev.CHECKPOINT, path=frame.path, name=node.name, memo={end_key: ended})
                if memo[end_key]:
                    break
            if review.requires_iteration_review:
                req = yield from self._gate(
                    dataclasses.replace(frame, scope=sub),
                    "iteration_review",
                    0,
                    gate_key=keys.iteration(own_key, i),
                    message=review.iteration_review_message
                    or (
                        f"Loop '{node.name}' finished iteration {i + 1} of {node.max_iterations}. "
                        "Accept this result, or reject it to run another iteration."
                    ),
                    payload={
                        "output": last.content if last else None,
                        "iteration": i + 1,
                        "max_iterations": node.max_iterations,
                    },
                )
                action = effective_action(req)
                if action == "confirm":  # "Accept": stop looping, keep the output
                    break
                if action == "timeout_skip":
                    raise _Skip("timed out")
                if action == "timeout_cancel":
                    raise RunCancelled(f"Workflow cancelled: Loop '{node.name}' timed out")
                on_reject = review.on_reject or OnReject.retry
                if on_reject != OnReject.retry:
                    self._reject(node, on_reject)
                extra = {
                    **scope.extra,
                    "rejection_feedback": req.feedback,
                    "previous_output": last.content if last else None,
                }
            if node.forward_iteration_output and last is not None:
                loop_input = last.content
        return StepOutput(
            step_name=node.name,
            content=last.content if last else None,
            steps=all_outs,
            metadata={"iterations": iterations},
        )

    def _condition(self, frame: Frame):
        node = frame.node
        req = yield from self._confirm_container(
            frame,
            f"Execute condition '{node.name}'? Confirm runs the if branch, reject the else branch.",
            {"if_steps": [s.name for s in node.steps], "else_steps": [s.name for s in node.else_steps]},
            default_reject=OnReject.else_branch,
        )
        if req is not None:
            branch = "if" if effective_action(req) == "confirm" else "else"
        else:
            cond_key = frame.memo_of_attempt(keys.BRANCH)
            if cond_key not in self.state.memo:
                evaluator = node.evaluator
                self._before_operator_code()
                try:
                    value = (
                        self._call(evaluator, self._input(frame, dict(frame.scope.extra)))
                        if callable(evaluator)
                        else evaluator
                    )
                except Exception as exc:
                    raise StepFailure(node.name, _error_text(exc), type(exc).__name__) from exc
                yield self._emit(
                    ev.CHECKPOINT, path=frame.path, name=node.name, memo={cond_key: "if" if value else "else"}
                )
            branch = self.state.memo[cond_key]
        steps = node.steps if branch == "if" else node.else_steps
        if not steps:
            raise _Skip(f"no {branch} branch")
        yield from self._started(frame)
        path, key = frame.inner(branch)
        outs = yield from self._sequence(steps, path, key, frame.scope)
        return StepOutput(
            step_name=node.name, content=outs[-1].content if outs else None, steps=outs, metadata={"branch": branch}
        )

    def _router(self, frame: Frame):
        node, scope = frame.node, frame.scope
        review = node.human_review or _NO_REVIEW
        names = [c.name for c in node.choices]
        yield from self._confirm_container(frame, f"Execute router '{node.name}'?", {"choices": names})
        extra = self._retry_extra(frame)
        # A person picks the route again after a rejected review; a retry after an error re-selects as before.
        if review.requires_user_input or self._rejected_review(frame) is not None:
            chosen = yield from self._route_selection(frame, names, extra)
        else:
            chosen = yield from self._select(frame, names)
        yield from self._started(frame)
        path, key = frame.inner("choices")
        outs, previous = [], scope.previous
        for name in chosen:
            idx = names.index(name)
            sub = Scope(scope.input, previous, extra, scope.iteration)
            out = yield from self._node(node.choices[idx], keys.child(path, idx), keys.child(key, idx), sub)
            if out is not None:
                outs.append(out)
                previous = out.content
        out = StepOutput(
            step_name=node.name,
            content=outs[-1].content if outs else None,
            steps=outs,
            metadata={"routes": list(chosen)},
        )
        if not (review.requires_output_review and self._wants_review(review, out)):
            return out
        return (
            yield from self._output_review(
                frame,
                out,
                message=review.output_review_message or f"Review output of router '{node.name}'?",
                payload={"output": out.content, "routes": list(chosen), "choices": names, "attempt": frame.attempt},
            )
        )

    def _route_selection(self, frame: Frame, names, extra):
        """A person picks the route(s). A reject with ``on_reject=retry`` asks again (with the
        feedback), at most ``max_retries`` times; otherwise ``on_reject`` applies (default skip)."""
        node = frame.node
        review = node.human_review or _NO_REVIEW
        asked_key = frame.memo_of_attempt(keys.ROUTE_ASKED)
        asked = self.state.memo.get(asked_key, 0)
        feedback = extra.get("rejection_feedback")
        while True:
            req = yield from self._gate(
                frame,
                "route_selection",
                frame.attempt,
                gate_key=keys.route_asked_again(frame.key, asked) if asked else None,
                message=review.user_input_message or f"Select a route from: {', '.join(names)}",
                payload={
                    "choices": names,
                    "multiple": review.allow_multiple_selections,
                    "descriptions": {c.name: c.description or "" for c in node.choices},
                    "feedback": feedback,
                },
            )
            action = effective_action(req)
            if action == "select":
                if req.status == EXPIRED:  # on_timeout=approve: the selector decides
                    return (yield from self._select(frame, names))
                return (req.resolution or {}).get("choices")
            if action == "timeout_cancel":
                raise RunCancelled(f"Workflow cancelled: Router '{node.name}' timed out")
            if action == "timeout_skip":
                raise _Skip("timed out")
            on_reject = review.on_reject or OnReject.skip
            if on_reject != OnReject.retry:
                self._reject(node, on_reject)
            if asked + 1 > review.max_retries:
                raise RunCancelled(f"Max retries ({review.max_retries}) reached for router '{node.name}'")
            asked, feedback = asked + 1, req.feedback
            yield self._emit(ev.CHECKPOINT, path=frame.path, name=node.name, memo={asked_key: asked})

    def _select(self, frame: Frame, names):
        node = frame.node
        sel_key = frame.memo_of_attempt(keys.SELECTED)
        if sel_key not in self.state.memo:
            if node.selector is None:
                raise StepFailure(node.name, f"Router '{node.name}' has no selector and no route selection")
            self._before_operator_code()
            try:
                picked = self._call(node.selector, self._input(frame, dict(frame.scope.extra)))
            except Exception as exc:
                raise StepFailure(node.name, _error_text(exc), type(exc).__name__) from exc
            if not isinstance(picked, (list, tuple)):
                picked = [picked]
            chosen = []
            for item in picked:
                name = item if isinstance(item, str) else getattr(item, "name", None)
                if name not in names:
                    raise StepFailure(node.name, f"Router '{node.name}' selector chose unknown route {item!r}")
                chosen.append(name)
            yield self._emit(ev.CHECKPOINT, path=frame.path, name=node.name, memo={sel_key: chosen})
        return self.state.memo[sel_key]

    def _parallel(self, frame: Frame):
        node = frame.node
        yield from self._confirm_container(
            frame, f"Execute parallel '{node.name}'?", {"branches": [s.name for s in node.steps]}
        )
        yield from self._started(frame)
        path, key = frame.inner("branches")
        walks = [
            self._node(branch, keys.child(path, i), keys.child(key, i), frame.scope)
            for i, branch in enumerate(node.steps)
        ]
        workers = min(node.max_concurrency or self.parallel_max_workers, len(walks))
        if workers > 1:
            results = yield from self._concurrently(walks, workers)
        else:
            results = []
            for walk in walks:
                try:
                    results.append((yield from walk))
                except (Pause, RunCancelled, StepFailure, _Stop) as exc:
                    results.append(exc)
                    if not isinstance(exc, Pause):  # branches pause independently; a failure ends them
                        break
        pending, outs = [], []
        for result in results:  # definition order
            if isinstance(result, Pause):
                pending.extend(result.requirements)
            elif isinstance(result, BaseException):
                raise result
            elif result is not None:
                outs.append(result)
        if pending:
            raise Pause(pending)
        return StepOutput(step_name=node.name, content={o.step_name: o.content for o in outs}, steps=outs)

    def _concurrently(self, walks, workers: int):
        """Run the branch walks in up to ``workers`` threads; return each one's output or exception,
        in definition order. This thread hands their events on and does their store writes (a
        branch thread asks for one through its channel and waits), so the store is only ever used
        from the thread driving the execution."""
        self._before_operator_code()  # what led here is stored before the branches run
        inbox: queue.Queue = queue.Queue()
        results: list = [None] * len(walks)
        left = len(walks)

        def run(i, walk):
            self._branch.channel = _Channel(inbox)
            try:
                while True:
                    try:
                        event = next(walk)
                    except StopIteration as stop:
                        inbox.put(("done", i, stop.value))
                        return
                    inbox.put(("event", i, event))
            except BaseException as exc:  # noqa: BLE001 - handed to the driving thread, raised there
                inbox.put(("done", i, exc))
            finally:
                self._branch.channel = None

        pool = ThreadPoolExecutor(workers, thread_name_prefix="hitl-parallel")
        try:
            for i, walk in enumerate(walks):
                pool.submit(run, i, walk)
            while left:
                what, i, value = inbox.get()
                if what == "event":
                    yield value
                elif what == "store":
                    value.answer(self._store)
                else:
                    results[i], left = value, left - 1
        finally:
            while left:  # closed early: let the branches end (their writes still go through here)
                what, i, value = inbox.get()
                if what == "store":
                    value.answer(self._store)
                elif what == "done":
                    left -= 1
            pool.shutdown()
        return results

    # -- agents (executor level) ------------------------------------------------------------------
    def _agent(self, frame: Frame, step_input):
        node, agent = frame.node, frame.node.agent
        tools = {t.name: t for t in (as_tool(t) for t in agent.tools)}
        memo_key = frame.memo_of_attempt(keys.AGENT)
        record = copy.deepcopy(self.state.memo.get(memo_key) or {"turns": [], "results": {}})
        for turn in range(MAX_AGENT_TURNS):
            if turn < len(record["turns"]):
                action = record["turns"][turn]
            else:
                action = self._agent_turn(node, step_input, record, turn, tools)
                record["turns"].append(action)
                yield self._emit(
                    ev.CHECKPOINT,
                    path=frame.path,
                    name=node.name,
                    memo={memo_key: copy.deepcopy(record)},
                    data={"agent_turn": turn},
                )
            if "final" in action:
                return StepOutput(step_name=node.name, content=action["final"])
            pending = []
            for call_ in action["calls"]:
                if call_["id"] in record["results"]:
                    continue
                tool_ = tools.get(call_["name"])
                if tool_ is None:
                    result = {"status": "error", "note": f"Unknown tool '{call_['name']}'"}
                elif tool_.pause_kind:
                    try:
                        conversation = self._conversation(step_input, record)
                        req = yield from self._tool_gate(frame, turn, call_, tool_, conversation)
                    except Pause as pause:
                        pending.extend(pause.requirements)
                        continue
                    result = self._tool_decision(tool_, call_, req)
                else:
                    result = self._run_tool(tool_, call_["args"])
                record["results"][call_["id"]] = result
                # The result is stored before anything else happens (even before the consumer sees
                # the event): a tool runs at most once.
                event = self._emit(
                    ev.CHECKPOINT,
                    path=frame.path,
                    name=node.name,
                    memo={memo_key: copy.deepcopy(record)},
                    data={"tool": call_["name"], "status": result["status"]},
                )
                self._checkpoint(effect=True)
                yield event
            if pending:
                raise Pause(pending)
        raise StepFailure(node.name, f"Agent '{agent.name}' did not finish within {MAX_AGENT_TURNS} turns")

    @staticmethod
    def _conversation(step_input, record, limit: int = 50) -> list[dict]:
        """What the agent saw and did so far in this step, for the reviewer of one of its calls:
        the step's input, then each earlier tool call with its arguments and result."""
        items = [{"role": "input", "content": jsonable(step_input.input)}]
        for turn, action in enumerate(record["turns"]):
            for c in action.get("calls", ()):
                res = record["results"].get(c["id"])
                if res is None:
                    continue
                item = {"role": "tool", "turn": turn, "name": c["name"], "args": c["args"], "status": res["status"]}
                item["result" if "result" in res else "note"] = res.get("result", res.get("note"))
                items.append(item)
        return items[:1] + items[1:][-limit:]

    def _tool_gate(self, frame: Frame, turn, call_, tool_, conversation=None):
        node, kind = frame.node, tool_.pause_kind
        message = {
            "executor_confirmation": f"Allow {node.agent.name} to call {tool_.name}?",
            "executor_user_input": f"{node.agent.name} needs input to call {tool_.name}.",
            "external_execution": f"Run {tool_.name} and provide its result.",
        }[kind]
        payload = {
            "tool": tool_.name,
            "args": call_["args"],
            "agent": node.agent.name,
            "description": tool_.description,
            "call_id": call_["id"],
            "conversation": conversation or [],
        }
        if kind == "executor_confirmation":
            payload["parameters"] = tool_.parameters
        if kind == "executor_user_input":
            payload["schema"] = [f.to_dict() for f in tool_.user_input_fields]
        req = yield from self._gate(
            frame,
            kind,
            0,
            message=message,
            payload=payload,
            gate_key=keys.tool_call(frame.key, frame.attempt, call_["id"]),
            batch=keys.agent_turn(frame.key, frame.attempt, turn),
        )
        return req

    def _tool_decision(self, tool_, call_, req) -> dict:
        action = effective_action(req)
        res = req.resolution or {}
        if action == "confirm":
            return self._run_tool(tool_, call_["args"])
        if action == "edit":  # confirmed with the reviewer's arguments
            return self._run_tool(tool_, res.get("args", call_["args"]))
        if action == "submit":
            return self._run_tool(tool_, {**call_["args"], **res.get("values", {})})
        if action == "provide_result":
            return {"status": "ok", "result": jsonable(res.get("result"))}
        if action == "timeout_cancel":  # on_timeout=cancel means the run, as on every other kind
            raise RunCancelled(f"Workflow cancelled: tool '{tool_.name}' of step '{req.step_name}' timed out")
        note = res.get("feedback") or ("timed out" if req.status == EXPIRED else "rejected by a reviewer")
        return {"status": "rejected", "note": note}

    def _run_tool(self, tool_, args: dict) -> dict:
        self._before_operator_code(effect=True)
        try:
            return {"status": "ok", "result": jsonable(self._call(tool_.fn, **args))}
        except Exception as exc:  # the agent sees the error and decides what to do
            return {"status": "error", "note": _error_text(exc)}

    def _agent_turn(self, node, step_input, record, turn, tools) -> dict:
        """Ask the agent for its next action. ``Step.max_retries`` retries a failing call (a model
        endpoint's passing error); the turns and tool results so far are kept, not redone."""
        error = None
        self._before_operator_code(effect=True)
        for _ in range(node.max_retries + 1):
            try:
                raw = self._call(node.agent.next_action, step_input, self._history(record))
            except Exception as exc:  # the agent's own failure: retried, then on_error applies
                error = exc
                continue
            action = self._agent_action(raw, turn, tools)
            if "calls" in action:  # ids key the stored results: a reused id would skip a call
                seen = set(record["results"]) | {c["id"] for t in record["turns"] for c in t.get("calls", ())}
                for i, c in enumerate(action["calls"]):
                    if c["id"] in seen:
                        c["id"] = f"t{turn}.{i}"
                        while c["id"] in seen:
                            c["id"] += "'"
                    seen.add(c["id"])
            return action
        raise StepFailure(node.name, _error_text(error), type(error).__name__)

    @staticmethod
    def _agent_action(raw, turn: int, tools) -> dict:
        if isinstance(raw, StepOutput):
            raw = raw.content
        if isinstance(raw, ToolCall):
            raw = [raw]
        if isinstance(raw, (list, tuple)) and raw and all(isinstance(c, ToolCall) for c in raw):
            return {
                "calls": [
                    {"id": c.id or f"t{turn}.{i}", "name": c.name, "args": jsonable(c.args or {})}
                    for i, c in enumerate(raw)
                ]
            }
        if isinstance(raw, (list, tuple, dict)) or raw is None:
            if raw is None or isinstance(raw, (list, tuple)):
                raise StepFailure("agent", f"Agent returned {raw!r}: expected a ToolCall, a list of them or a str")
        return {"final": jsonable(raw)}

    @staticmethod
    def _history(record) -> list[ToolResult]:
        history = []
        for turn, action in enumerate(record["turns"]):
            for c in action.get("calls", ()):
                res = record["results"].get(c["id"])
                if res is not None:
                    history.append(
                        ToolResult(
                            id=c["id"],
                            name=c["name"],
                            args=c["args"],
                            result=res.get("result"),
                            status=res["status"],
                            note=res.get("note"),
                            turn=turn,
                        )
                    )
        return history
