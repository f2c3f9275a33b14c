"""The sample explorer's filters (django-filter): full-text search, model version, dates, topic, flags, score.

django-filter turns the query string into a validated form and a queryset, so bad input (a date that is
not a date, a score that is not a number) comes back as a form error naming the field instead of a 500.
Every choice and every row is scoped to the viewer's teams' deployments.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Exists, FloatField, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from drift_app import selectors as drift_selectors
from drift_app.models import DriftRun, ProductionSample

from .models import CONFIRMED_LABELS, Flag, LabelChoice

# The same expression as the GIN index "sample_fulltext" (drift_app.models), so the index answers it.
SEARCH_VECTOR = SearchVector("prompt", "response", config="english")

FLAG_STATES = [
    ("flagged", "Flagged (any)"),
    ("unflagged", "Not flagged"),
    ("waiting", "Flagged, waiting for SME labels"),
    ("confirmed", "Flag confirmed (bad, outdated or policy)"),
    ("not_a_problem", "Flag judged not a problem"),
    ("mine", "Flagged by me"),
]


def _topic_choices(deployments: QuerySet) -> list[tuple[str, str]]:
    """New topics found by the latest completed drift runs: "<run id>-<index>" → "keywords (week of …)"."""
    runs = (DriftRun.objects.filter(deployment__in=deployments, status=DriftRun.Status.COMPLETED)
            .exclude(topics=[]).order_by("-window_start", "-id").only("id", "window_start", "topics")[:10])
    out = []
    for run in runs:
        for i, topic in enumerate(run.topics or []):
            words = ", ".join((topic.get("keywords") or [])[:4]) or f"topic {i + 1}"
            out.append((f"{run.id}-{i}", f"{words} (from {run.window_start:%Y-%m-%d})"))
    return out


def _score_names(deployments: QuerySet) -> list[str]:
    table = ProductionSample._meta.db_table
    ids = list(deployments.values_list("id", flat=True))
    if not ids:
        return []
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT DISTINCT jsonb_object_keys(scores) FROM {table} "
            "WHERE deployment_id = ANY(%s) AND scores <> '{}'::jsonb ORDER BY 1 LIMIT 50",
            [ids],
        )
        return [r[0] for r in cur.fetchall()]


class SampleFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search prompt and answer", method="filter_search",
        help_text='Words to find; "quoted phrase", or -word to exclude.',
    )
    deployment = django_filters.ChoiceFilter(label="Deployment", method="filter_deployment", empty_label="All")
    model_version = django_filters.ChoiceFilter(label="Model version", empty_label="Any")
    served_after = django_filters.DateFilter(
        label="Served from", field_name="client_timestamp", lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    served_before = django_filters.DateFilter(
        label="Served until", field_name="client_timestamp", lookup_expr="date__lte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    topic = django_filters.ChoiceFilter(label="New topic", method="filter_topic", empty_label="Any")
    flags = django_filters.ChoiceFilter(label="Flags", choices=FLAG_STATES, method="filter_flags", empty_label="Any")
    score = django_filters.ChoiceFilter(label="Score", method="filter_noop", empty_label="—")
    score_min = django_filters.NumberFilter(label="Score at least", method="filter_noop")
    score_max = django_filters.NumberFilter(label="Score at most", method="filter_noop")

    class Meta:
        model = ProductionSample
        fields: list[str] = []

    def __init__(self, data=None, *, viewer, **kwargs):
        self.viewer = viewer
        self.deployments = drift_selectors.deployments_visible(user=viewer)
        queryset = (
            ProductionSample.objects.filter(deployment__in=self.deployments)
            .select_related("deployment")
            .defer("prompt_embedding", "response_embedding")
            .annotate(
                # Subqueries, not a JOIN + GROUP BY: the paginator's COUNT(*) then drops them and counts
                # the matching rows only; they are computed for the 50 rows of the page.
                flag_count=Coalesce(Subquery(
                    Flag.objects.filter(sample=OuterRef("pk")).order_by().values("sample")
                    .annotate(n=Count("id")).values("n")[:1]), 0),
                flagged_by_me=Exists(Flag.objects.filter(sample=OuterRef("pk"), flagged_by=viewer)),
            )
            .order_by("-client_timestamp", "-id")
        )
        super().__init__(data, queryset=queryset, **kwargs)
        self.filters["deployment"].extra["choices"] = list(self.deployments.order_by("name").values_list("slug", "name"))
        versions = (ProductionSample.objects.filter(deployment__in=self.deployments)
                    .order_by("model_version").values_list("model_version", flat=True).distinct())
        self.filters["model_version"].extra["choices"] = [(v, v) for v in versions]
        self.filters["topic"].extra["choices"] = _topic_choices(self.deployments)
        self.filters["score"].extra["choices"] = [(n, n) for n in _score_names(self.deployments)]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # alias(), not annotate(): the vector is only matched (from the GIN index), never selected.
        return queryset.alias(search=SEARCH_VECTOR).filter(
            search=SearchQuery(value, config="english", search_type="websearch")
        )

    def filter_deployment(self, queryset, name, value):
        return queryset.filter(deployment__slug=value)

    def filter_topic(self, queryset, name, value):
        run_id, _, index = value.partition("-")
        run = DriftRun.objects.filter(pk=int(run_id), deployment__in=self.deployments).first()
        topics = (run.topics or []) if run else []
        if not index.isdigit() or int(index) >= len(topics):
            return queryset.none()
        topic = topics[int(index)]
        # A topic is the run's cluster of new prompts; it stores its keywords and representative samples.
        # Its members are the window's prompts that match any keyword, plus the representatives.
        words = [w for w in topic.get("keywords") or [] if w]
        in_window = Q(deployment_id=run.deployment_id, client_timestamp__gte=run.window_start,
                      client_timestamp__lt=run.window_end)
        members = Q(pk__in=topic.get("sample_ids") or [])
        if words:
            query = SearchQuery(words[0], config="english")
            for w in words[1:]:
                query |= SearchQuery(w, config="english")
            return queryset.alias(search=SEARCH_VECTOR).filter(members | (in_window & Q(search=query)))
        return queryset.filter(members)

    def filter_flags(self, queryset, name, value):
        flags = Flag.objects.filter(sample=OuterRef("pk"))
        match value:
            case "flagged":
                return queryset.filter(Exists(flags))
            case "unflagged":
                return queryset.exclude(Exists(flags))
            case "waiting":
                return queryset.filter(Exists(flags.exclude(status=Flag.Status.RESOLVED)))
            case "confirmed":
                return queryset.filter(Exists(flags.filter(status=Flag.Status.RESOLVED, final_label__in=CONFIRMED_LABELS)))
            case "not_a_problem":
                return queryset.filter(Exists(flags.filter(status=Flag.Status.RESOLVED,
                                                           final_label=LabelChoice.NOT_A_PROBLEM)))
            case "mine":
                return queryset.filter(Exists(flags.filter(flagged_by=self.viewer)))
        return queryset

    def filter_noop(self, queryset, name, value):
        # score, score_min and score_max act together in filter_queryset.
        return queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        score = data.get("score")
        low, high = data.get("score_min"), data.get("score_max")
        if score and (low is not None or high is not None):
            queryset = queryset.annotate(score_value=Cast(KeyTextTransform(score, "scores"), FloatField()))
            if low is not None:
                queryset = queryset.filter(score_value__gte=low)
            if high is not None:
                queryset = queryset.filter(score_value__lte=high)
        return queryset

    def is_valid(self) -> bool:
        ok = super().is_valid()
        data = self.form.cleaned_data if ok else {}
        if ok and not data.get("score") and (data.get("score_min") is not None or data.get("score_max") is not None):
            self.form.add_error("score", "choose which score the bounds apply to.")
            return False
        return ok

    @property
    def errors_text(self) -> str:
        """The form's errors as one sentence per field, for the 400 page and the flash above the list."""
        return "; ".join(
            f"{self.form.fields[f].label if f in self.form.fields else f}: {' '.join(errs)}"
            for f, errs in self.form.errors.items()
        )


