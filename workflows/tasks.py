"""Celery adapters: ids in, one service call. Redelivery is harmless (services are idempotent)."""

from celery import shared_task

from workflows import services


@shared_task(name="workflows.tasks.advance_run", acks_late=True, reject_on_worker_lost=True)
def advance_run(run_id: str) -> None:
    services.run_advance(run_id=run_id)


@shared_task(name="workflows.tasks.sweep")
def sweep() -> dict:
    return services.sweep()
