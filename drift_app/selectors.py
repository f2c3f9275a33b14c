from __future__ import annotations

import datetime as dt

import numpy as np
from django.db import connection
from django.db.models import Max, Min, QuerySet
from django.shortcuts import get_object_or_404

from . import embeddings, pgbinary
from .models import ApiKey, Baseline, Deployment, ProductionSample, Team, TeamMembership
from .roles import acting_roles, team_ids_with_role


def team_ids_acting(*, user, roles: tuple[str, ...] | None = None) -> list[int] | None:
    """Ids of the teams whose objects `user` may reach now; None means every team (a superuser).

    A team counts when the user holds, in it, one of `roles` (default: the roles the current page or
    endpoint acts with, see drift_app/roles.py; any role on pages that name none). Anonymous: no team.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    return team_ids_with_role(user, roles if roles is not None else acting_roles(user))


def teams_acting(*, user, roles: tuple[str, ...] | None = None) -> QuerySet[Team]:
    ids = team_ids_acting(user=user, roles=roles)
    return Team.objects.all() if ids is None else Team.objects.filter(pk__in=ids)


def deployments_visible(*, user, roles: tuple[str, ...] | None = None) -> QuerySet[Deployment]:
    """The deployments of the teams in which `user` holds one of the acting roles (all for a superuser).

    Every page and API view reads deployments through this, so another team's deployment is a 404, and so
    is one of a team where the user holds a role other than the page's (an SME of team A who is a power
    user in team B sees B's deployments on power-user pages only).
    """
    ids = team_ids_acting(user=user, roles=roles)
    if ids is None:
        return Deployment.objects.all()
    return Deployment.objects.filter(team_id__in=ids)


def deployment_list(*, user) -> QuerySet[Deployment]:
    return deployments_visible(user=user)


def deployment_get(*, slug: str, user) -> Deployment:
    return get_object_or_404(deployments_visible(user=user), slug=slug)


def deployment_find(*, slug: str, user) -> Deployment | None:
    """The deployment with this slug, or None (for optional filters; `deployment_get` answers 404)."""
    return deployments_visible(user=user).filter(slug=slug).first()


def deployment_all() -> QuerySet[Deployment]:
    """Every deployment, unscoped: for scheduled work (beat tasks), never for a request."""
    return Deployment.objects.all()


def team_get(*, slug: str) -> Team | None:
    return Team.objects.filter(slug=slug).first()


def teams_of(*, user, roles: tuple[str, ...] | None = None) -> QuerySet[Team]:
    """The teams `user` belongs to (with one of `roles`, when given)."""
    memberships = TeamMembership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return Team.objects.filter(pk__in=memberships.values("team_id")).order_by("slug")


TEAM_MANAGERS = ("team_admin", "ml_engineer")


def teams_managed(*, user) -> QuerySet[Team]:
    """Teams whose page `user` may open: team admins (members) and ML engineers (ingestion keys)."""
    return teams_acting(user=user, roles=TEAM_MANAGERS).order_by("name")


def team_managed_get(*, slug: str, user) -> Team:
    return get_object_or_404(teams_managed(user=user), slug=slug)


def team_members(*, team: Team) -> QuerySet[TeamMembership]:
    return TeamMembership.objects.filter(team=team).select_related("user").order_by("user__username", "role")


def team_membership_get(*, team: Team, pk: int) -> TeamMembership:
    return get_object_or_404(team_members(team=team), pk=pk)


def team_deployments(*, team: Team) -> QuerySet[Deployment]:
    return Deployment.objects.filter(team=team).order_by("name")


def team_ingestion_keys(*, team: Team) -> QuerySet[ApiKey]:
    """The ingestion keys of the team's deployments, newest first (never their secrets: only hashes are stored)."""
    return (ApiKey.objects.filter(kind=ApiKey.Kind.INGESTION, deployment__team=team)
            .select_related("deployment", "user", "revoked_by").order_by("-created_at", "-id"))


def personal_tokens(*, user) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(kind=ApiKey.Kind.PERSONAL, user=user).select_related("user")


def personal_token_get(*, user, prefix: str) -> ApiKey:
    """One of `user`'s own tokens (another user's is a 404)."""
    return get_object_or_404(personal_tokens(user=user), prefix=prefix)


def ingestion_keys(*, deployment: Deployment) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(kind=ApiKey.Kind.INGESTION, deployment=deployment).select_related("user", "deployment")


def ingestion_key_get(*, deployment: Deployment, prefix: str) -> ApiKey:
    return get_object_or_404(ingestion_keys(deployment=deployment), prefix=prefix)


