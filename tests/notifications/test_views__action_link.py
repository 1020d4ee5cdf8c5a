"""/inbox/<id>/act/<token>/: a GET shows a confirm page and never decides; the POST decides once,
as the link's own user, through the exactly-once path; used, expired, stale, altered and other
people's links are refused with a page that says why."""

from __future__ import annotations

import pytest
from django.test import Client

from approvals.models import Decision
from notifications import links
from notifications.models import UsedActionToken
from workflows import registry
from workflows import services as workflow_services
from workflows.models import Requirement

pytestmark = pytest.mark.django_db


@pytest.fixture
def req(sent_runs) -> Requirement:
    out = registry.get("data_export").run("crm")
    return Requirement.objects.get(run_id=out.run_id)


@pytest.fixture
def logged_in(mailed_reviewer) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(mailed_reviewer)
    return client


def csrf_post(client: Client, url: str):
    page = client.get(url)
    token = page.context["csrf_token"] if page.context else client.cookies["csrftoken"].value
    return client.post(url, {"csrfmiddlewaretoken": str(token)})


def test_get_shows_a_confirm_page_and_decides_nothing(logged_in, mailed_reviewer, req):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    assert url.startswith(f"/inbox/{req.id}/act/")
    for _ in range(3):  # a scanner, a preview, the person
        page = logged_in.get(url)
        assert page.status_code == 200
        assert b"Confirm" in page.content and b"Export customer records to the warehouse?" in page.content
        assert b'method="post"' in page.content
    req.refresh_from_db()
    assert req.status == "PENDING" and not Decision.objects.exists()
    assert logged_in.head(url).status_code == 405


def test_post_decides_once_through_the_audited_path(
    logged_in, mailed_reviewer, req, sent_runs, django_capture_on_commit_callbacks
):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    with django_capture_on_commit_callbacks(execute=True):
        response = csrf_post(logged_in, url)
    assert response.status_code == 302 and response["Location"] == f"/inbox/{req.id}/"
    req.refresh_from_db()
    assert (req.status, req.resolution["action"], req.resolved_by) == ("RESOLVED", "confirm", mailed_reviewer)
    decision = Decision.objects.get(requirement=req)
    assert (decision.user, decision.action, decision.data) == (mailed_reviewer, "confirm", {"via": "link"})
    assert UsedActionToken.objects.get().requirement == req
    assert sent_runs == [str(req.run_id)]  # the run continues

    again = logged_in.get(url)
    assert again.status_code == 410 and b"already used" in again.content
    assert csrf_post(logged_in, url).status_code == 410
    assert Decision.objects.count() == 1


def test_a_post_without_csrf_is_refused(logged_in, mailed_reviewer, req):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    assert logged_in.post(url).status_code == 403
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_logged_out_goes_to_the_login_page_first(mailed_reviewer, req):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/inbox/")


def test_another_users_link_is_refused(make_user, mailed_reviewer, req):
    other = make_user("otto", "resolve_requirement")
    client = Client()
    client.force_login(other)
    url = links.action_url(user=mailed_reviewer, requirement=req)
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 403 and b"sent to someone else" in response.content
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_a_link_to_a_decided_requirement_is_stale(logged_in, mailed_reviewer, req):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    workflow_services.requirement_resolve(requirement_id=req.id, user=mailed_reviewer, action="reject")
    response = logged_in.get(url)
    assert response.status_code == 410 and b"changed since the message was sent" in response.content
    assert b"resolved" in response.content
    assert csrf_post(logged_in, url).status_code == 410
    assert Decision.objects.get().action == "reject"


def test_a_link_to_an_older_version_is_stale(logged_in, mailed_reviewer, req):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    Requirement.objects.filter(id=req.id).update(version=req.version + 1)  # e.g. re-asked
    assert logged_in.get(url).status_code == 410
    req.refresh_from_db()
    assert req.status == "PENDING"


