"""``manage.py send_digests``: queue today's digest mails now (the sweep does it from HITL_DIGEST_HOUR)."""

from django.core.management.base import BaseCommand

from notifications import services


class Command(BaseCommand):
    help = "Queue today's digest mail for each person who asked for one (once a day each), then send them."

    def handle(self, *args, **options):
        queued = services.digests_queue()
        delivered = services.deliveries_send()
        self.stdout.write(f"{queued} digest(s) queued, {delivered} deliveries sent")
