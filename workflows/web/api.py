"""The JSON API under ``/api/v1/`` (paths and error codes are a public contract): plain Django views, no framework.

Auth: ``Authorization: Bearer <token>`` (``manage.py create_api_token``) or the session. Session
POSTs need the CSRF token; token requests are exempt (a browser never sends them by itself).

Errors are JSON: 400 ``{"errors": {field: message}}``; 401/403/404/405/409/413/429
``{"error": message, "code": ...}``. Bad input never reaches a 500.

Throttling (django-axes): an invalid token counts as a failed sign-in of its address, and an
address locked out by failed sign-ins gets 429 ``throttled`` on every request, whichever way it
authenticates, until the cool-off ends.
"""

from __future__ import annotations

import base64
import functools
import uuid
from collections.abc import Callable
from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.http.request import RawPostDataException
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from workflows import registry, selectors, services, teams
from workflows.engine.errors import (
    ConflictError,
    DecisionError,
    ExpiredError,
    RunNotFoundError,
    RunStateError,
    ValidationError,
)
from workflows.engine.jsonvalues import parse_json, text_problem
from workflows.engine.requirements import ALL_ACTIONS
from workflows.models import Requirement, RequirementComment, WorkflowRun
from workflows.representations import comment_json, requirement_json, run_json, run_summary_json, with_team

from . import analytics, export
from .forms import RunQueryForm
from .openapi import openapi_schema
from .tokens import token_user

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_OFFSET = 2**31 - 1  # far past any list; the databases refuse integers past 64 bits


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str | None = None,
        *,
        code: str = "",
        errors: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(error or errors)
        self.status, self.error, self.code, self.errors = status, error, code, errors
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        body = {"errors": self.errors} if self.errors is not None else {"error": self.error, "code": self.code}
        response = json_response(body, status=self.status, headers=self.headers)
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response


def json_response(data, status: int = 200, headers: dict | None = None) -> JsonResponse:
    return JsonResponse(data, status=status, encoder=DjangoJSONEncoder, safe=False, headers=headers)


def _throttled(request: HttpRequest) -> ApiError:
    cool_off = get_cool_off(request)
    return ApiError(
        429,
        "Too many failed sign-ins or invalid tokens; try again later.",
        code="throttled",
        headers={"Retry-After": str(int(cool_off.total_seconds()))} if cool_off else None,
    )


def throttled_response(request: HttpRequest) -> JsonResponse:
    """429 for a client locked out by failed sign-ins (hitl_site.throttle answers with it too)."""
    return _throttled(request).response()


# -- plumbing -------------------------------------------------------------------------------------
# No username: an invalid token is a failure of its address alone (hitl_site.throttle).
_NO_USERNAME = {"username": None}


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason  # the reason, not a response: the API answers in JSON


def _authenticate(request: HttpRequest) -> None:
    if AxesProxyHandler.is_locked(request, _NO_USERNAME):
        raise _throttled(request)
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Use 'Authorization: Bearer <token>'.", code="bad_authorization_header")
        user = token_user(token.strip())
        if user is None:
            # Counted like a wrong password, so tokens cannot be guessed at full speed. The
            # request that reaches the limit is answered 429 by axes' middleware.
            user_login_failed.send(sender=__name__, credentials=_NO_USERNAME, request=request)
            raise ApiError(401, "Invalid or revoked token.", code="invalid_token")
        request.user = user
        return
    if not request.user.is_authenticated:
        raise ApiError(401, "Authentication required: a session or a bearer token.", code="not_authenticated")
    if request.method not in SAFE_METHODS:
        check = _CsrfCheck(lambda req: None)
        check.process_request(request)
        reason = check.process_view(request, None, (), {})
        if reason:
            raise ApiError(403, f"CSRF check failed: {reason}", code="csrf_failed")