def team_roles(*, user, deployment: Deployment) -> set[str]:
    """The roles `user` holds in the team that owns `deployment`."""
    return set(TeamMembership.objects.filter(user=user, team_id=deployment.team_id).values_list("role", flat=True))


def sample_get(*, pk: int, user, slug: str | None = None) -> ProductionSample:
    """One sample without its vectors (404 when missing, not visible to `user`, or not of deployment `slug`)."""
    lookup = {"pk": pk} if slug is None else {"pk": pk, "deployment__slug": slug}
    return get_object_or_404(
        ProductionSample.objects.select_related("deployment").defer("prompt_embedding", "response_embedding")
        .filter(deployment__in=deployments_visible(user=user)),
        **lookup,
    )


def sample_find(*, user, pk: int | None = None, deployment_slug: str | None = None, external_id: str | None = None):
    """A sample by id, or by deployment slug and external id; None when there is none `user` may see."""
    samples = (ProductionSample.objects.select_related("deployment").defer("prompt_embedding", "response_embedding")
               .filter(deployment__in=deployments_visible(user=user)))
    if pk is not None:
        return samples.filter(pk=pk).first()
    return samples.filter(deployment__slug=deployment_slug, external_id=external_id).first()


def sample_counts(*, deployment: Deployment) -> dict[str, int]:
    """How many samples the deployment has, and how many of them have their prompt embedded."""
    samples = ProductionSample.objects.filter(deployment=deployment)
    # embedded_current: vectors of the current encoder; below `embedded` while a switch of encoder re-embeds.
    return {"total": samples.count(), "embedded": samples.filter(prompt_embedding__isnull=False).count(),
            "embedded_current": samples.filter(prompt_embedding__isnull=False,
                                               embedding_model=embeddings.MODEL_NAME).count()}


def sample_list(*, deployment: Deployment) -> QuerySet[ProductionSample]:
    return ProductionSample.objects.filter(deployment=deployment).defer(
        "prompt_embedding", "response_embedding"
    ).order_by("-client_timestamp", "-id")


def sample_vectors(
    *,
    deployment: Deployment,
    target: str = "prompt",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    sample_ids: list[int] | None = None,
    limit: int | None = None,
    at_most: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of one deployment's samples as (ids (n,), float32 (n, 384)), in one binary COPY.

    Only vectors of the current embedding model are returned: vectors of two models are never compared.
    With `at_most`, a larger selection is sampled in SQL, stratified by time: the rows in time order
    are cut into `at_most` equal strata and one row is taken from each (at a seeded offset), so only
    the chosen rows' vectors ever leave the database.
    """
    column = {"prompt": "prompt_embedding", "response": "response_embedding"}[target]
    where = ["deployment_id = %s", f"{column} IS NOT NULL", "embedding_model = %s"]
    params: list = [deployment.id, embeddings.MODEL_NAME]
    if start is not None:
        where.append("client_timestamp >= %s")
        params.append(start)
    if end is not None:
        where.append("client_timestamp < %s")
        params.append(end)
    if sample_ids is not None:
        where.append("id = ANY(%s)")
        params.append(list(sample_ids))
    table = ProductionSample._meta.db_table
    if at_most is not None:
        m = int(at_most)
        offset = (seed * 0.6180339887498949) % 1.0
        # The outer query repeats the filters so that it reads only the window's months (partition pruning).
        sql = f"""SELECT id, {column} FROM {table} WHERE {' AND '.join(where)} AND id IN (
                    SELECT id FROM (
                      SELECT id, row_number() OVER (ORDER BY client_timestamp, id) - 1 AS k, count(*) OVER () AS n
                      FROM {table} WHERE {' AND '.join(where)}) w
                    WHERE n <= {m} OR floor(k * {m}::float8 / n + {offset!r}) < floor((k + 1) * {m}::float8 / n + {offset!r})
                  ) ORDER BY id"""
        params = params + params
    else:
        sql = f"SELECT id, {column} FROM {table} WHERE {' AND '.join(where)} ORDER BY id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        # psycopg's server-side parameter binding does not apply inside COPY: compose the literal query.
        query = cursor.cursor.mogrify(sql, params)
        buf = bytearray()
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
            for chunk in copy:
                buf += chunk
    if not buf:
        return np.zeros(0, dtype=np.int64), np.zeros((0, embeddings.DIMENSIONS), dtype=np.float32)
    return pgbinary.decode_id_vector(bytes(buf), embeddings.DIMENSIONS)


def sample_nearest_ids(
    *, deployment: Deployment, start: dt.datetime, end: dt.datetime, vector: np.ndarray, limit: int,
    target: str = "prompt",
) -> np.ndarray:
    """Ids of the window's `limit` samples nearest `vector` (cosine), nearest first.

    The distances are computed in PostgreSQL over the window's months: only ids leave the database,
    never the window's vectors (the dashboard map and the advice export use this on windows of any size).
    """
    column = {"prompt": "prompt_embedding", "response": "response_embedding"}[target]
    literal = "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32)) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT id FROM {ProductionSample._meta.db_table}
                WHERE deployment_id = %s AND {column} IS NOT NULL AND embedding_model = %s
                  AND client_timestamp >= %s AND client_timestamp < %s
                ORDER BY {column} <=> %s::vector, id LIMIT %s""",
            [deployment.id, embeddings.MODEL_NAME, start, end, literal, int(limit)],
        )
        return np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64)


