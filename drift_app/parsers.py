"""The API's JSON parser: refuses, with a 400 naming the place, what would otherwise 500 later."""

from __future__ import annotations

import codecs

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .validation import loads_strict


class StrictJSONParser(JSONParser):
    """DRF's JSONParser, plus: non-finite numbers, lone surrogates and deep nesting are a ParseError."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding} text ({exc.reason})") from None
        try:
            return loads_strict(text)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