def api_view(*methods: str, auth: bool = True) -> Callable:
    """JSON errors, the allowed methods, and authentication, around an API view."""

    def decorate(view):
        @csrf_exempt  # checked in _authenticate, for session requests only
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if auth:
                    _authenticate(request)
                allowed = (*methods, "HEAD") if "GET" in methods else methods
                if request.method not in allowed:
                    error = ApiError(405, f"Method {request.method} not allowed.", code="method_not_allowed")
                    response = error.response()
                    response["Allow"] = ", ".join(allowed)
                    return response
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return exc.response()

        return wrapper

    return decorate


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object body ({} when empty). The server refuses bodies over the limit
    before reading them (hitl_site/limits.py); this also holds for other ways in (tests, WSGI)."""
    limit = settings.HITL_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, errors={"body": "Invalid Content-Length."}) from None
    if length > limit:
        raise ApiError(413, f"The body may be at most {limit} bytes.", code="too_large")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(413, f"The body may be at most {limit} bytes.", code="too_large") from None
    except RawPostDataException:  # a multipart form, already parsed by the CSRF check
        raise ApiError(400, errors={"body": "Send a JSON object (Content-Type: application/json)."}) from None
    if len(raw) > limit:
        raise ApiError(413, f"The body may be at most {limit} bytes.", code="too_large")
    if not raw.strip():
        return {}
    try:
        # Strict: text without lone surrogates or NUL, finite numbers, bounded nesting.
        data = parse_json(raw, "body", max_bytes=limit)
    except ValidationError as exc:
        raise ApiError(400, errors=exc.errors) from None
    if not isinstance(data, dict):
        raise ApiError(400, errors={"body": "Expected a JSON object."})
    return data


def unknown_fields(body: dict, allowed: tuple[str, ...]) -> dict:
    return {key: "Unknown field." for key in body if key not in allowed}


def uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise ApiError(404, "Not found.", code="not_found") from None


def _run_or_404(request, run_id: str) -> WorkflowRun:
    run = selectors.visible_run(request.user, uuid_or_404(run_id))
    if run is None:
        raise ApiError(404, "No such run.", code="not_found")
    return run


def _inspectable_requirement(request, requirement_id: str) -> Requirement:
    req = with_team(selectors.requirements_inspectable_by(request.user)).filter(id=uuid_or_404(requirement_id)).first()
    if req is None:
        raise ApiError(404, "No such requirement.", code="not_found")
    return req


# -- runs -----------------------------------------------------------------------------------------
@api_view("GET", "POST")
def runs(request):
    if request.method == "POST":
        return _run_start(request)
    return _run_list(request)


def _run_query(request) -> RunQueryForm:
    """The run filters of the query string, validated (400 with one message per bad one)."""
    form = RunQueryForm(request.GET)
    if not form.is_valid():
        raise ApiError(400, errors={field: " ".join(messages) for field, messages in form.errors.items()})
    return form


def _cursor_encode(run: WorkflowRun) -> str:
    raw = f"{run.created_at.isoformat()}|{run.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(value: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        created, _, run_id = raw.partition("|")
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None or not 1000 <= created_at.year <= 9000:
            raise ValueError("naive, or beyond the years a query can take")
        return created_at, uuid.UUID(run_id)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ApiError(400, errors={"cursor": "Invalid cursor: pass the `next` link as it was given."}) from None


def _run_list(request):
    """``GET /api/v1/runs?workflow=&status=&started_by=&since=&until=&cursor=&limit=`` -> ``{results,
    next}``, newest first. The cursor is the last row's (created_at, id): a page stays right while
    new runs arrive, and each page is one indexed range query whatever how deep it is."""
    form = _run_query(request)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT) or DEFAULT_LIMIT
    rows = form.filter(selectors.runs_visible_to(request.user))
    if request.GET.get("cursor"):
        created_at, run_id = _cursor_decode(request.GET["cursor"])
        rows = rows.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=run_id))
    rows = list(
        rows.select_related("created_by")
        .defer("state", "input", "additional_data", "content")
        .order_by("-created_at", "-id")[: limit + 1]
    )
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        params = request.GET.copy()
        params["cursor"], params["limit"] = _cursor_encode(rows[-1]), str(limit)
        following = f"{reverse('workflows:api-runs')}?{params.urlencode()}"
    return json_response({"results": [run_summary_json(r) for r in rows], "next": following})


@api_view("GET")
def runs_export(request):
    """``GET /api/v1/runs/export?format=csv|json`` with the list's filters: every matching run the
    caller may see, streamed."""
    fmt = request.GET.get("format", "json")
    if fmt not in export.FORMATS:
        raise ApiError(400, errors={"format": "One of csv, json."})
    form = _run_query(request)
    runs = export.runs_for_export(form.filter(selectors.runs_visible_to(request.user)))
    return export.export_response(
        rows=runs.iterator(chunk_size=export.CHUNK),
        columns=export.RUN_COLUMNS,
        to_dict=export.run_export_row,
        fmt=fmt,
        filename="runs",
    )


@api_view("POST")
def run_rerun(request, run_id: str):
    """``POST /api/v1/runs/<id>/rerun`` ``{input?, additional_data?}`` -> 201 with the new run."""
    run = _run_or_404(request, run_id)
    if not selectors.user_may_start_runs(request.user):
        raise ApiError(403, "You may not start runs (needs workflows.start_run).", code="forbidden")
    body = json_body(request)
    errors = unknown_fields(body, ("input", "additional_data"))
    if "additional_data" in body and not isinstance(body["additional_data"], dict | None):
        errors["additional_data"] = "Expected an object."
    if errors:
        raise ApiError(400, errors=errors)
    edits = {key: body[key] for key in ("input", "additional_data") if key in body}
    try:
        new = services.run_rerun(run_id=run.id, user=request.user, **edits)
    except registry.WorkflowNotFound:
        raise ApiError(409, f"No workflow named {run.workflow_name!r} is registered.", code="not_registered") from None
    except RunNotFoundError:
        raise ApiError(404, "No such run.", code="not_found") from None
    except RunStateError as exc:
        raise ApiError(409, str(exc), code="not_finished") from None
    except ValidationError as exc:
        raise ApiError(400, errors=exc.errors) from None
    new = WorkflowRun.objects.select_related("created_by").get(id=new.id)
    response = json_response(run_json(new, request.user), status=201)
    response["Location"] = reverse("workflows:api-run", args=[new.id])
    return response


def _run_start(request):
    """``POST /api/v1/runs`` ``{workflow, input, additional_data}`` -> 201 with the run."""
    if not selectors.user_may_start_runs(request.user):
        raise ApiError(403, "You may not start runs (needs workflows.start_run).", code="forbidden")
    body = json_body(request)
    errors = unknown_fields(body, ("workflow", "input", "additional_data"))
    name = body.get("workflow")
    if not isinstance(name, str) or not name:
        errors["workflow"] = "The name of a registered workflow is required."
    else:
        try:
            registry.get(name)
        except registry.WorkflowNotFound:
            errors["workflow"] = f"No workflow named {name!r}."
    additional_data = body.get("additional_data")
    if additional_data is not None and not isinstance(additional_data, dict):
        errors["additional_data"] = "Expected an object."
    if errors:
        raise ApiError(400, errors=errors)
    try:
        run = services.run_start(
            workflow_name=name, input=body.get("input"), additional_data=additional_data, user=request.user
        )
    except ValidationError as exc:
        raise ApiError(400, errors=exc.errors) from None
    run = WorkflowRun.objects.select_related("created_by").get(id=run.id)
    response = json_response(run_json(run, request.user), status=201)
    response["Location"] = reverse("workflows:api-run", args=[run.id])
    return response


@api_view("GET")
def run_detail(request, run_id: str):
    return json_response(run_json(_run_or_404(request, run_id), request.user))


@api_view("POST")
def run_cancel(request, run_id: str):
    run = _run_or_404(request, run_id)
    if not selectors.user_may_cancel_runs(request.user):
        raise ApiError(403, "You may not cancel runs (needs workflows.cancel_run).", code="forbidden")
    body = json_body(request)  # an empty body, {} or {"reason"} (a malformed one is still a 400)
    errors = unknown_fields(body, ("reason",))
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > services.MAX_CANCEL_REASON):
        errors["reason"] = f"Expected text of at most {services.MAX_CANCEL_REASON} characters."
    if errors:
        raise ApiError(400, errors=errors)
    try:
        services.run_cancel(run_id=run.id, user=request.user, reason=reason or "")
    except RunNotFoundError:
        raise ApiError(404, "No such run.", code="not_found") from None
    except RunStateError as exc:
        raise ApiError(409, str(exc), code="not_active") from None
    run = WorkflowRun.objects.select_related("created_by").get(id=run.id)
    return json_response(run_json(run, request.user))


# -- requirements ---------------------------------------------------------------------------------
def _int_param(request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, errors={name: "Expected an integer."}) from None
    if value < 0 or (maximum is not None and value > maximum):
        raise ApiError(400, errors={name: f"Expected 0 to {maximum}." if maximum else "Expected 0 or more."})
    return value


@api_view("GET")
def requirements(request):
    """``GET /api/v1/requirements?status=PENDING&sort=due&claimed=any`` -> the requirements the
    caller may resolve (newest first without ``sort``)."""
    status = request.GET.get("status", Requirement.Status.PENDING)
    if status not in Requirement.Status.values:
        raise ApiError(400, errors={"status": f"One of {', '.join(Requirement.Status.values)}."})
    sort, claimed = request.GET.get("sort", ""), request.GET.get("claimed", "any")
    if sort and sort not in selectors.SORTS:
        raise ApiError(400, errors={"sort": f"One of {', '.join(selectors.SORTS)}."})
    if claimed not in selectors.CLAIMED:
        raise ApiError(400, errors={"claimed": f"One of {', '.join(selectors.CLAIMED)}."})
    qs = selectors.requirements_visible_to(request.user).filter(status=status)
    qs = selectors.requirements_claimed(qs, claimed, request.user)
    if request.GET.get("run"):
        try:
            qs = qs.filter(run_id=uuid.UUID(request.GET["run"]))
        except ValueError:
            raise ApiError(400, errors={"run": "Expected a run id (UUID)."}) from None
    if request.GET.get("workflow"):
        problem = text_problem(request.GET["workflow"])  # PostgreSQL refuses NUL even in a filter
        if problem:
            raise ApiError(400, errors={"workflow": problem})
        qs = qs.filter(workflow_name=request.GET["workflow"])
    limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, MAX_OFFSET)
    count = qs.count()
    ordered = selectors.requirements_sorted(qs, sort) if sort else qs.order_by("-created_at", "id")
    rows = with_team(ordered)[offset : offset + limit]
    following = None
    if offset + limit < count:
        params = request.GET.copy()
        params["offset"], params["limit"] = str(offset + limit), str(limit)
        following = f"{reverse('workflows:api-requirements')}?{params.urlencode()}"
    return json_response({"count": count, "next": following, "results": [requirement_json(r) for r in rows]})


@api_view("GET")
def requirement_detail(request, requirement_id: str):
    return json_response(requirement_json(_inspectable_requirement(request, requirement_id)))


@api_view("POST")
def requirement_resolve(request, requirement_id: str):
    """``POST /api/v1/requirements/<id>/resolve`` ``{action, data, version}``."""
    req = _resolvable(request, requirement_id)
    body = json_body(request)
    errors = unknown_fields(body, ("action", "data", "version"))
    action, data, version = body.get("action"), body.get("data"), body.get("version")
    if not isinstance(action, str) or action not in ALL_ACTIONS:
        errors["action"] = f"One of {', '.join(ALL_ACTIONS)}."
    if data is not None and not isinstance(data, dict):
        errors["data"] = "Expected an object."
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        errors["version"] = "Expected an integer."
    if errors:
        raise ApiError(400, errors=errors)
    try:
        req = services.requirement_resolve(
            requirement_id=req.id, user=request.user, action=action, data=data, version=version
        )
    except Requirement.DoesNotExist:
        raise ApiError(404, "No such requirement.", code="not_found") from None
    except ValidationError as exc:
        raise ApiError(400, errors=exc.errors) from None
    except DecisionError as exc:
        raise ApiError(400, errors={"action": str(exc)}) from None
    except ExpiredError as exc:
        raise ApiError(409, str(exc), code="expired") from None
    except registry.WorkflowUnavailableError as exc:
        raise ApiError(409, str(exc), code="workflow_unavailable") from None
    except teams.SeparationOfDutiesError as exc:
        raise ApiError(403, str(exc), code=exc.code) from None
    except teams.TeamConflict as exc:
        raise ApiError(409, str(exc), code=exc.code) from None
    except ConflictError as exc:
        raise _conflict(req, exc) from None
    return json_response(requirement_json(with_team(Requirement.objects).get(id=req.id)))


def _conflict(req: Requirement, exc: ConflictError) -> ApiError:
    current = Requirement.objects.filter(id=req.id).values_list("status", flat=True).first()
    code = "stale_version" if current == Requirement.Status.PENDING else f"already_{str(current).lower()}"
    return ApiError(409, str(exc), code=code)


def _resolvable(request, requirement_id: str) -> Requirement:
    """The requirement, when the caller may resolve it: 404 unseen, 403 seen but not theirs."""
    req = _inspectable_requirement(request, requirement_id)
    if not selectors.user_may_resolve(request.user, req):
        raise ApiError(403, "This requirement is not assigned to you.", code="forbidden")
    return req


def _team_change(req: Requirement, change: Callable) -> dict:
    """Run a claim/release/reassign service, its refusals as the API's errors."""
    try:
        change()
    except Requirement.DoesNotExist:
        raise ApiError(404, "No such requirement.", code="not_found") from None
    except ValidationError as exc:
        raise ApiError(400, errors=exc.errors) from None
    except PermissionError as exc:
        raise ApiError(403, str(exc), code="forbidden") from None
    except teams.TeamConflict as exc:
        raise ApiError(409, str(exc), code=exc.code) from None
    except ConflictError as exc:
        raise _conflict(req, exc) from None
    return requirement_json(with_team(Requirement.objects).get(id=req.id))


