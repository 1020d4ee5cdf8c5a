"""/analytics/ in a real browser: charts and tables, legible at 375 px, filters without JS."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import PASSWORD, RequirementFactory, WorkflowRunFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_operator_reads_and_filters_the_dashboard(asgi_live_server, page, make_user, screenshot_dir):
    make_user("olga", "view_workflowrun")
    now = timezone.now()
    for i, (workflow, status) in enumerate([("data_export", "COMPLETED"), ("blog_post", "CANCELLED")] * 3):
        run = WorkflowRunFactory(workflow_name=workflow, status=status, finished_at=now - timedelta(days=i))
        RequirementFactory(
            run=run,
            status="RESOLVED",
            resolution={"action": "confirm" if i % 2 else "reject"},
            resolved_by_name="rita",
            created_at=now - timedelta(days=i, minutes=10 + i),
            resolved_at=now - timedelta(days=i),
        )

    page.goto(asgi_live_server + "/accounts/login/?next=/analytics/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()
    expect(page.get_by_role("img", name="Chart: Decisions per day")).to_be_visible()
    expect(page.get_by_role("img", name="Chart: Runs ended per workflow")).to_be_visible()
    expect(page.get_by_role("region", name="Time to decision per workflow", exact=True)).to_contain_text("data_export")
    page.screenshot(path=screenshot_dir / "analytics.png", full_page=True)

    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=screenshot_dir / "analytics-375.png", full_page=True)

    page.get_by_label("Workflow", exact=True).select_option("blog_post")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#analytics-period")).to_contain_text("workflow blog_post")
    expect(page.get_by_role("region", name="Runs ended per workflow", exact=True)).not_to_contain_text("data_export")
