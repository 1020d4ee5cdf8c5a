"""A form whose text is not UTF-8 is refused (400) before any view, and changes nothing: Django
would have decoded it with replacement characters, stored as what the reviewer typed."""

from __future__ import annotations

import pytest

from workflows import registry
from workflows.models import Requirement

pytestmark = pytest.mark.django_db


def test_a_decision_form_with_bytes_that_are_not_utf8_is_refused(client, make_user):
    client.force_login(make_user("rita", "resolve_requirement"))
    run_id = registry.get("trip_planner").run("x").run_id
    req = Requirement.objects.get(run_id=run_id, status="PENDING")
    body = f"value-city=%ED%A0%80%FF&value-days=3&action=submit&version={req.version}"
    response = client.post(f"/inbox/{req.id}/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and b"UTF-8" in response.content
    assert Requirement.objects.get(id=req.id).is_pending

    # The same form in UTF-8 (percent-encoded or not, "+" for spaces) goes through.
    body = f"value-city=%C3%85les+und&value-days=3&action=submit&version={req.version}"
    response = client.post(f"/inbox/{req.id}/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 302
    assert Requirement.objects.get(id=req.id).resolution["values"]["city"] == "Åles und"
