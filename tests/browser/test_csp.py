"""The pages work under the Content-Security-Policy: htmx, its ws extension and the app's script
load from static files, live pushes arrive, and the browser reports no violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from workflows import registry
from workflows.models import Requirement

pytestmark = pytest.mark.django_db(transaction=True)  # the test server reads what the tests write

# Collects what the browser refuses under the policy (and the socket's openings) from the start.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
});
document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = (window.__wsOpen || 0) + 1; });
"""


def watched(page: Page, console: list[str]) -> Page:
    page.set_default_timeout(10_000)
    page.add_init_script(WATCH)
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    return page


def test_inbox_and_a_decision_work_under_the_policy(asgi_live_server, browser, reviewer, screenshot_dir):
    run = registry.get("data_export").run("crm")
    req = Requirement.objects.get(run_id=run.run_id, status="PENDING")
    context = browser.new_context()
    console: list[str] = []
    inbox = watched(context.new_page(), console)
    response = inbox.goto(asgi_live_server + "/accounts/login/?next=/inbox/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy
    inbox.get_by_label("Username").fill("rita")
    inbox.get_by_label("Password").fill(PASSWORD)
    inbox.get_by_role("button", name="Log in").click()
    expect(inbox.get_by_role("heading", name="Inbox")).to_be_visible()
    inbox.wait_for_function("() => window.__wsOpen >= 1")  # the socket opened (connect-src)
    row = inbox.locator(f"#req-{req.id}")
    expect(row).to_be_visible()
    inbox.get_by_label("Search").fill("export")  # an htmx request swaps the table
    expect(inbox).to_have_url(f"{asgi_live_server}/inbox/?q=export&workflow=&kind=&assigned=&sort=due")
    expect(row).to_be_visible()

    decide = watched(context.new_page(), console)
    decide.goto(asgi_live_server + f"/inbox/{req.id}/")
    expect(decide.get_by_role("heading", name=req.step_name, exact=True)).to_be_visible()
    decide.get_by_role("button", name="Confirm").click()
    expect(decide.locator(".message--success")).to_contain_text("Confirmed")
    expect(row).to_have_count(0)  # pushed to the open inbox over the socket
    decide.screenshot(path=screenshot_dir / "csp-decided.png", full_page=True)

    for page in (inbox, decide):
        assert page.evaluate("window.__violations") == []
    assert [line for line in console if "Content Security Policy" in line or "error" in line.split(":")[0]] == []
    context.close()
