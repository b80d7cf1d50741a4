"""One way to GET things for every source: injected client, one retry, one-line errors.

Sources never build their own ``httpx.Client``: the composition root hands one in, so tests
and ``--sample`` can swap the transport for a recorded one without touching source code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from emails.errors import SourceError

USER_AGENT = "morningpost/0.1 (The AI Morning Post newsletter; +https://example.com/morningpost)"

QueryParams = Mapping[str, str | int | float | list[str]]

# Only failures that a second attempt might plausibly cure are retried: the network blinked or
# the server had a bad moment. A 4xx is the request's fault and would fail the same way again.
_RETRIES = 1


def make_client(timeout: float = 10.0) -> httpx.Client:
    """Return the client used for live fetching: timeouts, redirects, our User-Agent."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


def get(
    client: httpx.Client,
    url: str,
    *,
    params: QueryParams | None = None,
    accept_status: frozenset[int] = frozenset(),
) -> httpx.Response:
    """GET ``url`` with ``client``; retry once on a transport error or 5xx.

    A response whose status is 2xx, or listed in ``accept_status`` (for APIs whose error bodies
    carry the reason, like Open-Meteo's 400), is returned; anything else raises ``SourceError``.
    The timeout is the client's own, so one setting governs every source.
    """
    host = httpx.URL(url).host or url
    headers = {"User-Agent": USER_AGENT}
    last_reason = "no attempt made"
    for _attempt in range(_RETRIES + 1):
        try:
            response = client.get(url, params=params, headers=headers)
        except httpx.TimeoutException:
            last_reason = f"timed out talking to {host}"
            continue
        except httpx.TransportError as err:
            last_reason = f"could not reach {host}: {type(err).__name__}"
            continue
        if response.is_success or response.status_code in accept_status:
            return response
        last_reason = f"HTTP {response.status_code} from {host}"
        if response.status_code < 500:
            break
    raise SourceError(last_reason)


def get_json(
    client: httpx.Client,
    url: str,
    *,
    params: QueryParams | None = None,
    accept_status: frozenset[int] = frozenset(),
) -> tuple[int, Any]:
    """GET ``url`` and decode its JSON body; return ``(status, value)``.

    A body that is not JSON is the server breaking its promise, so it is a ``SourceError``.
    """
    response = get(client, url, params=params, accept_status=accept_status)
    return response.status_code, decode_json(response)


def decode_json(response: httpx.Response) -> Any:
    """Return the JSON value of ``response`` or raise ``SourceError`` naming the host."""
    try:
        return response.json()
    except json.JSONDecodeError as err:
        reason = f"{err.msg} at line {err.lineno}"
    except UnicodeDecodeError:
        reason = "undecodable bytes"
    raise SourceError(f"{response.request.url.host} sent a body that is not JSON: {reason}")
