"""The Celery app "hitl_site": `celery -A hitl_site worker` / `celery -A hitl_site beat`."""

import os

from celery import Celery
from celery.signals import task_prerun, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl_site.settings")

app = Celery("hitl_site")
# Every CELERY_* setting in hitl_site.settings configures the app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _keep_database_connections(**kwargs) -> None:
    """A worker keeps its database connection from task to task (see CELERY_DB_REUSE_MAX). It is
    not checked with a query before each task: a connection that broke while idle (a database
    restart) fails the task's first query, and ``workflows.tasks`` retries the task once on it."""
    from django.conf import settings

    for database in settings.DATABASES.values():
        database["CONN_MAX_AGE"] = None


@task_prerun.connect
def _close_broken_database_connections(**kwargs) -> None:
    """As Django does between requests: a connection on which an error occurred is replaced."""
    from django.db import close_old_connections

    close_old_connections()
