"""Every kind of decision through the real UI: Chromium against the forked daphne server.

The server is another process: test data is committed (``transactional_db``) and the server's own
worker (in-process in embedded mode) runs the continuations, as in production.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, UserFactory
from workflows import registry, services
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement, WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def logged_in(asgi_live_server, page: Page, reviewer) -> Page:
    page.set_default_timeout(10_000)
    page.goto(asgi_live_server + "/accounts/login/?next=/inbox/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    return page


def pending(workflow_name: str, input="x") -> Requirement:
    out = registry.get(workflow_name).run(input)
    return Requirement.objects.filter(run_id=out.run_id, status="PENDING").order_by("-created_at").first()


def wait_for(predicate, timeout: float = 8.0, what: str = "condition"):
    """Poll the database (bounded) for something the server or its worker does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def resolved(req: Requirement) -> Requirement:
    def check():
        req.refresh_from_db()
        return req if req.status == "RESOLVED" else None

    return wait_for(check, what=f"{req.kind} {req.id} to be RESOLVED")


def open_from_inbox(page: Page, base: str, req: Requirement, screenshot_dir, name: str):
    page.goto(base + "/inbox/")
    row = page.locator(f"#req-{req.id}")
    expect(row).to_be_visible()
    row.get_by_role("link", name=req.step_name).click()
    expect(page.get_by_role("heading", name=req.step_name, exact=True)).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=screenshot_dir / f"decide-{name}.png", full_page=True)


def expect_decided(page: Page, message: str):
    expect(page.locator(".message--success")).to_contain_text(message)


def test_inbox_lists_every_kind(asgi_live_server, logged_in: Page, screenshot_dir):
    reqs = [pending(name) for name in ("data_export", "trip_planner", "blog_post", "research_router", "inventory_sync")]
    page = logged_in
    page.goto(asgi_live_server + "/inbox/")
    for req in reqs:
        expect(page.locator(f"#req-{req.id}")).to_be_visible()
    expect(page.locator("#inbox-count")).to_contain_text("5")
    page.screenshot(path=screenshot_dir / "inbox.png", full_page=True)

    # Filters work through htmx (the table is swapped, the URL follows).
    page.get_by_label("Kind").select_option("output_review")
    expect(page.locator(".inbox-row")).to_have_count(1)
    expect(page).to_have_url(f"{asgi_live_server}/inbox/?q=&workflow=&kind=output_review&assigned=&sort=due")
    page.get_by_label("Kind").select_option("")
    page.get_by_label("Search").fill("trip")
    expect(page.locator(".inbox-row")).to_have_count(1)

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(asgi_live_server + "/inbox/")
    page.screenshot(path=screenshot_dir / "inbox-375.png", full_page=True)


def test_confirmation(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("data_export", "crm")
    page = logged_in
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "confirmation")
    expect(page.get_by_text("Export customer records to the warehouse?")).to_be_visible()
    expect(page.get_by_label("Feedback")).to_be_visible()
    page.get_by_role("button", name="Confirm").click()
    expect_decided(page, "Confirmed “export”")
    assert resolved(req).resolution == {"action": "confirm"}
    if settings.HITL_EMBEDDED:  # the server's worker finishes the run
        wait_for(lambda: WorkflowRun.objects.get(id=req.run_id).status == "COMPLETED", what="run to complete")


