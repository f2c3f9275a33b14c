"""Personas: one user per role, shared by every database test.

alice   power_user   flags bad answers
bob     sme          curates the golden set, labels flags
carol   sme          a second SME (four eyes, agreement)
charlie compliance   reads verdicts, exports reports
erin    ml_engineer  runs the system, ingests samples, admin
mallory (no role)    authenticated but unprivileged

Each persona with a role is a member of the default team (which owns every deployment that names no
team) with that role; `join_team` adds other users, or other teams.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from drift_app.models import Team, TeamMembership
from drift_app.services import personal_token_create, team_membership_add

PERSONAS = {
    "alice": "power_user",
    "bob": "sme",
    "carol": "sme",
    "charlie": "compliance",
    "erin": "ml_engineer",
    "mallory": None,
}
PASSWORD = "correct horse battery staple"


@dataclass
class Personas:
    alice: User
    bob: User
    carol: User
    charlie: User
    erin: User
    mallory: User

    def api(self, name: str | None) -> APIClient:
        """An API client authenticated with the persona's personal token (None: anonymous)."""
        client = APIClient()
        if name is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.token(name)}")
        return client

    def token(self, name: str) -> str:
        """The persona's personal API token (read and write), made on first use."""
        secrets = self.__dict__.setdefault("_secrets", {})
        if name not in secrets:
            _, secrets[name] = personal_token_create(user=getattr(self, name), name="tests")
        return secrets[name]


def join_team(user: User, role: str, team: Team | None = None) -> TeamMembership:
    """Make `user` a member of `team` (the default team when None) with `role` (and its role group)."""
    return team_membership_add(user=user, role=role, team=team)


def make_personas() -> Personas:
    users = {}
    for name, role in PERSONAS.items():
        user = User.objects.create_user(username=name, email=f"{name}@example.org", password=PASSWORD)
        if role:
            # Transactional tests flush the data-migration groups; recreate them when needed.
            join_team(user, role)
        users[name] = user
    return Personas(**users)


def runtime_database_url() -> str:
    """The test database's URL for the runtime role (Celery workers started by a test log in with it)."""
    from django.conf import settings
    from django.db import connection

    s = connection.settings_dict
    return f"postgresql://{settings.DRIFTDESK_DB_RUNTIME_ROLE}@/{s['NAME']}?host={s['HOST']}" + (
        f"&port={s['PORT']}" if s.get("PORT") else ""
    )


@contextmanager
def as_owner():
    """Run the block's SQL as the owner role (what only a table owner can do: disable a trigger, drop a table).

    Test bodies run as the runtime role (drift_app/settings/test.py); the suite's session user is the owner,
    so SET ROLE can switch to it, and back."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {settings.DRIFTDESK_DB_OWNER_ROLE}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {settings.DRIFTDESK_DB_RUNTIME_ROLE}")
