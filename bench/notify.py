"""Notifications: 1,000 requirements created, then their 1,000 mails and 1,000 webhooks sent.

On a scratch SQLite database (as bench/inbox.py), with loopback receivers only: an SMTP server
(aiosmtpd) and an HTTP endpoint (http.server) on 127.0.0.1, in a process of their own. Reports:

1. creating the requirements (one paused run each) with notifications on (a webhook endpoint
   listening, a reviewer with an address) against off, side by side: what queuing the
   deliveries in the creating transactions costs;
2. sending them all (``deliveries_send`` passes, as the sweeper runs them): deliveries per
   second, and that every mail and every webhook arrived exactly once.

    .venv/bin/python bench/notify.py [--quick]
"""

from __future__ import annotations

import multiprocessing
import queue
import socket
import sys
import tempfile
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def _receivers(ready, ids, stop) -> None:
    """In a process of its own (its own GIL): an SMTP server and an HTTP endpoint on 127.0.0.1
    that put the X-HITL-Delivery id of what they receive on ``ids``."""
    from aiosmtpd.controller import Controller

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):
            ids.put(("mail", message_from_bytes(envelope.content)["X-HITL-Delivery"]))
            return "250 OK"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ids.put(("webhook", self.headers["X-HITL-Delivery"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    port = _free_port()
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the sender connects 16 at once (the default backlog is 5)
        daemon_threads = True

    http = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    ready.put((port, f"http://127.0.0.1:{http.server_address[1]}/hook"))
    stop.wait()
    smtp.stop()
    http.shutdown()
    ids.close()
    ids.join_thread()  # everything received is on the queue before this process ends


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _create(workflow, n: int) -> float:
    began = time.perf_counter()
    for i in range(n):
        workflow.run(i)
    return n / (time.perf_counter() - began)


def main(quick: bool = False) -> list[dict]:
    from engine_bench import _setup

    n = 200 if quick else 1000
    ready, ids, stop = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Event()
    receivers = multiprocessing.Process(target=_receivers, args=(ready, ids, stop), daemon=True)
    receivers.start()
    port, url = ready.get(timeout=30)
    with tempfile.TemporaryDirectory(prefix="hitl-notify-bench-") as tmp:
        _setup(str(Path(tmp) / "notify.sqlite3"))
        from django.conf import settings
        from django.contrib.auth.models import Permission, User

        from notifications import services
        from notifications.models import EVENTS, Delivery
        from workflows import registry
        from workflows.engine import HumanReview, Step, Workflow

        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
            }
        }
        try:
            gate = HumanReview(requires_confirmation=True)
            workflow = registry.register(
                Workflow(name="bench_notify", steps=[Step(name="gate", executor=lambda si: "ok", human_review=gate)])
            )
            user = User.objects.create_user("bench")
            user.user_permissions.add(Permission.objects.get(codename="resolve_requirement"))

            off_per_s = _create(workflow, n)  # nobody listens, nobody has an address
            Delivery.objects.all().delete()
            User.objects.filter(id=user.id).update(email="bench@example.com")
            services.webhook_create(url=url, events=list(EVENTS))
            on_per_s = _create(workflow, n)
            queued = Delivery.objects.filter(status="pending").count()

            began = time.perf_counter()
            for _ in range(4 * n // 500 + 10):  # bounded: passes of 500, with room for retries
                services.deliveries_send(limit=500)
                if not Delivery.objects.filter(status="pending").exists():
                    break
            sent_s = time.perf_counter() - began
            delivered = Delivery.objects.filter(status="delivered").count()
            errors = sorted(set(Delivery.objects.exclude(last_error="").values_list("last_error", flat=True)))
        finally:
            stop.set()
            receivers.join(10)
    got = {"mail": [], "webhook": []}
    while True:  # bounded: the receivers stopped, the queue drains
        try:
            channel, delivery_id = ids.get(timeout=2)
        except queue.Empty:
            break
        got[channel].append(delivery_id)
    mails, posted = got["mail"], got["webhook"]
    ok = len(mails) == n == len(set(mails)) and len(posted) == n == len(set(posted))
    if errors:
        print("delivery errors:", errors[:5], file=sys.stderr)
    return [
        dict(
            name=f"{n:,} requirements created, notifications on / off",
            value=f"{on_per_s:.0f} / {off_per_s:.0f} per s",
            ratio=on_per_s / off_per_s,
            target="(reference)",
            ok=None,
        ),
        dict(
            name=f"{queued:,} deliveries sent ({len(mails):,} mails, {len(posted):,} webhooks, loopback)",
            value=f"{delivered / sent_s:.0f} deliveries/s",
            ratio=None,
            target="each once",
            ok=ok and delivered == queued == 2 * n,
        ),
    ]


if __name__ == "__main__":
    for row in main(quick="--quick" in sys.argv):
        print(row)
