"""The web app's access log: one event per request, in the product's log format.

uvicorn's own access log is switched off (``morningpost serve``): it wrote every confirm and
unsubscribe token in plain text, outside the JSON lines. This middleware logs method, path
(tokens replaced by ``[token]``, no query string: a query may carry an address), status,
duration and client, through ``logging``, so ``pipeline.logs`` formats and redacts it like
any other event.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from subscribers.links import redact_tokens
from subscribers.web.limits import client_of

log = logging.getLogger(__name__)


class AccessLog:
    def __init__(self, app: ASGIApp, *, trust_proxy: bool = False) -> None:
        self.app = app
        self.trust_proxy = trust_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._log(Request(scope), status, time.perf_counter() - started)

    def _log(self, request: Request, status: int, seconds: float) -> None:
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": redact_tokens(request.url.path),
                "status": status,
                "ms": round(seconds * 1000, 1),
                "client": client_of(request, trust_proxy=self.trust_proxy),
            },
        )
