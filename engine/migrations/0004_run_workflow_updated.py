from django.db import migrations, models


class Migration(migrations.Migration):
    """An index for a workflow's overview: its runs that changed in a window."""

    dependencies = [
        ("engine", "0003_partial_step_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["workflow", "-updated_at"], name="run_workflow_updated"),
        ),
    ]
