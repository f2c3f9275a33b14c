"""Personal API tokens and per-deployment ingestion keys: made with a secret shown once, stored hashed,
scoped, expiring and revocable. ApiKey is an audited model (compliance.audit.TRACKED), so every creation
and revocation is an event; the hash never is."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import ApiKey, Deployment

PERSONAL_SCOPES = {ApiKey.Scope.READ, ApiKey.Scope.WRITE}
INGESTION_SCOPES = {ApiKey.Scope.INGEST_SAMPLES, ApiKey.Scope.INGEST_FEEDBACK}
MAX_LIFETIME = dt.timedelta(days=366)
_MARK = {ApiKey.Kind.PERSONAL: "ddp_", ApiKey.Kind.INGESTION: "ddi_"}


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _clean(*, name: str, scopes: list[str], allowed: set[str], expires_at: dt.datetime | None) -> list[str]:
    problems = {}
    if not (name or "").strip():
        problems["name"] = "is required (say what the key is for)"
    if not scopes:
        problems["scopes"] = f"name at least one of {', '.join(sorted(allowed))}"
    elif set(scopes) - allowed:
        problems["scopes"] = f"unknown scope {sorted(set(scopes) - allowed)[0]!r}; allowed: {', '.join(sorted(allowed))}"
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        problems["expires_at"] = "must be in the future"
    elif expires_at is not None and expires_at > now + MAX_LIFETIME:
        problems["expires_at"] = "must be within a year"
    if problems:
        raise ValidationError(problems)
    return sorted(set(scopes))


def _create(*, kind: str, user, name: str, scopes: list[str], expires_at, deployment=None) -> tuple[ApiKey, str]:
    secret = _MARK[kind] + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(kind=kind, user=user, deployment=deployment, name=name.strip()[:200],
                                scopes=scopes, expires_at=expires_at, prefix=secret[:12],
                                secret_hash=secret_hash(secret))
    return key, secret


@transaction.atomic
def personal_token_create(*, user, name: str, scopes: list[str] | None = None,
                          expires_at: dt.datetime | None = None) -> tuple[ApiKey, str]:
    """A token acting as `user` (with `user`'s roles, never more). Returns the key and its secret, once."""
    scopes = _clean(name=name, scopes=scopes or ["read", "write"], allowed=set(PERSONAL_SCOPES), expires_at=expires_at)
    return _create(kind=ApiKey.Kind.PERSONAL, user=user, name=name, scopes=scopes, expires_at=expires_at)


@transaction.atomic
def ingestion_key_create(*, deployment: Deployment, user, name: str, scopes: list[str],
                         expires_at: dt.datetime | None = None) -> tuple[ApiKey, str]:
    """A key that can only ingest into `deployment` (it acts as no user). Returns the key and its secret, once."""
    scopes = _clean(name=name, scopes=scopes, allowed=set(INGESTION_SCOPES), expires_at=expires_at)
    return _create(kind=ApiKey.Kind.INGESTION, user=user, name=name, scopes=scopes, expires_at=expires_at,
                   deployment=deployment)


@transaction.atomic
def api_key_revoke(*, key: ApiKey, user) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        raise ValidationError("This key is already revoked.")
    key.revoked_at, key.revoked_by = timezone.now(), user
    key.save(update_fields=["revoked_at", "revoked_by"])
    return key
