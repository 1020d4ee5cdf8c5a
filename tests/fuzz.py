"""Hypothesis strategies and helpers shared by the fuzz tests of the API and the decision forms.

The strategies write JSON *text*, so they can hold what no Python value serialises to: ``1e400``,
``NaN``, ``Infinity``, escapes of lone surrogates and NUL, integers with thousands of digits,
nesting past every limit, and plain garbage.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from workflows.engine import HumanReview, ScriptedAgent, Step, ToolCall, Workflow
from workflows.engine.jsonvalues import check_json
from workflows.models import Requirement

EXAMPLES = 2_000

# Fixed seed, no example database: the same payloads every run, a few seconds each.
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

NASTY_TEXT = ["\ud800", "\udfff", "\x00", "a\x00b", "\ud83d", "\u202e", "'\"<script>", "\r\n", ""]
nasty_chars = st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\x00", "\ud83d", "\u202e"]))
# Python text, lone surrogates and NUL included (serialised below as JSON escapes).
texts = st.one_of(st.text(nasty_chars, max_size=12), st.sampled_from(NASTY_TEXT), st.just("x" * 20_000))
# Text a browser can send in a form (UTF-8: no surrogates), NUL included.
form_texts = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    st.sampled_from(["a\x00b", "\x00", "", " ", "1e400", "NaN", "-0", "1" * 5000, "9" * 30, "true", "off"]),
)

NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1e-400", "-0", "0.1", "9" * 5000, "9" * 30, "1E5"]
json_numbers = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(NUMBERS),
)
# What no row may hold, as JSON text: drawn often, so that it reaches the checks behind the others.
BAD_SCALARS = ["1e400", "-1e400", "NaN", "-Infinity", '"\\ud800"', '"a\\udfffb"', '"\\u0000"', '"a\\u0000b"']
json_scalars = st.one_of(
    st.sampled_from(["null", "true", "false"]),
    json_numbers,
    texts.map(json.dumps),  # ensure_ascii: a lone surrogate becomes "\ud800", NUL "\u0000"
    st.sampled_from(BAD_SCALARS),
)


def array_text(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def object_text(items: dict[str, str]) -> str:
    return "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in items.items()) + "}"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


json_values = st.one_of(
    st.sampled_from(BAD_SCALARS),
    st.recursive(
        json_scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(array_text),
            st.dictionaries(texts, children, max_size=4).map(object_text),
        ),
        max_leaves=12,
    ),
    st.sampled_from([nested(63), nested(64), nested(65), nested(1_000), nested(50_000), "[" * 50_000]),
)


def json_object(fields: dict) -> st.SearchStrategy[str]:
    """A JSON object text whose keys are some of ``fields`` (each with its own value strategy),
    and sometimes an unknown one."""
    return st.fixed_dictionaries({}, optional={**fields, "unknown": json_values}).map(object_text)


garbage_bodies = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"", b"{", b"[]", b'"x"', b"null", b"\xff\xfe", b'{"a": 1}{', b"{" * 50_000]),
    json_values.map(str.encode),
)


@contextmanager
def rolled_back():
    """One example's requests in a savepoint that is rolled back: every example starts from the
    same pending requirements, whatever the one before decided."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def pending_of_every_kind() -> dict[str, Requirement]:
    """One pending requirement of each kind (the example workflows, and an agent for the two
    executor kinds they do not pause on first)."""
    from workflows import registry

    found: dict[str, Requirement] = {}
    names = [
        "data_export",
        "trip_planner",
        "blog_post",
        "research_router",
        "copy_refiner",
        "inventory_sync",
        "support_agent",
    ]
    runs = [registry.get(name).run("x").run_id for name in names]
    from workflows.definitions.agents import issue_credit, send_email

    agent = Workflow(
        name="fuzz_agent",
        steps=[
            Step(
                name="act",
                agent=ScriptedAgent(
                    name="bot",
                    tools=[send_email, issue_credit],
                    script=[[ToolCall("send_email", {"to": "a@b.c", "subject": "s"}), ToolCall("issue_credit", {})]],
                ),
                human_review=HumanReview(requires_output_review=True),
            )
        ],
    )
    runs.append(agent.run("x").run_id)
    for req in Requirement.objects.filter(run_id__in=runs, status="PENDING"):
        found.setdefault(req.kind, req)
    assert sorted(found) == sorted(Requirement.Kind.values), sorted(found)
    return found


def assert_storable(*values) -> None:
    """What an accepted request stored is JSON every page, socket and database can hold (on
    SQLite a lone surrogate or an infinity would be stored, and shown nowhere)."""
    for value in values:
        check_json(value, "stored")


def snapshot(req: Requirement) -> tuple:
    row = Requirement.objects.get(id=req.id)
    return row.status, row.version, row.resolution, row.resolved_by_id
