"""The run page's workflow graph follows the run live (real Chromium, the real ASGI server)."""

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(page, base_url: str, username: str) -> None:
    page.goto(base_url + "/accounts/login/?next=/runs/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/runs/")


def test_a_node_changes_state_live_when_the_run_advances(asgi_live_server, browser, page, make_user, screenshot_dir):
    from workflows import registry
    from workflows.models import Requirement

    operator = make_user("olga", "start_run", "view_workflowrun", "view_requirement")
    make_user("rita", "resolve_requirement")
    run_id = registry.get("data_export").run("crm", user=operator).run_id
    requirement = Requirement.objects.get(run_id=run_id)

    page.add_init_script("document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = true; });")
    log_in(page, asgi_live_server, "olga")
    page.goto(f"{asgi_live_server}/runs/{run_id}/")
    graph = page.get_by_role("img", name="Workflow graph of data_export")
    expect(graph).to_be_visible()
    export_node = page.locator('svg [data-path="1"]')
    expect(export_node).to_have_attribute("data-state", "paused")
    expect(page.locator("#step-1")).to_contain_text("paused for a person")
    page.wait_for_function("() => window.__wsOpen === true")
    page.evaluate("window.__sameDocument = true")
    page.screenshot(path=screenshot_dir / "run_graph_paused.png", full_page=True)

    # A reviewer confirms in another browser; the server's worker finishes the run.
    other = browser.new_context().new_page()
    log_in(other, asgi_live_server, "rita")
    other.goto(f"{asgi_live_server}/inbox/{requirement.id}/")
    other.get_by_role("button", name="Confirm").click()

    expect(export_node).to_have_attribute("data-state", "done", timeout=10_000)
    expect(page.locator("#step-1")).to_contain_text("done")
    expect(page.locator("#run-status")).to_have_text("Completed")
    assert page.evaluate("window.__sameDocument") is True  # pushed over the socket, not reloaded
    page.screenshot(path=screenshot_dir / "run_graph_done.png", full_page=True)

    # Clicking a node shows its entry (attempts, requirement and decision).
    export_node.click()
    expect(page).to_have_url(f"{asgi_live_server}/runs/{run_id}/#step-1")
    expect(page.locator("#step-1")).to_contain_text("confirm by rita")
    other.context.close()


def test_wide_graph_stays_in_its_box_at_375px(asgi_live_server, page, make_user, screenshot_dir):
    make_user("olga", "start_run", "view_workflowrun")
    log_in(page, asgi_live_server, "olga")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{asgi_live_server}/workflows/release_checks/")
    expect(page.get_by_role("img", name="Workflow graph of release_checks")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # the page itself never scrolls sideways
    page.screenshot(path=screenshot_dir / "workflow_graph-375.png", full_page=True)
