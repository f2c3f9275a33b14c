"""Audit capture: Django signals write an AuditEvent for every create, update and delete of tracked models.

Who: the request's user (AuditActorMiddleware puts the request in `current_request`), else the actor set
with `acting_as(...)` (management commands, the demo), else "system" (Celery tasks, migrations).
What: before/after JSON of the object's concrete fields, and the names of the fields that changed.

Limits, by design of Django signals: QuerySet.update() and bulk_create() send no signals, so they are not
recorded. The tracked models' services change them through save() (checked in tests/compliance); code
that must bypass save() for a tracked model has to write its own AuditEvent.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import decimal
import json
import logging
import uuid
from dataclasses import dataclass

from django.apps import apps
from django.db import models
from django.db.models.signals import (
    m2m_changed,
    post_delete,
    post_save,
    pre_delete,
    pre_save,
)

logger = logging.getLogger(__name__)

# (app_label, model_name, how to find its deployment id or None for installation-wide objects,
#  field names left out of snapshots: derived vectors, blobs and bookkeeping timestamps)
TRACKED: list[tuple[str, str, str | None, tuple[str, ...]]] = [
    ("drift_app", "Deployment", "pk", ("updated_at",)),
    ("goldenset", "GoldenItem", None, ("prompt_embedding", "embedding_model")),
    ("goldenset", "GoldenSetVersion", None, ()),
    ("goldenset", "EvalConfig", "deployment_id", ("updated_at",)),
    ("feedback", "Label", "flag__deployment_id", ()),
    ("feedback", "Adjudication", "flag__deployment_id", ()),
    ("feedback", "DeploymentFeedbackSettings", "deployment_id", ()),
    ("verdicts", "Alert", "deployment_id", ()),
    ("verdicts", "AlertPolicy", "deployment_id", ("updated_at",)),
    # User flags (is_superuser, is_staff, is_active) and identity; never the password hash, and not the
    # last_login bump of every sign-in.
    ("auth", "User", None, ("password", "last_login")),
    ("drift_app", "Team", None, ()),
    ("drift_app", "TeamMembership", None, ()),
    # Token and key creation and revocation; never the secret's hash.
    ("drift_app", "ApiKey", "deployment_id", ("secret_hash",)),
    # Evaluation runs (who started them, with which configuration, and their result) and flags.
    ("goldenset", "EvalRun", "deployment_id", ()),
    ("feedback", "Flag", "deployment_id", ()),
    # Drift baselines fitted from the drift page or the API (who, which period); not the sample id list.
    ("drift_app", "Baseline", "deployment_id", ("sample_ids",)),
]
ROLE_TYPE = "auth.User.groups"

current_request: contextvars.ContextVar = contextvars.ContextVar("driftdesk_audit_request", default=None)
_explicit_actor: contextvars.ContextVar = contextvars.ContextVar("driftdesk_audit_actor", default=None)


@dataclass(frozen=True)
class Actor:
    id: int | None
    username: str
    source: str
    path: str = ""


SYSTEM = Actor(id=None, username="system", source="system")


@contextlib.contextmanager
def acting_as(user, *, source: str = "system"):
    """Attribute the changes made inside the block to `user` (None: "system"). For commands and the demo."""
    actor = SYSTEM if user is None else Actor(id=user.pk, username=user.get_username(), source=source)
    token = _explicit_actor.set(actor)
    try:
        yield actor
    finally:
        _explicit_actor.reset(token)


def current_actor() -> Actor:
    explicit = _explicit_actor.get()
    if explicit is not None:
        return explicit
    request = current_request.get()
    if request is None:
        return SYSTEM
    path = request.path[:500]
    source = "api" if path.startswith("/api/") else "web"
    # Read now, not when the middleware ran: DRF sets request.user after token authentication.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Actor(id=None, username="anonymous", source=source, path=path)
    return Actor(id=user.pk, username=user.get_username(), source=source, path=path)


# --- Snapshots --------------------------------------------------------------------------------------


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    return str(value)


def snapshot(instance: models.Model, exclude: tuple[str, ...] = ()) -> dict:
    """The object's concrete fields as JSON (foreign keys by id, under their attname, e.g. `author_id`)."""
    out = {}
    for field in instance._meta.concrete_fields:
        if field.name in exclude or isinstance(field, models.BinaryField):
            continue
        if type(field).__name__ == "VectorField":
            continue
        out[field.attname] = _jsonable(field.value_from_object(instance))
    return out


def _deployment_id(instance, how: str | None) -> int | None:
    if how is None:
        return None
    if how == "pk":
        return instance.pk
    if how.startswith("flag__"):
        flag = getattr(instance, "flag", None)
        return getattr(flag, "deployment_id", None)
    return getattr(instance, how, None)


