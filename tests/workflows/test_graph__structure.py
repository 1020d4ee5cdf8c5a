"""workflows.web.graph: the structure drawn for every example workflow (nodes, edges, kinds; not
pixels), the states of a run's nodes, and the SVG on the workflow and run pages."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import workflows.definitions
from workflows import registry, services
from workflows.engine import Workflow
from workflows.models import WorkflowRun
from workflows.web import graph


def example_workflows() -> dict[str, Workflow]:
    found = {}
    for info in pkgutil.iter_modules(workflows.definitions.__path__):
        module = importlib.import_module(f"workflows.definitions.{info.name}")
        found.update({v.name: v for v in vars(module).values() if isinstance(v, Workflow)})
    return found


# [path, kind, name, gate kinds] and [from, to, kind, label]: "next" follows in a sequence, "enter"
# goes into a Steps or Loop, "branch" into a lane of a Condition, Router or Parallel, "loop" back.
EXPECTED = {
    "blog_post": {
        "nodes": [
            ["0", "Step", "draft", ["output_review"]],
            ["1", "Step", "publish", []],
        ],
        "edges": [
            ["0", "1", "next", ""],
        ],
    },
    "copy_refiner": {
        "nodes": [
            ["0", "Loop", "refine", ["iteration_review"]],
            ["0/steps/0", "Step", "improve", []],
        ],
        "edges": [
            ["0", "0/steps/0", "enter", ""],
            ["0/steps/0", "0", "loop", "repeat"],
        ],
    },
    "data_export": {
        "nodes": [
            ["0", "Step", "fetch", []],
            ["1", "Step", "export", ["confirmation"]],
        ],
        "edges": [
            ["0", "1", "next", ""],
        ],
    },
    "payment_release": {
        "nodes": [
            ["0", "Step", "release", ["confirmation"]],
        ],
        "edges": [],
    },
    "purchase_approval": {
        "nodes": [
            ["0", "Step", "quote", []],
            ["1", "Step", "order", ["confirmation"]],
        ],
        "edges": [
            ["0", "1", "next", ""],
        ],
    },
    "inventory_sync": {
        "nodes": [
            ["0", "Step", "sync", ["error"]],
            ["1", "Step", "report", []],
        ],
        "edges": [
            ["0", "1", "next", ""],
        ],
    },
    "onboarding": {
        "nodes": [
            ["0", "Condition", "is_enterprise", []],
            ["0/if/0", "Steps", "setup", []],
            ["0/if/0/steps/0", "Step", "create_account", []],
            ["0/if/0/steps/1", "Loop", "provision", []],
            ["0/if/0/steps/1/steps/0", "Step", "allocate", ["confirmation"]],
            ["0/if/0/steps/1/steps/1", "Step", "verify", []],
            ["0/if/0/steps/2", "Step", "welcome", []],
        ],
        "edges": [
            ["0", "0/if/0", "branch", "if"],
            ["0/if/0", "0/if/0/steps/0", "enter", ""],
            ["0/if/0/steps/0", "0/if/0/steps/1", "next", ""],
            ["0/if/0/steps/1", "0/if/0/steps/1/steps/0", "enter", ""],
            ["0/if/0/steps/1", "0/if/0/steps/2", "next", ""],
            ["0/if/0/steps/1/steps/0", "0/if/0/steps/1/steps/1", "next", ""],
            ["0/if/0/steps/1/steps/1", "0/if/0/steps/1", "loop", "repeat"],
        ],
    },
    "refund_decision": {
        "nodes": [
            ["0", "Condition", "refund_or_voucher", ["confirmation"]],
            ["0/if/0", "Step", "issue_refund", []],
            ["0/else/0", "Step", "offer_voucher", []],
        ],
        "edges": [
            ["0", "0/if/0", "branch", "if"],
            ["0", "0/else/0", "branch", "else"],
        ],
    },
    "release_checks": {
        "nodes": [
            ["0", "Parallel", "checks", []],
            ["0/branches/0", "Step", "tests", []],
            ["0/branches/1", "Step", "security", ["confirmation"]],
            ["0/branches/2", "Step", "legal", ["confirmation"]],
            ["1", "Step", "ship", []],
        ],
        "edges": [
            ["0", "0/branches/0", "branch", "tests"],
            ["0", "0/branches/1", "branch", "security"],
            ["0", "0/branches/2", "branch", "legal"],
            ["0", "1", "next", ""],
        ],
    },
    "research_router": {
        "nodes": [
            ["0", "Router", "choose_research", ["route_selection"]],
            ["0/choices/0", "Step", "quick", []],
            ["0/choices/1", "Step", "deep", []],
            ["0/choices/2", "Step", "expert", []],
        ],
        "edges": [
            ["0", "0/choices/0", "branch", "quick"],
            ["0", "0/choices/1", "branch", "deep"],
            ["0", "0/choices/2", "branch", "expert"],
        ],
    },
    "support_agent": {
        "nodes": [
            [
                "0",
                "Step",
                "resolve_ticket",
                ["output_review", "executor_confirmation", "executor_user_input", "external_execution"],
            ],
        ],
        "edges": [],
    },
    "trip_planner": {
        "nodes": [
            ["0", "Step", "plan", ["user_input"]],
        ],
        "edges": [],
    },
}


def test_every_example_workflow_has_its_structure_checked():
    assert set(example_workflows()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_structure_of_each_example_workflow(name):
    assert graph.build(example_workflows()[name]).structure() == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layout_nests_and_does_not_overlap(name):
    """Each node lies inside its container's frame and inside the drawing; no two boxes of one
    sequence or of sibling lanes overlap."""
    drawn = graph.build(example_workflows()[name])
    frames = {f.path: f for f in drawn.frames}
    for node in drawn.nodes:
        assert 0 <= node.x and node.x + node.w <= drawn.width
        assert 0 <= node.y and node.y + node.h <= drawn.height
        segments = node.path.split("/")
        if len(segments) > 2:
            parent = frames["/".join(segments[:-2])]
            assert parent.x <= node.x and node.x + node.w <= parent.x + parent.w
            assert parent.y <= node.y and node.y + node.h <= parent.y + parent.h
    leaves = [n for n in drawn.nodes if not n.is_container] + [n for n in drawn.nodes if n.is_container]
    for i, a in enumerate(leaves):
        for b in leaves[i + 1 :]:
            overlap = a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h
            assert not overlap, (a.path, b.path)


# -- states ---------------------------------------------------------------------------------------
PATHS = ["0", "0/steps/0", "0/steps/1", "1"]


def states(run_status="RUNNING", events=(), requirements=()):
    return graph.node_states(paths=PATHS, run_status=run_status, events=list(events), requirements=list(requirements))


def test_states__nothing_happened_yet():
    assert set(states(run_status="PENDING").values()) == {"not_started"}


def test_states__follow_the_last_event_of_each_path():
    result = states(
        events=[
            ("StepStarted", "0"),
            ("StepStarted", "0/steps/0"),
            ("StepCompleted", "0/steps/0"),
            ("StepStarted", "0/steps/1"),
        ]
    )
    assert result == {"0": "running", "0/steps/0": "done", "0/steps/1": "running", "1": "not_started"}


def test_states__a_pending_requirement_is_a_pause_for_a_person_and_its_container_is_underway():
    result = states(
        run_status="PAUSED",
        events=[("StepStarted", "0"), ("StepCompleted", "0/steps/0"), ("StepPaused", "0/steps/1")],
        requirements=[("0/steps/1", "PENDING")],
    )
    assert result["0/steps/1"] == "paused"
    assert result["0"] == "running"


def test_states__skipped_failed_and_retried():
    result = states(
        events=[
            ("StepSkipped", "0/steps/0"),
            ("StepStarted", "0/steps/1"),
            ("StepError", "0/steps/1"),
            ("StepError", "1"),
            ("StepContinued", "1"),
        ]
    )
    assert (result["0/steps/0"], result["0/steps/1"], result["1"]) == ("skipped", "failed", "running")


def test_states__what_was_underway_when_the_run_was_cancelled_shows_cancelled():
    result = states(
        run_status="CANCELLED",
        events=[("StepCompleted", "0/steps/0"), ("StepPaused", "0/steps/1")],
        requirements=[("0/steps/1", "CANCELLED")],
    )
    assert result == {"0": "not_started", "0/steps/0": "done", "0/steps/1": "cancelled", "1": "not_started"}


def test_states__a_failed_run_marks_the_running_step_failed():
    result = states(run_status="ERROR", events=[("StepStarted", "1")])
    assert result["1"] == "failed"


# -- pages ----------------------------------------------------------------------------------------
def svg_of(html: str) -> str:
    match = re.search(r"<svg\b.*?</svg>", html, re.S)
    assert match, "no SVG on the page"
    return match.group(0)


@pytest.mark.django_db
def test_workflow_page__has_the_graph_with_an_accessible_name(client, operator):
    client.force_login(operator)
    html = client.get("/workflows/release_checks/").text
    svg = svg_of(html)
    assert 'role="img"' in svg
    assert 'aria-label="Workflow graph of release_checks"' in svg
    assert "style=" not in svg  # presentation attributes and classes only (no inline styles)
    assert re.search(r'viewBox="0 0 [\d.]+ [\d.]+"', svg)
    assert svg.count('class="wf-gnode ') == 5
    assert 'data-anchor="step-0-branches-1"' in svg
    assert "<a " not in svg  # an image holds nothing interactive (axe: nested-interactive)
    assert 'id="step-0-branches-1"' in html  # the node's entry in the text alternative


@pytest.mark.django_db
def test_run_page__graph_nodes_carry_the_run_states_and_the_text_alternative_lists_them(client, operator):
    out = registry.get("data_export").run("crm", user=operator)  # fetch done, export paused
    client.force_login(operator)
    html = client.get(f"/runs/{out.run_id}/").text
    svg = svg_of(html)
    assert 'aria-label="Workflow graph of data_export"' in svg
    assert re.search(r'data-path="0" data-state="done"', svg)
    assert re.search(r'data-path="1" data-state="paused"', svg)
    listing = html[html.index('class="wf-graph-list"') :]
    assert re.search(r'id="step-0".*?wf-gstate--done">done<', listing, re.S)
    assert re.search(r'id="step-1".*?wf-gstate--paused">paused for a person<', listing, re.S)
    # The paused node's entry links to its requirement in the requirements table.
    requirement = WorkflowRun.objects.get(id=out.run_id).requirements.get()
    assert f'href="#requirement-{requirement.id}"' in listing
    assert f'id="requirement-{requirement.id}"' in html


@pytest.mark.django_db
def test_run_page__states_after_a_decision_and_after_cancelling(client, operator, reviewer):
    out = registry.get("data_export").run("crm", user=operator)
    run = WorkflowRun.objects.get(id=out.run_id)
    services.requirement_resolve(requirement_id=run.requirements.get().id, user=reviewer, action="confirm")
    services.run_advance(run_id=run.id)
    client.force_login(operator)
    svg = svg_of(client.get(f"/runs/{run.id}/").text)
    assert 'data-path="1" data-state="done"' in svg
    other = WorkflowRun.objects.get(id=registry.get("data_export").run("crm", user=operator).run_id)
    services.run_cancel(run_id=other.id, user=operator)
    svg = svg_of(client.get(f"/runs/{other.id}/").text)
    assert 'data-path="1" data-state="cancelled"' in svg


@pytest.mark.django_db
def test_run_page__without_a_registered_workflow_says_so(client, operator, paused_run):
    WorkflowRun.objects.filter(id=paused_run.id).update(workflow_name="gone_flow")
    client.force_login(operator)
    response = client.get(f"/runs/{paused_run.id}/")
    assert response.status_code == 200
    assert "not registered here any more: no graph to draw" in response.text
