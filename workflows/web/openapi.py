"""The hand-written OpenAPI 3.1 description of ``/api/v1/`` (served at ``/api/v1/openapi.json``).

Keep it next to ``api.py``: ``tests/workflows/test_api__openapi_contract.py`` checks it against the
views (every route and method is described; every documented status is answered, with JSON that
validates against the documented schema).
"""

from __future__ import annotations

from workflows.engine.primitives import FIELD_TYPES
from workflows.engine.requirements import ALL_ACTIONS, KINDS
from workflows.models import Requirement, WorkflowRun

# The events a webhook endpoint may subscribe to (the notifications app sends them).
WEBHOOK_EVENTS = [
    "requirement.created",
    "requirement.resolved",
    "requirement.expired",
    "run.completed",
    "run.failed",
    "run.cancelled",
]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _response_ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _json_body(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_UUID = {"type": ["string", "null"], "format": "uuid"}
ANY = {"description": "Any JSON value."}

RUN_FILTERS = [
    {"name": "workflow", "in": "query", "schema": {"type": "string"}},
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(WorkflowRun.Status.values)}},
    {
        "name": "started_by",
        "in": "query",
        "description": "Username of the run's starter.",
        "schema": {"type": "string"},
    },
    {
        "name": "since",
        "in": "query",
        "description": "Created at or after (ISO 8601 date or date-time).",
        "schema": {"type": "string", "format": "date-time"},
    },
    {
        "name": "until",
        "in": "query",
        "description": "Created before (ISO 8601 date or date-time).",
        "schema": {"type": "string", "format": "date-time"},
    },
]
CURSOR = {
    "name": "cursor",
    "in": "query",
    "description": "From the previous page's `next`.",
    "schema": {"type": "string"},
}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}
FORMAT = {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"}}

# The error answers every operation shares, described once (components/responses) by status.
ERROR_RESPONSES = {
    "400": ("Invalid", _json_body(_ref("ValidationErrors"), "Invalid body or data: one message per field.")),
    "401": ("Unauthenticated", _error("No session and no valid bearer token.")),
    "403": (
        "Forbidden",
        _error("Authenticated, but not allowed to do this (or the CSRF check of a session request failed)."),
    ),
    "404": ("NotFound", _error("Unknown, or not visible to the caller (also for ids that are not UUIDs).")),
    "413": ("TooLarge", _error("The body is larger than 1 MB.")),
}


def _responses(*codes: str, **ok) -> dict:
    return {**ok, **{code: _response_ref(ERROR_RESPONSES[code][0]) for code in codes}}


def _id_param(name: str, what: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": {"type": "string", "format": "uuid"},
    }


def openapi_schema() -> dict:
    run_id, requirement_id = _id_param("run_id", "run"), _id_param("requirement_id", "requirement")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HITL Approvals API",
            "version": "1.0.0",
            "description": (
                "Start workflow runs, read their state, and resolve the requirements (human-in-the-loop "
                "pauses) they wait for. Authenticate with `Authorization: Bearer <token>` (`manage.py "
                "create_api_token USERNAME`) or a session cookie; session requests that change state "
                "need the `X-CSRFToken` header. Errors are JSON: 400 has `errors` (field -> message), "
                "the others `error` and `code`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}, {"sessionAuth": []}],
        "paths": {
            "/runs": {
                "get": {
                    "operationId": "listRuns",
                    "summary": "Runs the caller may see, newest first, a page at a time",
                    "description": (
                        "Follow `next` (null on the last page) for the following page: its `cursor` is "
                        "opaque and stays right while new runs start."
                    ),
                    "parameters": [*RUN_FILTERS, CURSOR, LIMIT],
                    "responses": _responses("400", "401", **{"200": _json_body(_ref("RunPage"), "A page of runs.")}),
                },
                "post": {
                    "operationId": "startRun",
                    "summary": "Start a run of a registered workflow",
                    "description": "Needs `workflows.start_run`. The run executes in the background.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("RunStart")}},
                    },
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "413",
                        **{
                            "201": {
                                "description": "The run was created (status PENDING).",
                                "headers": {
                                    "Location": {"description": "The run's URL.", "schema": {"type": "string"}}
                                },
                                "content": {"application/json": {"schema": _ref("Run")}},
                            }
                        },
                    ),
                },
            },
            "/runs/export": {
                "get": {
                    "operationId": "exportRuns",
                    "summary": "Every run the caller may see under the filters, as CSV or JSON",
                    "description": (
                        "Streamed, newest first. CSV: one column per field of `RunExport`, JSON values as "
                        "JSON text, text that a spreadsheet would run as a formula prefixed with `'`."
                    ),
                    "parameters": [*RUN_FILTERS, FORMAT],
                    "responses": _responses(
                        "400",
                        "401",
                        **{
                            "200": {
                                "description": "The runs (an attachment).",
                                "content": {
                                    "application/json": {"schema": {"type": "array", "items": _ref("RunExport")}},
                                    "text/csv": {"schema": {"type": "string"}},
                                },
                            }
                        },
                    ),
                }
            },
            "/runs/{run_id}": {
                "parameters": [run_id],
                "get": {
                    "operationId": "getRun",
                    "summary": "A run: status, active requirements, step results, content",
                    "responses": _responses("401", "404", **{"200": _json_body(_ref("Run"), "The run.")}),
                },
            },
            "/runs/{run_id}/cancel": {
                "parameters": [run_id],
                "post": {
                    "operationId": "cancelRun",
                    "summary": "Cancel a run",
                    "description": (
                        "Needs `workflows.cancel_run` (or staff). A paused or pending run stops now; a running "
                        "one after its current step (`cancel_requested` is true until then). An optional "
                        "`reason` is kept with the run (`cancel_reason`) and in its cancel event."
                    ),
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {"reason": {"type": "string", "maxLength": 1000}},
                                }
                            }
                        },
                    },
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "404",
                        "413",
                        **{
                            "200": _json_body(_ref("Run"), "The run after cancelling."),
                            "409": _error("The run is not active any more (code `not_active`)."),
                        },
                    ),
                },
            },
            "/runs/{run_id}/rerun": {
                "parameters": [run_id],
                "post": {
                    "operationId": "rerunRun",
                    "summary": "Start a finished, failed or cancelled run again",
                    "description": (
                        "Needs `workflows.start_run`. The new run has the original's workflow, and its input "
                        "and additional data unless the body gives them; its `rerun_of` is the original's id."
                    ),
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("RunRerun")}},
                    },
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "404",
                        "413",
                        **{
                            "201": {
                                "description": "The new run (status PENDING).",
                                "headers": {
                                    "Location": {"description": "The new run's URL.", "schema": {"type": "string"}}
                                },
                                "content": {"application/json": {"schema": _ref("Run")}},
                            },
                            "409": _error(
                                "The run is still active (code `not_finished`), or its workflow is not "
                                "registered any more (code `not_registered`)."
                            ),
                        },
                    ),
                },
            },
            "/decisions/export": {
                "get": {
                    "operationId": "exportDecisions",
                    "summary": "The audit trail: decisions on requirements the caller may inspect, as CSV or JSON",
                    "parameters": [
                        {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "user",
                            "in": "query",
                            "description": "Username of the decider.",
                            "schema": {"type": "string"},
                        },
                        {"name": "action", "in": "query", "schema": {"type": "string"}},
                        *RUN_FILTERS[3:],
                        FORMAT,
                    ],
                    "responses": _responses(
                        "400",
                        "401",
                        **{
                            "200": {
                                "description": "The decisions, newest first (an attachment).",
                                "content": {
                                    "application/json": {"schema": {"type": "array", "items": _ref("DecisionExport")}},
                                    "text/csv": {"schema": {"type": "string"}},
                                },
                            }
                        },
                    ),
                }
            },
            "/analytics": {
                "get": {
                    "operationId": "getAnalytics",
                    "summary": "The analytics dashboard's figures",
                    "description": (
                        "Needs `workflows.view_workflowrun` (or superuser). Over the days `since` to `until` "
                        "(both inclusive; the last 30 days by default, at most 3660): time to decision (p50, p90: "
                        "continuous percentiles, seconds) per workflow, step and reviewer; outcomes per step; "
                        "decisions per day; runs ended per workflow. Pending and overdue per group and reviewer "
                        "are counted now, whatever the period (overdue: past its timeout or waiting over 24 h)."
                    ),
                    "parameters": [
                        {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"}},
                        {"name": "until", "in": "query", "schema": {"type": "string", "format": "date"}},
                    ],
                    "responses": _responses(
                        "400", "401", "403", **{"200": _json_body(_ref("Analytics"), "The figures.")}
                    ),
                }
            },
            "/requirements": {
                "get": {
                    "operationId": "listRequirements",
                    "summary": "Requirements the caller may resolve",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": list(Requirement.Status.values),
                                "default": "PENDING",
                            },
                        },
                        {"name": "run", "in": "query", "schema": {"type": "string", "format": "uuid"}},
                        {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "sort",
                            "in": "query",
                            "description": (
                                "`due`: due soonest first (the earlier of `due_at` and `timeout_at`; none last); "
                                "`priority`: urgent first, then due; `deadline`: times out soonest first; "
                                "`age`: oldest first. Without it: newest first."
                            ),
                            "schema": {"type": "string", "enum": ["due", "priority", "deadline", "age"]},
                        },
                        {
                            "name": "claimed",
                            "in": "query",
                            "description": "`me`: claimed by the caller; `none`: claimed by nobody; `any`.",
                            "schema": {"type": "string", "enum": ["me", "none", "any"], "default": "any"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 200, "default": 50},
                        },
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                    ],
                    "responses": _responses(
                        "400", "401", **{"200": _json_body(_ref("RequirementPage"), "A page of requirements.")}
                    ),
                }
            },
            "/requirements/bulk": {
                "post": {
                    "operationId": "resolveRequirementsBulk",
                    "summary": "Decide several requirements, each exactly once",
                    "description": (
                        "Each item is decided on its own, as `resolve` decides one (its own transaction "
                        "and version check): one item's conflict or bad data does not stop the others. "
                        "`results` has one entry per item, in order: `status` done, conflict (`code` "
                        "already_resolved, already_cancelled, stale_version, expired, "
                        "workflow_unavailable), invalid (`errors` per field), forbidden (not assigned "
                        "to the caller) or not_found. At most 100 items."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("BulkDecisions")}},
                    },
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "413",
                        **{"200": _json_body(_ref("BulkResults"), "What became of each item.")},
                    ),
                },
            },
            "/requirements/{requirement_id}": {
                "parameters": [requirement_id],
                "get": {
                    "operationId": "getRequirement",
                    "summary": "One requirement",
                    "responses": _responses(
                        "401", "404", **{"200": _json_body(_ref("Requirement"), "The requirement.")}
                    ),
                },
            },
            "/requirements/{requirement_id}/resolve": {
                "parameters": [requirement_id],
                "post": {
                    "operationId": "resolveRequirement",
                    "summary": "Decide a requirement, exactly once",
                    "description": (
                        "The actions a requirement accepts depend on its kind (its `actions` field). "
                        "`data` by action: reject `{feedback}`, submit `{values: {field: value}}`, edit "
                        "`{output}` (an output review) or `{args}` (a tool call, confirmed with these "
                        "arguments, checked against the tool's `payload.parameters`), select `{choices: [name]}`, "
                        "provide_result `{result}`; confirm, retry "
                        "and skip take none. Send the `version` you read to refuse stale decisions."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Decision")}},
                    },
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "404",
                        "413",
                        **{
                            "200": _json_body(_ref("Requirement"), "The requirement, resolved."),
                            "409": _error(
                                "Nothing was applied: `already_resolved` (or `already_cancelled` when its run "
                                "was cancelled), `stale_version`, `expired` (past its deadline: the timeout "
                                "decided it), `workflow_unavailable` (the run's workflow is not registered "
                                "in this deployment), `claimed` (another person claimed it), or "
                                "`already_approved` (the caller's approval already counts toward its quorum)."
                            ),
                        },
                    ),
                },
            },
            "/webhooks": {
                "get": {
                    "operationId": "listWebhooks",
                    "summary": "Registered webhook endpoints (without their secrets)",
                    "description": "Needs `workflows.manage_webhooks`.",
                    "responses": _responses("401", "403", **{"200": _json_body(_ref("WebhookList"), "The endpoints.")}),
                },
                "post": {
                    "operationId": "createWebhook",
                    "summary": "Register a webhook endpoint",
                    "description": (
                        "Needs `workflows.manage_webhooks`. Each event is sent as a JSON POST `{id, event, "
                        "created_at, data}` (`data`: the requirement or run as this API shows it) with the "
                        "headers `X-HITL-Event`, `X-HITL-Delivery` (the same on every retry) and "
                        '`X-HITL-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. '
                        "A non-2xx answer or a timeout is retried with growing waits."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("WebhookCreate")}},
                    },
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "413",
                        **{
                            "201": _json_body(
                                _ref("WebhookCreated"), "The endpoint, with its secret: shown this once only."
                            )
                        },
                    ),
                },
            },
            "/webhooks/{webhook_id}": {
                "parameters": [_id_param("webhook_id", "webhook endpoint")],
                "get": {
                    "operationId": "getWebhook",
                    "summary": "A webhook endpoint (without its secret)",
                    "responses": _responses(
                        "401", "403", "404", **{"200": _json_body(_ref("Webhook"), "The endpoint.")}
                    ),
                },
                "delete": {
                    "operationId": "deleteWebhook",
                    "summary": "Remove a webhook endpoint; its queued deliveries are not sent",
                    "responses": _responses("401", "403", "404", **{"204": {"description": "Removed."}}),
                },
            },
            "/requirements/{requirement_id}/claim": {
                "parameters": [requirement_id],
                "post": {
                    "operationId": "claimRequirement",
                    "summary": "Claim a requirement: colleagues see who works on it; only the claimer decides",
                    "description": (
                        "With `reason`, takes over a claim someone else holds (the reason is recorded). "
                        "Claiming one's own claim again refreshes it."
                    ),
                    "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("Claim")}}},
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "404",
                        "413",
                        **{
                            "200": _json_body(_ref("Requirement"), "The requirement, claimed by the caller."),
                            "409": _error("`claimed` (another person holds it), or it is already decided."),
                        },
                    ),
                },
            },
            "/requirements/{requirement_id}/release": {
                "parameters": [requirement_id],
                "post": {
                    "operationId": "releaseRequirement",
                    "summary": "Give a claimed requirement back (its claimer, or a holder of `override_claim`)",
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "404",
                        "413",
                        **{
                            "200": _json_body(_ref("Requirement"), "The requirement, claimed by nobody."),
                            "409": _error("`claimed` (someone else holds it), `not_claimed`, or already decided."),
                        },
                    ),
                },
            },
            "/requirements/{requirement_id}/reassign": {
                "parameters": [requirement_id],
                "post": {
                    "operationId": "reassignRequirement",
                    "summary": "Hand a requirement to another user or group, with a note",
                    "description": (
                        "By its claimer (or, unclaimed, a named assignee) or a holder of "
                        "`workflows.reassign_requirement`. The user must be allowed to resolve requirements. "
                        "The assignment is replaced and the claim ends."
                    ),
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Reassign")}}},
                    "responses": _responses(
                        "400",
                        "401",
                        "403",
                        "404",
                        "413",
                        **{
                            "200": _json_body(_ref("Requirement"), "The requirement, reassigned."),
                            "409": _error("Already decided."),
                        },
                    ),
                },
            },
            "/requirements/{requirement_id}/comments": {
                "parameters": [requirement_id],
                "get": {
                    "operationId": "listRequirementComments",
                    "summary": "Comments on a requirement, oldest first",
                    "responses": _responses(
                        "401",
                        "404",
                        **{
                            "200": _json_body(
                                {
                                    "type": "object",
                                    "properties": {"results": {"type": "array", "items": _ref("Comment")}},
                                },
                                "The comments.",
                            )
                        },
                    ),
                },
                "post": {
                    "operationId": "addRequirementComment",
                    "summary": "Comment on a requirement (plain text; a comment never decides)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["text"],
                                    "additionalProperties": False,
                                    "properties": {"text": {"type": "string", "maxLength": 5000}},
                                }
                            }
                        },
                    },
                    "responses": _responses(
                        "400", "401", "403", "404", "413", **{"201": _json_body(_ref("Comment"), "The comment.")}
                    ),
                },
            },
        },
        "components": {
            "responses": dict(ERROR_RESPONSES.values()),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A per-user token from `manage.py create_api_token USERNAME`.",
                },
                "sessionAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "sessionid",
                    "description": "A logged-in browser session; unsafe methods need `X-CSRFToken`.",
                },
            },
            "schemas": {
                "RunStart": {
                    "type": "object",
                    "required": ["workflow"],
                    "additionalProperties": False,
                    "properties": {
                        "workflow": {"type": "string", "description": "A registered workflow's name."},
                        "input": ANY,
                        "additional_data": {"type": ["object", "null"]},
                    },
                },
                "Run": {
                    "description": "A run in full: its summary, input, active requirements and results.",
                    "allOf": [
                        _ref("RunSummary"),
                        {
                            "type": "object",
                            "required": ["pause_kind", "requirements", "step_results", "content"],
                            "properties": {
                                "input": ANY,
                                "additional_data": {"type": "object"},
                                "requirements": {
                                    "type": "array",
                                    "description": "The active (PENDING) requirements the caller may see.",
                                    "items": _ref("Requirement"),
                                },
                                "step_results": {"type": "array", "items": _ref("StepOutput")},
                                "content": ANY,
                                "cancel_requested": {"type": "boolean"},
                                "cancel_reason": {
                                    "type": "string",
                                    "description": "Why the run was cancelled, if said.",
                                },
                            },
                        },
                    ],
                },
                "RunSummary": {
                    "type": "object",
                    "required": ["id", "workflow", "status", "created_at", "rerun_of"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "workflow": {"type": "string"},
                        "status": {"type": "string", "enum": list(WorkflowRun.Status.values)},
                        "pause_kind": {"type": ["string", "null"], "enum": ["step", "executor", "error", None]},
                        "paused_step_name": {"type": ["string", "null"]},
                        "error": {"type": ["string", "null"]},
                        "created_by": {"type": ["string", "null"]},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "finished_at": NULLABLE_TIME,
                        "rerun_of": NULLABLE_UUID,
                        "links": {
                            "type": "object",
                            "properties": {"self": {"type": "string"}, "page": {"type": "string"}},
                        },
                    },
                },
                "RunPage": {
                    "type": "object",
                    "required": ["results", "next"],
                    "properties": {
                        "results": {"type": "array", "items": _ref("RunSummary")},
                        "next": {"type": ["string", "null"], "description": "The next page's URL, or null."},
                    },
                },
                "RunRerun": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "input": {**ANY, "description": "Replaces the original's input when given."},
                        "additional_data": {
                            "type": ["object", "null"],
                            "description": "Replaces the original's additional data when given.",
                        },
                    },
                },
                "RunExport": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "workflow": {"type": "string"},
                        "status": {"type": "string", "enum": list(WorkflowRun.Status.values)},
                        "pause_kind": {"type": ["string", "null"]},
                        "paused_step_name": {"type": ["string", "null"]},
                        "created_by": {"type": ["string", "null"]},
                        "created_at": {"type": "string", "format": "date-time"},
                        "finished_at": NULLABLE_TIME,
                        "rerun_of": NULLABLE_UUID,
                        "input": ANY,
                        "additional_data": {"type": "object"},
                        "content": ANY,
                        "error": {"type": ["string", "null"]},
                    },
                },
                "DecisionExport": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "run_id": {"type": "string", "format": "uuid"},
                        "workflow": {"type": "string"},
                        "requirement_id": {"type": "string", "format": "uuid"},
                        "step_name": {"type": "string"},
                        "kind": {"type": "string", "enum": list(KINDS)},
                        "user": {"type": "string", "description": "Username, or `system` for a timeout."},
                        "action": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "data": {"type": "object"},
                        "diff": {"type": ["string", "null"]},
                        "shown_hash": {"type": "string", "description": "SHA-256 of what the reviewer was shown."},
                    },
                },
                "Analytics": {
                    "type": "object",
                    "required": ["period", "time_to_decision", "outcomes_by_step", "decisions_per_day"],
                    "properties": {
                        "period": {
                            "type": "object",
                            "properties": {
                                "since": {"type": "string", "format": "date"},
                                "until": {"type": "string", "format": "date"},
                            },
                        },
                        "workflow": {"type": ["string", "null"]},
                        "time_to_decision": {
                            "type": "object",
                            "description": "Keys `workflow`, `step`, `reviewer`: rows with the key names, "
                            "`decisions`, `p50_seconds`, `p90_seconds`.",
                            "additionalProperties": {"type": "array", "items": {"type": "object"}},
                        },
                        "outcomes_by_step": {
                            "type": "array",
                            "description": "Per step: `decisions`, counts `approve edit reject timeout other` "
                            "and their `<outcome>_rate` (0 to 1).",
                            "items": {"type": "object"},
                        },
                        "pending_by_group": {"type": "array", "items": {"type": "object"}},
                        "pending_by_reviewer": {"type": "array", "items": {"type": "object"}},
                        "decisions_per_day": {"type": "array", "items": {"type": "object"}},
                        "runs_by_workflow": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "StepOutput": {
                    "type": "object",
                    "required": ["step_name", "content", "success"],
                    "properties": {
                        "step_name": {"type": ["string", "null"]},
                        "content": ANY,
                        "success": {"type": "boolean"},
                        "error": {"type": "string"},
                        "stop": {"type": "boolean"},
                        "steps": {"type": "array", "items": _ref("StepOutput")},
                        "metadata": {"type": "object"},
                    },
                },
                "Requirement": {
                    "type": "object",
                    "required": ["id", "kind", "step_name", "message", "payload", "version", "timeout_at", "status"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "run_id": {"type": "string", "format": "uuid"},
                        "workflow": {"type": "string"},
                        "kind": {"type": "string", "enum": list(KINDS)},
                        "step_name": {"type": "string"},
                        "path": {"type": "string", "description": "The step's stable path, e.g. `2/steps/1`."},
                        "iteration": {"type": ["integer", "null"]},
                        "attempt": {"type": "integer"},
                        "message": {"type": ["string", "null"]},
                        "payload": {
                            "type": "object",
                            "description": "What the reviewer sees: output, schema, choices, tool and args.",
                            "properties": {
                                "schema": {
                                    "type": "array",
                                    "description": "The fields a user_input requirement asks for.",
                                    "items": _ref("UserInputField"),
                                }
                            },
                        },
                        "status": {"type": "string", "enum": list(Requirement.Status.values)},
                        "version": {"type": "integer"},
                        "actions": {"type": "array", "items": {"type": "string", "enum": list(ALL_ACTIONS)}},
                        "timeout_at": NULLABLE_TIME,
                        "on_timeout": {"type": ["string", "null"]},
                        "created_at": {"type": "string", "format": "date-time"},
                        "resolution": {"type": ["object", "null"]},
                        "resolved_by": {"type": ["string", "null"]},
                        "resolved_at": NULLABLE_TIME,
                        "claimed_by": {"type": ["string", "null"], "description": "Username of the claimer."},
                        "assignees": {"type": "array", "items": {"type": "string"}},
                        "groups": {"type": "array", "items": {"type": "string"}},
                        "priority": {"type": "string", "enum": list(Requirement.Priority.values)},
                        "due_at": NULLABLE_TIME,
                        "approvals": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "user": {"type": "string"},
                                    "at": {"type": "string", "format": "date-time"},
                                },
                            },
                        },
                        "approvals_needed": {"type": "integer", "description": "How many more approvals it needs."},
                        "comments_count": {"type": "integer"},
                    },
                },
                "Claim": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"reason": {"type": "string", "description": "Takes over someone's claim."}},
                },
                "Reassign": {
                    "type": "object",
                    "additionalProperties": False,
                    "description": "`user` or `group`, not both.",
                    "properties": {
                        "user": {"type": "string"},
                        "group": {"type": "string"},
                        "note": {"type": "string", "maxLength": 1000},
                    },
                },
                "Comment": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "user": {"type": "string"},
                        "text": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                    },
                },
                "UserInputField": {
                    "type": "object",
                    "required": ["name", "field_type", "required"],
                    "properties": {
                        "name": {"type": "string"},
                        "field_type": {"type": "string", "enum": list(FIELD_TYPES)},
                        "description": {"type": ["string", "null"]},
                        "required": {"type": "boolean"},
                        "allowed_values": {"type": ["array", "null"]},
                        "default": ANY,
                        "min_value": {"type": ["number", "null"], "description": "Lowest accepted int or float."},
                        "max_value": {"type": ["number", "null"], "description": "Highest accepted int or float."},
                        "max_length": {
                            "type": ["integer", "null"],
                            "description": "Most characters of a str, or items of a list.",
                        },
                        "pattern": {
                            "type": ["string", "null"],
                            "description": "A regular expression a str must match in full (Python syntax).",
                        },
                    },
                },
                "RequirementPage": {
                    "type": "object",
                    "required": ["count", "next", "results"],
                    "properties": {
                        "count": {"type": "integer"},
                        "next": {"type": ["string", "null"]},
                        "results": {"type": "array", "items": _ref("Requirement")},
                    },
                },
                "Decision": {
                    "type": "object",
                    "required": ["action"],
                    "additionalProperties": False,
                    "properties": {
                        "action": {"type": "string", "enum": list(ALL_ACTIONS)},
                        "data": {"type": ["object", "null"]},
                        "version": {"type": ["integer", "null"]},
                    },
                },
                "WebhookCreate": {
                    "type": "object",
                    "required": ["url", "events"],
                    "additionalProperties": False,
                    "properties": {
                        "url": {"type": "string", "format": "uri"},
                        "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": WEBHOOK_EVENTS}},
                    },
                },
                "Webhook": {
                    "type": "object",
                    "required": ["id", "url", "events"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "url": {"type": "string", "format": "uri"},
                        "events": {"type": "array", "items": {"type": "string", "enum": WEBHOOK_EVENTS}},
                        "is_active": {"type": "boolean"},
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
                "WebhookCreated": {
                    "allOf": [
                        _ref("Webhook"),
                        {"type": "object", "required": ["secret"], "properties": {"secret": {"type": "string"}}},
                    ]
                },
                "WebhookList": {
                    "type": "object",
                    "required": ["results"],
                    "properties": {"results": {"type": "array", "items": _ref("Webhook")}},
                },
                "BulkDecisions": {
                    "type": "object",
                    "required": ["items"],
                    "additionalProperties": False,
                    "properties": {
                        "items": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 100,
                            "items": {
                                "type": "object",
                                "required": ["id", "action"],
                                "additionalProperties": False,
                                "properties": {
                                    "id": {"type": "string", "format": "uuid"},
                                    "action": {"type": "string", "enum": list(ALL_ACTIONS)},
                                    "data": {"type": ["object", "null"]},
                                    "version": {"type": ["integer", "null"]},
                                },
                            },
                        }
                    },
                },
                "BulkResults": {
                    "type": "object",
                    "required": ["results"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "status", "code", "errors"],
                                "properties": {
                                    "id": {"type": ["string", "null"]},
                                    "status": {
                                        "type": "string",
                                        "enum": ["done", "conflict", "invalid", "forbidden", "not_found"],
                                    },
                                    "code": {"type": "string"},
                                    "errors": {"type": "object", "additionalProperties": {"type": "string"}},
                                },
                            },
                        }
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "code"],
                    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
                },
                "ValidationErrors": {
                    "type": "object",
                    "required": ["errors"],
                    "properties": {
                        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
            },
        },
    }
