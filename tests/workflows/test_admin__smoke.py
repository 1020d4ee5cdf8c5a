"""The admin shows every workflows model, read-only, and cancels runs through the service."""

from __future__ import annotations

import pytest
from django.urls import reverse

from workflows.models import ApiToken, Requirement, RunEvent, StepRun, WorkflowRun
from workflows.web.tokens import token_digest

pytestmark = pytest.mark.django_db

MODELS = [WorkflowRun, StepRun, Requirement, RunEvent, ApiToken]


def admin_url(model, action: str, *args) -> str:
    return reverse(f"admin:workflows_{model._meta.model_name}_{action}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelists_render(admin_client, paused_run, model):
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_pages_render_read_only(admin_client, admin_user, paused_run, model):
    from workflows.web.tokens import token_create

    token_create(user=admin_user)
    obj = model.objects.first()
    response = admin_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert 'name="_save"' not in response.text


def test_changelist_filters_and_search(admin_client, paused_run):
    url = admin_url(WorkflowRun, "changelist")
    assert str(paused_run.id) in admin_client.get(url, {"status__exact": "PAUSED"}).text
    assert str(paused_run.id) not in admin_client.get(url, {"status__exact": "COMPLETED"}).text
    assert str(paused_run.id) in admin_client.get(url, {"q": "data_export"}).text
    assert admin_client.get(admin_url(Requirement, "changelist"), {"q": "export"}).status_code == 200
    assert admin_client.get(admin_url(RunEvent, "changelist"), {"event__exact": "StepPaused"}).status_code == 200


def test_a_run_is_shown_read_only_with_its_steps_and_requirements(admin_client, paused_run):
    response = admin_client.get(admin_url(WorkflowRun, "change", paused_run.id))
    assert response.status_code == 200
    text = response.text
    assert "fetch" in text and "export" in text  # step run and requirement inlines
    assert f"/runs/{paused_run.id}/" in text
    assert 'name="_save"' not in text  # no save button: read-only


@pytest.mark.parametrize("model", [WorkflowRun, StepRun, Requirement, RunEvent], ids=lambda m: m.__name__)
def test_no_adding_engine_rows(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 403


def test_posting_a_change_to_a_run_is_refused(admin_client, paused_run):
    response = admin_client.post(admin_url(WorkflowRun, "change", paused_run.id), {"status": "COMPLETED"})
    assert response.status_code == 403
    paused_run.refresh_from_db()
    assert paused_run.status == "PAUSED"


def test_cancel_action_goes_through_the_service(admin_client, paused_run):
    response = admin_client.post(
        admin_url(WorkflowRun, "changelist"),
        {"action": "cancel_runs", "_selected_action": [str(paused_run.id)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Cancelled 1 run(s)." in response.text
    paused_run.refresh_from_db()
    assert paused_run.status == "CANCELLED"
    assert paused_run.requirements.get().status == "CANCELLED"
    assert paused_run.events.filter(event="WorkflowCancelled").exists()


def test_adding_a_token_shows_it_once(admin_client, admin_user):
    response = admin_client.post(admin_url(ApiToken, "add"), {"user": admin_user.id}, follow=True)
    assert response.status_code == 200
    row = ApiToken.objects.get()
    [message] = [str(m) for m in response.context["messages"] if str(m).startswith("API token for")]
    token = message.split(": ", 1)[1].split(" ")[0]
    assert row.digest == token_digest(token)
    assert token not in admin_client.get(admin_url(ApiToken, "changelist")).text
