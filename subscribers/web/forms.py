"""Reading request bodies: bounded in size, urlencoded or multipart, never a crash.

A body that is not a readable form (too many fields, broken multipart, a bad boundary) reads
as ``None``, which the handlers answer with 400: nothing a client sends can make a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.requests import Request

from emails.message import ONE_CLICK

FORM_LIMIT = 16 * 1024  # a subscribe form or a one-click POST is a few dozen bytes
MAX_FIELDS = 20  # our forms have 3; a one-click POST has 1

Form = dict[str, str]


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


async def parse_form(request: Request, body: bytes) -> Form | None:
    """The fields of a form body (urlencoded or multipart; the first value of each name),
    or None when the body is not a readable form."""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return await _multipart(request, body)
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
        )
    except ValueError:  # more than MAX_FIELDS fields
        return None
    form: Form = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


async def _multipart(request: Request, body: bytes) -> Form | None:
    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        parsed: FormData = await Request(request.scope, replay).form(
            max_files=0, max_fields=MAX_FIELDS
        )
    except Exception:  # noqa: BLE001 - any malformed multipart is "not a form", whatever raised
        return None
    return {name: value for name, value in parsed.multi_items()[::-1] if isinstance(value, str)}


def field(form: Form, name: str) -> str:
    return form.get(name, "")


async def asks_to_unsubscribe(request: Request, body: bytes) -> bool:
    """True for an RFC 8058 one-click POST or our page's button."""
    form = await parse_form(request, body) or {}
    if field(form, "List-Unsubscribe") == "One-Click" or field(form, "unsubscribe"):
        return True
    return ONE_CLICK.encode() in body  # a sender of the right body with an odd content type