@api_view("POST")
def requirement_claim(request, requirement_id: str):
    """``POST /api/v1/requirements/<id>/claim`` ``{reason}``: a reason takes over someone's claim."""
    req = _resolvable(request, requirement_id)
    body = json_body(request)
    errors = unknown_fields(body, ("reason",))
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        errors["reason"] = "Expected text."
    if errors:
        raise ApiError(400, errors=errors)
    if reason is not None:
        return json_response(
            _team_change(
                req, lambda: services.requirement_take_over(requirement_id=req.id, user=request.user, reason=reason)
            )
        )
    return json_response(
        _team_change(req, lambda: services.requirement_claim(requirement_id=req.id, user=request.user))
    )


@api_view("POST")
def requirement_release(request, requirement_id: str):
    req = _resolvable(request, requirement_id)
    errors = unknown_fields(json_body(request), ())
    if errors:
        raise ApiError(400, errors=errors)
    return json_response(
        _team_change(req, lambda: services.requirement_release(requirement_id=req.id, user=request.user))
    )


@api_view("POST")
def requirement_reassign(request, requirement_id: str):
    """``POST /api/v1/requirements/<id>/reassign`` ``{user | group, note}``."""
    req = _resolvable(request, requirement_id)
    body = json_body(request)
    errors = unknown_fields(body, ("user", "group", "note"))
    username, group_name, note = body.get("user"), body.get("group"), body.get("note", "")
    to_user = to_group = None
    if (username is None) == (group_name is None):
        errors["user"] = "Give a user or a group (one of them)."
    elif username is not None:
        to_user = get_user_model().objects.filter(username=username).first() if isinstance(username, str) else None
        if to_user is None:
            errors["user"] = "No such user."
    else:
        to_group = Group.objects.filter(name=group_name).first() if isinstance(group_name, str) else None
        if to_group is None:
            errors["group"] = "No such group."
    if not isinstance(note, str):
        errors["note"] = "Expected text."
    if errors:
        raise ApiError(400, errors=errors)
    return json_response(
        _team_change(
            req,
            lambda: services.requirement_reassign(
                requirement_id=req.id, user=request.user, to_user=to_user, to_group=to_group, note=note
            ),
        )
    )


