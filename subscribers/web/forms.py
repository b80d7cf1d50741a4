"""Reading request bodies: bounded in size, urlencoded or multipart, never a crash."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import FormData
from starlette.requests import Request

from emails.message import ONE_CLICK

FORM_LIMIT = 16 * 1024  # a subscribe form or a one-click POST is a few dozen bytes


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


async def parse_form(request: Request, body: bytes) -> FormData | dict[str, list[str]]:
    """Parse a form body (urlencoded or multipart); an unreadable one reads as empty."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            return await Request(request.scope, replay).form(max_files=0, max_fields=20)
        except Exception:  # noqa: BLE001 - any malformed multipart is "no fields"
            return {}
    return parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)


def field(form: FormData | dict[str, list[str]], name: str) -> str:
    if isinstance(form, FormData):
        value = form.get(name)
        return value if isinstance(value, str) else ""
    values = form.get(name) or [""]
    return values[0]


async def asks_to_unsubscribe(request: Request, body: bytes) -> bool:
    """True for an RFC 8058 one-click POST or our page's button."""
    form = await parse_form(request, body)
    if field(form, "List-Unsubscribe") == "One-Click" or field(form, "unsubscribe"):
        return True
    return ONE_CLICK.encode() in body  # a sender of the right body with an odd content type