def sample_vector_count(*, deployment: Deployment, target: str, start: dt.datetime, end: dt.datetime) -> int:
    """How many samples of the window have a vector of the current model (what sample_vectors would return)."""
    column = {"prompt": "prompt_embedding", "response": "response_embedding"}[target]
    return ProductionSample.objects.filter(
        deployment=deployment, embedding_model=embeddings.MODEL_NAME, client_timestamp__gte=start,
        client_timestamp__lt=end, **{f"{column}__isnull": False},
    ).count()


def drift_run_list(*, deployment: Deployment, target: str | None = None, status: str | None = None):
    from .models import DriftRun

    qs = DriftRun.objects.filter(deployment=deployment).select_related("deployment")
    if target:
        qs = qs.filter(target=target)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-window_start", "target")


def drift_run_get(*, deployment: Deployment, run_id: int):
    from .models import DriftRun

    return get_object_or_404(DriftRun.objects.select_related("deployment", "baseline"), deployment=deployment, id=run_id)


def baseline_list(*, deployment: Deployment):
    from .models import Baseline

    return Baseline.objects.filter(deployment=deployment).defer(
        "prompt_artifact", "response_artifact", "sample_ids"
    ).select_related("deployment")


def baseline_active(*, deployment: Deployment):
    from .models import Baseline

    return Baseline.objects.filter(deployment=deployment, is_active=True).defer(
        "prompt_artifact", "response_artifact", "sample_ids"
    ).first()


def evidence_sample_ids(*, deployment: Deployment) -> set[int]:
    """Samples of `deployment` that are evidence: referenced by any PROTECT foreign key.

    The apps above this layer (flags, promotions, golden items) point at samples with PROTECT, so
    the relations are found through the model registry instead of importing those apps: a new kind
    of evidence is covered the day its model points at a sample, and this layer imports nothing above.
    """
    from django.db.models import PROTECT

    ids: set[int] = set()
    for relation in ProductionSample._meta.related_objects:
        if relation.on_delete is not PROTECT or relation.many_to_many:
            continue
        field = relation.field
        ids |= set(
            relation.related_model._default_manager.filter(**{f"{field.name}__deployment": deployment})
            .exclude(**{f"{field.attname}__isnull": True})
            .values_list(field.attname, flat=True)
        )
    return ids


def evidence_sample_ids_between(*, start: dt.datetime, end: dt.datetime) -> set[int]:
    """Samples of every deployment served in [start, end) that are evidence (as evidence_sample_ids) or
    belong to an active baseline: what retention keeps when it drops that month."""
    from django.db.models import PROTECT

    ids: set[int] = set()
    for relation in ProductionSample._meta.related_objects:
        if relation.on_delete is not PROTECT or relation.many_to_many:
            continue
        field = relation.field
        ids |= set(
            relation.related_model._default_manager.filter(
                **{f"{field.name}__client_timestamp__gte": start, f"{field.name}__client_timestamp__lt": end}
            ).values_list(field.attname, flat=True)
        )
    baseline_ids = {i for ids_ in Baseline.objects.filter(is_active=True).values_list("sample_ids", flat=True)
                    for i in ids_ or []}
    if baseline_ids:
        ids |= set(
            ProductionSample.objects.filter(id__in=baseline_ids, client_timestamp__gte=start, client_timestamp__lt=end)
            .values_list("id", flat=True)
        )
    return ids


def embedding_backlog_count() -> int:
    """Samples still without a vector, across deployments (/metrics); served by the partial index
    `sample_unembedded`, so cheap however large the table."""
    return ProductionSample.objects.filter(prompt_embedding__isnull=True).count()


