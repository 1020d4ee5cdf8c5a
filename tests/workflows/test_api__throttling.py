"""The API under sign-in throttling: invalid tokens count against their address, and a locked-out
address gets 429 in the API's error shape, whichever way it authenticates."""

from __future__ import annotations

import pytest

from workflows.web.tokens import token_create

pytestmark = pytest.mark.django_db

LIMIT = 3
URL = "/api/v1/requirements"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def call(client, token, address="10.0.0.1"):
    return client.get(URL, headers={"Authorization": f"Bearer {token}"}, REMOTE_ADDR=address)


def test_guessing_tokens_gets_429_in_the_api_error_shape(client, reviewer):
    _, token = token_create(user=reviewer)
    for _ in range(LIMIT - 1):
        assert call(client, "hitl_guess").status_code == 401
    last = call(client, "hitl_guess")  # the failure that reaches the limit
    assert last.status_code == 429
    for response in (last, call(client, token)):  # now even a valid token, from this address
        assert response.status_code == 429
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "error": "Too many failed sign-ins or invalid tokens; try again later.",
            "code": "throttled",
        }
    assert call(client, token)["Retry-After"] == "900"
    assert call(client, token, address="10.0.0.2").status_code == 200  # other addresses are not locked


def test_token_guesses_from_many_addresses_lock_none_of_the_others(client, reviewer):
    _, token = token_create(user=reviewer)
    for n in range(LIMIT * 2):
        assert call(client, "hitl_guess", address=f"10.0.1.{n}").status_code == 401
    assert call(client, token, address="10.0.2.1").status_code == 200


def test_a_session_from_a_locked_out_address_gets_429(client, reviewer):
    for n in range(LIMIT):
        client.post("/accounts/login/", {"username": f"guess{n}", "password": "x"}, REMOTE_ADDR="10.0.3.1")
    client.force_login(reviewer)
    response = client.get(URL, REMOTE_ADDR="10.0.3.1")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert client.get(URL, REMOTE_ADDR="10.0.3.2").status_code == 200


def test_a_token_stops_working_when_its_user_is_deactivated_or_loses_a_usable_password(client, reviewer):
    _, token = token_create(user=reviewer)
    assert call(client, token).status_code == 200
    reviewer.set_unusable_password()
    reviewer.save()
    response = call(client, token)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    reviewer.set_password("again")
    reviewer.save()
    assert call(client, token).status_code == 200
    reviewer.is_active = False
    reviewer.save()
    assert call(client, token).status_code == 401


def test_no_token_is_made_for_a_user_without_a_usable_password(db):
    from django.core.management import CommandError, call_command

    from tests.factories import UserFactory
    from workflows.web.tokens import TokenRefused

    sso = UserFactory(username="sso", password=None)  # signs in elsewhere: no usable password
    with pytest.raises(CommandError, match="no usable password"):
        call_command("create_api_token", "sso")
    with pytest.raises(TokenRefused):
        token_create(user=sso)