def test_an_expired_link_is_refused(logged_in, mailed_reviewer, req, settings):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    settings.HITL_ACTION_LINK_SECONDS = -1
    response = logged_in.get(url)
    assert response.status_code == 410 and b"expired" in response.content


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: "nonsense", lambda t: t.upper()])
def test_an_altered_link_is_refused(logged_in, mailed_reviewer, req, mangle):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    token = url.rstrip("/").rsplit("/", 1)[1]
    response = logged_in.get(f"/inbox/{req.id}/act/{mangle(token)}/")
    assert response.status_code == 400 and b"not valid" in response.content


def test_a_link_for_one_requirement_does_not_open_another(logged_in, mailed_reviewer, req):
    other = Requirement.objects.get(run_id=registry.get("data_export").run("crm").run_id)
    token = links.action_url(user=mailed_reviewer, requirement=req).rstrip("/").rsplit("/", 1)[1]
    assert logged_in.get(f"/inbox/{other.id}/act/{token}/").status_code == 400


def test_links_exist_for_confirmations_and_output_reviews_only(mailed_reviewer, req):
    req.kind = "user_input"
    assert links.action_url(user=mailed_reviewer, requirement=req) is None
    req.kind = "output_review"
    assert links.action_url(user=mailed_reviewer, requirement=req) is not None


def test_a_user_no_longer_assigned_cannot_use_their_link(logged_in, mailed_reviewer, req):
    from django.contrib.auth.models import Permission

    url = links.action_url(user=mailed_reviewer, requirement=req)
    mailed_reviewer.user_permissions.remove(Permission.objects.get(codename="resolve_requirement"))
    response = csrf_post(logged_in, url)
    assert response.status_code == 403
    req.refresh_from_db()
    assert req.status == "PENDING" and not UsedActionToken.objects.exists()


def test_the_mail_carries_a_link_bound_to_its_recipient(smtp_server, published, mailed_reviewer, req):
    from notifications import services

    services.deliveries_send()
    ((_, message),) = smtp_server.messages
    text = message.get_body(("plain",)).get_content()
    prefix = f"https://hitl.example.com/inbox/{req.id}/act/"
    (line,) = [word for word in text.split() if word.startswith(prefix)]
    token = line.removeprefix(prefix).rstrip("/")
    assert links.check(token, user=mailed_reviewer, requirement_id=req.id).action == "confirm"


def test_the_starter_of_a_four_eyes_run_is_not_asked_and_their_link_cannot_decide(make_user, mailed_reviewer):
    from notifications import selectors

    sam = make_user("sam", "resolve_requirement", "start_run", email="sam@example.com")
    out = registry.get("payment_release").run("invoice 7", user=sam)
    req = Requirement.objects.get(run_id=out.run_id, status="PENDING")
    asked = {user.username for user, _ in selectors.deciders_with_channels(req)}
    assert "rita" in asked and "sam" not in asked  # no mail, no chat message for the starter

    client = Client(enforce_csrf_checks=True)
    client.force_login(sam)
    url = links.action_url(user=sam, requirement=req)  # a link made for him all the same
    page = client.get(url)
    assert (
        page.status_code == 403 and b"Separation of duties" in page.content and b">Confirm</button>" not in page.content
    )
    response = client.post(url, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 403 and b"Nothing was decided" in response.content
    req.refresh_from_db()
    assert req.status == "PENDING" and not Decision.objects.exists()


def test_a_link_to_what_someone_else_claimed_says_who(logged_in, mailed_reviewer, req, make_user):
    url = links.action_url(user=mailed_reviewer, requirement=req)
    workflow_services.requirement_claim(requirement_id=req.id, user=make_user("carl", "resolve_requirement"))
    page = logged_in.get(url)
    assert page.status_code == 409 and b"Claimed by carl" in page.content
    req.refresh_from_db()
    assert req.status == "PENDING"