def drift_run_duration_totals() -> tuple[int, float]:
    """(drift runs computed, seconds spent computing them), across deployments (/metrics)."""
    from django.db.models import Count, Sum

    from .models import DriftRun

    done = DriftRun.objects.filter(duration_seconds__isnull=False).aggregate(n=Count("id"), s=Sum("duration_seconds"))
    return done["n"] or 0, float(done["s"] or 0.0)
# --- label-free quality signals ---------------------------------------------------------------------

def _quality_values(*, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> dict[str, np.ndarray]:
    """Per-sample signals in [start, end): every score name, relevance and response length, as arrays.

    relevance: cosine of the sample's prompt and response vectors (current model only; pgvector's <=> is
    the cosine distance). response_tokens: whitespace-separated tokens of the response.
    """
    table = ProductionSample._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT s.key, array_agg((s.value #>> '{{}}')::float8)
                FROM {table} p, jsonb_each(p.scores) s
                WHERE p.deployment_id = %s AND p.client_timestamp >= %s AND p.client_timestamp < %s
                  AND jsonb_typeof(s.value) = 'number'
                GROUP BY s.key""",
            [deployment.id, start, end],
        )
        out = {f"score:{name}": np.asarray(values, dtype=np.float64) for name, values in cursor.fetchall()}
        cursor.execute(
            f"""SELECT array_agg(1 - (prompt_embedding <=> response_embedding))
                       FILTER (WHERE prompt_embedding IS NOT NULL AND response_embedding IS NOT NULL
                               AND embedding_model = %s),
                       array_agg(coalesce(array_length(regexp_split_to_array(btrim(response), '\\s+'), 1), 0))
                FROM {table}
                WHERE deployment_id = %s AND client_timestamp >= %s AND client_timestamp < %s""",
            [embeddings.MODEL_NAME, deployment.id, start, end],
        )
        relevance, lengths = cursor.fetchone()
    out["relevance"] = np.asarray(relevance or [], dtype=np.float64)
    out["response_tokens"] = np.asarray(lengths or [], dtype=np.float64)
    return out


def quality_evidence(*, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> dict:
    """Label-free quality evidence for the window [start, end) against the active baseline's period.

    Returns {"window", "baseline_period", "band_pct", "scores": [ScoreShift dicts, one per score name],
    "context": {"relevance": ScoreShift dict, "response_tokens": ScoreShift dict}, "degraded": bool,
    "degraded_scores": [names], "note"}. Only a quality score's significant drop beyond the band
    (Deployment.quality_drift_pct) is degradation; relevance and length are context, never a verdict.
    """
    from .stats import quality

    band = float(deployment.quality_drift_pct)
    result = {"window": {"start": start.isoformat(), "end": end.isoformat()}, "baseline_period": None,
              "band_pct": band, "scores": [], "context": {}, "degraded": False, "degraded_scores": [], "note": ""}
    baseline = baseline_active(deployment=deployment)
    if baseline is None:
        result["note"] = "no active baseline: quality signals need a baseline period to compare with"
        return result
    result["baseline_period"] = {"start": baseline.period_start.isoformat(), "end": baseline.period_end.isoformat()}
    before = _quality_values(deployment=deployment, start=baseline.period_start, end=baseline.period_end)
    now = _quality_values(deployment=deployment, start=start, end=end)
    for key in sorted(k for k in set(before) | set(now) if k.startswith("score:")):
        name = key.removeprefix("score:")
        shift = quality.score_shift(name, before.get(key, np.zeros(0)), now.get(key, np.zeros(0)), band_pct=band)
        result["scores"].append(shift.to_dict())
    for name in ("relevance", "response_tokens"):
        result["context"][name] = quality.score_shift(name, before[name], now[name], band_pct=band).to_dict()
    result["degraded_scores"] = [s["name"] for s in result["scores"] if s["degraded"]]
    result["degraded"] = bool(result["degraded_scores"])
    return result


def quality_series(*, deployment: Deployment, days: int = 30) -> dict:
    """Daily means of each quality score, of prompt-response relevance and of response length (the charts).

    {"days": [iso dates], "series": {name: [mean or None per day]}, "counts": {name: [n per day]}}; the
    baseline period's means are in "baseline" when the deployment has an active baseline.
    """
    table = ProductionSample._meta.db_table
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT date_trunc('day', p.client_timestamp)::date, s.key, avg((s.value #>> '{{}}')::float8), count(*)
                FROM {table} p, jsonb_each(p.scores) s
                WHERE p.deployment_id = %s AND p.client_timestamp >= %s AND jsonb_typeof(s.value) = 'number'
                GROUP BY 1, 2""",
            [deployment.id, since],
        )
        rows = cursor.fetchall()
        cursor.execute(
            f"""SELECT date_trunc('day', client_timestamp)::date,
                       avg(1 - (prompt_embedding <=> response_embedding)) FILTER (WHERE embedding_model = %s),
                       count(*) FILTER (WHERE prompt_embedding IS NOT NULL AND response_embedding IS NOT NULL
                                        AND embedding_model = %s),
                       avg(coalesce(array_length(regexp_split_to_array(btrim(response), '\\s+'), 1), 0)), count(*)
                FROM {table} WHERE deployment_id = %s AND client_timestamp >= %s GROUP BY 1""",
            [embeddings.MODEL_NAME, embeddings.MODEL_NAME, deployment.id, since],
        )
        context_rows = cursor.fetchall()
    day_list = sorted({r[0] for r in rows} | {r[0] for r in context_rows})
    index = {d: i for i, d in enumerate(day_list)}
    series: dict[str, list] = {}
    counts: dict[str, list] = {}

    def put(name, day, mean, n):
        series.setdefault(name, [None] * len(day_list))[index[day]] = None if mean is None else round(float(mean), 4)
        counts.setdefault(name, [0] * len(day_list))[index[day]] = int(n)

    for day, name, mean, n in rows:
        put(f"score:{name}", day, mean, n)
    for day, rel, n_rel, length, n in context_rows:
        put("relevance", day, rel, n_rel)
        put("response_tokens", day, length, n)
    return {"days": [d.isoformat() for d in day_list], "series": series, "counts": counts}


def sample_for_trace(*, deployment: Deployment, trace_id: str, span_id: str | None = None) -> ProductionSample | None:
    """The sample a trace tool's score or annotation points at, within `deployment` only.

    Samples from traces (OTLP, Langfuse) have external_id "<trace id>:<span id>". With a span id the match
    is exact (the unique index); with a trace id only, the trace's last LLM call (its final answer); with a
    span id only (Phoenix annotations), the span in any trace.
    """
    samples = ProductionSample.objects.filter(deployment=deployment).defer("prompt_embedding", "response_embedding")
    if trace_id and span_id:
        return samples.filter(external_id=f"{trace_id}:{span_id}").first()
    if trace_id:
        return samples.filter(external_id__startswith=f"{trace_id}:").order_by("-client_timestamp", "-id").first()
    if span_id:
        return samples.filter(external_id__endswith=f":{span_id}").order_by("-id").first()
    return None


# --- Windows ---------------------------------------------------------------------------------------

WINDOW_WIDTHS = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1), "weekly": dt.timedelta(weeks=1)}


