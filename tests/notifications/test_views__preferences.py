"""/settings/notifications/: each person picks channels, a chat webhook and quiet hours; groups
give defaults; chat messages are Slack-compatible; quiet hours hold messages back."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from notifications import selectors, services
from notifications.models import Delivery, GroupPreference, Preference
from workflows import registry
from workflows.engine import HumanReview, Step, Workflow
from workflows.models import Requirement

pytestmark = pytest.mark.django_db
URL = "/settings/notifications/"


def test_the_page_needs_a_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_save_channels_and_quiet_hours(client, mailed_reviewer):
    client.force_login(mailed_reviewer)
    page = client.get(URL)
    assert page.status_code == 200
    for label in (b"Email", b"Chat", b"Browser", b"Chat webhook URL", b"Quiet hours from", b"Daily digest"):
        assert label in page.content
    response = client.post(
        URL,
        {"chat": "on", "chat_webhook_url": "https://hooks.example.com/T1", "quiet_from": "22:00", "quiet_to": "07:00"},
    )
    assert response.status_code == 302
    pref = Preference.objects.get(user=mailed_reviewer)
    assert (pref.email, pref.chat, pref.browser, pref.digest) == (False, True, False, False)
    assert (pref.quiet_from, pref.quiet_to) == (time(22), time(7))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"chat": "on"}, b"Chat needs the URL"),
        ({"chat_webhook_url": "not a url"}, b"Enter a valid URL"),
        ({"quiet_from": "22:00"}, b"both ends"),
        ({"quiet_from": "25:99", "quiet_to": "07:00"}, b"Enter a valid time"),
    ],
)
def test_bad_input_is_a_400_and_saves_nothing(client, mailed_reviewer, data, field):
    client.force_login(mailed_reviewer)
    response = client.post(URL, data)
    assert response.status_code == 400 and field in response.content
    assert not Preference.objects.exists()


def test_group_defaults_apply_to_members_without_preferences(make_user):
    group = Group.objects.create(name="legal")
    GroupPreference.objects.create(group=group, email=False, browser=True)
    member = make_user("lee", email="lee@example.com", groups=("legal",))
    assert selectors.channels_of(member).email is False
    Preference.objects.create(user=member, email=True)
    member = type(member).objects.get(id=member.id)
    assert selectors.channels_of(member).email is True  # their own choice wins
    assert selectors.channels_of(make_user("nobody")).email is True  # no group, no choice: mail on


def test_chat_messages_go_to_the_users_and_the_groups_webhooks(receiver, published, make_user, temp_workflow):
    lee = make_user("lee", groups=("legal",))
    Preference.objects.create(user=lee, email=False, chat=True, chat_webhook_url=receiver.url + "/lee")
    GroupPreference.objects.create(
        group=Group.objects.get(name="legal"), chat=True, chat_webhook_url=receiver.url + "/legal"
    )
    temp_workflow(
        Workflow(
            name="test_notify_chat",
            steps=[
                Step(
                    name="sign",
                    executor=lambda si: "ok",
                    human_review=HumanReview(
                        requires_confirmation=True, confirmation_message="Sign it?", groups=("legal",)
                    ),
                )
            ],
        )
    )
    out = registry.get("test_notify_chat").run("x")
    req = Requirement.objects.get(run_id=out.run_id)
    assert services.deliveries_send() == 2
    assert sorted(r.path for r in receiver.requests) == ["/hook/lee", "/hook/legal"]
    body = receiver.requests[0].json
    assert "test_notify_chat" in body["text"] and f"/inbox/{req.id}/" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["section", "context", "actions"]
    assert "Sign it?" in body["blocks"][0]["text"]["text"]
    assert receiver.requests[0].headers["X-HITL-Signature"] is None  # a chat webhook is not signed


def test_quiet_hours_hold_messages_until_they_end(mailed_reviewer, settings):
    settings.TIME_ZONE = "UTC"
    channels = selectors.Channels(quiet_from=time(22), quiet_to=time(7))
    night = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert selectors.quiet_until(channels, night) == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    early = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert selectors.quiet_until(channels, early) == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert selectors.quiet_until(channels, noon) == noon
    day = selectors.Channels(quiet_from=time(9), quiet_to=time(17))
    assert selectors.quiet_until(day, noon) == datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


def test_a_mail_created_in_quiet_hours_waits_for_their_end(mailed_reviewer, published):
    now = timezone.localtime()
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    Preference.objects.create(user=mailed_reviewer, quiet_from=start, quiet_to=end)
    registry.get("data_export").run("crm")
    mail = Delivery.objects.get(channel="email")
    assert mail.next_attempt_at > timezone.now() + timedelta(minutes=30)
    assert services.deliveries_send() == 0  # not due before the quiet hours end
