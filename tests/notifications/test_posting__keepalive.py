"""Webhooks go out over kept-alive connections (``notifications.posting``): one connection carries
the POSTs of many deliveries and passes, a connection the endpoint closed is replaced, and what
urllib did for the sender (proxies) still holds."""

from __future__ import annotations

import time
import urllib.request

import pytest

from notifications import posting, services
from notifications.models import Delivery
from workflows import registry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_connections():
    posting.close_all()  # none kept from another test's endpoint on a reused port
    yield
    posting.close_all()


def queue(count: int = 1) -> None:
    for i in range(count):
        registry.get("data_export").run(f"crm{i}")  # a requirement.created delivery each


def statuses():
    return sorted(Delivery.objects.values_list("status", "attempts"))


def test_the_posts_of_several_passes_share_one_connection(keepalive_receiver, published):
    services.webhook_create(url=keepalive_receiver.url, events=["requirement.created"])
    queue(3)
    assert services.deliveries_send() == 3
    queue(2)
    assert services.deliveries_send() == 2
    assert len(keepalive_receiver.requests) == 5
    assert len({r.peer for r in keepalive_receiver.requests}) == 1
    assert statuses() == [("delivered", 1)] * 5


def test_an_endpoint_that_closes_every_connection_gets_one_per_post(receiver, published):
    services.webhook_create(url=receiver.url, events=["requirement.created"])
    queue(3)
    assert services.deliveries_send() == 3
    assert len({r.peer for r in receiver.requests}) == 3


def test_a_connection_the_endpoint_closed_while_idle_is_replaced(keepalive_receiver, published):
    services.webhook_create(url=keepalive_receiver.url, events=["requirement.created"])
    keepalive_receiver.answers = ["drop"]  # answered, then closed without a word
    queue()
    assert services.deliveries_send() == 1
    time.sleep(0.05)
    queue()
    assert services.deliveries_send() == 1
    first, second = keepalive_receiver.requests
    assert first.peer != second.peer
    assert statuses() == [("delivered", 1)] * 2


def test_a_post_on_a_connection_closed_as_it_was_reused_goes_once_more_on_a_new_one(
    keepalive_receiver, published, monkeypatch
):
    monkeypatch.setattr(posting, "_dropped", lambda sock: False)  # the close lands after the check
    services.webhook_create(url=keepalive_receiver.url, events=["requirement.created"])
    keepalive_receiver.answers = ["drop"]
    queue()
    assert services.deliveries_send() == 1
    time.sleep(0.05)
    queue()
    assert services.deliveries_send() == 1
    assert len(keepalive_receiver.requests) == 2
    assert statuses() == [("delivered", 1)] * 2


def test_a_failure_on_a_new_connection_is_not_sent_again_in_the_pass(published, settings):
    settings.HITL_WEBHOOK_TIMEOUT = 0.5
    services.webhook_create(url="http://127.0.0.1:9/refused", events=["requirement.created"])
    queue()
    assert services.deliveries_send() == 0
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "refused" in delivery.last_error.lower()


def test_many_deliveries_to_one_endpoint_go_out_side_by_side_all_delivered(keepalive_receiver, published):
    services.webhook_create(url=keepalive_receiver.url, events=["requirement.created"])
    queue(services.SEND_CHUNK * 2 + 3)  # three turns, on the sending threads
    assert services.deliveries_send() == services.SEND_CHUNK * 2 + 3
    ids = [r.json["id"] for r in keepalive_receiver.requests]
    assert sorted(ids) == sorted(str(i) for i in Delivery.objects.values_list("id", flat=True))
    assert 1 < len({r.peer for r in keepalive_receiver.requests}) <= 3


def test_a_redirect_is_a_failed_attempt_not_a_delivery(keepalive_receiver, published):
    services.webhook_create(url=keepalive_receiver.url, events=["requirement.created"])
    keepalive_receiver.answers = [301]
    queue()
    assert services.deliveries_send() == 0
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.response_code) == ("pending", 301)
    assert "HTTP 301" in delivery.last_error


def test_an_endpoint_behind_a_proxy_is_posted_through_the_proxy(keepalive_receiver, published, monkeypatch):
    proxy = keepalive_receiver.url.rsplit("/", 1)[0]  # the receiver plays the proxy
    for name in ("no_proxy", "NO_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    services.webhook_create(url="http://hooks.example.invalid/in", events=["requirement.created"])
    queue()
    assert services.deliveries_send() == 1
    (got,) = keepalive_receiver.requests
    assert got.path == "http://hooks.example.invalid/in"  # the proxy's form of the request line
    assert got.headers["X-HITL-Event"] == "requirement.created"
    # Nothing of it stays in the process: once the proxy is gone, urllib goes straight there.
    monkeypatch.delenv("HTTP_PROXY")
    urllib.request.urlopen(urllib.request.Request(keepalive_receiver.url, data=b"{}"), timeout=5).close()
    assert keepalive_receiver.requests[-1].path == "/hook"
