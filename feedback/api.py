"""Feedback API: one view per operation; writes go through feedback.services."""

from __future__ import annotations

import datetime as dt
import math

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from drift_app import selectors as drift_selectors
from drift_app.pagination import Pagination, paginated
from drift_app.validation import calendar_problem
from drift_app.roles import COMPLIANCE, ML_ENGINEER, POWER_USER, SME, HasRole, has_role

from . import selectors, services
from .models import Flag, LabelChoice, Reason
from .throttles import FlagRateThrottle, limit_message

# Roles that read every flag, the queue, agreement and metrics. Power users read their own flags only.
READERS = (SME, COMPLIANCE, ML_ENGINEER)
MAX_WINDOWS = 400


def _error(exc: services.FeedbackError) -> Response:
    return Response({"detail": exc.message}, status=exc.status)


def _invalid(serializer: serializers.Serializer, what: str) -> Response:
    problems = "; ".join(f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in serializer.errors.items())
    return Response({"detail": f"Invalid {what}: {problems}", "errors": serializer.errors}, status=400)


def _flag_for(request, pk: int) -> Flag:
    flag = selectors.flag_get(flag_id=pk, user=request.user)
    if not has_role(request.user, *READERS) and flag.flagged_by_id != request.user.pk:
        raise PermissionDenied("You may only see your own flags.")
    return flag


class PromotionOutputSerializer(serializers.Serializer):
    golden_item_id = serializers.IntegerField()
    promoted_by = serializers.CharField(source="promoted_by.get_username")
    at = serializers.DateTimeField()

    class Meta:
        ref_name = "FlagPromotionSummary"


class LabelOutputSerializer(serializers.Serializer):
    sme = serializers.CharField(source="sme.get_username")
    label = serializers.CharField()
    comment = serializers.CharField()
    corrected_answer = serializers.CharField()
    created_at = serializers.DateTimeField()


class AdjudicationOutputSerializer(serializers.Serializer):
    adjudicator = serializers.CharField(source="adjudicator.get_username")
    label = serializers.CharField()
    comment = serializers.CharField()
    corrected_answer = serializers.CharField()
    created_at = serializers.DateTimeField()


class FlagOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sample_id = serializers.IntegerField()
    deployment = serializers.CharField(source="deployment.slug")
    external_id = serializers.CharField(source="sample.external_id")
    flagged_by = serializers.CharField(source="flagged_by.get_username")
    reason = serializers.CharField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()
    status = serializers.CharField(help_text="open, adjudication (labels disagree) or resolved.")
    final_label = serializers.CharField(allow_blank=True, help_text="Set once resolved: what became of the flag.")
    resolved_at = serializers.DateTimeField(allow_null=True)
    required_labels = serializers.IntegerField()
    labels_done = serializers.SerializerMethodField()
    promotion = serializers.SerializerMethodField()

    def get_labels_done(self, flag) -> int:
        return len(flag.labels.all())

    @extend_schema_field(PromotionOutputSerializer(allow_null=True))
    def get_promotion(self, flag) -> dict | None:
        promotion = getattr(flag, "promotion", None)
        return PromotionOutputSerializer(promotion).data if promotion else None


class FlagDetailOutputSerializer(FlagOutputSerializer):
    claimed_by = serializers.CharField(source="claimed_by.get_username", allow_null=True, default=None)
    # Not required: only SMEs and compliance see these four; the flag's author gets the flag without them
    # (see _detail). A missing adjudication (reverse one-to-one) reads as null.
    claimed_until = serializers.DateTimeField(allow_null=True, required=False)
    labels = LabelOutputSerializer(many=True, required=False)
    adjudication = AdjudicationOutputSerializer(allow_null=True, required=False)


def _detail(flag: Flag, user) -> dict:
    data = FlagDetailOutputSerializer(selectors.flag_get(flag_id=flag.pk, user=user)).data
    if not has_role(user, *READERS):
        # The flag's author sees what became of it, not the SMEs' working notes.
        for key in ("labels", "adjudication", "claimed_by", "claimed_until"):
            data.pop(key, None)
    return data