def test_back_after_a_decision_shows_it_decided_not_a_stale_form(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("data_export", "crm")
    page = logged_in
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "before-back")
    page.get_by_role("button", name="Confirm").click()
    expect_decided(page, "Confirmed “export”")
    page.go_back()
    expect(page.get_by_text("Resolved by")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm")).to_have_count(0)


def test_confirmation_reject_with_feedback_at_375px(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("refund_decision")
    page = logged_in
    page.set_viewport_size({"width": 375, "height": 800})
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "confirmation-375")
    page.get_by_label("Feedback").fill("Offer a voucher instead")
    page.get_by_role("button", name="Reject").click()
    expect_decided(page, "Rejected")
    assert resolved(req).resolution == {"action": "reject", "feedback": "Offer a voucher instead"}


def test_user_input(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("trip_planner")
    page = logged_in
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "user_input")
    page.get_by_label("days").fill("1.5")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#field-days-error")).to_have_text("Enter a whole number.")
    expect(page.locator("#field-city-error")).to_have_text("This field is required.")
    page.screenshot(path=screenshot_dir / "decide-user_input-errors.png", full_page=True)
    page.get_by_label("city").fill("Lisbon")
    page.get_by_label("days").fill("3")
    page.get_by_label("budget").check()
    page.get_by_label("pace").select_option("slow")
    page.get_by_role("button", name="Submit").click()
    expect_decided(page, "Submitted “plan”")
    assert resolved(req).resolution == {
        "action": "submit",
        "values": {"city": "Lisbon", "days": 3, "budget": True, "pace": "slow"},
    }


def test_output_review_edit(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("blog_post", "spring")
    page = logged_in
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "output_review")
    expect(page.get_by_text("Draft about spring")).to_be_visible()
    page.get_by_role("button", name="Edit").click()
    output = page.get_by_label("Output")
    expect(output).to_have_value("Draft about spring")
    output.fill("Draft about spring\nNow with <script>alert(1)</script> a second line")
    # The diff shows before anything is saved.
    expect(page.locator("#edit-diff .diff-add")).to_contain_text("+Now with <script>alert(1)</script> a second line")
    page.screenshot(path=screenshot_dir / "decide-output_review-edit.png", full_page=True)
    req.refresh_from_db()
    assert req.status == "PENDING"
    page.get_by_role("button", name="Save").click()
    expect_decided(page, "Saved your edit of “draft”")
    assert resolved(req).resolution == {
        "action": "edit",
        "output": "Draft about spring\nNow with <script>alert(1)</script> a second line",
    }
    assert "+Now with" in req.decisions.get().diff
    # The requirement's page now shows who decided and the diff of the edit.
    page.goto(f"{asgi_live_server}/inbox/{req.id}/")
    expect(page.get_by_text("Resolved by rita")).to_be_visible()
    expect(page.locator(".diff-add")).to_contain_text("+Now with <script>alert(1)</script> a second line")
    page.screenshot(path=screenshot_dir / "decided-output_review.png", full_page=True)


def test_output_review_approve(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("blog_post")
    page = logged_in
    page.goto(f"{asgi_live_server}/inbox/{req.id}/")
    page.get_by_role("button", name="Approve").click()
    expect_decided(page, "Approved “draft”")
    assert resolved(req).resolution == {"action": "confirm"}


def test_route_selection(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("research_router")
    page = logged_in
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "route_selection")
    page.get_by_role("button", name="Select").click()
    expect(page.locator("#choices-error")).to_have_text("Select at least one route.")
    page.get_by_label("deep").check()
    page.get_by_label("expert").check()
    page.get_by_role("button", name="Select").click()
    expect_decided(page, "Selected a route for “choose_research”")
    assert resolved(req).resolution == {"action": "select", "choices": ["deep", "expert"]}


def test_iteration_review(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("copy_refiner", "Ship")
    page = logged_in
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "iteration_review")
    page.get_by_label("Feedback").fill("punchier")
    page.get_by_role("button", name="Reject").click()
    expect_decided(page, "Rejected “refine”")
    assert resolved(req).resolution == {"action": "reject", "feedback": "punchier"}
    if not settings.HITL_EMBEDDED:
        return
    # The worker runs the next iteration, which asks again; accept it from the inbox.
    second = wait_for(
        lambda: Requirement.objects.filter(run_id=req.run_id, status="PENDING").first(), what="iteration 2"
    )
    assert second.payload["iteration"] == 2
    page.goto(f"{asgi_live_server}/inbox/{second.id}/")
    expect(page.locator("pre.output").first).to_have_text("Ship+ [punchier]")
    page.get_by_role("button", name="Accept").click()
    expect_decided(page, "Accepted “refine”")
    assert resolved(second).resolution == {"action": "confirm"}


def test_error_retry(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("inventory_sync")
    page = logged_in
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "error")
    expect(page.locator(".card--danger")).to_contain_text("ConnectionError: inventory service unavailable")
    page.get_by_role("button", name="Retry").click()
    expect_decided(page, "Retrying “sync”")
    assert resolved(req).resolution == {"action": "retry"}
    if settings.HITL_EMBEDDED:
        wait_for(lambda: WorkflowRun.objects.get(id=req.run_id).status == "COMPLETED", what="run to complete")


def test_error_skip(asgi_live_server, logged_in: Page):
    req = pending("inventory_sync")
    page = logged_in
    page.goto(f"{asgi_live_server}/inbox/{req.id}/")
    page.get_by_role("button", name="Skip").click()
    expect_decided(page, "Skipped “sync”")
    assert resolved(req).resolution == {"action": "skip"}


def test_external_execution(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("support_agent")
    page = logged_in
    open_from_inbox(page, asgi_live_server, req, screenshot_dir, "external_execution")
    expect(page.get_by_text("lookup_contract").first).to_be_visible()
    page.get_by_label("Result").fill("Contract 7, gold tier")
    page.get_by_role("button", name="Submit").click()
    expect_decided(page, "Submitted the result of “resolve_ticket”")
    assert resolved(req).resolution == {"action": "provide_result", "result": "Contract 7, gold tier"}


def test_executor_confirmation_and_user_input(asgi_live_server, logged_in: Page, screenshot_dir):
    # Answer the external call here, so the agent's next turn (two tool calls) is waiting.
    first = pending("support_agent")
    admin = UserFactory(username="setup-admin", superuser=True)
    services.requirement_resolve(requirement_id=first.id, user=admin, action="provide_result", data={"result": "ok"})
    services.run_advance(run_id=first.run_id)
    batch = {r.kind: r for r in Requirement.objects.filter(run_id=first.run_id, status="PENDING")}
    confirm, tool_input = batch["executor_confirmation"], batch["executor_user_input"]

    page = logged_in
    open_from_inbox(page, asgi_live_server, confirm, screenshot_dir, "executor_confirmation")
    expect(page.get_by_text("ops@acme.test", exact=True)).to_be_visible()
    expect(page.get_by_label("Arguments")).to_be_hidden()  # folded until the reviewer edits
    page.get_by_role("button", name="Confirm").click()
    expect_decided(page, "Confirmed “resolve_ticket”")
    assert resolved(confirm).resolution == {"action": "confirm"}
    # The next item is the other call of the same turn.
    expect(page).to_have_url(f"{asgi_live_server}/inbox/{tool_input.id}/")
    page.screenshot(path=screenshot_dir / "decide-executor_user_input.png", full_page=True)
    page.get_by_label("amount").fill("25")
    page.get_by_role("button", name="Submit").click()
    expect_decided(page, "Submitted “resolve_ticket”")
    assert resolved(tool_input).resolution == {"action": "submit", "values": {"amount": 25}}
    if settings.HITL_EMBEDDED:  # both calls answered: the agent finishes, its output waits for review
        wait_for(
            lambda: Requirement.objects.filter(run_id=first.run_id, kind="output_review", status="PENDING").exists(),
            what="the output review after the tool calls",
        )


def test_assignment_boundary(asgi_live_server, logged_in: Page, screenshot_dir):
    from django.contrib.auth.models import Group

    Group.objects.create(name="finance")
    wf = Workflow(
        name="finance_only",
        steps=[
            Step(
                name="pay",
                executor=lambda si: "paid",
                human_review=HumanReview(requires_confirmation=True, groups=["finance"]),
            )
        ],
    )
    foreign = Requirement.objects.get(run_id=wf.run("x").run_id)
    mine = pending("data_export")
    page = logged_in
    page.goto(asgi_live_server + "/inbox/")
    expect(page.locator(f"#req-{mine.id}")).to_be_visible()
    expect(page.locator(f"#req-{foreign.id}")).to_have_count(0)
    response = page.goto(f"{asgi_live_server}/inbox/{foreign.id}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    page.screenshot(path=screenshot_dir / "not-found.png")


def test_already_resolved_elsewhere_is_a_conflict(asgi_live_server, logged_in: Page, screenshot_dir):
    req = pending("data_export")
    page = logged_in
    page.goto(f"{asgi_live_server}/inbox/{req.id}/")
    bob = UserFactory(username="bob", superuser=True)
    services.requirement_resolve(requirement_id=req.id, user=bob, action="reject", data={"feedback": "no"})
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("already resolved by bob")).to_be_visible()
    page.screenshot(path=screenshot_dir / "conflict.png", full_page=True)
    req.refresh_from_db()
    assert req.resolution == {"action": "reject", "feedback": "no"}


def test_works_without_javascript(asgi_live_server, browser, reviewer, screenshot_dir):
    req = pending("blog_post", "spring")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(asgi_live_server + "/accounts/login/?next=/inbox/")
        page.get_by_label("Username").fill("rita")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="draft").click()
        page.get_by_role("button", name="Edit").click()
        page.get_by_label("Output").fill("Draft about summer")
        page.get_by_role("button", name="Save").click()
        # Without the live diff, Save shows the diff first and applies nothing yet.
        expect(page.locator(".diff-add")).to_contain_text("+Draft about summer")
        page.screenshot(path=screenshot_dir / "decide-output_review-preview-nojs.png", full_page=True)
        req.refresh_from_db()
        assert req.status == "PENDING"
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".message--success")).to_contain_text("Saved your edit")
        assert resolved(req).resolution == {"action": "edit", "output": "Draft about summer"}
    finally:
        context.close()
