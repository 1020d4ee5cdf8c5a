"""An operator starts a run from the catalogue, watches it pause, and cancels it (real Chromium)."""

import time

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/accounts/login/?next=/workflows/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/workflows/")


def test_operator_starts_watches_and_cancels_a_run(asgi_live_server, page, operator, screenshot_dir):
    log_in(page, asgi_live_server, "olga", PASSWORD)
    expect(page.get_by_role("heading", name="Workflows", level=1)).to_be_visible()

    page.get_by_role("link", name="data_export").click()
    expect(page.get_by_role("heading", name="data_export", level=1)).to_be_visible()
    expect(page.get_by_text("Confirmation: “Export customer records to the warehouse?”")).to_be_visible()
    page.screenshot(path=screenshot_dir / "workflow_detail.png", full_page=True)

    page.get_by_label("Input").fill('{"source": "crm"}')
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url("**/runs/*/")
    run_url = page.url

    # The in-process worker of the forked server runs the run in the background.
    status = page.locator("#run-status")
    deadline = time.monotonic() + 10
    while status.inner_text() != "Paused":
        assert time.monotonic() < deadline, f"the run did not pause within 10 s (status {status.inner_text()})"
        time.sleep(0.3)
        page.reload()
    expect(page.get_by_role("cell", name="Export customer records to the warehouse?", exact=True)).to_be_visible()
    expect(page.get_by_role("rowheader", name="fetch Step")).to_be_visible()
    page.screenshot(path=screenshot_dir / "run_detail_paused.png", full_page=True)

    # Cancelling asks why first; without a reason nothing happens.
    page.get_by_text("Cancel this run…").click()
    page.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#run-status")).to_have_text("Paused")
    page.get_by_label("Reason").fill("Exported by hand instead")
    page.get_by_role("button", name="Cancel run").click()
    page.wait_for_url(run_url)
    expect(page.locator("#run-cancel-reason")).to_have_text("Exported by hand instead")
    expect(page.locator("#run-status")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(page.get_by_text("Run cancelled.")).to_be_visible()
    page.screenshot(path=screenshot_dir / "run_detail_cancelled.png", full_page=True)

    page.goto(asgi_live_server + "/runs/")
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=f"Run {run_url.rstrip('/').rsplit('/', 1)[-1]}")).to_be_visible()
    page.screenshot(path=screenshot_dir / "runs.png", full_page=True)


def test_start_form_errors_are_shown_next_to_the_field(asgi_live_server, page, operator):
    log_in(page, asgi_live_server, "olga", PASSWORD)
    page.goto(asgi_live_server + "/workflows/blog_post/")
    page.get_by_label("Input").fill("launch")
    page.get_by_label("Additional data").fill("[1, 2]")
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_text("Must be a JSON object (in curly braces).")).to_be_visible()
    expect(page.get_by_label("Additional data")).to_have_attribute("aria-invalid", "true")


def test_run_page_follows_changes_without_reload(asgi_live_server, browser, page, operator):
    from workflows import registry

    run_id = registry.get("data_export").run("crm", user=operator).run_id
    page.add_init_script("document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = true; });")
    log_in(page, asgi_live_server, "olga", PASSWORD)
    page.goto(f"{asgi_live_server}/runs/{run_id}/")
    expect(page.locator("#run-status")).to_have_text("Paused")
    page.wait_for_function("() => window.__wsOpen === true")
    page.evaluate("window.__sameDocument = true")
    # Cancelled elsewhere (another browser, through the server): the change is pushed to this page.
    other = browser.new_context().new_page()
    log_in(other, asgi_live_server, "olga", PASSWORD)
    other.goto(f"{asgi_live_server}/runs/{run_id}/")
    other.get_by_text("Cancel this run…").click()
    other.get_by_label("Reason").fill("Started twice")
    other.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("Cancelled", timeout=5_000)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
