"""Who may talk to the preview: loopback hosts only, and POSTs only from its own page."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def same_origin(request: Request) -> bool:
    """True when the POST came from a page of this server (Origin, else Referer)."""
    claimed = request.headers.get("origin") or _origin_of(request.headers.get("referer", ""))
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    fetch_site = request.headers.get("sec-fetch-site", "same-origin")
    return claimed == own and fetch_site == "same-origin"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _host_name(host: str) -> str:
    """``127.0.0.1:8081`` -> ``127.0.0.1``, ``[::1]:8081`` -> ``::1``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostGuard:
    """403 unless ``Host`` names this machine: a page on another site that rebinds its DNS
    name to 127.0.0.1 sends its own name, so it can neither read the draft nor the token."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1").lower()
            if _host_name(host) not in self.allowed:
                response = PlainTextResponse("unknown host", status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