class FlagListCreateApi(APIView):
    """POST: a power user flags an answer. GET: flags (a power user's own; every flag for SMEs and compliance)."""

    class InputSerializer(serializers.Serializer):
        sample_id = serializers.IntegerField(required=False, help_text="The sample's id; or give deployment + external_id.")
        deployment = serializers.SlugField(required=False, help_text="Deployment slug, with external_id.")
        external_id = serializers.CharField(required=False, max_length=200)
        reason = serializers.ChoiceField(choices=Reason.choices)
        comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

        class Meta:
            ref_name = "FlagCreateInput"

        def validate(self, attrs):
            by_id = attrs.get("sample_id") is not None
            by_ext = bool(attrs.get("deployment") or attrs.get("external_id"))
            if by_id == by_ext:
                raise serializers.ValidationError(
                    {"sample": ["give either sample_id, or deployment and external_id (not both)."]}
                )
            if by_ext and not (attrs.get("deployment") and attrs.get("external_id")):
                raise serializers.ValidationError({"sample": ["deployment and external_id go together."]})
            return attrs

    def get_permissions(self):
        if self.request.method == "POST":
            return [HasRole(POWER_USER)()]
        return [HasRole(POWER_USER, *READERS)()]

    def get_throttles(self):
        # Only flagging is limited: reading one's own flags is not.
        return [FlagRateThrottle()] if self.request.method == "POST" else []

    def throttled(self, request, wait):
        raise Throttled(wait=wait, detail=limit_message(None))

    @extend_schema(
        request=InputSerializer,
        responses={
            201: FlagDetailOutputSerializer,
            400: OpenApiResponse(description="Invalid input; `detail` names the field."),
            404: OpenApiResponse(description="No such sample."),
            409: OpenApiResponse(description="This user already flagged this answer."),
            429: OpenApiResponse(description="Past the per-user flag rate limit (DRIFTDESK_FLAG_RATE)."),
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            return _invalid(serializer, "flag")
        data = serializer.validated_data
        if data.get("sample_id") is not None:
            sample = drift_selectors.sample_find(pk=data["sample_id"], user=request.user)
            if sample is None:
                raise NotFound(f"No sample with id {data['sample_id']}.")
        else:
            sample = drift_selectors.sample_find(deployment_slug=data["deployment"], external_id=data["external_id"],
                                                  user=request.user)
            if sample is None:
                raise NotFound(f"No sample {data['external_id']!r} in deployment {data['deployment']!r}.")
        try:
            flag = services.flag_create(sample=sample, user=request.user, reason=data["reason"], comment=data["comment"])
        except services.FeedbackError as exc:
            return _error(exc)
        return Response(_detail(flag, request.user), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="v1_flags_list",
        parameters=[
            OpenApiParameter("status", str, enum=[s.value for s in Flag.Status]),
            OpenApiParameter("deployment", str, description="Deployment slug."),
            OpenApiParameter("mine", bool, description="Only the caller's own flags (always so for power users)."),
        ],
        responses=paginated(FlagOutputSerializer),
    )
    def get(self, request):
        status_ = request.query_params.get("status") or None
        if status_ and status_ not in Flag.Status.values:
            return Response({"detail": f"status must be one of {', '.join(Flag.Status.values)}."}, status=400)
        deployment = None
        if request.query_params.get("deployment"):
            deployment = drift_selectors.deployment_get(slug=request.query_params["deployment"], user=request.user)
        mine = request.query_params.get("mine", "").lower() in ("1", "true", "yes")
        own_only = mine or not has_role(request.user, *READERS)
        qs = selectors.flag_list(user=request.user if own_only else None, deployment=deployment, status=status_, viewer=request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(FlagOutputSerializer(page, many=True).data)


class FlagDetailApi(APIView):
    permission_classes = [HasRole(POWER_USER, *READERS)]

    @extend_schema(responses=FlagDetailOutputSerializer)
    def get(self, request, pk: int):
        return Response(_detail(_flag_for(request, pk), request.user))


class FlagClaimApi(APIView):
    """POST claims a flag for the deployment's claim time; DELETE gives the claim back."""

    permission_classes = [HasRole(SME)]

    @extend_schema(
        request=None,
        responses={200: FlagDetailOutputSerializer, 409: OpenApiResponse(description="Claimed by another SME, or resolved.")},
    )
    def post(self, request, pk: int):
        try:
            flag = services.flag_claim(flag=_flag_for(request, pk), user=request.user)
        except services.FeedbackError as exc:
            return _error(exc)
        return Response(_detail(flag, request.user))

    @extend_schema(request=None, responses={200: FlagDetailOutputSerializer})
    def delete(self, request, pk: int):
        try:
            flag = services.flag_release(flag=_flag_for(request, pk), user=request.user)
        except services.FeedbackError as exc:
            return _error(exc)
        return Response(_detail(flag, request.user))


class VerdictInputSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=LabelChoice.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)
    corrected_answer = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)


class FlagLabelApi(APIView):
    """An SME labels a flag they have claimed."""

    permission_classes = [HasRole(SME)]
    InputSerializer = VerdictInputSerializer

    @extend_schema(
        request=VerdictInputSerializer,
        responses={201: FlagDetailOutputSerializer, 409: OpenApiResponse(description="Not claimed by the caller, or already labelled.")},
    )
    def post(self, request, pk: int):
        flag = _flag_for(request, pk)  # first: another team's flag is a 404 whatever the body
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            return _invalid(serializer, "label")
        try:
            services.flag_label(flag=flag, user=request.user, **serializer.validated_data)
        except services.FeedbackError as exc:
            return _error(exc)
        return Response(_detail(flag, request.user), status=status.HTTP_201_CREATED)


class FlagAdjudicationApi(APIView):
    """An SME settles a flag whose labels disagree; the adjudicated label is final."""

    permission_classes = [HasRole(SME)]

    class InputSerializer(VerdictInputSerializer):
        comment = serializers.CharField(max_length=20_000, help_text="Why this label wins.")

        class Meta:
            ref_name = "AdjudicationInput"

    @extend_schema(request=InputSerializer, responses={201: FlagDetailOutputSerializer})
    def post(self, request, pk: int):
        flag = _flag_for(request, pk)  # first: another team's flag is a 404 whatever the body
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            return _invalid(serializer, "adjudication")
        try:
            services.flag_adjudicate(flag=flag, user=request.user, **serializer.validated_data)
        except services.FeedbackError as exc:
            return _error(exc)
        return Response(_detail(flag, request.user), status=status.HTTP_201_CREATED)


class FlagPromotionApi(APIView):
    """An SME promotes a confirmed flag into a draft golden item (source "flag")."""

    permission_classes = [HasRole(SME)]

    class InputSerializer(serializers.Serializer):
        category = serializers.CharField(max_length=100)
        reason = serializers.CharField(max_length=5000, help_text="Why this item belongs in the golden set.")
        prompt = serializers.CharField(required=False, help_text="Defaults to the sample's prompt; send a redacted text.")
        reference_answer = serializers.CharField(required=False, help_text="Defaults to the SMEs' corrected answer.")
        tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)

        class Meta:
            ref_name = "PromotionInput"

    class OutputSerializer(serializers.Serializer):
        flag_id = serializers.IntegerField()
        golden_item_id = serializers.IntegerField()
        sample_id = serializers.IntegerField()
        promoted_by = serializers.CharField()
        at = serializers.DateTimeField()
        pii = serializers.ListField(child=serializers.DictField(), help_text="Likely personal data left in the item.")

        class Meta:
            ref_name = "PromotionOutput"

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, pk: int):
        from goldenset.pii import find_pii

        flag = _flag_for(request, pk)  # first: another team's flag is a 404 whatever the body
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            return _invalid(serializer, "promotion")
        try:
            promotion = services.flag_promote(flag=flag, user=request.user, **serializer.validated_data)
        except services.FeedbackError as exc:
            return _error(exc)
        item = promotion.golden_item
        pii = [
            {"field": field, "kind": f.kind, "start": f.start, "end": f.end, "text": f.text}
            for field, text in (("prompt", item.prompt), ("reference_answer", item.reference_answer))
            for f in find_pii(text)
        ]
        body = {
            "flag_id": promotion.flag_id, "golden_item_id": promotion.golden_item_id, "sample_id": promotion.sample_id,
            "promoted_by": request.user.get_username(), "at": promotion.at, "pii": pii,
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class TriageApi(APIView):
    """Unresolved flags in priority order (near-identical answers flagged, severity, age)."""

    permission_classes = [HasRole(*READERS)]

    class OutputSerializer(serializers.Serializer):
        flag = FlagOutputSerializer()
        near_identical = serializers.IntegerField()
        severity = serializers.IntegerField()
        age_hours = serializers.FloatField()
        labelled_by_me = serializers.BooleanField()
        claimed_by = serializers.CharField(allow_null=True)
        claimed_until = serializers.DateTimeField(allow_null=True)

        class Meta:
            ref_name = "TriageItem"

    @extend_schema(
        parameters=[OpenApiParameter("deployment", str, description="Deployment slug.")],
        responses=OutputSerializer(many=True),
    )
    def get(self, request):
        deployment = None
        if request.query_params.get("deployment"):
            deployment = drift_selectors.deployment_get(slug=request.query_params["deployment"], user=request.user)
        items = selectors.triage_queue(user=request.user, deployment=deployment)
        rows = [
            {
                "flag": i.flag, "near_identical": i.near_identical, "severity": i.severity,
                "age_hours": round(i.age.total_seconds() / 3600, 2), "labelled_by_me": i.labelled_by_me,
                "claimed_by": i.flag.claimed_by.get_username() if (i.claimed_by_me or i.claimed_by_other) else None,
                "claimed_until": i.flag.claimed_until if (i.claimed_by_me or i.claimed_by_other) else None,
            }
            for i in items
        ]
        return Response(self.OutputSerializer(rows, many=True).data)


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, 4)


