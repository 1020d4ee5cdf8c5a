"""Real Chromium against the forked daphne server (the ASGI app as served)."""

from playwright.sync_api import expect


def test_login_page_in_chromium(asgi_live_server, page, screenshot_dir):
    page.goto(asgi_live_server + "/accounts/login/")
    expect(page).to_have_title("Log in | HITL Approvals")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    # htmx comes from django-htmx's static files, served by the ASGI app (no CDN).
    page.wait_for_function("() => typeof window.htmx === 'object'", timeout=5000)
    page.screenshot(path=screenshot_dir / "login.png")
