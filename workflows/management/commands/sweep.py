"""``manage.py sweep``: one round of the sweeper, then print what it did.

Fires due timeouts and sends again the runs that have work and no worker (what Celery beat, or the
in-process sweeper, does every ``HITL_SWEEP_SECONDS``). In embedded mode the runs it continues
are executed by this command.
"""

from django.core.management.base import BaseCommand

from workflows import services


class Command(BaseCommand):
    help = "Fire due timeouts and recover runs whose worker is gone (one sweep); print the counts."

    def handle(self, *args, **options):
        counts = services.sweep()
        self.stdout.write(f"expired={counts['expired']} recovered={counts['recovered']}")
