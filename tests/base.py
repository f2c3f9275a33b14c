"""Personas: one user per role, shared by every database test.

alice   power_user   flags bad answers
bob     sme          curates the golden set, labels flags
carol   sme          a second SME (four eyes, agreement)
charlie compliance   reads verdicts, exports reports
erin    ml_engineer  runs the system, ingests samples, admin
mallory (no role)    authenticated but unprivileged
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

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
        """An API client authenticated with the persona's token (None: anonymous)."""
        client = APIClient()
        if name is not None:
            user = getattr(self, name)
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client


def make_personas() -> Personas:
    users = {}
    for name, role in PERSONAS.items():
        user = User.objects.create_user(username=name, email=f"{name}@example.org", password=PASSWORD)
        if role:
            # Transactional tests flush the data-migration groups; recreate them when needed.
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        users[name] = user
    return Personas(**users)
