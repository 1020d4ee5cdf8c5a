"""Forms of the run list (filters) and of a workflow's page (start a run)."""

from __future__ import annotations

from django import forms

from .engine.errors import ValidationError
from .engine.jsonvalues import MalformedJSON, check_json, parse_json
from .models import WorkflowRun

MAX_JSON_CHARS = 1_000_000


class RunFilterForm(forms.Form):
    """The run list's filters (GET). Invalid values are reported and ignored."""

    workflow = forms.ChoiceField(label="Workflow", required=False)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *WorkflowRun.Status.choices]
    )
    created_from = forms.DateField(label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(label="Created to", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, workflow_names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", "Any workflow"), *((n, n) for n in workflow_names)]

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "Must not be before “Created from”.")
        return data


class RunStartForm(forms.Form):
    """Start a run: the input (JSON if it parses, else the text itself) and optional JSON data."""

    input = forms.CharField(
        label="Input",
        required=False,
        strip=False,
        max_length=MAX_JSON_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Text, or JSON (an object, a list, a number…) when it parses as JSON.",
    )
    additional_data = forms.CharField(
        label="Additional data",
        required=False,
        max_length=MAX_JSON_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional JSON object, passed to every step as additional_data.",
    )

    def clean_input(self):
        text = self.cleaned_data["input"]
        if text.strip() == "":
            return None
        try:
            return parse_json(text, "input")
        except MalformedJSON:
            value = text  # not JSON: the text itself
        except ValidationError as exc:  # JSON, with values no run may hold
            raise forms.ValidationError(exc.errors["input"]) from None
        try:
            check_json(value, "input")
        except ValidationError as exc:
            raise forms.ValidationError(exc.errors["input"]) from None
        return value

    def clean_additional_data(self):
        text = self.cleaned_data["additional_data"].strip()
        if not text:
            return None
        try:
            value = parse_json(text, "additional_data")
        except MalformedJSON:
            raise forms.ValidationError('Not valid JSON: enter a JSON object such as {"priority": "high"}.') from None
        except ValidationError as exc:
            raise forms.ValidationError(exc.errors["additional_data"]) from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object (in curly braces).")
        return value