class AgreementApi(APIView):
    """Cohen's kappa per SME pair and Krippendorff's alpha (nominal) over multiply-labelled flags."""

    permission_classes = [HasRole(*READERS)]

    @extend_schema(parameters=[OpenApiParameter("deployment", str)], responses={200: OpenApiResponse(description="Agreement report.")})
    def get(self, request):
        deployment = None
        if request.query_params.get("deployment"):
            deployment = drift_selectors.deployment_get(slug=request.query_params["deployment"], user=request.user)
        r = selectors.agreement_report(deployment=deployment, viewer=request.user)
        return Response({
            "flags": r.n_flags,
            "alpha": _num(r.overall_alpha),
            "disagreements": r.disagreements,
            "adjudicated": r.adjudicated,
            "pairs": [{"sme_a": p.sme_a, "sme_b": p.sme_b, "items": p.n_items, "kappa": _num(p.kappa),
                       "observed_agreement": _num(p.observed)} for p in r.pairs],
            "alpha_by_reason": [{"reason": g.group, "flags": g.n_flags, "alpha": _num(g.alpha)} for g in r.by_reason],
            "alpha_by_label": [{"label": g.group, "flags": g.n_flags, "alpha": _num(g.alpha)} for g in r.by_label],
        })


class ProportionSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    total = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(source="low")
    ci_high = serializers.FloatField(source="high")


class WindowMetricsSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    samples = serializers.IntegerField()
    flags = serializers.IntegerField()
    flagged_samples = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Flagged samples with a flag not resolved yet.")
    flag_rate = ProportionSerializer()
    confirmed_bad_rate = ProportionSerializer()
    outdated_rate = ProportionSerializer()


def _parse_time(raw: str | None, name: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = parse_datetime(raw.replace(" ", "+"))  # a "+" in a query string arrives as a space
    except ValueError:  # well formed but impossible, e.g. month 13
        value = None
    if value is None:
        raise ValueError(f"{name}: {raw!r} is not an ISO 8601 date-time.")
    if timezone.is_naive(value):
        raise ValueError(f"{name}: {raw!r} has no time zone; add Z or an offset.")
    problem = calendar_problem(value)
    if problem:
        raise ValueError(f"{name}: {raw[:40]!r} {problem}.")
    return value


class FeedbackMetricsOutputSerializer(serializers.Serializer):
    deployment = serializers.CharField(help_text="The deployment's slug.")
    window = serializers.ChoiceField(choices=list(selectors.WINDOWS))
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    windows = WindowMetricsSerializer(many=True)


class FeedbackMetricsApi(APIView):
    """Flag rate, confirmed-bad rate and outdated-knowledge rate per window, each with a 95% Wilson interval.

    Windows cover the samples served (client_timestamp) in [start, end); defaults: the last 28 days, daily.
    """

    permission_classes = [HasRole(*READERS)]

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO 8601 with time zone; default: the start of the window (day, or ISO week from Monday) 28 days before end."),
            OpenApiParameter("end", str, description="ISO 8601 with time zone; default now."),
            OpenApiParameter("window", str, enum=list(selectors.WINDOWS), description="Default daily."),
        ],
        # An object with the series under "windows" (the schema said a bare array: found by `make fuzz`).
        responses={200: FeedbackMetricsOutputSerializer},
    )
    def get(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        window = request.query_params.get("window") or "daily"
        if window not in selectors.WINDOWS:
            return Response({"detail": f"window must be one of {', '.join(selectors.WINDOWS)}; got {window!r}."}, status=400)
        try:
            end = _parse_time(request.query_params.get("end"), "end") or timezone.now()
            # The default start is a window boundary (Monday for weeks), as the dashboard's windows.
            start = _parse_time(request.query_params.get("start"), "start") or drift_selectors.window_floor(
                window=window, at=end - dt.timedelta(days=28))
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=400)
        if end <= start:
            return Response({"detail": "end must be after start."}, status=400)
        if (end - start) / selectors.WINDOWS[window] > MAX_WINDOWS:
            return Response({"detail": f"At most {MAX_WINDOWS} {window} windows per request; narrow start/end."}, status=400)
        series = selectors.feedback_metrics_series(deployment=deployment, start=start, end=end, window=window)
        return Response({
            "deployment": deployment.slug, "window": window, "start": start, "end": end,
            "windows": WindowMetricsSerializer(series, many=True).data,
        })
