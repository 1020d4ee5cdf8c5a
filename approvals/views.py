"""The reviewer's pages: the inbox and one decision page per requirement.

Every page works without JavaScript; htmx only enhances (partial table updates, boosted forms, a
live diff while editing an output). Who may see a requirement is ``workflows.selectors``' rule;
what a decision may be is ``clean_decision``'s, reached through ``requirement_resolve``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from workflows import registry, teams
from workflows import selectors as workflow_selectors
from workflows import services as workflow_services
from workflows.engine.errors import ConflictError, DecisionError, ExpiredError, ValidationError
from workflows.engine.jsonvalues import edit_diff
from workflows.models import Requirement

from . import bulk, selectors
from .contexts import decision_context, inbox_context, inbox_filters, inbox_query
from .forms import DecisionForm
from .models import Decision


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _wants_partial(request: HtmxHttpRequest) -> bool:
    """An htmx request for a fragment (not a boosted navigation, which wants the whole page)."""
    return bool(request.htmx) and not request.htmx.boosted


# -- inbox ------------------------------------------------------------------------------------------
def _came_from(request: HttpRequest) -> selectors.InboxFilters:
    """The inbox filters a decision page was opened with (its ``inbox`` parameter)."""
    raw = request.POST.get("inbox") if request.method == "POST" else request.GET.get("inbox")
    return inbox_filters(QueryDict((raw or "")[:2000]))


def _with_inbox(url: str, filters: selectors.InboxFilters) -> str:
    query = inbox_query(filters)
    return f"{url}?{urlencode({'inbox': query})}" if query else url


@login_required
@require_GET
def inbox(request: HtmxHttpRequest) -> HttpResponse:
    context = inbox_context(user=request.user, params=request.GET)
    template = "approvals/inbox.html#inbox-table" if _wants_partial(request) else "approvals/inbox.html"
    return render(request, template, context)


@login_required
@require_POST
def inbox_bulk(request: HtmxHttpRequest) -> HttpResponse:
    """ "Approve selected" / "Reject selected": each ticked row decided on its own (see
    ``approvals.bulk``), then a page that says what became of each."""
    verb = request.POST.get("action", "")
    came_from = _came_from(request)
    back = f"{reverse('approvals:inbox')}?{inbox_query(came_from)}" if came_from.active else reverse("approvals:inbox")
    if verb not in ("approve", "reject"):
        return HttpResponse("Choose Approve selected or Reject selected.", status=400, content_type="text/plain")
    selected = bulk.parse_selected(request.POST.getlist("selected"))
    if not selected:
        messages.error(request, "Nothing selected: tick the items to decide first.")
        return redirect(back)
    feedback = request.POST.get("feedback", "").replace("\r\n", "\n").strip()
    rows = bulk.decide_selected(user=request.user, selected=selected, verb=verb, feedback=feedback)
    counts = {
        outcome: sum(1 for row in rows if row.outcome == outcome) for outcome in ("done", "already_decided", "refused")
    }
    return render(request, "approvals/bulk_result.html", {"rows": rows, "counts": counts, "inbox_url": back})


# -- decision page ----------------------------------------------------------------------------------
@dataclass
class StepSummary:
    name: str
    status: str
    status_label: str
    iteration: int | None
    error: str
    has_content: bool
    content: Any


SUCCESS_VERBS = {
    "confirm": "Confirmed",
    "reject": "Rejected",
    "submit": "Submitted",
    "edit": "Saved your edit of",
    "select": "Selected a route for",
    "retry": "Retrying",
    "skip": "Skipped",
    "provide_result": "Submitted the result of",
}


def _success_message(req: Requirement, action: str) -> str:
    verb = SUCCESS_VERBS.get(action, "Decided")
    if action == "confirm" and req.kind == Requirement.Kind.OUTPUT_REVIEW:
        verb = "Approved"
    elif action == "confirm" and req.kind == Requirement.Kind.ITERATION_REVIEW:
        verb = "Accepted"
    return f"{verb} “{req.step_name}” ({req.workflow_name})."


def _steps(req: Requirement) -> list[StepSummary]:
    summaries = []
    for row in selectors.previous_step_outputs(requirement=req):
        output = row.output
        content = output.get("content") if isinstance(output, dict) and "content" in output else output
        summaries.append(
            StepSummary(
                name=row.name,
                status=row.status,
                status_label=row.get_status_display(),
                iteration=row.iteration,
                # An error requirement's own card says its step's error: once is enough.
                error="" if req.kind == Requirement.Kind.ERROR and row.path == req.path else row.error,
                has_content=content is not None,
                content=content,
            )
        )
    return summaries


def _resolution_items(req: Requirement) -> list[tuple[str, Any]]:
    labels = {"action": "Action", "feedback": "Feedback", "values": "Values", "choices": "Routes"}
    labels |= {"output": "Output", "result": "Result", "on_timeout": "On timeout"}
    resolution = req.resolution or {}
    return [(labels.get(key, key), value) for key, value in resolution.items() if value not in (None, "")]


def _render_decision(
    request: HtmxHttpRequest,
    req: Requirement,
    form: DecisionForm,
    *,
    mode: str = "decide",
    status: int = 200,
    template: str = "approvals/decide.html",
    edit_diff: str | None = None,
    preview_token: str = "",
) -> HttpResponse:
    came_from = _came_from(request)
    context = decision_context(
        user=request.user,
        req=req,
        form=form,
        mode=mode,
        edit_diff=edit_diff,
        preview_token=preview_token,
        inbox_query=inbox_query(came_from),
    )
    context["diff_only"] = template.endswith("#edit-diff")
    if template == "approvals/decide.html":
        previous, following = selectors.neighbours_for(user=request.user, req=req, filters=came_from)
        context |= {
            "previous_url": _with_inbox(reverse("approvals:decide", args=[previous.id]), came_from) if previous else "",
            "next_url": _with_inbox(reverse("approvals:decide", args=[following.id]), came_from) if following else "",
            "previous_steps": _steps(req),
            "history": selectors.decision_history(requirement=req),
            "decisions": list(Decision.objects.filter(requirement=req)) if not req.is_pending else [],
            "resolution_items": _resolution_items(req),
        }
    return render(request, template, context, status=status)


def _render_conflict(request: HtmxHttpRequest, req: Requirement, *, expired: bool) -> HttpResponse:
    req.refresh_from_db()
    return render(request, "approvals/conflict.html", {"req": req, "expired": expired}, status=409)


@login_required
@require_http_methods(["GET", "POST"])
def decide(request: HtmxHttpRequest, requirement_id) -> HttpResponse:
    try:
        req = selectors.requirement_for_decision(user=request.user, requirement_id=requirement_id)
    except Requirement.DoesNotExist:
        raise Http404("No such requirement, or it is not assigned to you.") from None

    if request.method == "GET":
        editing = req.is_pending and req.kind == Requirement.Kind.OUTPUT_REVIEW and request.GET.get("edit")
        if editing:
            return _render_decision(request, req, DecisionForm(req), mode="edit", edit_diff="")
        response = _render_decision(request, req, DecisionForm(req))
        if request.htmx:
            # The end of a decision's redirect chain (the next item): name the page, so the address
            # bar follows it. htmx pushes the final URL of a boosted request only while the
            # element that sent it is still marked boosted, which a live re-render can undo.
            response["HX-Push-Url"] = request.get_full_path()
        return response

    form = DecisionForm(req, request.POST)
    valid = form.is_valid()
    editing = form.action == "edit" and req.is_pending and req.kind == Requirement.Kind.OUTPUT_REVIEW
    if request.POST.get("diff_only"):  # the live diff beside the edit textarea (htmx): never a decision
        diff = edit_diff(req.payload.get("output"), form.edited_output) if valid and editing else ""
        return _render_decision(
            request, req, form, mode="edit", template="approvals/decide.html#edit-diff", edit_diff=diff
        )
    if not valid:
        mode = "edit" if editing else "decide"
        return _render_decision(request, req, form, mode=mode, status=400, edit_diff="" if mode == "edit" else None)
    if editing and not form.edit_confirmed(htmx=bool(request.htmx)):
        # Without the live diff the reviewer sees the change first; Save again applies it.
        diff = edit_diff(req.payload.get("output"), form.edited_output)
        return _render_decision(request, req, form, mode="edit", edit_diff=diff, preview_token=form.preview_token)

    try:
        workflow_services.requirement_resolve(
            requirement_id=req.id,
            user=request.user,
            action=form.action,
            data=form.decision_data,
            version=form.cleaned_data["version"],
        )
    except Requirement.DoesNotExist:
        raise Http404("No such requirement, or it is not assigned to you.") from None
    except ExpiredError:
        return _render_conflict(request, req, expired=True)
    except registry.WorkflowUnavailableError as exc:
        return render(request, "approvals/conflict.html", {"req": req, "unavailable": str(exc)}, status=409)
    except teams.SeparationOfDutiesError as exc:
        form.add_error(None, str(exc))
        return _render_decision(request, req, form, status=403)
    except teams.TeamConflict as exc:
        form.add_error(None, str(exc))
        return _render_decision(request, req, form, status=409)
    except ConflictError:
        return _render_conflict(request, req, expired=False)
    except ValidationError as exc:
        form.add_decision_errors(exc.errors)
        mode = "edit" if editing else "decide"
        return _render_decision(request, req, form, mode=mode, status=400, edit_diff="" if mode == "edit" else None)
    except DecisionError as exc:
        form.add_error(None, str(exc))
        return _render_decision(request, req, form, status=400)

    decided = Requirement.objects.only("status", "approvals_required", "approvals_per_group").get(id=req.id)
    if decided.is_pending:  # an approval toward a quorum: it waits for the others
        needed = teams.approvals_needed(decided)
        messages.success(request, f"Your approval of “{req.step_name}” is recorded; {needed} more needed.")
        return _next_item(request, req, _came_from(request))  # nothing more here for this reviewer
    messages.success(request, _success_message(req, form.action))
    came_from = _came_from(request)
    if form.action == "reject" and req.kind in REJECT_RETRIES_KINDS:
        # The run continues in the background with the feedback; its revised draft is offered next.
        return redirect(_with_inbox(reverse("approvals:next", args=[req.id]), came_from))
    return _next_item(request, req, came_from)


def _next_item(request: HttpRequest, req: Requirement, came_from: selectors.InboxFilters) -> HttpResponse:
    following = selectors.next_pending_for(user=request.user, after=req, filters=came_from)
    if following is None:
        messages.info(
            request, "Nothing else matches your filters." if came_from.active else "Nothing else is waiting for you."
        )
        query = inbox_query(came_from)
        return redirect(f"{reverse('approvals:inbox')}?{query}" if query else reverse("approvals:inbox"))
    return redirect(_with_inbox(reverse("approvals:decide", args=[following.id]), came_from))


# A reject of these kinds makes the step run again (a revised draft, another iteration).
REJECT_RETRIES_KINDS = (Requirement.Kind.OUTPUT_REVIEW, Requirement.Kind.ITERATION_REVIEW)
# How long "next item" waits for a rejected step's new attempt before moving on.
NEXT_WAIT_SECONDS = 15


@login_required
@require_GET
def next_item(request: HtmxHttpRequest, requirement_id) -> HttpResponse:
    """After a reject that makes the step run again: the new attempt, once the run has made it
    (the page checks every second with htmx; without JavaScript it has links), else the next item."""
    try:
        req = selectors.requirement_for_decision(user=request.user, requirement_id=requirement_id)
    except Requirement.DoesNotExist:
        raise Http404("No such requirement, or it is not assigned to you.") from None
    came_from = _came_from(request)
    waiting = (
        not request.GET.get("skip")
        and selectors.run_continuing(run_id=req.run_id)
        and req.resolved_at is not None
        and timezone.now() - req.resolved_at < timedelta(seconds=NEXT_WAIT_SECONDS)
        and not selectors.same_run_pending_for(user=request.user, after=req)
    )
    # The page's poll is an htmx request of its own; a boosted form's redirect here is a navigation.
    polled = _wants_partial(request)
    if not waiting:
        response = _next_item(request, req, came_from)
        if polled:  # a whole-page navigation, not a swap
            return HttpResponse(status=204, headers={"HX-Redirect": response["Location"]})
        return response
    if polled:
        return HttpResponse(status=204)  # still running: the page polls again
    here = _with_inbox(reverse("approvals:next", args=[req.id]), came_from)
    skip = f"{here}{'&' if '?' in here else '?'}skip=1"
    awaited = "next iteration" if req.kind == Requirement.Kind.ITERATION_REVIEW else "revised draft"
    context = {"req": req, "poll_url": here, "skip_url": skip, "awaited": awaited}
    return render(request, "approvals/next.html", context)


# -- teams: claim, release, take over, reassign, comment (POST, then back to the decision page) ---
def _team_post(request, requirement_id, change, done: str) -> HttpResponse:
    """Run ``change(req)`` (a service); its refusal becomes a message on the decision page."""
    try:
        req = selectors.requirement_for_decision(user=request.user, requirement_id=requirement_id)
    except Requirement.DoesNotExist:
        raise Http404("No such requirement, or it is not assigned to you.") from None
    try:
        change(req)
    except Requirement.DoesNotExist:
        raise Http404("No such requirement, or it is not assigned to you.") from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.errors.values()))
    except (PermissionError, ConflictError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    if not workflow_selectors.requirements_visible_to(request.user).filter(id=req.id).exists():
        return redirect("approvals:inbox")  # reassigned away from this user
    return redirect(reverse("approvals:decide", args=[req.id]))


@login_required
@require_POST
def claim(request, requirement_id) -> HttpResponse:
    reason = request.POST.get("reason")
    if reason is not None:  # a take-over
        return _team_post(
            request,
            requirement_id,
            lambda req: workflow_services.requirement_take_over(
                requirement_id=req.id, user=request.user, reason=reason
            ),
            "You took it over.",
        )
    return _team_post(
        request,
        requirement_id,
        lambda req: workflow_services.requirement_claim(requirement_id=req.id, user=request.user),
        "Claimed: colleagues see that you work on it.",
    )


@login_required
@require_POST
def release(request, requirement_id) -> HttpResponse:
    return _team_post(
        request,
        requirement_id,
        lambda req: workflow_services.requirement_release(requirement_id=req.id, user=request.user),
        "Released: anyone may take it now.",
    )


@login_required
@require_POST
def reassign(request, requirement_id) -> HttpResponse:
    """``to``: a username, or ``group:<name>``; ``note``."""
    target = request.POST.get("to", "").strip()[:200]
    note = request.POST.get("note", "")[:1000]

    def change(req):
        to_user = to_group = None
        if target.startswith("group:"):
            to_group = Group.objects.filter(name=target.removeprefix("group:")).first()
            if to_group is None:
                raise ValidationError({"to": f"No group named {target.removeprefix('group:')!r}."})
        else:
            to_user = get_user_model().objects.filter(username=target).first() if target else None
            if to_user is None:
                raise ValidationError({"to": f"No user named {target!r}." if target else "Say to whom."})
        workflow_services.requirement_reassign(
            requirement_id=req.id, user=request.user, to_user=to_user, to_group=to_group, note=note
        )

    return _team_post(request, requirement_id, change, f"Reassigned to {target}.")


@login_required
@require_POST
def comment(request, requirement_id) -> HttpResponse:
    text = request.POST.get("comment", "")
    return _team_post(
        request,
        requirement_id,
        lambda req: workflow_services.requirement_comment_add(requirement_id=req.id, user=request.user, text=text),
        "Comment added.",
    )
