from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        # TODO(lead): bind the engine to the Django store, discover workflow
        # modules (each app's flows.py + settings.HITL_WORKFLOW_MODULES) and, in
        # embedded mode, arrange the in-process worker and sweeper.
        pass
