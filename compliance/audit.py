"""Audit capture: database triggers record every insert, update and delete of the tracked tables.

The triggers (migration compliance.0006) write into the hash-chained AuditEvent table themselves, so
QuerySet.update(), bulk_create(), admin edits, raw SQL and psql sessions are all recorded; a BEFORE INSERT
trigger on the audit table chains every event (compliance/chain.py).

Who: django-pghistory's context carries the acting user to the database. Requests (AuditActorMiddleware),
`acting_as(...)` blocks (commands, the demo) enter `pghistory.context(actor=LIVE_ACTOR)`; pghistory puts the
metadata into a transaction-local setting before every write statement, and ActorJSONEncoder resolves
LIVE_ACTOR at that moment, so an API call is attributed to the token's user although DRF authenticates
inside the view. Without a context (Celery tasks, migrations, a psql session) the event is "system",
with the database role that made the change in request_path ("db:<role>").
What: before/after JSON of the row's columns (by column name, e.g. `author_id`) without the excluded ones,
and the names of the columns that changed; an update that changes no tracked column is no event.

Python writes events that are not row changes (sign-in, report generation, downloads, exports, role-group
changes) through `record()`; the same chain trigger links them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from dataclasses import dataclass

import pghistory
from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models.signals import m2m_changed

logger = logging.getLogger(__name__)

# (app_label, model_name, how to find its deployment id or None for installation-wide objects,
#  column names left out of snapshots: derived vectors, blobs and bookkeeping timestamps).
# The database triggers of migration compliance.0006 are made from the same list; a change here needs a
# migration that reinstalls them (tests/compliance/test_trigger_capture.py checks that they agree).
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
    # Drift runs: who retried a failed run, and each run's outcome; not the bulky statistics (kept on the run)
    # nor the heartbeat (renewed by UPDATE, no signal).
    ("drift_app", "DriftRun", "deployment_id", ("results", "combined", "topics", "heartbeat_at")),
    # Drift baselines fitted from the drift page or the API (who, which period); not the sample id list.
    ("drift_app", "Baseline", "deployment_id",
     ("sample_ids", "prompt_artifact", "response_artifact", "response_style_artifact")),
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
        with actor_context():
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


def record(*, action: str, object_type: str, object_id, object_repr: str = "", deployment_id: int | None = None,
           before: dict | None = None, after: dict | None = None, changed: list[str] | None = None):
    """Append one event that is not a row change of a tracked table (the chain trigger links it)."""
    from django.utils import timezone

    from .models import AuditEvent

    actor = current_actor()
    return AuditEvent.objects.create(
        at=timezone.now(), actor_id=actor.id, actor_username=actor.username[:150], source=actor.source,
        request_path=actor.path, action=action, object_type=object_type, object_id=str(object_id),
        object_repr=str(object_repr)[:300], deployment_id=deployment_id,
        changed_fields=json.loads(json.dumps(changed or [])), before=json.loads(json.dumps(before)),
        after=json.loads(json.dumps(after)),
    )


# --- The acting user, passed to the database triggers -----------------------------------------------


class _LiveActor:
    """Stands in pghistory's context metadata for "whoever acts when the statement runs"."""


LIVE_ACTOR = _LiveActor()


class ActorJSONEncoder(DjangoJSONEncoder):
    """PGHISTORY_JSON_ENCODER: serialises LIVE_ACTOR as the current actor, read at each write statement."""

    def default(self, o):
        if isinstance(o, _LiveActor):
            actor = current_actor()
            return {"id": actor.id, "username": actor.username[:150], "source": actor.source, "path": actor.path}
        return super().default(o)


def actor_context():
    """Enter at the start of a request or command: the triggers see the acting user from then on."""
    return pghistory.context(actor=LIVE_ACTOR)


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
    """Connect the Python-side receivers (role groups, sign-in); row changes are captured by triggers.

    Returns the tracked types: the tables with capture triggers (TRACKED) and role-group changes.
    """
    if _registered:
        return list(_registered)
    from django.contrib.auth.models import User
    from django.contrib.auth.signals import user_logged_in, user_login_failed

    for app_label, model_name, _how, _exclude in TRACKED:
        if apps.is_installed(app_label) or app_label == "auth":
            _registered.append(f"{app_label}.{model_name}")
    m2m_changed.connect(_roles_changed, sender=User.groups.through, weak=False, dispatch_uid="compliance_audit_roles")
    user_logged_in.connect(_signed_in, weak=False, dispatch_uid="compliance_audit_sign_in")
    user_login_failed.connect(_sign_in_failed, weak=False, dispatch_uid="compliance_audit_sign_in_failed")
    _registered.append(ROLE_TYPE)
    return list(_registered)


def tracked_types() -> list[str]:
    return list(_registered)
