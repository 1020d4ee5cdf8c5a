"""API tokens in the admin: made only for oneself (a superuser: for anyone), listed only to their
owner, never for a user whose token would not work."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from workflows.models import ApiToken
from workflows.web.tokens import token_create

pytestmark = pytest.mark.django_db

ADD = reverse("admin:workflows_apitoken_add")
LIST = reverse("admin:workflows_apitoken_changelist")


@pytest.fixture
def token_clerk(make_user):
    """Staff, allowed to add, view and delete API tokens; not a superuser."""
    return make_user("clerk", "add_apitoken", "view_apitoken", "delete_apitoken", staff=True)


def test_staff_cannot_mint_a_token_for_someone_else(client, token_clerk, admin_user):
    client.force_login(token_clerk)
    page = client.get(ADD)
    assert page.status_code == 200
    assert 'name="user"' not in page.text  # no choice of user
    response = client.post(ADD, {"user": admin_user.pk}, follow=True)
    assert response.status_code == 200
    assert not ApiToken.objects.filter(user=admin_user).exists()
    token = ApiToken.objects.get()
    assert token.user == token_clerk  # theirs, whatever the POST said
    assert "API token for clerk: hitl_" in response.text


def test_staff_see_only_their_own_tokens(client, token_clerk, admin_user):
    theirs, _ = token_create(user=admin_user)
    mine, _ = token_create(user=token_clerk)
    client.force_login(token_clerk)
    text = client.get(LIST).text
    assert mine.digest[:12] in text
    assert theirs.digest[:12] not in text
    assert client.get(reverse("admin:workflows_apitoken_change", args=[theirs.pk])).status_code in (302, 404)
    assert client.post(reverse("admin:workflows_apitoken_delete", args=[theirs.pk]), {"post": "yes"}).status_code in (
        302,
        404,
    )
    assert ApiToken.objects.filter(pk=theirs.pk).exists()


def test_a_superuser_mints_for_anyone_able_to_use_it(admin_client, token_clerk):
    response = admin_client.post(ADD, {"user": token_clerk.pk}, follow=True)
    assert response.status_code == 200
    assert ApiToken.objects.filter(user=token_clerk).exists()
    sso = UserFactory(username="sso", password=None)  # signs in elsewhere: no usable password
    response = admin_client.post(ADD, {"user": sso.pk})
    assert response.status_code == 200  # the form again, with the error
    assert "no usable password" in response.text
    assert not ApiToken.objects.filter(user=sso).exists()
