"""Records who is acting, for the audit trail."""

from __future__ import annotations

from . import audit


class AuditActorMiddleware:
    """Put the request in a context variable; audit events read its user when they are written.

    The user is read lazily, when each write statement runs, not here: DRF authenticates tokens inside the view and then
    sets `request.user` on the underlying HttpRequest, so an API call made with a token is attributed to
    the token's user even though AuthenticationMiddleware saw an anonymous request. Place it after
    AuthenticationMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = audit.current_request.set(request)
        try:
            # The database triggers read the actor from django-pghistory's context (compliance/audit.py).
            with audit.actor_context():
                return self.get_response(request)
        finally:
            audit.current_request.reset(token)
