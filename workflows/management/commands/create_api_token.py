"""``manage.py create_api_token USERNAME``: print a new API token for that user."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workflows.web.tokens import TokenRefused, token_create


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (only its digest is stored: keep it)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        try:
            _, token = token_create(user=user)
        except TokenRefused as exc:
            raise CommandError(f"{exc} Set a password first (`manage.py changepassword {username}`).") from None
        self.stdout.write(token)
