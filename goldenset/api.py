"""Golden-set API (mounted at /api/v1/): one view per operation.

Each team has its own golden set: lists take `?team=<slug>` (default: all the caller's teams for items, the
caller's first team for versions), a new item or import may name `team`; another team's object is a 404.
Roles: SMEs write the golden set; power users, compliance officers and ML engineers read it;
ML engineers start evaluation runs, set baselines and configure endpoints.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from drift_app import selectors as drift_selectors
from drift_app.models import Team
from drift_app.pagination import Pagination, paginated
from drift_app.roles import COMPLIANCE, ML_ENGINEER, POWER_USER, SME, HasRole

from . import selectors, services
from .models import EvalRun

READERS = (SME, POWER_USER, COMPLIANCE, ML_ENGINEER)


def validation_response(exc: ValidationError) -> Response:
    if hasattr(exc, "error_dict"):
        errors = {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        return Response({"detail": detail, "errors": errors}, status=400)
    return Response({"detail": " ".join(exc.messages)}, status=400)


def _body(request) -> dict:
    try:
        data = request.data
    except ParseError as exc:
        raise _BadBody(f"Body is not valid JSON: {exc.detail}") from None
    if not isinstance(data, dict):
        raise _BadBody("Body must be a JSON object.")
    return data


class _BadBody(Exception):
    pass


class _GoldenApi(APIView):
    def handle_exception(self, exc):
        if isinstance(exc, ValidationError):
            return validation_response(exc)
        if isinstance(exc, _BadBody):
            return Response({"detail": str(exc)}, status=400)
        return super().handle_exception(exc)


class AcceptanceSerializer(serializers.Serializer):
    must_include = serializers.ListField(child=serializers.CharField(), required=False)
    must_not_include = serializers.ListField(child=serializers.CharField(), required=False)
    regex = serializers.CharField(required=False, help_text="Python regular expression, matched case-insensitively.")


class ItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    team = serializers.CharField(source="team.slug")
    prompt = serializers.CharField()
    reference_answer = serializers.CharField()
    category = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    acceptance = AcceptanceSerializer()
    source = serializers.CharField()
    source_sample_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    revision = serializers.IntegerField()
    author = serializers.CharField(source="author.username")
    approver = serializers.CharField(source="approver.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)


class ItemInputSerializer(serializers.Serializer):
    """Documentation only: validation is services.item_field_problems (one error format everywhere)."""

    prompt = serializers.CharField()
    reference_answer = serializers.CharField()
    category = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    acceptance = AcceptanceSerializer(required=False)
    reason = serializers.CharField(help_text="Why the item is added or changed (kept in its history).")
    team = serializers.CharField(required=False, help_text="Slug of the team whose golden set gets a new item "
                                                           "(needed only when you are an SME in several teams).")


ITEM_FIELDS = ("prompt", "reference_answer", "category", "tags", "acceptance")


def _team_from_body(request, data) -> Team | None:
    """The team named by `team` (a slug) in a body; 400 when it is not a string, 404 when not the caller's."""
    slug = data.get("team")
    if slug in (None, ""):
        return None
    if not isinstance(slug, str):
        raise ValidationError({"team": "must be a team's slug (a string)"})
    return selectors.golden_team(user=request.user, slug=slug)


def _query_team(request) -> Team:
    return selectors.golden_team(user=request.user, slug=request.query_params.get("team", ""))


