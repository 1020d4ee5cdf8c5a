"""Triage with the keyboard alone and bulk decisions, in Chromium against the forked server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from workflows import registry, services
from workflows.models import Requirement

pytestmark = pytest.mark.django_db(transaction=True)  # the test server reads what the tests write


@pytest.fixture
def inbox(asgi_live_server, page: Page, reviewer) -> Page:
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


def test_ten_confirmations_without_the_mouse(inbox: Page):
    reqs = [pending("data_export", f"batch {n}") for n in range(10)]
    inbox.reload()
    expect(inbox.get_by_role("checkbox", name="Select export")).to_have_count(10)
    keystrokes = []

    def press(key: str):
        keystrokes.append(key)
        inbox.keyboard.press(key)

    press("j")  # the first (newest) row
    expect(inbox.get_by_role("link", name="export").first).to_be_focused()
    press("Enter")
    for n in range(10):
        expected = reqs[n]  # the inbox's default order: what times out soonest (the oldest) first
        expect(inbox).to_have_url(re.compile(rf"/inbox/{expected.id}/"))
        # On arrival the primary action has focus: one key decides.
        expect(inbox.get_by_role("button", name="Confirm")).to_be_focused()
        press("a")
    expect(inbox.get_by_text("Nothing else is waiting for you.")).to_be_visible()
    assert Requirement.objects.filter(id__in=[r.id for r in reqs], status="RESOLVED").count() == 10
    # The first confirmation takes j, Enter, a; every next one a single a.
    assert keystrokes == ["j", "Enter"] + ["a"] * 10


def test_keys_are_listed_and_do_nothing_while_typing(inbox: Page, asgi_live_server):
    req = pending("data_export")
    inbox.goto(f"{asgi_live_server}/inbox/{req.id}/")
    expect(inbox.get_by_role("button", name="Confirm")).to_be_focused()
    inbox.keyboard.press("?")
    dialog = inbox.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text("Reject (moves to Feedback)")).to_be_visible()
    inbox.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    inbox.keyboard.press("r")
    feedback = inbox.get_by_label("Feedback")
    expect(feedback).to_be_focused()
    inbox.keyboard.type("a reason, and no shortcut fires")
    expect(feedback).to_have_value("a reason, and no shortcut fires")
    req.refresh_from_db()
    assert req.status == "PENDING"
    inbox.keyboard.press("Tab")
    expect(inbox.get_by_role("button", name="Reject")).to_be_focused()
    inbox.keyboard.press("Enter")
    expect(inbox.get_by_text("Rejected “export”")).to_be_visible()
    req.refresh_from_db()
    assert req.resolution == {"action": "reject", "feedback": "a reason, and no shortcut fires"}


def test_a_failed_submit_moves_focus_to_the_error_summary(inbox: Page, asgi_live_server):
    req = pending("trip_planner")
    inbox.goto(f"{asgi_live_server}/inbox/{req.id}/")
    city = inbox.get_by_label("city", exact=True)
    expect(city).to_be_focused()  # the first field
    inbox.keyboard.type("Oslo")
    inbox.get_by_label("days", exact=True).fill("0")
    inbox.get_by_label("days", exact=True).press("Enter")
    summary = inbox.locator("#error-summary")
    expect(summary).to_be_focused()
    link = summary.get_by_role("link", name="days: Must be at least 1.")
    expect(link).to_have_attribute("href", "#field-days")
    link.press("Enter")
    expect(inbox.get_by_label("days", exact=True)).to_be_focused()
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_bulk_approve_racing_another_reviewer(asgi_live_server, browser, reviewer, make_user):
    # Without JavaScript no live update removes the row the other reviewer decides: the race is
    # the server's to settle, item by item.
    first, second = pending("data_export", "a"), pending("refund_decision", "b")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(asgi_live_server + "/accounts/login/?next=/inbox/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("checkbox", name="Select export").check()
    page.get_by_role("checkbox", name="Select refund_or_voucher").check()
    # Another reviewer decides one of them first.
    other = make_user("otto", "resolve_requirement")
    services.requirement_resolve(requirement_id=second.id, user=other, action="reject", data={"feedback": "no"})
    page.get_by_role("button", name="Approve selected").click()
    expect(page.get_by_role("heading", name="Decided in bulk")).to_be_visible()
    expect(page.get_by_text("1 done, 1 already decided.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("export .* Confirmed"))).to_be_visible()
    expect(page.get_by_text("Already decided by otto: resolved")).to_be_visible()
    context.close()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.resolution == {"action": "confirm"}
    assert second.resolution == {"action": "reject", "feedback": "no"}


def test_ticks_survive_a_live_update(inbox: Page, browser, asgi_live_server, make_user):
    first = pending("data_export", "a")
    inbox.add_init_script("document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = true; });")
    inbox.reload()
    inbox.wait_for_function("() => window.__wsOpen === true")
    tick = inbox.locator(f'input[name="selected"][value^="{first.id}:"]')
    tick.check()
    # Someone starts another run through the server: the open inbox re-renders its table.
    make_user("otto", "start_run")
    other = browser.new_context().new_page()
    other.goto(asgi_live_server + "/accounts/login/?next=/workflows/data_export/")
    other.get_by_label("Username").fill("otto")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Log in").click()
    other.get_by_label("Input").fill("b")
    other.get_by_role("button", name="Start run").click()
    expect(inbox.get_by_role("checkbox", name="Select export")).to_have_count(2, timeout=10_000)
    expect(tick).to_be_checked()
    other.context.close()
    inbox.get_by_role("button", name="Approve selected").click()
    expect(inbox.get_by_text("1 done.")).to_be_visible()
    first.refresh_from_db()
    assert first.resolution == {"action": "confirm"}


def test_phone_filters_fold_and_focus_rings_stand_out(inbox: Page):
    pending("data_export")
    inbox.set_viewport_size({"width": 375, "height": 800})
    inbox.reload()
    search = inbox.get_by_label("Search")
    expect(search).to_be_hidden()
    inbox.get_by_text("Filters", exact=True).click()
    expect(search).to_be_visible()
    # The focus ring: yellow on the dark header, the primary blue on light surfaces (3:1 or more).
    header_link = inbox.locator(".site-header").get_by_role("link", name="Runs")
    header_link.focus()
    inbox.keyboard.press("Shift+Tab")
    inbox.keyboard.press("Tab")  # focus from the keyboard: :focus-visible applies
    ring = header_link.evaluate("e => [getComputedStyle(e).outlineColor, getComputedStyle(e).outlineWidth]")
    assert ring == ["rgb(255, 210, 77)", "3px"]
    row_link = inbox.locator("#inbox-rows .inbox-row__link").first
    row_link.focus()
    inbox.keyboard.press("Shift+Tab")
    inbox.keyboard.press("Tab")
    ring = row_link.evaluate("e => [getComputedStyle(e).outlineColor, getComputedStyle(e).outlineWidth]")
    assert ring == ["rgb(52, 81, 209)", "3px"]
    assert inbox.evaluate("document.documentElement.scrollWidth") <= 375


def test_runs_list_and_run_page_read_at_375px_without_sideways_scrolling(inbox: Page, asgi_live_server, reviewer):
    draft = pending("blog_post")
    services.requirement_resolve(
        requirement_id=draft.id, user=reviewer, action="edit", data={"output": "A much better draft"}
    )
    pending("data_export")
    inbox.set_viewport_size({"width": 375, "height": 800})
    # Tables other than the graph (a picture, with a list as its text alternative) fit the screen.
    overflowing = """() => [...document.querySelectorAll('.wf-scroll:not(.wf-graph), table')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.getAttribute('aria-label') || e.className)"""
    for url in ("/runs/", f"/runs/{draft.run_id}/"):
        inbox.goto(asgi_live_server + url)
        assert inbox.evaluate("document.documentElement.scrollWidth") <= 375, url
        assert inbox.evaluate(overflowing) == [], url
    expect(inbox.get_by_text("Edited output (− shown, + saved)")).to_be_visible()


def test_after_a_reject_the_revised_draft_is_offered_next(inbox: Page, asgi_live_server):
    older = pending("data_export")  # what "next" offered before: the next item in inbox order
    draft = pending("blog_post", "spring")
    inbox.goto(f"{asgi_live_server}/inbox/{draft.id}/")
    inbox.keyboard.press("r")
    inbox.keyboard.type("Mention the date")
    inbox.get_by_role("button", name="Reject").click()
    # The run drafts again in the server's worker; the page waits for it (or it is there already).
    revised = None
    for _ in range(100):
        revised = Requirement.objects.filter(run_id=draft.run_id, status="PENDING", attempt=1).first()
        if revised:
            break
        inbox.wait_for_timeout(100)
    assert revised is not None and revised.attempt == 1
    expect(inbox).to_have_url(re.compile(rf"/inbox/{revised.id}/"), timeout=10_000)
    expect(inbox.get_by_text("revised: Mention the date")).to_be_visible()
    expect(inbox.get_by_role("button", name="Approve")).to_be_focused()
    older.refresh_from_db()
    assert older.status == "PENDING"
