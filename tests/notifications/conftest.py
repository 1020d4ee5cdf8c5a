"""Real receivers for the notifications tests: an HTTP server on 127.0.0.1 that records webhook
POSTs and answers as told (status codes, slowness), and an SMTP server (aiosmtpd) that keeps the
mails it receives. Plus a reviewer with an address, and the publishing of deliveries recorded instead of sent."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications import services


@dataclass
class Received:
    path: str
    headers: object  # the request's headers (case-insensitive)
    body: bytes
    peer: tuple = ()  # the sender's address and port: one per connection

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the endpoint got; ``answers`` are popped per request (status, ("sleep", s), or
    "drop": answer 200, then close the connection without saying so, as an idle timeout does)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list = field(default_factory=list)
    default: int = 200


@contextmanager
def _serving(protocol_version: str):
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.requests.append(Received(self.path, self.headers, body, self.client_address))
                answer = state.answers.pop(0) if state.answers else state.default
            if isinstance(answer, tuple):  # ("sleep", seconds): slower than the sender waits
                time.sleep(answer[1])
                answer = 200
            if answer == "drop":
                self.close_connection = True  # after this response, with no "Connection: close"
                answer = 200
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    Handler.protocol_version = protocol_version

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the sender connects 16 at once (the default backlog is 5)
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver():
    """An endpoint that closes each connection after its response (HTTP/1.0)."""
    with _serving("HTTP/1.0") as state:
        yield state


@pytest.fixture
def keepalive_receiver():
    """An endpoint that keeps connections open between requests (HTTP/1.1), as most do."""
    with _serving("HTTP/1.1") as state:
        yield state


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1; Django's SMTP backend is pointed at it."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port (the controller's own check cannot use port 0)
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
    settings.HITL_BASE_URL = "https://hitl.example.com"
    yield mailbox
    controller.stop()


@pytest.fixture
def published(monkeypatch):
    """Delivery ids published after commit (to Celery in services mode), recorded instead."""
    sent: list[list[str]] = []
    monkeypatch.setattr(services, "publish", lambda ids, **options: sent.append(ids))
    return sent


@pytest.fixture
def mailed_reviewer(make_user):
    """The reviewer with an email address, so notifications mail them (no other user has one)."""
    return make_user("rita", "resolve_requirement", email="rita@example.com")
