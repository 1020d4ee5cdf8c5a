from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from workflows import analytics, checks, store  # noqa: F401 - registers the system check
        from workflows.models import Requirement

        # A deleted decision leaves the days summed up for the analytics.
        post_delete.connect(analytics.forget_day, sender=Requirement, dispatch_uid="analytics.forget_day")

        # Workflow.run() / continue_run() persist through Django from now on.
        store.install()
        # Every process (daphne, Celery, commands) knows its workflows before it serves anything.
        # Models are loaded by now, so a workflow module may import them (it must not query).
        from workflows import registry

        registry.discover()
