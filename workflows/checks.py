"""System check: every registered workflow definition imports and validates."""

from django.core import checks


@checks.register()
def check_workflow_definitions(app_configs=None, **kwargs):
    from workflows import registry

    try:
        registry.discover()
    except Exception as exc:  # a definition error names the step and the option
        return [checks.Error(f"A workflow module failed to load: {type(exc).__name__}: {exc}", id="workflows.E001")]
    errors = []
    for wf in registry.all_workflows():
        if not wf.steps:
            errors.append(checks.Error(f"Workflow '{wf.name}' has no steps", id="workflows.E002"))
    return errors
