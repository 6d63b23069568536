"""Forms for the designer pages: they turn posted text into the services' arguments.

No business rule lives here; the services decide what is allowed.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import QueryDict

from designer.models import ROLE_PERMS, ReviewDecision
from designer.spec_text import SpecParseError, parse_spec_text

ROLES: list[tuple[str, str]] = list(ROLE_PERMS.items())  # [(role, perm), ...]


class WorkflowCreateForm(forms.Form):
    slug = forms.SlugField(
        max_length=80, help_text="Letters, digits, hyphens and underscores; used in URLs."
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    required_approvals = forms.IntegerField(min_value=1, max_value=10, initial=1)


class SpecForm(forms.Form):
    """A spec as JSON or YAML text, and a note on the change."""

    spec = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "code"}),
        help_text="JSON or YAML in the sagaboard/v1 format.",
        strip=False,
    )
    note = forms.CharField(
        max_length=5000,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "What changes, and why"}),
    )

    def clean_spec(self) -> Any:
        try:
            return parse_spec_text(self.cleaned_data["spec"])
        except SpecParseError as exc:
            raise forms.ValidationError(str(exc)) from exc


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=ReviewDecision.choices)
    comment = forms.CharField(
        label="Comment (required to request changes)",
        max_length=10000,
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 5, "placeholder": "What you checked, or what should change"}
        ),
    )


class CompareForm(forms.Form):
    """Which two versions the diff page shows: ``version`` compared with ``against``."""

    version = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    against = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, numbers: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(n, f"v{n}") for n in numbers]
        for name in ("version", "against"):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = choices


Grants = dict[str, list[str]]


class PermissionsForm:
    """The permission matrix as posted: ``user:<name>`` / ``group:<name>`` checkboxes
    holding permission codenames, plus one row each to add a user and a group.

    ``users`` and ``groups`` map names to the permissions ticked for them, in the
    order of the roles; a row with nothing ticked is dropped, which removes it.
    """

    def __init__(self, data: QueryDict) -> None:
        self.errors: list[str] = []
        self.users: Grants = {}
        self.groups: Grants = {}
        for key in data:
            kind, sep, name = key.partition(":")
            if sep and kind in ("user", "group") and name:
                self._add(kind, name, data.getlist(key))
        for kind in ("user", "group"):
            name = data.get(f"new_{kind}", "").strip()
            perms = data.getlist(f"new_{kind}_perm")
            if name and not perms:
                self.errors.append(f"Tick at least one role for the new {kind} {name!r}.")
            elif perms and not name:
                self.errors.append(f"Name the {kind} to give the ticked roles to.")
            elif name:
                self._add(kind, name, perms)

    def _add(self, kind: str, name: str, perms: list[str]) -> None:
        target = self.users if kind == "user" else self.groups
        held = set(target.get(name, [])) | set(perms)
        ordered = [perm for _, perm in ROLES if perm in held]
        # Unknown codenames are passed on so the service names them in its refusal.
        ordered += sorted(held - set(ordered))
        if ordered:
            target[name] = ordered

    def is_valid(self) -> bool:
        return not self.errors


class RunStartForm(forms.Form):
    """A run's input as JSON, and the idempotency key that makes starting it again safe."""

    input = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text="JSON; checked against the published version's input schema.",
        strip=False,
    )
    idempotency_key = forms.CharField(
        max_length=200,
        required=False,
        help_text="Starting again with a key already used opens the run it started.",
    )

    def clean_input(self) -> Any:
        try:
            return json.loads(self.cleaned_data["input"])
        except (ValueError, RecursionError) as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from exc
