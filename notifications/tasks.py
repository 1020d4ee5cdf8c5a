"""Celery adapters: ids in, one service call. Redelivery is harmless (a sent delivery is not due)."""

from celery import shared_task

from notifications import services


@shared_task(name="notifications.tasks.send_deliveries", acks_late=True)
def send_deliveries(ids: list[str]) -> int:
    # Every due delivery, not only these: publishing is coalesced (see services.publish).
    return services.deliveries_send()
