"""The Celery app "hitl_site": `celery -A hitl_site worker` / `celery -A hitl_site beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl_site.settings")

app = Celery("hitl_site")
# Every CELERY_* setting in hitl_site.settings configures the app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
