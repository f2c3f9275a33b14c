from __future__ import annotations

import logging

from django.conf import settings
from django.db import DataError
from django.http import HttpResponse, JsonResponse

from .api_errors import RETRY_AFTER_SECONDS, is_unavailable, unavailable_message
from .validation import text_problem

logger = logging.getLogger(__name__)


class BodySizeLimitMiddleware:
    """Answer 413 for bodies over DRIFTDESK_MAX_BODY_BYTES before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DRIFTDESK_MAX_BODY_BYTES
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return JsonResponse({"detail": f"Content-Length header is not an integer: {raw!r}."}, status=400)
        if length > limit:
            return JsonResponse(
                {"detail": f"Request body is {length} bytes; the limit is {limit} bytes. Send smaller batches."},
                status=413,
            )
        return self.get_response(request)


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.META.get("HTTP_ACCEPT", "")


def _bad_request(request, message: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": message}, status=400)
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


class InputTextMiddleware:
    """400 for query parameters and form values PostgreSQL cannot store (NUL, lone surrogates).

    One check at the edge instead of one per view: a NUL byte in any filter or form field used to
    reach PostgreSQL ("A string literal cannot contain NUL") and answer 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for where, params in (("query parameter", request.GET), ("form field", None)):
            if params is None:
                ctype = request.META.get("CONTENT_TYPE", "")
                if request.method != "POST" or not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                    continue
                try:
                    params = request.POST
                except Exception:  # noqa: BLE001 - a malformed body is the view's to report
                    continue
            for key, values in params.lists():
                for value in [key, *values]:
                    problem = text_problem(value)
                    if problem:
                        return _bad_request(request, f"The {where} {key[:40]!r} {problem}.")
        return self.get_response(request)


class ServiceUnavailableMiddleware:
    """503 with Retry-After (never a 500 page) when the database or the broker is down in a page view.

    The API's views answer the same through drift_app.api_errors.exception_handler.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if is_unavailable(exc):
            logger.warning("answering 503: %s", type(exc).__name__)
            return unavailable_response(request, exc)
        if isinstance(exc, DataError):
            first = (str(exc).splitlines() or ["invalid value"])[0][:200]
            return _bad_request(request, f"A value in the request cannot be stored: {first}")
        return None


def unavailable_response(request, exc: BaseException) -> HttpResponse:
    message = unavailable_message(exc)
    if _wants_json(request):
        response = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(
            f"<!doctype html><title>Temporarily unavailable</title><h1>Temporarily unavailable</h1><p>{message}</p>",
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
