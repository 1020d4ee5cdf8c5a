from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_created_by_name(apps, schema_editor):
    """Existing runs: the starter's current username (runs of deleted users keep none). The
    historical user model has no USERNAME_FIELD: Django's user model's ``username``."""
    WorkflowRun = apps.get_model("workflows", "WorkflowRun")
    User = WorkflowRun._meta.get_field("created_by").related_model
    WorkflowRun.objects.filter(created_by__isnull=False).update(
        created_by_name=Subquery(User.objects.filter(pk=OuterRef("created_by_id")).values("username")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="workflowrun",
            name="created_by_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.RunPython(fill_created_by_name, migrations.RunPython.noop),
    ]