class ItemListApi(_GoldenApi):
    def get_permissions(self):
        return [HasRole(SME)()] if self.request.method == "POST" else [HasRole(*READERS)()]

    @extend_schema(
        operation_id="v1_golden_items_list",
        parameters=[OpenApiParameter(n, str, required=False)
                    for n in ("team", "q", "status", "category", "tag", "source")],
        responses=paginated(ItemOutputSerializer),
    )
    def get(self, request):

        p = request.query_params
        team = selectors.golden_team(user=request.user, slug=p["team"]) if p.get("team") else None
        qs = selectors.golden_item_list(user=request.user, team=team, q=p.get("q", ""), status=p.get("status", ""),
                                        category=p.get("category", ""), tag=p.get("tag", ""),
                                        source=p.get("source", "")).order_by("id")
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ItemOutputSerializer(page, many=True).data)

    @extend_schema(request=ItemInputSerializer, responses={201: ItemOutputSerializer, 400: OpenApiResponse(description="Invalid field(s), named in `errors`.")})
    def post(self, request):
        data = _body(request)
        unknown = set(data) - set(ITEM_FIELDS) - {"reason", "team"}
        if unknown:
            return Response({"detail": f"Unknown field {sorted(unknown)[0]!r}; allowed: {', '.join(ITEM_FIELDS)}, "
                                       "reason, team."}, status=400)
        item = services.golden_item_create(
            author=request.user, prompt=data.get("prompt"), reference_answer=data.get("reference_answer"),
            category=data.get("category"), tags=data.get("tags"), acceptance=data.get("acceptance"),
            reason=data.get("reason", ""), team=_team_from_body(request, data),
        )
        return Response(ItemOutputSerializer(item).data, status=201)


class ItemDetailApi(_GoldenApi):
    def get_permissions(self):
        return [HasRole(SME)()] if self.request.method == "PATCH" else [HasRole(*READERS)()]

    @extend_schema(responses=ItemOutputSerializer)
    def get(self, request, pk: int):
        return Response(ItemOutputSerializer(selectors.golden_item_get(pk=pk, user=request.user)).data)

    @extend_schema(request=ItemInputSerializer(partial=True), responses=ItemOutputSerializer)
    def patch(self, request, pk: int):
        item = selectors.golden_item_get(pk=pk, user=request.user)
        data = _body(request)
        unknown = set(data) - set(ITEM_FIELDS) - {"reason"}
        if unknown:
            return Response({"detail": f"Unknown field {sorted(unknown)[0]!r}; allowed: {', '.join(ITEM_FIELDS)}, reason."}, status=400)
        changes = {k: data[k] for k in ITEM_FIELDS if k in data}
        item = services.golden_item_update(item=item, user=request.user, reason=data.get("reason", ""), **changes)
        return Response(ItemOutputSerializer(item).data)


class ItemHistoryApi(_GoldenApi):
    permission_classes = [HasRole(*READERS)]

    class GoldenItemEventSerializer(serializers.Serializer):
        action = serializers.CharField()
        user = serializers.CharField(source="user.username")
        reason = serializers.CharField()
        from_status = serializers.CharField()
        to_status = serializers.CharField()
        snapshot = serializers.DictField()
        created_at = serializers.DateTimeField()

    @extend_schema(responses=GoldenItemEventSerializer(many=True))
    def get(self, request, pk: int):
        item = selectors.golden_item_get(pk=pk, user=request.user)
        return Response(self.GoldenItemEventSerializer(selectors.golden_item_history(item=item), many=True).data)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Required: kept in the item's history (a rejection's comment).")


def _transition_api(service, doc: str):
    class _Api(_GoldenApi):
        __doc__ = doc
        permission_classes = [HasRole(SME)]

        @extend_schema(request=ReasonSerializer, responses={200: ItemOutputSerializer, 400: OpenApiResponse(description="Not allowed in this state.")})
        def post(self, request, pk: int):
            item = selectors.golden_item_get(pk=pk, user=request.user)
            data = _body(request)
            item = service(item=item, user=request.user, reason=data.get("reason", ""))
            return Response(ItemOutputSerializer(selectors.golden_item_get(pk=item.pk, user=request.user)).data)

    _Api.__name__ = service.__name__.title().replace("_", "") + "Api"
    return _Api


ItemSubmitApi = _transition_api(services.golden_item_submit, "Submit a draft for review (refused while unacknowledged PII remains).")
ItemApproveApi = _transition_api(services.golden_item_approve, "Approve an item in review; never by its author. Cuts a new version.")
ItemRejectApi = _transition_api(services.golden_item_reject, "Send an item in review back to draft; the reason is the comment.")
ItemRetireApi = _transition_api(services.golden_item_retire, "Retire an item; retiring an approved item cuts a new version.")
ItemAcknowledgePiiApi = _transition_api(services.golden_item_acknowledge_pii, "Acknowledge the PII in the item's current text.")


