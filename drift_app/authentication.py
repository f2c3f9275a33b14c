"""API authentication with hashed keys (`Authorization: Token <secret>` or `Bearer <secret>`).

A personal token authenticates as its user, with that user's roles and teams (never more); a read-only
token may only use safe methods. An ingestion key authenticates as nobody: `request.user` stays
anonymous and `request.auth` is the key, which only the ingestion endpoint of its deployment accepts
(see IngestionKeyFor). An unknown, expired or revoked key is a 401 that does not say which.
"""

from __future__ import annotations

import base64
import binascii

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiKey
from .services.keys import secret_hash


class ApiKeyAuthentication(BaseAuthentication):
    keywords = (b"token", b"bearer")

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Token <key>'.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        key = ApiKey.objects.select_related("user", "deployment").filter(secret_hash=secret_hash(secret)).first()
        if key is None or not key.usable():
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if key.kind == ApiKey.Kind.INGESTION:
            return (AnonymousUser(), key)
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if ApiKey.Scope.WRITE not in key.scopes and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied("This token is read-only (scope 'read').")
        return (key.user, key)

    def authenticate_header(self, request) -> str:
        return "Token"


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Declares the hashed keys in the OpenAPI schema (drf-spectacular finds extensions by subclassing)."""

    target_class = ApiKeyAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>` or `Bearer <key>`: a personal token or a deployment's ingestion key."}


class IngestionBasicAuthentication(BaseAuthentication):
    """`Authorization: Basic base64(public:secret)`, the way the Langfuse SDKs (and OTLP exporters set up for
    Langfuse) send their keys: the secret is a Driftdesk ingestion key; the public part, when given, must be
    the key's prefix (its first 12 characters), so a key pasted into the wrong field still fails loudly.
    Only ingestion keys are accepted this way: a personal token never travels as a Basic password."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"basic":
            return None
        try:
            public, _, secret = base64.b64decode(parts[1], validate=True).decode("ascii").partition(":") \
                if len(parts) == 2 else ("", "", "")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed("Invalid Basic credentials: expected base64(public:secret).") from None
        if not secret:
            raise exceptions.AuthenticationFailed("Invalid Basic credentials: expected base64(public:secret).")
        key = ApiKey.objects.select_related("deployment").filter(secret_hash=secret_hash(secret)).first()
        if (key is None or not key.usable() or key.kind != ApiKey.Kind.INGESTION
                or (public and public != key.prefix)):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked ingestion key.")
        return (AnonymousUser(), key)

    def authenticate_header(self, request) -> str:
        return 'Basic realm="driftdesk-ingestion"'


class IngestionBasicAuthenticationScheme(OpenApiAuthenticationExtension):
    """Declares the Langfuse-style Basic credentials (key prefix : ingestion key) in the OpenAPI schema."""

    target_class = IngestionBasicAuthentication
    name = "ingestionBasicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic",
                "description": "Basic base64(<key prefix>:<ingestion key>), as the Langfuse SDKs send their keys."}


def ingestion_key(request, scope: str) -> ApiKey | None:
    """The request's ingestion key when it has `scope`, else None."""
    key = getattr(request, "auth", None)
    if isinstance(key, ApiKey) and key.kind == ApiKey.Kind.INGESTION and scope in key.scopes:
        return key
    return None


def IngestionKeyFor(scope: str) -> type[BasePermission]:
    """DRF permission: an ingestion key with `scope`, for the deployment named by the URL's slug."""

    class _IngestionKeyFor(BasePermission):
        message = f"This endpoint needs an ingestion key with scope {scope!r} for this deployment."

        def has_permission(self, request, view) -> bool:
            key = ingestion_key(request, scope)
            return key is not None and key.deployment.slug == view.kwargs.get("slug")

    _IngestionKeyFor.__name__ = f"IngestionKeyFor_{scope.replace(':', '_')}"
    return _IngestionKeyFor
