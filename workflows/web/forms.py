"""Forms of the run list (filters) and of a workflow's page (start a run)."""

from __future__ import annotations

import uuid

from django import forms
from django.core.exceptions import ValidationError as FormValidationError
from django.utils import timezone

from workflows.engine.errors import ValidationError
from workflows.engine.jsonvalues import MalformedJSON, check_json, parse_json
from workflows.models import WorkflowRun

MAX_JSON_CHARS = 1_000_000
# The years a date filter may name: beyond them a date cannot be shifted to UTC or by a day.
EARLIEST_YEAR, LATEST_YEAR = 1000, 9000


def _within_years(value) -> None:
    if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise FormValidationError(f"Must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}.")


class FilterDateTimeField(forms.DateTimeField):
    """A filter's ISO 8601 date or date-time, within the years a query can take."""

    default_validators = [_within_years]


class FilterDateField(forms.DateField):
    default_validators = [_within_years]


def _short(exc: Exception, limit: int = 120) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RunFilterForm(forms.Form):
    """The run list's filters (GET). Invalid values are reported and ignored."""

    workflow = forms.ChoiceField(label="Workflow", required=False)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *WorkflowRun.Status.choices]
    )
    created_from = FilterDateField(label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = FilterDateField(label="Created to", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, workflow_names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", "Any workflow"), *((n, n) for n in workflow_names)]

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "Must not be before “Created from”.")
        return data


class RunQueryForm(forms.Form):
    """The API's and exports' run filters: ``since`` inclusive, ``until`` exclusive (ISO 8601 date
    or date-time; without an offset, in the site's time zone)."""

    workflow = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=[("", ""), *WorkflowRun.Status.choices])
    started_by = forms.CharField(required=False, max_length=150)
    since = FilterDateTimeField(required=False)
    until = FilterDateTimeField(required=False)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "Must be after “since”.")
        return data

    def filter(self, runs):
        """``runs`` narrowed by the cleaned filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        if data.get("workflow"):
            runs = runs.filter(workflow_name=data["workflow"])
        if data.get("status"):
            runs = runs.filter(status=data["status"])
        if data.get("started_by"):
            runs = runs.filter(created_by__username=data["started_by"])
        if data.get("since"):
            runs = runs.filter(created_at__gte=data["since"])
        if data.get("until"):
            runs = runs.filter(created_at__lt=data["until"])
        return runs


class AnalyticsFilterForm(forms.Form):
    """The analytics' period (days, both inclusive; the last 30 by default) and workflow."""

    workflow = forms.ChoiceField(label="Workflow", required=False)
    since = FilterDateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = FilterDateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, workflow_names: list[str], max_days: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_days = max_days
        self.fields["workflow"].choices = [("", "All workflows"), *((n, n) for n in workflow_names)]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and not until and "until" not in self.errors:  # from then until today
            until = max(since, timezone.localdate())
        if since and until:
            if since > until:
                self.add_error("until", "Must not be before “From”.")
            elif (until - since).days >= self.max_days:
                self.add_error("since", f"At most {self.max_days} days at a time.")
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
    # Text that starts like JSON but does not parse is a typo, not a sentence: starting the run
    # with it as a string would hide the mistake until a step chokes on it.
    JSON_OPENERS = ("{", "[", '"')
    additional_data = forms.CharField(
        label="Additional data",
        required=False,
        max_length=MAX_JSON_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional JSON object, passed to every step as additional_data.",
    )

    # Made when the form is shown; sent back with it (see services.run_start).
    start_key = forms.RegexField(regex=r"\A[0-9a-f]{32}\Z", required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["start_key"].initial = uuid.uuid4().hex

    def clean_input(self):
        text = self.cleaned_data["input"]
        if text.strip() == "":
            return None
        try:
            value = parse_json(text, "input")
        except MalformedJSON as exc:
            if text.lstrip().startswith(self.JSON_OPENERS):
                raise forms.ValidationError(
                    f"This looks like JSON but does not parse ({_short(exc)}). Fix it, or enter plain text "
                    'that does not start with {, [ or ".',
                    code="bad_json",
                ) from None
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
