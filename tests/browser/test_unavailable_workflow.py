"""A run whose workflow this deployment does not have (here: never registered in the server), as a
reviewer sees it in Chromium: marked in the inbox, on its decision page (no decision form) and on
its run page; and an assignment typo on its decision page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement

pytestmark = pytest.mark.django_db(transaction=True)

NOTICE = "Workflow not available in this deployment"


def test_a_reviewer_sees_that_the_workflow_is_not_available(asgi_live_server, page, reviewer, screenshot_dir):
    retired = Workflow(
        name="retired_flow",  # registered nowhere: the server cannot continue its runs
        steps=[
            Step(name="approve_payment", executor=lambda si: 1, human_review=HumanReview(requires_confirmation=True))
        ],
    )
    out = retired.run("x", user=reviewer)  # started by the reviewer: they may open its run page
    req = Requirement.objects.get(run_id=out.run_id)

    page.set_default_timeout(10_000)
    page.goto(asgi_live_server + "/accounts/login/?next=/inbox/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    row = page.locator(f"#req-{req.id}")
    expect(row).to_contain_text("workflow not available in this deployment")

    row.get_by_role("link", name="approve_payment").click()
    expect(page.get_by_role("heading", name="approve_payment", exact=True)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(NOTICE)
    expect(page.get_by_role("button", name="Confirm")).to_have_count(0)
    page.screenshot(path=screenshot_dir / "decide-workflow-unavailable.png", full_page=True)

    page.goto(f"{asgi_live_server}/runs/{out.run_id}/")
    expect(page.locator("#run-workflow-unavailable")).to_contain_text(NOTICE)
    assert Requirement.objects.get(id=req.id).status == "PENDING"


def test_an_assignment_typo_shows_on_the_decision_page(asgi_live_server, page, reviewer):
    from django.contrib.auth.models import Group

    reviewer.groups.add(Group.objects.create(name="reviewers"))
    typo = Workflow(
        name="typo_flow",
        steps=[
            Step(
                name="sign_contract",
                executor=lambda si: 1,
                human_review=HumanReview(requires_confirmation=True, groups=["finanse", "reviewers"]),
            )
        ],
    )
    req = Requirement.objects.get(run_id=typo.run("x").run_id)

    page.set_default_timeout(10_000)
    page.goto(f"{asgi_live_server}/accounts/login/?next=/inbox/{req.id}/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="sign_contract", exact=True)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="unknown group")).to_have_text(
        "Assigned to unknown group finanse"
    )