@api_view("GET", "POST")
def requirement_comments(request, requirement_id: str):
    """``GET`` the comments (oldest first); ``POST`` ``{text}`` adds one (201)."""
    req = _inspectable_requirement(request, requirement_id)
    if request.method == "POST":
        body = json_body(request)
        errors = unknown_fields(body, ("text",))
        if not isinstance(body.get("text"), str):
            errors["text"] = "Expected text."
        if errors:
            raise ApiError(400, errors=errors)
        try:
            comment = services.requirement_comment_add(requirement_id=req.id, user=request.user, text=body["text"])
        except ValidationError as exc:
            raise ApiError(400, errors=exc.errors) from None
        except Requirement.DoesNotExist:
            raise ApiError(404, "No such requirement.", code="not_found") from None
        return json_response(comment_json(comment), status=201)
    comments = RequirementComment.objects.filter(requirement=req).order_by("created_at", "id")[:500]
    return json_response({"results": [comment_json(c) for c in comments]})


MAX_BULK_ITEMS = 100


@api_view("POST")
def requirements_bulk(request):
    """``POST /api/v1/requirements/bulk`` ``{items: [{id, action, data, version}]}`` -> 200
    ``{results: [{id, status, code, errors}]}``, one result per item in order. Each item is decided
    on its own, exactly once (``services.requirements_resolve_bulk``); a malformed item is
    ``invalid`` and the others still go through. A malformed body is a 400 and decides nothing."""
    body = json_body(request)
    errors = unknown_fields(body, ("items",))
    items = body.get("items")
    if not isinstance(items, list) or not items:
        errors["items"] = "Expected a non-empty list of {id, action, data, version}."
    elif len(items) > MAX_BULK_ITEMS:
        errors["items"] = f"At most {MAX_BULK_ITEMS} items per request."
    if errors:
        raise ApiError(400, errors=errors)
    decisions, shape_errors = [], {}
    for index, item in enumerate(items):
        problems = _bulk_item_errors(item)
        if problems:
            shape_errors[index] = problems
            continue
        decisions.append(
            services.BulkDecision(
                id=item["id"], action=item["action"], data=item.get("data"), version=item.get("version")
            )
        )
    outcomes = iter(services.requirements_resolve_bulk(user=request.user, items=decisions))
    results = []
    for index, item in enumerate(items):
        if index in shape_errors:
            item_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
            results.append({"id": item_id, "status": "invalid", "code": "invalid", "errors": shape_errors[index]})
        else:
            outcome = next(outcomes)
            results.append({"id": outcome.id, "status": outcome.status, "code": outcome.code, "errors": outcome.errors})
    return json_response({"results": results})


