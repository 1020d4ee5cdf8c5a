"""Demo users and one run of every example workflow, for `make run` (DEBUG only).

Among them: purchase_approval waits for two approvals (reviewer and operator), payment_release
for four eyes (the operator started it, so the reviewer decides), with priorities and due dates.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

from workflows import registry
from workflows.models import WorkflowRun

# Fixed passwords are fine for a local demo; the command refuses to run without DEBUG.
DEMO_USERS = {
    "reviewer": "reviewer-demo",
    "operator": "operator-demo",
    "admin": "admin-demo",
}
REVIEWERS_GROUP = "reviewers"
OPERATOR_PERMS = ("start_run", "view_workflowrun", "view_requirement", "cancel_run", "resolve_requirement")

DEMO_INPUTS = {
    "onboarding": "enterprise customer ACME",
    "blog_post": "our spring release",
    "copy_refiner": "Ship faster",
    "data_export": "crm",
    "refund_decision": "order 1042",
    "research_router": "Which database should we use?",
    "trip_planner": "a long weekend",
    "purchase_approval": "12 laptops",
    "payment_release": "invoice 2024-17",
}


class Command(BaseCommand):
    help = "Create demo users (reviewer, operator, admin) and start one run of each example workflow. DEBUG only."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            self.stdout.write("seed_demo: DEBUG is off; no demo data created.")
            return
        self._users()
        self._runs()

    def _perms(self, codenames):
        return list(Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames))

    def _users(self):
        User = get_user_model()
        reviewers, _ = Group.objects.get_or_create(name=REVIEWERS_GROUP)
        reviewers.permissions.add(*self._perms(["resolve_requirement"]))

        reviewer, _ = User.objects.get_or_create(username="reviewer")
        reviewer.groups.add(reviewers)
        operator, _ = User.objects.get_or_create(username="operator")
        operator.user_permissions.add(*self._perms(OPERATOR_PERMS))
        admin, _ = User.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        admin.is_staff = admin.is_superuser = True

        for user in (reviewer, operator, admin):
            user.set_password(DEMO_USERS[user.username])
            user.save()
        self.stdout.write("Demo users (DEBUG only):")
        for username, password in DEMO_USERS.items():
            self.stdout.write(f"  {username:<9} password: {password}")

    def _runs(self):
        if WorkflowRun.objects.exists():
            self.stdout.write("Runs exist already; no demo runs started.")
            return
        operator = get_user_model().objects.get(username="operator")
        for workflow in registry.all_workflows():
            output = workflow.run(DEMO_INPUTS.get(workflow.name, "demo"), user=operator)
            self.stdout.write(f"  started {workflow.name}: {output.status}")