def window_floor(*, window: str, at: dt.datetime) -> dt.datetime:
    """The start of the `window` ("hourly", "daily", "weekly") containing `at`, in UTC.

    Weeks are ISO weeks starting Monday 00:00 UTC, as the drift schedule's (services.drift.last_complete_window):
    every page that counts "a week" uses this one definition, so the same week gives the same figures.
    """
    at = at.astimezone(dt.timezone.utc)
    if window == "hourly":
        return at.replace(minute=0, second=0, microsecond=0)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "daily":
        return day
    if window == "weekly":
        return day - dt.timedelta(days=day.weekday())
    raise ValueError(f"window must be one of {', '.join(WINDOW_WIDTHS)}; got {window!r}")


def recent_windows(*, deployment: Deployment, now: dt.datetime, count: int = 8) -> list[tuple[dt.datetime, dt.datetime]]:
    """The deployment's last `count` complete windows, newest first."""
    width = WINDOW_WIDTHS[deployment.drift_window]
    end = window_floor(window=deployment.drift_window, at=now)
    return [(end - width * (k + 1), end - width * k) for k in range(count)]


def baseline_get(*, deployment: Deployment, pk: int):
    from .models import Baseline

    return get_object_or_404(Baseline.objects.defer("prompt_artifact", "response_artifact", "sample_ids")
                             .select_related("deployment", "created_by"), deployment=deployment, pk=pk)


def sample_period(*, deployment: Deployment) -> tuple[dt.datetime, dt.datetime] | None:
    """First and last client timestamp of the deployment's samples (to suggest a baseline period)."""
    row = ProductionSample.objects.filter(deployment=deployment).aggregate(first=Min("client_timestamp"),
                                                                          last=Max("client_timestamp"))
    return (row["first"], row["last"]) if row["first"] else None
