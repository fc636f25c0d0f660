"""The codec server's refusals and its request body.

``Refused`` is what every check of the codec server (``api.codec_server``) raises: a
status and a detail, answered as ``{"detail": ...}`` by the app's handler (with
``WWW-Authenticate: Bearer`` for a 401). ``parse_payloads`` reads a request body as
protobuf JSON ``{"payloads": [...]}``, with bounds, and refuses anything else with a 400
that echoes nothing of the body.
"""

from __future__ import annotations

from google.protobuf.json_format import ParseDict, ParseError
from temporalio.api.common.v1 import Payloads

from models.json_input import JsonInputError, parse_json


class Refused(Exception):
    """A codec server request refused: its HTTP ``status`` and what to tell the caller
    (``detail``: never anything of the body or of a token)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


_BAD_BODY = 'expected {"payloads": [...]} as protobuf JSON'


def parse_payloads(data: bytes) -> Payloads:
    """``{"payloads": [...]}`` as protobuf JSON, or ``Refused(400)`` saying what is
    wrong without echoing the body (``models.json_input.parse_json``: not JSON, nested
    too deeply, a number too long or out of range, not UTF-8), or not Payloads."""
    try:
        document = parse_json(data)
    except JsonInputError as err:  # its code and text never quote the body
        raise Refused(400, f"{_BAD_BODY}: {err.code}") from None
    if not isinstance(document, dict):
        raise Refused(400, f"{_BAD_BODY}: not a JSON object")
    try:
        return ParseDict(document, Payloads())
    except (ParseError, ValueError, TypeError, RecursionError):
        # ParseError's text quotes the offending value: not echoed.
        raise Refused(400, f"{_BAD_BODY}: not Payloads") from None
