from __future__ import annotations

import datetime as dt

import numpy as np
from django.db import connection
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from . import embeddings, pgbinary
from .models import Deployment, ProductionSample


def deployment_list() -> QuerySet[Deployment]:
    return Deployment.objects.all()


def deployment_get(*, slug: str) -> Deployment:
    return get_object_or_404(Deployment, slug=slug)


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
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of one deployment's samples as (ids (n,), float32 (n, 384)), in one binary COPY.

    Only vectors of the current embedding model are returned: vectors of two models are never compared.
    """
    column = {"prompt": "prompt_embedding", "response": "response_embedding"}[target]
    where = [f"deployment_id = %s", f"{column} IS NOT NULL", "embedding_model = %s"]
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
    sql = f"SELECT id, {column} FROM {ProductionSample._meta.db_table} WHERE {' AND '.join(where)} ORDER BY id"
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
