"""The OpenAPI document against the views it describes.

- every route under /api/v1/ answers exactly the methods the document lists for it;
- every documented (method, path, status) is produced by a real request below, and the JSON the
  view answers validates against the documented schema (headers too); a status documented without
  a request here, or a request here for an undocumented status, fails the test.

The document is hand-written rather than generated (say by django-ninja) because the views are
plain Django views whose error shapes and status codes are a public contract; rewriting them onto a
framework to get a generated document would change those. This test holds the two together instead.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client

from notifications.models import WebhookEndpoint
from workflows import registry, services
from workflows.models import Requirement, WorkflowRun
from workflows.web.openapi import openapi_schema

from .test_api__openapi import api_paths

pytestmark = pytest.mark.django_db
DOC = openapi_schema()


# -- a JSON-schema validator for the keywords the document uses ---------------------------------
KEYWORDS = {
    "$ref",
    "allOf",
    "type",
    "enum",
    "format",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "maxLength",
    "minimum",
    "maximum",
    "description",
    "default",
}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
FORMATS = {
    "date-time": lambda v: datetime.fromisoformat(v),
    "date": lambda v: date.fromisoformat(v),
    "uuid": lambda v: uuid.UUID(v),
    "uri": lambda v: None if urlsplit(v).scheme and urlsplit(v).netloc else int("not a uri"),
}


def resolve(ref: str) -> dict:
    node = DOC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def problems(value, schema: dict, where: str = "$") -> list[str]:
    """Why ``value`` does not match ``schema`` (empty when it does)."""
    unknown = set(schema) - KEYWORDS
    assert not unknown, f"{where}: the validator does not know {unknown}"
    if "$ref" in schema:
        return problems(value, resolve(schema["$ref"]), where)
    found = [p for part in schema.get("allOf", []) for p in problems(value, part, where)]
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(TYPES[t](value) for t in types):
            return [*found, f"{where}: {value!r} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "format" in schema:
            try:
                FORMATS[schema["format"]](value)
            except ValueError:
                found.append(f"{where}: {value!r} is not a {schema['format']}")
        if len(value) > schema.get("maxLength", len(value)):
            found.append(f"{where}: longer than {schema['maxLength']}")
    if TYPES["number"](value):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            found.append(f"{where}: {value} out of range")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            found.append(f"{where}: {len(value)} items")
        for index, item in enumerate(value):
            found += problems(item, schema.get("items", {}), f"{where}[{index}]")
    if isinstance(value, dict):
        found += [f"{where}: {name} missing" for name in schema.get("required", []) if name not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                found += problems(item, properties[name], f"{where}.{name}")
            elif extra is False:
                found.append(f"{where}: {name} is not documented")
            elif isinstance(extra, dict):
                found += problems(item, extra, f"{where}.{name}")
    return found


def test_the_validator_refuses_what_the_schema_does_not_allow():
    run = {"$ref": "#/components/schemas/RunSummary"}
    assert problems({"id": "x"}, run)  # not a uuid, required fields missing
    assert problems({"results": [{"id": 1}], "next": None}, {"$ref": "#/components/schemas/RunPage"})
    assert problems(True, {"type": "integer"}) and not problems(3, {"type": ["integer", "null"]})
    assert problems({"a": 1}, {"type": "object", "additionalProperties": False})


# -- what the document says ----------------------------------------------------------------------
def operations() -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }


def documented() -> list[tuple[str, str, str]]:
    return sorted(
        (method, path, status)
        for (method, path), operation in operations().items()
        for status in operation["responses"]
    )


def response_spec(method: str, path: str, status: str) -> dict:
    spec = operations()[method, path]["responses"][status]
    return resolve(spec["$ref"]) if "$ref" in spec else spec


# -- the objects the requests act on, made when a request first needs them ----------------------
class World:
    def __init__(self, django_user_model):
        self.users = django_user_model.objects
        self.admin = self.users.create_superuser("ada", "ada@example.com", "pw")
        self._made: dict[str, object] = {}

    def once(self, name: str, make: Callable):
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]

    def user(self, name: str, *perms: str):
        def make():
            user = self.users.create_user(name, password="pw")
            codenames = [p.split(".")[1] for p in perms]
            user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
            return user

        return self.once(f"user:{name}", make)

    def client(self, user=None, *, csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        if user is not None:
            client.force_login(user)
        return client

    def paused_run(self) -> WorkflowRun:
        """A data_export run waiting on its confirmation."""
        return self.once("paused", lambda: self._run())

    def _run(self) -> WorkflowRun:
        return WorkflowRun.objects.get(id=registry.get("data_export").run("crm", user=self.admin).run_id)

    def finished_run(self) -> WorkflowRun:
        def make():
            run = self._run()
            return services.run_cancel(run_id=run.id, user=self.admin)

        return self.once("finished", make)

    def requirement(self) -> Requirement:
        return self.paused_run().requirements.get()

    def decided_requirement(self) -> Requirement:
        def make():
            req = self._run().requirements.get()
            services.requirement_resolve(requirement_id=req.id, user=self.admin, action="confirm")
            return Requirement.objects.get(id=req.id)

        return self.once("decided", make)

    def webhook(self) -> WebhookEndpoint:
        return self.once(
            "webhook",
            lambda: WebhookEndpoint.objects.create(url="https://example.com/hook", events=["run.completed"]),
        )

    def fill(self, path: str, *, unknown: bool = False) -> str:
        def value(match):
            if unknown:
                return str(uuid.uuid4())
            return str(
                {
                    "run_id": lambda: self.paused_run().id,
                    "requirement_id": lambda: self.requirement().id,
                    "webhook_id": lambda: self.webhook().id,
                }[match.group(1)]()
            )

        return "/api/v1" + re.sub(r"\{(\w+)\}", value, path)


def send(client: Client, method: str, url: str, body=None, *, raw: bytes | None = None, **query):
    if method in ("GET", "DELETE"):
        return getattr(client, method.lower())(url, query)
    data = raw if raw is not None else json.dumps({} if body is None else body)
    return client.generic(method, url, data, content_type="application/json")


# -- one request per documented status -------------------------------------------------------------
def generic(w: World, method: str, path: str, status: str):
    """The statuses every operation reaches the same way."""
    if status == "401":
        return send(w.client(), method, w.fill(path))
    if status == "404":
        return send(w.client(w.admin), method, w.fill(path, unknown=True))
    if status == "413":
        return send(w.client(w.admin), method, w.fill(path), raw=b" " * (settings.HITL_MAX_BODY_BYTES + 1))
    if status == "400" and method == "POST":
        return send(w.client(w.admin), method, w.fill(path), raw=b"[]")
    return None


def viewer(w: World):
    """Sees every run and requirement, may do nothing to them."""
    return w.user("vic", "workflows.view_workflowrun", "workflows.view_requirement")


def admin(w: World, method: str, url: str, body=None, **query):
    return send(w.client(w.admin), method, url, body, **query)


def at(method: str, path: str, body=None, **query) -> Callable:
    """The superuser's request to ``path`` of the document, on the objects of the world."""
    return lambda w: admin(w, method, w.fill(path), body, **query)