def _bulk_item_errors(item) -> dict:
    if not isinstance(item, dict):
        return {"item": "Expected an object {id, action, data, version}."}
    errors = unknown_fields(item, ("id", "action", "data", "version"))
    if not isinstance(item.get("id"), str):
        errors["id"] = "Expected a requirement id."
    if not isinstance(item.get("action"), str) or item["action"] not in ALL_ACTIONS:
        errors["action"] = f"One of {', '.join(ALL_ACTIONS)}."
    data, version = item.get("data"), item.get("version")
    if data is not None and not isinstance(data, dict):
        errors["data"] = "Expected an object."
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        errors["version"] = "Expected an integer."
    return errors


# -- analytics ------------------------------------------------------------------------------------
@api_view("GET")
def analytics_figures(request):
    """``GET /api/v1/analytics?since=&until=&workflow=`` -> the dashboard's figures."""
    if not analytics.user_may_view(request.user):
        raise ApiError(403, "You may not see analytics (needs workflows.view_workflowrun).", code="forbidden")
    form, period, workflow = analytics.filters_from(request.GET)
    if period is None:
        raise ApiError(400, errors={field: " ".join(messages) for field, messages in form.errors.items()})
    return json_response(analytics.figures(period=period, workflow=workflow).as_dict())


# -- schema ---------------------------------------------------------------------------------------
@api_view("GET", auth=False)
def openapi(request):
    return json_response(openapi_schema())


def _api_path(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    """``handler400``: JSON under /api/ (e.g. a request Django refuses before any view runs)."""
    if _api_path(request):
        return ApiError(400, "Bad request.", code="bad_request").response()
    return defaults.bad_request(request, exception)


def server_error(request):
    """``handler500``: under /api/ a JSON answer even with DEBUG off, elsewhere the plain page."""
    if _api_path(request):
        return ApiError(500, "Internal error.", code="server_error").response()
    return defaults.server_error(request)


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any other path under /api/v1/: a JSON 404 rather than the HTML page."""
    return ApiError(404, "No such endpoint.", code="not_found").response()
