"""The admin's run, requirement and event pages pass axe-core with no serious or critical
violation (real Chromium; axe-core 4 as bundled by axe-playwright-python)."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def serious(results) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_admin_run_pages_have_no_serious_axe_violations(asgi_live_server, browser):
    from workflows import registry, services
    from workflows.models import Requirement, RunEvent

    admin = UserFactory(username="ada", superuser=True)
    paused = registry.get("data_export").run("crm", user=admin).run_id
    decided = registry.get("blog_post").run("launch", user=admin).run_id
    requirement = Requirement.objects.get(run_id=decided)
    services.requirement_resolve(requirement_id=requirement.id, user=admin, action="edit", data={"output": "better"})
    event = RunEvent.objects.filter(run_id=paused).first()

    # CSP is the site's business; axe is injected by the test, not by the page.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(asgi_live_server + "/admin/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")

    axe = Axe()
    urls = [
        reverse("admin:workflows_workflowrun_changelist"),
        reverse("admin:workflows_workflowrun_changelist") + f"?q={str(paused)[:8]}",
        reverse("admin:workflows_workflowrun_changelist") + "?pause_kind=none",
        reverse("admin:workflows_workflowrun_change", args=[paused]),
        reverse("admin:workflows_workflowrun_change", args=[decided]),
        reverse("admin:workflows_requirement_changelist"),
        reverse("admin:workflows_requirement_change", args=[requirement.id]),
        reverse("admin:workflows_runevent_changelist"),
        reverse("admin:workflows_runevent_change", args=[event.pk]),
    ]
    problems = {}
    for url in urls:
        page.goto(asgi_live_server + url)
        found = serious(axe.run(page))
        if found:
            problems[url] = found
    context.close()
    assert problems == {}
