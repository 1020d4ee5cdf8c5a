"""Desktop notifications from the inbox tab: permission asked from the button only (never on
load); a row arriving while the tab is in the background shows a notification."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from notifications.models import Preference
from tests.factories import PASSWORD

# A recording Notification (the real one shows nothing headless) and a tab we can send to the
# background: document.hidden follows window.__hidden.
FAKES = """
window.__notified = []; window.__asked = 0;
let permission = "default";
window.Notification = class {
  constructor(title, options) { window.__notified.push({title: title, body: (options || {}).body}); }
  static get permission() { return permission; }
  static requestPermission() { window.__asked += 1; permission = "granted"; return Promise.resolve(permission); }
};
Object.defineProperty(document, "hidden", {get: () => Boolean(window.__hidden)});
document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = (window.__wsOpen || 0) + 1; });
"""


@pytest.fixture
def people(transactional_db, make_user):
    return make_user("rita", "resolve_requirement"), make_user("otto", "start_run")


def login(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)
    page.add_init_script(FAKES)
    page.goto(base + "/accounts/login/?next=/inbox/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    return page


def start_run(browser: Browser, base: str) -> None:
    operator = login(browser, base, "otto")
    operator.goto(base + "/workflows/data_export/")
    operator.get_by_label("Input").fill("acme")
    operator.get_by_role("button", name="Start run").click()
    operator.context.close()


def test_asked_from_the_button_then_notified_in_the_background(asgi_live_server, browser, people):
    page = login(browser, asgi_live_server, "rita")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    page.wait_for_function("() => window.__wsOpen >= 1")
    assert page.evaluate("window.__asked") == 0  # never on load
    button = page.get_by_role("button", name="Enable desktop notifications")
    button.click()
    expect(button).to_be_hidden()
    assert page.evaluate("window.__asked") == 1

    page.evaluate("window.__hidden = true")  # the reviewer switched to another tab
    start_run(browser, asgi_live_server)
    expect(page.locator("tr.inbox-row", has_text="export")).to_be_visible()
    page.wait_for_function("() => window.__notified.length >= 1")
    (notice,) = page.evaluate("window.__notified")
    assert notice["title"] == "Waiting for you: export" and "data_export" in notice["body"]


def test_a_visible_tab_is_not_notified_and_the_channel_can_be_off(asgi_live_server, browser, people):
    rita, _ = people
    page = login(browser, asgi_live_server, "rita")
    page.wait_for_function("() => window.__wsOpen >= 1")
    page.get_by_role("button", name="Enable desktop notifications").click()
    start_run(browser, asgi_live_server)
    expect(page.locator("tr.inbox-row", has_text="export")).to_be_visible()
    assert page.evaluate("window.__notified") == []  # the tab was in front

    Preference.objects.create(user=rita, browser=False)
    page.reload()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_role("button", name="Enable desktop notifications")).to_have_count(0)
