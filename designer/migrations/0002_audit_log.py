"""The audit log: the audit entries gain the run, the bulk act, the actor's name and a
detail, take the audit log's names (act, reason), and are indexed for its order and
filters. Entries written before keep their meaning under the new names."""

from django.db import migrations, models

# Old names of the acts the audit log lists, and what each is called now.
RENAMED = {
    "version.in_review": ("version.submit", {}),
    "review.approve": ("version.review", {"decision": "approve"}),
    "review.request_changes": ("version.review", {"decision": "request_changes"}),
    "version.published": ("version.publish", {}),
}


def forward(apps, schema_editor):
    AuditEntry = apps.get_model("designer", "AuditEntry")
    for old, (new, detail) in RENAMED.items():
        AuditEntry.objects.filter(act=old).update(act=new, detail=detail)
    for entry in AuditEntry.objects.exclude(actor=None).select_related("actor").iterator():
        AuditEntry.objects.filter(pk=entry.pk).update(actor_name=entry.actor.username)


def backward(apps, schema_editor):
    AuditEntry = apps.get_model("designer", "AuditEntry")
    for old, (new, detail) in RENAMED.items():
        AuditEntry.objects.filter(act=new, detail=detail).update(act=old)


class Migration(migrations.Migration):
    dependencies = [
        ("designer", "0001_initial"),
    ]

    operations = [
        migrations.RenameField("auditentry", "action", "act"),
        migrations.RenameField("auditentry", "comment", "reason"),
        migrations.AddField(
            model_name="auditentry",
            name="actor_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="run",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="bulk",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="detail",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["created_at", "id"], name="audit_at"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["workflow", "created_at", "id"], name="audit_workflow_at"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["actor_name", "created_at", "id"], name="audit_actor_at"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["act", "created_at", "id"], name="audit_act_at"),
        ),
        migrations.RunPython(forward, backward),
    ]
