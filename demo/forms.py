"""The demo traffic control on the /demo/ page."""

from __future__ import annotations

from django import forms

from demo.traffic import MAX_RATE


class TrafficForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Generate demo traffic")
    rate_per_min = forms.FloatField(
        min_value=0,
        max_value=MAX_RATE,
        label="Runs per minute",
        help_text=f"Runs of the demo workflows started each minute (at most {MAX_RATE:g}).",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    fail_percent = forms.FloatField(
        min_value=0,
        max_value=100,
        label="Failing runs (%)",
        help_text="The share of runs that fail for good at a step and are compensated.",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
