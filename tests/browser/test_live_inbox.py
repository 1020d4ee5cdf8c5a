"""Live updates in a real browser: a requirement created and then resolved elsewhere appears in,
then disappears from, an open inbox without a reload (htmx ws extension over the consumer)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.factories import PASSWORD

WS_OPEN = "document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = (window.__wsOpen || 0) + 1; });"


@pytest.fixture
def people(transactional_db, make_user):
    return make_user("rita", "resolve_requirement"), make_user("otto", "start_run", "resolve_requirement")


def login(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)
    page.add_init_script(WS_OPEN)
    page.goto(base + "/accounts/login/?next=/inbox/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    return page


def test_open_inbox_follows_new_and_resolved_requirements(asgi_live_server, browser, people, screenshot_dir):
    reviewer = login(browser, asgi_live_server, "rita")
    reviewer.wait_for_function("() => window.__wsOpen >= 1")
    expect(reviewer.get_by_text("Nothing is waiting for you")).to_be_visible()
    reviewer.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    # Someone else starts a run; the server's worker pauses it; rita's open page shows it.
    operator = login(browser, asgi_live_server, "otto")
    operator.goto(asgi_live_server + "/workflows/data_export/")
    operator.get_by_label("Input").fill("acme")
    operator.get_by_role("button", name="Start run").click()
    row = reviewer.locator("tr.inbox-row", has_text="export")
    expect(row).to_be_visible()
    expect(reviewer.locator("#inbox-count")).to_contain_text("1")
    # Only the count is announced: the table is not a live region, a status line says what changed.
    expect(reviewer.locator("#inbox-table")).not_to_have_attribute("aria-live", "polite")
    expect(reviewer.locator("#inbox-announce")).to_have_text("1 pending")
    reviewer.screenshot(path=screenshot_dir / "inbox-live.png", full_page=True)

    # otto resolves it; it leaves rita's inbox, still without a reload.
    operator.goto(asgi_live_server + "/inbox/")
    operator.locator("tr.inbox-row", has_text="export").get_by_role("link").click()
    operator.get_by_role("button", name="Confirm").click()
    expect(row).to_have_count(0)
    expect(reviewer.get_by_text("Nothing is waiting for you")).to_be_visible()
    expect(reviewer.locator("#inbox-announce")).to_have_text("0 pending")
    assert reviewer.evaluate("window.__sameDocument") is True
    assert reviewer.evaluate("window.__wsOpen") == 1  # pushes did not reconnect the socket
