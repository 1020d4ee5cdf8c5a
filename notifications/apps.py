from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from workflows import services as workflow_services
        from workflows.runtime import hooks

        from . import endpoints, services
        from .models import WebhookEndpoint

        # Deliveries are rows written in the transaction of the change they announce. ready() can
        # run more than once in tests: register each hook once.
        for hook_list, hook in (
            (hooks.requirements_created, services.requirements_created),
            (hooks.requirement_expired, services.requirement_expired),
            (hooks.run_ended, services.run_ended),
            (hooks.run_end_rows, services.run_end_rows),
            (hooks.sweep, services.sweep),
            (workflow_services.resolution_hooks, services.requirement_resolved),
        ):
            if hook not in hook_list:
                hook_list.append(hook)
        # Connections that keep the active endpoints hear of every change (once, by dispatch_uid).
        post_save.connect(endpoints.changed, sender=WebhookEndpoint, dispatch_uid="notifications.endpoint_saved")
        post_delete.connect(endpoints.changed, sender=WebhookEndpoint, dispatch_uid="notifications.endpoint_deleted")