def admin_after(setup: Callable[[World], object], method: str, url: str, body=None, **query) -> Callable:
    """The superuser's request, once ``setup`` made what it should find."""

    def call(w: World):
        setup(w)
        return admin(w, method, url, body, **query)

    return call


SPECIFIC: dict[tuple[str, str, str], Callable] = {
    ("GET", "/runs", "200"): admin_after(World.paused_run, "GET", "/api/v1/runs"),
    ("GET", "/runs", "400"): lambda w: admin(w, "GET", "/api/v1/runs", cursor="not a cursor"),
    ("POST", "/runs", "201"): lambda w: admin(w, "POST", "/api/v1/runs", {"workflow": "data_export", "input": "x"}),
    ("POST", "/runs", "403"): lambda w: send(w.client(w.user("nobody")), "POST", "/api/v1/runs", {"workflow": "x"}),
    ("GET", "/runs/export", "200"): admin_after(World.paused_run, "GET", "/api/v1/runs/export"),
    ("GET", "/runs/export", "400"): lambda w: admin(w, "GET", "/api/v1/runs/export", format="xml"),
    ("GET", "/runs/{run_id}", "200"): at("GET", "/runs/{run_id}"),
    ("POST", "/runs/{run_id}/cancel", "200"): at("POST", "/runs/{run_id}/cancel", {"reason": "x"}),
    ("POST", "/runs/{run_id}/cancel", "403"): lambda w: send(
        w.client(viewer(w)), "POST", w.fill("/runs/{run_id}/cancel")
    ),
    ("POST", "/runs/{run_id}/cancel", "409"): lambda w: admin(w, "POST", f"/api/v1/runs/{w.finished_run().id}/cancel"),
    ("POST", "/runs/{run_id}/rerun", "201"): lambda w: admin(w, "POST", f"/api/v1/runs/{w.finished_run().id}/rerun"),
    ("POST", "/runs/{run_id}/rerun", "403"): lambda w: send(
        w.client(viewer(w)), "POST", w.fill("/runs/{run_id}/rerun")
    ),
    ("POST", "/runs/{run_id}/rerun", "409"): at("POST", "/runs/{run_id}/rerun"),
    ("GET", "/decisions/export", "200"): admin_after(World.decided_requirement, "GET", "/api/v1/decisions/export"),
    ("GET", "/decisions/export", "400"): lambda w: admin(w, "GET", "/api/v1/decisions/export", format="xml"),
    ("GET", "/analytics", "200"): admin_after(World.decided_requirement, "GET", "/api/v1/analytics"),
    ("GET", "/analytics", "400"): lambda w: admin(w, "GET", "/api/v1/analytics", since="not a date"),
    ("GET", "/analytics", "403"): lambda w: send(w.client(w.user("nobody")), "GET", "/api/v1/analytics"),
    ("GET", "/requirements", "200"): admin_after(World.requirement, "GET", "/api/v1/requirements"),
    ("GET", "/requirements", "400"): lambda w: admin(w, "GET", "/api/v1/requirements", status="NOPE"),
    ("POST", "/requirements/bulk", "200"): lambda w: admin(
        w,
        "POST",
        "/api/v1/requirements/bulk",
        {"items": [{"id": str(w.requirement().id), "action": "confirm"}, {"id": "x", "action": "nope"}]},
    ),
    ("GET", "/requirements/{requirement_id}", "200"): at("GET", "/requirements/{requirement_id}"),
    ("POST", "/requirements/{requirement_id}/resolve", "200"): at(
        "POST", "/requirements/{requirement_id}/resolve", {"action": "confirm", "version": 1}
    ),
    ("POST", "/requirements/{requirement_id}/resolve", "409"): at(
        "POST", "/requirements/{requirement_id}/resolve", {"action": "confirm", "version": 99}
    ),
    ("GET", "/webhooks", "200"): admin_after(World.webhook, "GET", "/api/v1/webhooks"),
    ("GET", "/webhooks", "403"): lambda w: send(w.client(w.user("nobody")), "GET", "/api/v1/webhooks"),
    ("POST", "/webhooks", "201"): lambda w: admin(
        w, "POST", "/api/v1/webhooks", {"url": "https://example.com/in", "events": ["run.completed"]}
    ),
    ("POST", "/webhooks", "403"): lambda w: send(w.client(w.user("nobody")), "POST", "/api/v1/webhooks", {}),
    ("GET", "/webhooks/{webhook_id}", "200"): at("GET", "/webhooks/{webhook_id}"),
    ("GET", "/webhooks/{webhook_id}", "403"): lambda w: send(
        w.client(w.user("nobody")), "GET", w.fill("/webhooks/{webhook_id}")
    ),
    ("DELETE", "/webhooks/{webhook_id}", "204"): at("DELETE", "/webhooks/{webhook_id}"),
    ("DELETE", "/webhooks/{webhook_id}", "403"): lambda w: send(
        w.client(w.user("nobody")), "DELETE", w.fill("/webhooks/{webhook_id}")
    ),
    ("POST", "/requirements/{requirement_id}/claim", "200"): at("POST", "/requirements/{requirement_id}/claim"),
    ("POST", "/requirements/{requirement_id}/claim", "409"): lambda w: claimed_by_other(w, "claim"),
    ("POST", "/requirements/{requirement_id}/release", "200"): lambda w: claimed_by_other(w, "release"),
    ("POST", "/requirements/{requirement_id}/release", "409"): at("POST", "/requirements/{requirement_id}/release"),
    ("POST", "/requirements/{requirement_id}/reassign", "200"): lambda w: admin_after(
        lambda w: w.user("cleo", "workflows.resolve_requirement"),
        "POST",
        w.fill("/requirements/{requirement_id}/reassign"),
        {"user": "cleo", "note": "yours"},
    )(w),
    ("POST", "/requirements/{requirement_id}/reassign", "409"): lambda w: admin(
        w, "POST", f"/api/v1/requirements/{w.decided_requirement().id}/reassign", {"user": "ada"}
    ),
    ("GET", "/requirements/{requirement_id}/comments", "200"): lambda w: admin_after(
        commented, "GET", w.fill("/requirements/{requirement_id}/comments")
    )(w),
    ("POST", "/requirements/{requirement_id}/comments", "201"): at(
        "POST", "/requirements/{requirement_id}/comments", {"text": "Looks fine."}
    ),
}
# A session request without its CSRF token.
for _path in ("/requirements/bulk", "/requirements/{requirement_id}/comments"):
    SPECIFIC["POST", _path, "403"] = lambda w, p=_path: send(w.client(w.admin, csrf=True), "POST", w.fill(p))
