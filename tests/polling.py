"""Waiting on other processes: they send no events, so a test polls what it can observe."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def until(condition: Callable[[], T | None], seconds: float, what: str = "a condition") -> T:
    """Poll ``condition`` until it gives something truthy; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.01)
    return found
