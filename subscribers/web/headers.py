"""Security headers on every response of the public web app, whatever answered it.

``SecurityHeaders`` wraps the whole app (outside Starlette's own error middleware), so pages,
archive files, the feed, 404, 405, 413, 429 and even a 500 carry them. A response that sets
one of these headers itself (the archive's pages allow images) keeps its own.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages load nothing from anywhere, post only to themselves, and are framed by nobody.
STRICT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# The web edition of an issue shows the images (https, as the email does).
ARCHIVE_CSP = (
    "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000"


def headers_for(public_url: str) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": STRICT_CSP,
        "X-Content-Type-Options": "nosniff",
        # Token URLs must not leak through Referer.
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    }
    if public_url.lower().startswith("https://"):
        # Only when served over https: HSTS on plain http would be ignored, or worse, cached
        # for a name that is later meant to stay http.
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