# Seen but not theirs to decide: 403 (unseen would be 404).
for _action in ("resolve", "claim", "release", "reassign"):
    SPECIFIC["POST", f"/requirements/{{requirement_id}}/{_action}", "403"] = lambda w, a=_action: send(
        w.client(viewer(w)), "POST", w.fill(f"/requirements/{{requirement_id}}/{a}"), {"action": "confirm"}
    )


def claimed_by_other(w: World, action: str):
    """Someone else holds the claim: a plain claim is refused, the superuser may release it."""
    req = w.requirement()
    services.requirement_claim(requirement_id=req.id, user=w.user("cleo", "workflows.resolve_requirement"))
    return admin(w, "POST", w.fill(f"/requirements/{{requirement_id}}/{action}"))


def commented(w: World) -> None:
    services.requirement_comment_add(requirement_id=w.requirement().id, user=w.admin, text="A remark.")


def request_for(w: World, method: str, path: str, status: str):
    specific = SPECIFIC.get((method, path, status))
    return specific(w) if specific else generic(w, method, path, status)


def test_every_documented_status_has_a_request_here_and_no_more():
    assert set(SPECIFIC) <= set(documented())
    generic_only = [t for t in documented() if t not in SPECIFIC]
    reachable = {"401", "404", "413", "400"}
    assert {status for _m, _p, status in generic_only} <= reachable, generic_only


