from django.contrib import admin

from demo.models import LedgerEntry


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["activity", "idempotency_key", "calls", "applied", "created_at"]
    search_fields = ["run_id", "idempotency_key"]
    list_filter = ["activity"]
