from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from workflows import services as workflow_services

        from .services import decision_record

        # Every decision writes its audit row in the resolving transaction. ready() can run more
        # than once in tests: register the hook once.
        if decision_record not in workflow_services.resolution_hooks:
            workflow_services.resolution_hooks.append(decision_record)
