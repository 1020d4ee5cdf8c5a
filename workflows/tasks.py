"""Celery adapters: ids in, one service call. Redelivery is harmless (services are idempotent)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError, close_old_connections

from workflows import services


@shared_task(name="workflows.tasks.advance_run", acks_late=True, reject_on_worker_lost=True)
def advance_run(run_id: str) -> None:
    try:
        services.run_advance(run_id=run_id)
    except (InterfaceError, OperationalError):
        # The worker's connection broke while it was idle (a database restart), so the first query
        # failed: once more on a new connection. run_advance is idempotent (a run claimed before a
        # failure is left to its lease).
        close_old_connections()
        services.run_advance(run_id=run_id)


@shared_task(name="workflows.tasks.sweep")
def sweep() -> dict:
    return services.sweep()
