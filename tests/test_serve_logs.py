"""``morningpost serve`` as operators run it: a real process whose stderr is its log.

Every line is one JSON event in the product's format (uvicorn's own lines included), with
one access event per request; no confirm or unsubscribe token and no address appears.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber
from subscribers.tokens import make_confirm_token, make_token
from tests.conftest import TEST_KEY

RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def _start(data: Path) -> tuple[subprocess.Popen[str], queue.Queue[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")}
    env |= {"MORNINGPOST_DATA_DIR": str(data), "MORNINGPOST_SECRET_KEY": TEST_KEY}
    script = Path(sys.executable).with_name("morningpost")
    proc = subprocess.Popen(
        [str(script), "serve", "--port", "0"],
        env=env,
        # Both streams: uvicorn's own access log used to go to stdout.
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, seen


def _port(lines: queue.Queue[str]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        found = RUNNING.search(line)
        if found:
            return int(found.group(1))
    raise AssertionError("serve never said where it listens")


def test_serve_logs_json_lines_with_tokens_and_addresses_redacted(tmp_path: Path) -> None:
    data = tmp_path / "var"
    engine = open_store(f"sqlite:///{data / 'morningpost.db'}")
    with engine.begin() as conn:
        sid = add_subscriber(conn, "ada.lovelace@example.com", name="Ada")
    engine.dispose()
    unsubscribe = make_token(TEST_KEY, sid)
    confirm = make_confirm_token(TEST_KEY, sid, dt.datetime.now(dt.UTC))
    proc, lines, seen = _start(data)
    try:
        base = f"http://127.0.0.1:{_port(lines)}"
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get(f"/unsubscribe/{unsubscribe}").status_code == 200
            assert http.get(f"/confirm/{confirm}").status_code in (200, 410)
            assert http.get("/confirm/" + "x" * 40).status_code == 400
            signup = {"email": "grace.hopper@example.com"}
            assert http.post("/subscribe", data=signup).status_code == 200
            assert http.get("/", params={"email": "query.leak@example.com"}).status_code == 200
            one_click = {"List-Unsubscribe": "One-Click"}
            assert http.post(f"/unsubscribe/{unsubscribe}", data=one_click).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = "".join(seen)
    assert proc.returncode in (0, -15), log  # uvicorn re-raises SIGTERM once it has stopped
    for secret in (unsubscribe, confirm, "x" * 40, "ada.lovelace@", "grace.hopper@", "query.leak@"):
        assert secret not in log, secret
    assert TEST_KEY not in log
    events = [json.loads(line) for line in log.splitlines() if line.strip()]  # all JSON
    assert all({"time", "level", "logger", "event"} <= set(e) for e in events)
    requests = [e for e in events if e["event"] == "request"]
    assert [(e["method"], e["path"], e["status"]) for e in requests] == [
        ("GET", "/unsubscribe/[token]", 200),
        ("GET", "/confirm/[token]", requests[1]["status"]),
        ("GET", "/confirm/[token]", 400),
        ("POST", "/subscribe", 200),
        ("GET", "/", 200),
        ("POST", "/unsubscribe/[token]", 200),
    ]
    assert all(e["client"] == "127.0.0.1" and e["ms"] >= 0 for e in requests)
    assert any(e["logger"].startswith("uvicorn") for e in events), "uvicorn's lines too"
