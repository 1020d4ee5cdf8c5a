"""Every page of the app passes axe-core with no violation at all, at 1280 px and at 375 px (real
Chromium; axe-core 4 as bundled by the pinned axe-playwright-python, no CDN)."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1280, 375)


def violations(results) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in results.response["violations"]
    ]


def _pending(name: str, user, input="x"):
    from workflows import registry
    from workflows.models import Requirement

    run_id = registry.get(name).run(input, user=user).run_id
    return Requirement.objects.filter(run_id=run_id, status="PENDING").order_by("-created_at").first()


def test_every_page_has_no_axe_violation(asgi_live_server, browser):
    from workflows import services
    from workflows.models import Requirement

    admin = UserFactory(username="ada", superuser=True)
    reqs = {name: _pending(name, admin) for name in ("data_export", "trip_planner", "blog_post", "research_router")}
    reqs["copy_refiner"] = _pending("copy_refiner", admin)
    reqs["inventory_sync"] = _pending("inventory_sync", admin)
    agent = _pending("support_agent", admin)
    reqs["support_agent"] = agent
    services.requirement_resolve(requirement_id=agent.id, user=admin, action="provide_result", data={"result": "ok"})
    services.run_advance(run_id=agent.run_id)
    tools = Requirement.objects.filter(run_id=agent.run_id, status="PENDING")
    decided = _pending("data_export", admin)
    services.requirement_resolve(requirement_id=decided.id, user=admin, action="reject", data={"feedback": "no"})
    edited = _pending("blog_post", admin)
    services.requirement_resolve(requirement_id=edited.id, user=admin, action="edit", data={"output": "a better draft"})

    urls = ["/inbox/", "/inbox/?kind=confirmation", "/runs/", "/workflows/", "/workflows/trip_planner/", "/analytics/"]
    urls += [f"/inbox/{req.id}/" for req in reqs.values()] + [f"/inbox/{req.id}/" for req in tools]
    urls += [f"/inbox/{reqs['blog_post'].id}/?edit=1", f"/inbox/{decided.id}/", f"/inbox/{edited.id}/"]
    urls += [f"/runs/{reqs['data_export'].run_id}/", f"/runs/{edited.run_id}/", f"/runs/{agent.run_id}/"]

    context = browser.new_context(bypass_csp=True)  # axe is injected by the test, not by the page
    page = context.new_page()
    page.goto(asgi_live_server + "/accounts/login/")
    axe = Axe()
    problems = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(asgi_live_server + "/accounts/login/")
        found = violations(axe.run(page))
        if found:
            problems[f"login @{width}"] = found
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for url in urls:
            page.goto(asgi_live_server + url)
            found = violations(axe.run(page))
            if found:
                problems[f"{url} @{width}"] = found
        # The pages a POST answers: a failed submit, the bulk report, the keys dialog.
        page.goto(f"{asgi_live_server}/inbox/{reqs['trip_planner'].id}/")
        page.get_by_label("days", exact=True).fill("0")
        page.get_by_role("button", name="Submit").click()
        page.locator("#error-summary").wait_for()
        page.keyboard.press("?")
        page.get_by_role("dialog", name="Keyboard shortcuts").wait_for()
        found = violations(axe.run(page))
        if found:
            problems[f"failed submit and keys @{width}"] = found
        page.keyboard.press("Escape")
        page.goto(asgi_live_server + "/inbox/")
        page.locator("#inbox-rows input[type=checkbox]").first.check()
        page.get_by_role("button", name="Reject selected").click()
        page.get_by_role("heading", name="Decided in bulk").wait_for()
        found = violations(axe.run(page))
        if found:
            problems[f"bulk report @{width}"] = found
        # A decision someone else made first: the conflict page.
        late = _pending("data_export", admin)
        page.goto(f"{asgi_live_server}/inbox/{late.id}/")
        services.requirement_resolve(requirement_id=late.id, user=admin, action="confirm")
        page.get_by_role("button", name="Confirm").click()
        page.get_by_role("heading", name="Already resolved").wait_for()
        found = violations(axe.run(page))
        if found:
            problems[f"conflict @{width}"] = found
    context.close()
    assert problems == {}, "\n".join(f"{where}: {found}" for where, found in problems.items())
