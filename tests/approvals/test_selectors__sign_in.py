"""workflows.web.live.user_still_signed_in: what live sockets check on each broadcast, in one query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory
from workflows.web import live

from .conftest import signed_in_session

pytestmark = pytest.mark.django_db


def test_one_query_and_a_fresh_user():
    rita = UserFactory(username="rita")
    sign_in = live.sign_in_of(signed_in_session(rita))
    with CaptureQueriesContext(connection) as queries:
        user = live.user_still_signed_in(sign_in)
    assert user == rita and user is not rita
    assert len(queries) == 1


def test_no_sign_in_without_a_signed_in_session():
    from django.contrib.sessions.backends.db import SessionStore

    assert live.sign_in_of(None) is None
    assert live.sign_in_of(SessionStore()) is None
    assert live.user_still_signed_in(None) is None


def test_an_expired_or_deleted_session_signs_nobody_in():
    rita = UserFactory(username="rita")
    session = signed_in_session(rita)
    sign_in = live.sign_in_of(session)
    session.delete()
    assert live.user_still_signed_in(sign_in) is None