def _type_name(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def record(*, action: str, object_type: str, object_id, object_repr: str = "", deployment_id: int | None = None,
           before: dict | None = None, after: dict | None = None, changed: list[str] | None = None):
    from .models import AuditEvent

    from django.db import transaction
    from django.utils import timezone

    from . import chain

    actor = current_actor()
    fields = dict(
        at=timezone.now(), actor_id=actor.id, actor_username=actor.username[:150], source=actor.source,
        request_path=actor.path, action=action, object_type=object_type, object_id=str(object_id),
        object_repr=str(object_repr)[:300], deployment_id=deployment_id,
        # Round-trip through JSON: the hash must be computed on what jsonb gives back, not on Python objects.
        changed_fields=json.loads(json.dumps(changed or [])), before=json.loads(json.dumps(before)),
        after=json.loads(json.dumps(after)),
    )
    with transaction.atomic():
        prev = chain.lock_and_head()
        return AuditEvent.objects.create(**fields, prev_hash=prev, hash=chain.link(prev, fields))


# --- Signal receivers -------------------------------------------------------------------------------


def _make_receivers(model, how: str | None, exclude: tuple[str, ...]):
    type_name = _type_name(model)

    def before_save(sender, instance, raw=False, **kwargs):
        instance._audit_before = None
        if raw or instance._state.adding or instance.pk is None:
            return
        # One SELECT per save of a tracked model: the only way to know what the row held before.
        old = sender._base_manager.filter(pk=instance.pk).first()
        instance._audit_before = snapshot(old, exclude) if old is not None else None

    def after_save(sender, instance, created, raw=False, **kwargs):
        if raw:
            return
        after = snapshot(instance, exclude)
        before = getattr(instance, "_audit_before", None)
        instance._audit_before = None
        if created or before is None:
            record(action="create", object_type=type_name, object_id=instance.pk, object_repr=str(instance),
                   deployment_id=_deployment_id(instance, how), after=after, changed=sorted(after))
            return
        changed = sorted(k for k in after if before.get(k) != after[k])
        if not changed:
            return  # a save that changed nothing tracked is not an event
        record(action="update", object_type=type_name, object_id=instance.pk, object_repr=str(instance),
               deployment_id=_deployment_id(instance, how),
               before={k: before.get(k) for k in changed}, after={k: after[k] for k in changed}, changed=changed)

    def before_delete(sender, instance, **kwargs):
        # The deployment of a label is read through its flag, which may be gone by post_delete.
        instance._audit_deployment_id = _deployment_id(instance, how)

    def after_delete(sender, instance, **kwargs):
        before = snapshot(instance, exclude)
        record(action="delete", object_type=type_name, object_id=instance.pk, object_repr=str(instance),
               deployment_id=getattr(instance, "_audit_deployment_id", None), before=before, changed=sorted(before))

    return before_save, after_save, before_delete, after_delete


def _roles_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    """m2m_changed on User.groups, from either side (user.groups.add or group.user_set.add)."""
    from django.contrib.auth.models import Group, User

    if action == "pre_clear":
        # pk_set is None on clear: remember what is about to go.
        if reverse:
            instance._audit_cleared = set(instance.user_set.values_list("pk", flat=True))
        else:
            instance._audit_cleared = set(instance.groups.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    ids = set(pk_set or ()) if action != "post_clear" else getattr(instance, "_audit_cleared", set())
    if not ids:
        return
    kind = "role_add" if action == "post_add" else "role_remove"
    if reverse:  # instance is a Group, ids are users
        pairs = [(u, instance) for u in User.objects.filter(pk__in=ids).order_by("pk")]
    else:  # instance is a User, ids are groups
        pairs = [(instance, g) for g in Group.objects.filter(pk__in=ids).order_by("name")]
    for user, group in pairs:
        state = {"user_id": user.pk, "username": user.get_username(), "group": group.name}
        record(action=kind, object_type=ROLE_TYPE, object_id=user.pk, object_repr=f"{user.get_username()}: {group.name}",
               before=None if kind == "role_add" else state, after=state if kind == "role_add" else None,
               changed=["groups"])


def _signed_in(sender, request, user, **kwargs):
    record(action="sign_in", object_type="auth.User", object_id=user.pk, object_repr=user.get_username())


def _sign_in_failed(sender, credentials, request=None, **kwargs):
    # Only the username tried: Django already masks the password in `credentials`, and it is never stored.
    username = str(credentials.get("username", ""))[:150]
    record(action="sign_in_failed", object_type="auth.User", object_id="", object_repr=username,
           after={"username": username})


_registered: list[str] = []


def register_tracked_models() -> list[str]:
    """Connect the receivers for every tracked model whose app is installed. Returns the types connected."""
    if _registered:
        return list(_registered)
    for app_label, model_name, how, exclude in TRACKED:
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            logger.info("audit: %s.%s is not installed; not tracked", app_label, model_name)
            continue
        before_save, after_save, before_delete, after_delete = _make_receivers(model, how, exclude)
        uid = f"compliance_audit_{app_label}_{model_name}"
        pre_save.connect(before_save, sender=model, weak=False, dispatch_uid=f"{uid}_pre_save")
        post_save.connect(after_save, sender=model, weak=False, dispatch_uid=f"{uid}_post_save")
        pre_delete.connect(before_delete, sender=model, weak=False, dispatch_uid=f"{uid}_pre_delete")
        post_delete.connect(after_delete, sender=model, weak=False, dispatch_uid=f"{uid}_post_delete")
        _registered.append(_type_name(model))
    from django.contrib.auth.models import User
    from django.contrib.auth.signals import user_logged_in, user_login_failed

    m2m_changed.connect(_roles_changed, sender=User.groups.through, weak=False, dispatch_uid="compliance_audit_roles")
    user_logged_in.connect(_signed_in, weak=False, dispatch_uid="compliance_audit_sign_in")
    user_login_failed.connect(_sign_in_failed, weak=False, dispatch_uid="compliance_audit_sign_in_failed")
    _registered.append(ROLE_TYPE)
    return list(_registered)


def tracked_types() -> list[str]:
    return list(_registered)
