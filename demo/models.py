"""The demo participants' own state: a ledger of effects by idempotency key."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LedgerEntry(models.Model):
    """One participant operation under one idempotency key.

    ``calls`` counts requests, ``applied`` counts effects: a participant that
    honours idempotency keys never applies one twice.
    """

    activity = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=300)
    run_id = models.CharField(max_length=64, db_index=True)
    step_id = models.CharField(max_length=100)
    calls = models.PositiveIntegerField(default=0)
    applied = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    args = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["activity", "idempotency_key"], name="ledger_key_unique"
            )
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.activity} {self.idempotency_key}"


class TrafficSetting(models.Model):
    """The demo traffic generator: one row, holding what the /demo/ page saved and its clock.

    Until someone saves the page (``saved_at`` is empty) the generator follows the
    ``SAGABOARD_DEMO_*`` settings; afterwards this row, so a restart keeps the choice.
    """

    enabled = models.BooleanField(default=False)
    rate_per_min = models.FloatField(default=0.0)
    fail_rate = models.FloatField(default=0.0)
    saved_at = models.DateTimeField(null=True, blank=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The generator's clock: runs owed (the fraction carries over) as of the last tick.
    credit = models.FloatField(default=0.0)
    ticked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "demo traffic"
