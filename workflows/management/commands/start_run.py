"""``manage.py start_run NAME --input JSON [--additional-data JSON] [--user USERNAME]``.

Starts a run of a registered workflow and prints its id. A Celery worker executes it (services
mode); in embedded mode, where the worker lives in the web server, this command executes it up to
its first pause or its end before it returns.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workflows import registry, services
from workflows.engine.errors import ValidationError
from workflows.engine.jsonvalues import MalformedJSON, parse_json


def _json(option: str, text: str | None):
    if text is None:
        return None
    try:
        return parse_json(text, option)
    except MalformedJSON as exc:
        detail = exc.errors[option].removeprefix("Not valid JSON: ").rstrip(".")
        raise CommandError(f"{option} must be JSON ({detail}); a text is quoted: {option} '\"hello\"'") from None
    except ValidationError as exc:  # JSON, with values no run may hold
        raise CommandError(f"{option}: {exc.errors[option]}") from None


class Command(BaseCommand):
    help = "Start a run of workflow NAME and print its id."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A registered workflow (see /workflows/).")
        parser.add_argument("--input", help="The run's input, as JSON (default: null).")
        parser.add_argument("--additional-data", help="A JSON object given to every step.")
        parser.add_argument("--user", help="Username recorded as the run's creator.")

    def handle(self, *args, name, **options):
        run_input = _json("--input", options["input"])
        additional_data = _json("--additional-data", options["additional_data"])
        if additional_data is not None and not isinstance(additional_data, dict):
            raise CommandError("--additional-data must be a JSON object, e.g. '{\"key\": 1}'.")
        user = None
        if options["user"]:
            User = get_user_model()
            try:
                user = User.objects.get(**{User.USERNAME_FIELD: options["user"]})
            except User.DoesNotExist:
                raise CommandError(f"No user named {options['user']!r}.") from None
        try:
            run = services.run_start(workflow_name=name, input=run_input, additional_data=additional_data, user=user)
        except registry.WorkflowNotFound:
            known = ", ".join(wf.name for wf in registry.all_workflows()) or "none"
            raise CommandError(f"No workflow named {name!r}. Registered: {known}.") from None
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {msg}" for field, msg in exc.errors.items())) from None
        self.stdout.write(str(run.id))
