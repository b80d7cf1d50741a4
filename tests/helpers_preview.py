"""Shared bits for tests that serve an app on loopback and drive it with headless Chromium.

``serving`` runs the app's lifespan (the preview watches files there), unlike the subscriber
app's helper in ``test_web.py``; ``launch`` starts Debian's chromium the way
``test_browser.py`` does (never a downloaded browser).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def require_chromium() -> pytest.MarkDecorator:
    """Skip without Debian's chromium, except in CI, where its absence is a failure."""
    if not CHROMIUM.exists() and os.environ.get("CI"):
        pytest.fail("/usr/bin/chromium is missing: .ci/debian-packages should install it")
    return pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


@contextmanager
def serving(app: Any, *, startup_timeout: float = 20.0) -> Iterator[str]:
    """Run ``app`` (lifespan on) under uvicorn on 127.0.0.1, a free port; yield its base URL.

    Open event streams are cut after a second at shutdown, as ``morningpost preview`` does.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not (server.started and server.servers):
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, f"uvicorn did not start within {startup_timeout} s"
        time.sleep(0.01)  # polling a flag with a deadline: uvicorn offers no event to wait on
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop within 10 s"
