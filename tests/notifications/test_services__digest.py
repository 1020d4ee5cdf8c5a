"""The daily digest: opt-in, once a day per person, what waits and what waited more than a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from notifications import services
from notifications.models import Delivery, Preference
from workflows import registry
from workflows.models import Requirement

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriber(mailed_reviewer, published):
    Preference.objects.create(user=mailed_reviewer, digest=True)
    old = Requirement.objects.get(run_id=registry.get("data_export").run("a").run_id)
    Requirement.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=2))
    registry.get("data_export").run("b")
    Delivery.objects.all().delete()  # the mails of their creation
    return mailed_reviewer


def test_once_a_day_whoever_asks(subscriber, make_user):
    make_user("nodigest", "resolve_requirement", email="n@example.com")
    now = timezone.now()
    assert services.digests_queue(now=now) == 1
    assert services.digests_queue(now=now) == 0
    assert services.digests_queue(now=now + timedelta(days=1)) == 1
    assert list(Delivery.objects.values_list("event", "target")) == [("digest", "rita@example.com")] * 2


def test_the_mail_lists_what_waits_and_marks_the_overdue(subscriber, smtp_server):
    services.digests_queue()
    assert services.deliveries_send() == 1
    ((to, message),) = smtp_server.messages
    assert to == ["rita@example.com"]
    assert message["Subject"] == "2 waiting for you (1 for more than a day)"
    text = message.get_body(("plain",)).get_content()
    assert text.count("data_export / export") == 2 and text.count("[overdue]") == 1
    assert "https://hitl.example.com/inbox/" in text


def test_the_sweep_queues_digests_from_the_configured_hour(subscriber, settings):
    settings.HITL_DIGEST_HOUR = 8
    settings.TIME_ZONE = "UTC"
    early = datetime(2026, 5, 4, 7, 59, tzinfo=UTC)
    assert "digests" not in services.sweep(now=early)
    assert services.sweep(now=early + timedelta(minutes=1))["digests"] == 1
    assert services.sweep(now=early + timedelta(hours=5))["digests"] == 0


def test_nothing_waiting_no_mail(mailed_reviewer, published, smtp_server):
    Preference.objects.create(user=mailed_reviewer, digest=True)
    assert services.digests_queue() == 1
    services.deliveries_send()
    assert smtp_server.messages == []
    assert Delivery.objects.get().status == "skipped"


def test_the_command(subscriber, capsys):
    call_command("send_digests")
    assert "1 digest(s) queued" in capsys.readouterr().out