class ImportApi(_GoldenApi):
    """Import JSONL or CSV (see goldenset/README.md). JSON body {format, content, reason, accept_duplicate_rows}
    or multipart with a `file` (format taken from its extension unless given)."""

    permission_classes = [HasRole(SME)]

    class GoldenImportInputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=["jsonl", "csv"])
        content = serializers.CharField()
        reason = serializers.CharField()
        accept_duplicate_rows = serializers.ListField(child=serializers.IntegerField(), required=False)

    @extend_schema(request=GoldenImportInputSerializer, responses={201: OpenApiResponse(description="Report: created, problems, near_duplicates"),
                                                        400: OpenApiResponse(description="Per-row validation report; nothing stored.")})
    def post(self, request):
        try:
            data = request.data
        except ParseError as exc:
            return Response({"detail": f"Body is not valid JSON: {exc.detail}"}, status=400)
        upload = request.FILES.get("file") if hasattr(request, "FILES") else None
        if not hasattr(data, "get"):
            return Response({"body": f"must be a JSON object, got {type(data).__name__}"}, status=400)
        fmt = data.get("format", "")
        if upload is not None:
            raw = upload.read()
            fmt = fmt or upload.name.rsplit(".", 1)[-1].lower()
            try:
                content = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                return Response({"detail": "The file is not UTF-8 text."}, status=400)
        else:
            content = data.get("content", "")
        if fmt not in ("jsonl", "csv"):
            return Response({"detail": "format must be 'jsonl' or 'csv'."}, status=400)
        if not isinstance(content, str):
            return Response({"detail": "content must be a string."}, status=400)
        accept = data.getlist("accept_duplicate_rows") if hasattr(data, "getlist") else data.get("accept_duplicate_rows", [])
        try:
            accept = [int(x) for x in accept or []]
        except (TypeError, ValueError):
            return Response({"detail": "accept_duplicate_rows must be a list of row numbers."}, status=400)
        report = services.golden_import(user=request.user, fmt=fmt, content=content, reason=data.get("reason", ""),
                                        accept_duplicate_rows=accept, team=_team_from_body(request, data))
        body = report.as_dict()
        if report.problems:
            return Response({"detail": "Invalid rows; nothing was imported.", **body}, status=400)
        return Response(body, status=201 if report.created else 200)


class ExportApi(_GoldenApi):
    permission_classes = [HasRole(*READERS)]

    # `file_format`, not `format`: DRF reserves ?format= for its own content negotiation.
    @extend_schema(parameters=[OpenApiParameter("file_format", str, enum=["jsonl", "csv"]), OpenApiParameter("status", str)],
                   responses={200: OpenApiResponse(description="JSONL or CSV file")})
    def get(self, request):
        fmt = request.query_params.get("file_format", "jsonl")
        if fmt not in ("jsonl", "csv"):
            return Response({"detail": "file_format must be 'jsonl' or 'csv'."}, status=400)
        items = selectors.golden_item_list(user=request.user, team=_query_team(request),
                                           status=request.query_params.get("status", "")).order_by("id")
        content = services.golden_export(fmt=fmt, items=items)
        ctype = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
        response = HttpResponse(content, content_type=f"{ctype}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="golden-set.{fmt}"'
        return response


class VersionOutputSerializer(serializers.Serializer):
    team = serializers.CharField(source="team.slug")
    number = serializers.IntegerField()
    content_hash = serializers.CharField()
    item_count = serializers.IntegerField()
    reason = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()


class VersionListApi(_GoldenApi):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(responses=VersionOutputSerializer(many=True))
    def get(self, request):
        return Response(VersionOutputSerializer(selectors.golden_version_list(team=_query_team(request)), many=True).data)


class VersionDetailApi(_GoldenApi):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(responses=VersionOutputSerializer)
    def get(self, request, number: int):
        version = selectors.golden_version_get(number=number, team=_query_team(request))
        body = VersionOutputSerializer(version).data
        body["items"] = [{"item_id": vi.item_id, "revision": vi.revision, "prompt": vi.prompt,
                          "reference_answer": vi.reference_answer, "category": vi.category, "tags": vi.tags,
                          "acceptance": vi.acceptance, "item_hash": vi.item_hash} for vi in version.items.all()]
        return Response(body)


class VersionDiffApi(_GoldenApi):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(responses={200: OpenApiResponse(description="added, changed (before/after), retired")})
    def get(self, request, old: int, new: int):
        team = _query_team(request)
        diff = selectors.golden_version_diff(old=selectors.golden_version_get(number=old, team=team),
                                             new=selectors.golden_version_get(number=new, team=team))
        return Response(diff.as_dict())


class ItemBulkApproveApi(_GoldenApi):
    """Approve several items in review in one call: all or nothing, and one golden-set version for the batch
    (approving an import item by item cut one version per item)."""

    permission_classes = [HasRole(SME)]

    class BulkApproveInputSerializer(serializers.Serializer):
        ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=5000)
        reason = serializers.CharField()

    @extend_schema(operation_id="v1_golden_items_bulk_approve", request=BulkApproveInputSerializer,
                   responses={200: VersionOutputSerializer})
    def post(self, request):
        data = _body(request)
        serializer = self.BulkApproveInputSerializer(data=data)
        if not serializer.is_valid():
            return Response({"detail": "Invalid request.", "errors": serializer.errors}, status=400)
        ids = list(dict.fromkeys(serializer.validated_data["ids"]))
        items = selectors.golden_items_by_ids(ids=ids, user=request.user)
        missing = sorted(set(ids) - {i.pk for i in items})
        if missing:
            return Response({"detail": f"ids: no golden item #{missing[0]}.", "errors": {"ids": [f"unknown ids {missing[:20]}"]}},
                            status=400)
        version = services.golden_items_approve(items=items, user=request.user,
                                                reason=serializer.validated_data["reason"])
        return Response(VersionOutputSerializer(version).data)


class RunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deployment = serializers.CharField(source="deployment.slug")
    model_version = serializers.CharField()
    golden_version = serializers.IntegerField(source="golden_version.number")
    golden_version_hash = serializers.CharField(source="golden_version.content_hash")
    status = serializers.CharField()
    answer_source = serializers.CharField()
    trigger = serializers.CharField()
    similarity_threshold = serializers.FloatField()
    judge_model = serializers.CharField()
    judge_prompt_version = serializers.CharField()
    item_count = serializers.IntegerField()
    passed_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    errored_count = serializers.IntegerField()
    pass_rate = serializers.FloatField(allow_null=True)
    category_pass_rates = serializers.DictField()
    is_baseline = serializers.BooleanField()
    baseline_run = serializers.IntegerField(source="baseline_run_id", allow_null=True)
    relative_drop_pct = serializers.FloatField(allow_null=True)
    regressed_count = serializers.IntegerField()
    combination_rule = serializers.CharField()
    scorer_config = serializers.DictField()
    comparison_refused = serializers.CharField(help_text="Why the run was not compared with the baseline ('' when it was).")
    error = serializers.CharField()
    requeue_count = serializers.IntegerField(help_text="Times the reaper queued the run again after its worker was lost.")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    answers_produced_at = serializers.DateTimeField(allow_null=True)


class ResultOutputSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    category = serializers.CharField(source="version_item.category")
    prompt = serializers.CharField(source="version_item.prompt")
    answer = serializers.CharField(allow_null=True)
    outcome = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    exact_match = serializers.BooleanField(allow_null=True)
    similarity = serializers.FloatField(allow_null=True)
    acceptance_ok = serializers.BooleanField(allow_null=True)
    acceptance_problems = serializers.ListField(child=serializers.CharField())
    judge_passed = serializers.BooleanField(allow_null=True)
    judge_score = serializers.FloatField(allow_null=True)
    judge_model = serializers.CharField()
    judge_prompt_version = serializers.CharField()
    scorer_outcomes = serializers.DictField(help_text="Each scorer's {status, reason, score, details} by name.")
    error = serializers.CharField()
    regressed = serializers.BooleanField()


