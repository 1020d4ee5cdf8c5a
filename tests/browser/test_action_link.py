"""A decide-from-the-message link, end to end: a real mail (aiosmtpd) carries it, the browser
opens it logged out, logs in, confirms on the page it shows, and the run goes on."""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import Page, expect

from notifications import services as notifications
from notifications.models import Delivery
from tests.factories import PASSWORD
from workflows import registry
from workflows.models import Requirement, WorkflowRun

from .test_decisions import wait_for


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp(asgi_live_server, settings):
    """Started after the test server forked (a fork copies no threads, and warns of them)."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }
    yield mailbox
    controller.stop()


def test_open_the_link_from_the_mail_confirm_and_the_run_goes_on(
    asgi_live_server, page: Page, transactional_db, make_user, smtp, settings, screenshot_dir
):
    settings.HITL_BASE_URL = asgi_live_server
    make_user("rita", "resolve_requirement", email="rita@example.com")
    later = timezone.now() + timedelta(days=1)
    with transaction.atomic():
        run_id = registry.get("data_export").run("crm").run_id
        # Held back from the server's own sweeper, which would send it first (to its own mailer).
        Delivery.objects.filter(requirement__run_id=run_id).update(next_attempt_at=later)
    assert notifications.deliveries_send(now=later) == 1
    (mail,) = smtp.messages
    text = mail.get_body(("plain",)).get_content()
    (link,) = [word for word in text.split() if "/act/" in word]
    assert link.startswith(asgi_live_server + "/inbox/")

    page.set_default_timeout(10_000)
    page.goto(link)  # logged out: the login page first, then back to the link
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Confirm “export”?")).to_be_visible()
    req = Requirement.objects.get(run_id=run_id)
    assert req.status == "PENDING"  # opening it decided nothing
    page.screenshot(path=screenshot_dir / "action-link-confirm.png", full_page=True)
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator(".message--success")).to_contain_text("export")
    expect(page.get_by_text("Resolved by rita")).to_be_visible()
    wait_for(lambda: WorkflowRun.objects.get(id=run_id).status == "COMPLETED", what="the run to complete")
    page.reload()
    expect(page.locator(".status--completed").first).to_have_text("Completed")
    page.goto(link)  # a second time: used
    expect(page.get_by_role("heading", name="This link was already used")).to_be_visible()
