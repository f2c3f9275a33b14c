"""The API's exception handler: clear 4xx for bad input, 503 + Retry-After when a backing service is down."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying while the database or the broker is unavailable.
RETRY_AFTER_SECONDS = 5


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def unavailable_exceptions() -> tuple[type[BaseException], ...]:
    """Exceptions that mean a backing service (PostgreSQL, Redis/the broker) is down, not a bug."""
    from django.db import InterfaceError, OperationalError
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (OperationalError, InterfaceError, BrokerError, RedisConnectionError, RedisTimeoutError)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, unavailable_exceptions())


def unavailable_message(exc: BaseException) -> str:
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import RedisError

    what = "the task broker" if isinstance(exc, (BrokerError, RedisError)) else "the database"
    return f"Service temporarily unavailable ({what} is not reachable). Retry in {RETRY_AFTER_SECONDS} seconds."


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": f"Request body too large: {exc}"}, status=413)
    if is_unavailable(exc):
        # Logged without the request: bodies may hold prompts and credentials.
        logger.warning("answering 503: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
        return Response({"detail": unavailable_message(exc)}, status=503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, DataError):
        # A safety net behind the validators: a value PostgreSQL refused is bad input, not a server error.
        first = (str(exc).splitlines() or ["invalid value"])[0][:200]
        return Response({"detail": f"A value in the request cannot be stored: {first}"}, status=400)
    return drf_exception_handler(exc, context)