class RunListApi(_GoldenApi):
    """GET: a deployment's runs. POST (ML engineers): start a run, from the endpoint or uploaded answers."""

    def get_permissions(self):
        return [HasRole(ML_ENGINEER)()] if self.request.method == "POST" else [HasRole(*READERS)()]

    class GoldenRunInputSerializer(serializers.Serializer):
        model_version = serializers.CharField(required=False, help_text="Defaults to the deployment's current version.")
        answers = serializers.ListField(
            child=serializers.DictField(), required=False,
            help_text='[{"golden_item_id": 12, "answer": "..."}]; omit to query the configured endpoint.',
        )
        answers_produced_at = serializers.DateTimeField(
            required=False, help_text="When the uploaded answers were produced (ISO 8601 with a time zone).",
        )

    @extend_schema(responses=RunOutputSerializer(many=True))
    def get(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        return Response(RunOutputSerializer(selectors.eval_run_list(deployment=deployment)[:200], many=True).data)

    @extend_schema(request=GoldenRunInputSerializer, responses={202: RunOutputSerializer, 400: OpenApiResponse(description="Invalid answers or no endpoint.")})
    def post(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        data = _body(request)
        answers = None
        if "answers" in data:
            answers, problems = parse_answers(data["answers"])
            if problems:
                return Response({"detail": "Invalid answers; no run was created.", "errors": problems}, status=400)
        model_version = data.get("model_version")
        if model_version is not None and not isinstance(model_version, str):
            return Response({"detail": "model_version must be a string."}, status=400)
        produced_at = None
        if data.get("answers_produced_at") is not None:
            field = serializers.DateTimeField()
            try:
                produced_at = field.to_internal_value(data["answers_produced_at"])
            except serializers.ValidationError:
                return Response({"detail": "answers_produced_at must be an ISO 8601 date-time with a time zone.",
                                 "errors": [{"field": "answers_produced_at", "problem": "not an ISO 8601 date-time"}]},
                                status=400)
        run = services.eval_run_create(deployment=deployment, user=request.user, model_version=model_version,
                                       answers=answers, trigger=EvalRun.Trigger.API, answers_produced_at=produced_at)
        return Response(RunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def parse_answers(records) -> tuple[dict[int, str], list[dict]]:
    """[{"golden_item_id", "answer"}] → {id: answer}, with (index, field, problem) for bad records."""
    problems: list[dict] = []
    out: dict[int, str] = {}
    if not isinstance(records, list) or not records:
        return {}, [{"field": "answers", "problem": "must be a non-empty list"}]
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            problems.append({"index": i, "field": "answers", "problem": "must be an object"})
            continue
        item_id, answer = rec.get("golden_item_id"), rec.get("answer")
        if not isinstance(item_id, int) or isinstance(item_id, bool):
            problems.append({"index": i, "field": "golden_item_id", "problem": "must be an integer"})
        elif item_id in out:
            problems.append({"index": i, "field": "golden_item_id", "problem": f"item {item_id} is answered twice"})
        if not isinstance(answer, str):
            problems.append({"index": i, "field": "answer", "problem": "must be a string"})
        if not problems or problems[-1].get("index") != i:
            out[item_id] = answer
    return out, problems


class RunDetailApi(_GoldenApi):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(responses=RunOutputSerializer)
    def get(self, request, pk: int):
        run = selectors.eval_run_get(pk=pk, user=request.user)
        body = RunOutputSerializer(run).data
        body["results"] = ResultOutputSerializer(selectors.eval_result_list(run=run), many=True).data
        return Response(body)


class RunRetryApi(_GoldenApi):
    """POST: queue a failed evaluation run again; it resumes with the answers it already has (audited)."""

    permission_classes = [HasRole(ML_ENGINEER)]

    @extend_schema(
        request=None,
        responses={202: RunOutputSerializer,
                   409: OpenApiResponse(description="The run did not fail, or its schedule tick has another live run.")},
    )
    def post(self, request, pk: int):
        run = selectors.eval_run_get(pk=pk, user=request.user)
        try:
            run = services.eval_run_retry(run=run, user=request.user)
        except services.RetryRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(RunOutputSerializer(selectors.eval_run_get(pk=run.pk, user=request.user)).data,
                        status=status.HTTP_202_ACCEPTED)


class RunBaselineApi(_GoldenApi):
    permission_classes = [HasRole(ML_ENGINEER)]

    @extend_schema(request=ReasonSerializer, responses=RunOutputSerializer)
    def post(self, request, pk: int):
        run = selectors.eval_run_get(pk=pk, user=request.user)
        data = _body(request)
        run = services.eval_run_set_baseline(run=run, user=request.user, reason=data.get("reason", ""))
        return Response(RunOutputSerializer(selectors.eval_run_get(pk=run.pk, user=request.user)).data)


class ConfigSerializer(serializers.Serializer):
    endpoint_base_url = serializers.CharField(allow_blank=True, required=False)
    endpoint_model = serializers.CharField(allow_blank=True, required=False)
    api_key_env = serializers.CharField(allow_blank=True, required=False, help_text="Name of the env var holding the key.")
    timeout_s = serializers.FloatField(required=False)
    max_retries = serializers.IntegerField(required=False)
    concurrency = serializers.IntegerField(required=False)
    similarity_threshold = serializers.FloatField(required=False)
    alignment_threshold = serializers.FloatField(required=False)
    combination_rule = serializers.CharField(required=False)
    judge_enabled = serializers.BooleanField(required=False)
    judge_model = serializers.CharField(allow_blank=True, required=False)
    judge_min_kappa = serializers.FloatField(required=False)
    schedule_cron = serializers.CharField(allow_blank=True, required=False)


class ConfigApi(_GoldenApi):
    def get_permissions(self):
        return [HasRole(ML_ENGINEER)()] if self.request.method == "PUT" else [HasRole(ML_ENGINEER, SME, COMPLIANCE)()]

    @extend_schema(responses=ConfigSerializer)
    def get(self, request, slug: str):
        config = services.eval_config_get(deployment=drift_selectors.deployment_get(slug=slug, user=request.user))
        return Response(ConfigSerializer(config).data)

    @extend_schema(request=ConfigSerializer, responses=ConfigSerializer)
    def put(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        data = _body(request)
        serializer = ConfigSerializer(data=data)
        unknown = set(data) - set(ConfigSerializer().fields)
        if unknown:
            return Response({"detail": f"Unknown field {sorted(unknown)[0]!r}."}, status=400)
        if not serializer.is_valid():
            return Response({"detail": "Invalid configuration.", "errors": serializer.errors}, status=400)
        config = services.eval_config_update(deployment=deployment, **serializer.validated_data)
        return Response(ConfigSerializer(config).data)


class CoverageGapsApi(_GoldenApi):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(responses={200: OpenApiResponse(description="samples, uncovered, radius, gaps[size, share, examples]")})
    def get(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        report = selectors.coverage_gaps(deployment=deployment)
        return Response({
            "samples": report.samples, "uncovered": report.uncovered, "radius": report.radius,
            "gaps": [{"size": g.size, "share": g.share, "examples": g.examples,
                      "nearest_golden_similarity": g.nearest_golden_similarity} for g in report.gaps],
        })


class JudgeCalibrationApi(_GoldenApi):
    """GET: the judge's agreement with SMEs per judge model and rubric version (kappa with 95% CI, confusion, n)."""

    permission_classes = [HasRole(*READERS)]

    @extend_schema(responses={200: OpenApiResponse(description="series[judge_model, judge_prompt_version, min_kappa, "
                                                               "agreement{n, kappa, low, high, confusion, calibrated, reason}]")})
    def get(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        return Response({"series": selectors.judge_calibration(deployment=deployment)})


class CalibrationLabelSerializer(serializers.Serializer):
    passed = serializers.BooleanField(help_text="The SME's own verdict on the answer.")
    note = serializers.CharField(allow_blank=True, required=False)


class CalibrationLabelApi(_GoldenApi):
    """POST (SMEs): your own pass/fail on an item the judge graded in a deployment's run."""

    permission_classes = [HasRole(SME)]

    @extend_schema(request=CalibrationLabelSerializer, responses={201: OpenApiResponse(description="label stored")})
    def post(self, request, slug: str, pk: int):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        result = selectors.eval_result_get(deployment=deployment, pk=pk)
        data = _body(request)
        if not isinstance(data.get("passed"), bool):
            return Response({"detail": "passed: must be true or false", "errors": {"passed": ["must be true or false"]}},
                            status=400)
        label = services.judge_calibration_label(result=result, user=request.user, passed=data["passed"],
                                                 note=data.get("note", ""))
        return Response({"id": label.id, "result": result.pk, "passed": label.passed,
                         "judge_model": label.judge_model, "judge_prompt_version": label.judge_prompt_version},
                        status=201)