class MyFlagFilter(django_filters.FilterSet):
    """A power user's own flags: by deployment, by outcome, by words in the question, answer or comment."""

    q = django_filters.CharFilter(label="Search question, answer or your comment", method="filter_search")
    deployment = django_filters.ChoiceFilter(label="Deployment", field_name="deployment__slug", empty_label="All")
    status = django_filters.ChoiceFilter(label="Outcome", choices=Flag.Status.choices, empty_label="Any")

    class Meta:
        model = Flag
        fields: list[str] = []

    def __init__(self, data=None, *, user, **kwargs):
        deployments = drift_selectors.deployments_visible(user=user)
        queryset = (
            Flag.objects.filter(flagged_by=user, deployment__in=deployments)
            .select_related("sample", "deployment", "promotion")
            .defer("sample__prompt_embedding", "sample__response_embedding")
            .order_by("-created_at", "-id")
        )
        super().__init__(data, queryset=queryset, **kwargs)
        self.filters["deployment"].extra["choices"] = list(deployments.order_by("name").values_list("slug", "name"))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(sample__prompt__icontains=value) | Q(sample__response__icontains=value) | Q(comment__icontains=value)
        )

    @property
    def errors_text(self) -> str:
        return "; ".join(
            f"{self.form.fields[f].label if f in self.form.fields else f}: {' '.join(errs)}"
            for f, errs in self.form.errors.items()
        )
