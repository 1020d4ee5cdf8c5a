"""Sign-in throttling (django-axes): per username and per address, a clear page, 429s."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def alice():
    return UserFactory(username="alice", password="right-password")


def sign_in(client, username, password, address="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_wrong_passwords_lock_the_account_with_a_clear_message(client, alice):
    for _ in range(LIMIT - 1):
        response = sign_in(client, "alice", "wrong")
        assert response.status_code == 200  # the form again, with its error
    response = sign_in(client, "alice", "wrong")
    assert response.status_code == 429
    response = sign_in(client, "alice", "right-password")  # even the right one, for now
    assert response.status_code == 429
    assert not signed_in(client)
    text = response.text
    assert "Too many failed sign-ins" in text and f"after {LIMIT} failed attempts" in text
    assert "Try again in 15 minutes." in text
    assert response["Retry-After"] == "900"


def test_the_account_is_locked_from_every_address(client, alice):
    for n in range(LIMIT):
        sign_in(client, "alice", "wrong", address=f"10.0.1.{n}")
    assert sign_in(client, "alice", "right-password", address="10.0.2.1").status_code == 429
    UserFactory(username="bob", password="bobs-password")
    assert sign_in(client, "bob", "bobs-password", address="10.0.2.1").status_code == 302  # others are not


def test_an_address_is_locked_for_every_username(client, alice):
    for n in range(LIMIT):
        sign_in(client, f"guess{n}", "wrong", address="10.0.3.1")  # one failure per username
    assert sign_in(client, "alice", "right-password", address="10.0.3.1").status_code == 429
    assert sign_in(client, "alice", "right-password", address="10.0.3.2").status_code == 302


def test_a_forwarded_address_is_not_believed_without_a_trusted_proxy(client, alice):
    for n in range(LIMIT):
        client.post(
            "/accounts/login/",
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="10.0.4.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    assert sign_in(client, "alice", "right-password", address="10.0.4.1").status_code == 429


def test_the_cool_off_ends_the_lockout(client, alice, settings):
    from datetime import timedelta

    for _ in range(LIMIT):
        sign_in(client, "alice", "wrong")
    settings.AXES_COOLOFF_TIME = timedelta(seconds=0)
    assert sign_in(client, "alice", "right-password").status_code == 302


def test_behind_trusted_proxies_the_address_they_saw_counts(client, alice, settings):
    settings.HITL_TRUSTED_PROXIES = 1
    for n in range(LIMIT):  # one client behind the proxy, spoofing a new address each time
        client.post(
            "/accounts/login/",
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.254",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.7",
        )
    locked = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "right-password"},
        REMOTE_ADDR="10.0.0.254",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert locked.status_code == 429
    other = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "right-password"},
        REMOTE_ADDR="10.0.0.254",
        HTTP_X_FORWARDED_FOR="198.51.100.8",
    )
    assert other.status_code == 302  # another client behind the same proxy is not locked
