"""Forms of the ML engineer's drift pages: fit a baseline, start a drift run. Input stays on error."""

from __future__ import annotations

import datetime as dt

from django import forms


class _DateInput(forms.DateInput):
    input_type = "date"


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


class BaselineForm(forms.Form):
    period_start = forms.DateField(label="Period from (UTC, included)", widget=_DateInput)
    period_end = forms.DateField(label="Period to (UTC, excluded)", widget=_DateInput)
    max_samples = forms.IntegerField(label="At most this many samples", min_value=200, max_value=200_000,
                                     initial=50_000)

    def clean(self):
        data = super().clean()
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end <= start:
            self.add_error("period_end", f"period_end ({end}) must be after period_start ({start}).")
        return data

    def period(self) -> tuple[dt.datetime, dt.datetime]:
        return _midnight(self.cleaned_data["period_start"]), _midnight(self.cleaned_data["period_end"])


class DriftRunForm(forms.Form):
    TARGETS = [("both", "Prompts and responses"), ("prompts", "Prompts only"), ("responses", "Responses only")]

    window = forms.ChoiceField(label="Window (the deployment's own windows, newest first)")
    target = forms.ChoiceField(label="Compare", choices=TARGETS, initial="both")

    def __init__(self, *args, windows: list[tuple[dt.datetime, dt.datetime]], **kwargs):
        super().__init__(*args, **kwargs)
        self.windows = {s.isoformat(): (s, e) for s, e in windows}
        self.fields["window"].choices = [
            (s.isoformat(), f"{s:%Y-%m-%d %H:%M} → {e:%Y-%m-%d %H:%M} UTC") for s, e in windows]

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return self.windows[self.cleaned_data["window"]]

    def targets(self) -> tuple[str, ...]:
        t = self.cleaned_data["target"]
        return ("prompts", "responses") if t == "both" else (t,)
