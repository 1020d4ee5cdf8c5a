"""The admin's run, requirement and event pages: id-prefix search, inlines, readable JSON and ids."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from workflows import services
from workflows.admin import uuid_prefix_lookup
from workflows.models import Requirement, RunEvent, WorkflowRun

pytestmark = pytest.mark.django_db


def admin_url(model, action: str, *args) -> str:
    return reverse(f"admin:workflows_{model._meta.model_name}_{action}", args=args)


@pytest.fixture
def other_run(operator) -> WorkflowRun:
    return WorkflowRun.objects.create(workflow_name="blog_post", created_by=operator)


@pytest.mark.parametrize("model", [WorkflowRun, Requirement, RunEvent], ids=lambda m: m.__name__)
@pytest.mark.parametrize("length", [8, 13, 36])
def test_search__by_the_start_of_the_run_id(admin_client, paused_run, other_run, model, length):
    prefix = str(paused_run.id)[:length]
    text = admin_client.get(admin_url(model, "changelist"), {"q": prefix}).text
    assert f'title="{paused_run.id}"' in text
    assert f'title="{other_run.id}"' not in text


def test_search__upper_case_and_no_hyphens_work_too(admin_client, paused_run, other_run):
    prefix = str(paused_run.id).replace("-", "")[:12].upper()
    text = admin_client.get(admin_url(WorkflowRun, "changelist"), {"q": prefix}).text
    assert f'title="{paused_run.id}"' in text and f'title="{other_run.id}"' not in text


def test_search__words_still_search_the_other_fields(admin_client, paused_run, other_run):
    text = admin_client.get(admin_url(WorkflowRun, "changelist"), {"q": "blog_post"}).text
    assert f'title="{other_run.id}"' in text and f'title="{paused_run.id}"' not in text


def test_uuid_prefix_lookup__refuses_what_is_no_id():
    for term in ("", "abc", "data_export", "g1234567", "x" * 40, "-" * 8):
        assert uuid_prefix_lookup(term) is None
    assert uuid_prefix_lookup(" ABCDEF12 ") is not None


def test_changelist__ids_are_short_and_do_not_wrap(admin_client, paused_run):
    text = admin_client.get(admin_url(WorkflowRun, "changelist")).text
    short = str(paused_run.id)[:8]
    assert f'<code class="hitl-admin-id" title="{paused_run.id}">{short}</code>' in text
    assert "workflows/admin.css" in text


def test_changelist__pause_kind_filter_links_all_have_names(admin_client, paused_run):
    text = admin_client.get(admin_url(WorkflowRun, "changelist")).text
    section = text[text.index("By pause kind") :]
    section = section[: section.index("</ul>")]
    names = re.findall(r"<a [^>]*>([^<]*)</a>", section)
    assert names and all(name.strip() for name in names)
    assert "Not paused" in names
    paused = admin_client.get(admin_url(WorkflowRun, "changelist"), {"pause_kind": "step"}).text
    assert f'title="{paused_run.id}"' in paused
    not_paused = admin_client.get(admin_url(WorkflowRun, "changelist"), {"pause_kind": "none"}).text
    assert f'title="{paused_run.id}"' not in not_paused


def test_run_page__events_requirements_and_decisions_inline_with_pretty_json(
    admin_client, paused_run, reviewer, django_capture_on_commit_callbacks
):
    req = paused_run.requirements.get()
    services.requirement_resolve(requirement_id=req.id, user=reviewer, action="reject", data={"feedback": "not now"})
    text = admin_client.get(admin_url(WorkflowRun, "change", paused_run.id)).text
    assert "Run events" in text and "StepPaused" in text and "WorkflowStarted" in text
    assert "Decisions" in text and "rita" in text
    assert '<pre class="hitl-admin-json">{\n  &quot;feedback&quot;: &quot;not now&quot;\n}</pre>' in text
    assert '<pre class="hitl-admin-json">crm</pre>' in text  # the input (text as it is)
    assert 'name="_save"' not in text


def test_requirement_and_event_pages_pretty_print_their_json(admin_client, paused_run):
    req = paused_run.requirements.get()
    text = admin_client.get(admin_url(Requirement, "change", req.id)).text
    assert re.search(r'<pre class="hitl-admin-json">\{\n  &quot;', text)
    event = RunEvent.objects.filter(run=paused_run, event="StepCompleted").first()
    text = admin_client.get(admin_url(RunEvent, "change", event.pk)).text
    assert re.search(r'<pre class="hitl-admin-json">\{\n  &quot;content&quot;', text)


def test_unknown_id_prefix_finds_nothing(admin_client, paused_run):
    prefix = uuid.uuid4().hex[:8]
    while str(paused_run.id).startswith(prefix):
        prefix = uuid.uuid4().hex[:8]
    text = admin_client.get(admin_url(WorkflowRun, "changelist"), {"q": prefix}).text
    assert f'title="{paused_run.id}"' not in text