@pytest.mark.parametrize(("method", "path", "status"), documented())
def test_documented_response(method, path, status, django_user_model, django_capture_on_commit_callbacks):
    world = World(django_user_model)
    response = request_for(world, method, path, status)
    assert response is not None, f"no request for {method} {path} {status}"
    assert str(response.status_code) == status, response.content[:300]
    spec = response_spec(method, path, status)
    for header in spec.get("headers", {}):
        assert response.has_header(header), header
    content = spec.get("content", {})
    if not content:
        assert response.content == b""
        return
    assert response["Content-Type"].split(";")[0] == "application/json"
    body = json.loads(b"".join(response.streaming_content) if response.streaming else response.content)
    assert problems(body, content["application/json"]["schema"]) == []


CSV_PATHS = [p for (m, p, s) in documented() if "text/csv" in response_spec(m, p, s).get("content", {})]


@pytest.mark.parametrize("path", CSV_PATHS)
def test_csv_exports_answer_csv(path, django_user_model):
    world = World(django_user_model)
    response = admin(world, "GET", f"/api/v1{path}", format="csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


def test_each_route_answers_the_documented_methods(django_user_model):
    """A method the view does not take is a 405 whose Allow header lists the ones it does."""
    world = World(django_user_model)
    documented_methods: dict[str, set[str]] = {}
    for method, path in operations():
        documented_methods.setdefault(path, set()).add(method)
    assert set(documented_methods) == api_paths()
    for path, methods in documented_methods.items():
        response = world.client(world.admin).generic("PUT", world.fill(path, unknown=True))
        assert response.status_code == 405, path
        allowed = set(response["Allow"].split(", ")) - {"HEAD"}
        assert allowed == methods, path


def test_the_document_is_the_one_served(client):
    assert CSV_PATHS == ["/decisions/export", "/runs/export"]
    assert client.get("/api/v1/openapi.json").json() == json.loads(json.dumps(DOC))
