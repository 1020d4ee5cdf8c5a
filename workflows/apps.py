from django.apps import AppConfig
from django.conf import settings


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from workflows import checks, store  # noqa: F401 - registers the system check
        from workflows.models import Requirement
        from workflows.runtime import dispatch, worker
        from workflows.web import analytics

        # A deleted decision leaves the days summed up for the analytics.
        post_delete.connect(analytics.forget_day, sender=Requirement, dispatch_uid="analytics.forget_day")

        # Workflow.run() / continue_run() persist through Django from now on.
        store.install()
        # Continuations go to the in-process worker (embedded mode) or to Celery. Installed from
        # here, above both, so that services only ever say "advance this run after commit".
        dispatch.install(worker.submit if settings.HITL_EMBEDDED else dispatch.celery_send)
        # Every process (daphne, Celery, commands) knows its workflows before it serves anything.
        # Models are loaded by now, so a workflow module may import them (it must not query).
        from workflows import registry

        registry.discover()
