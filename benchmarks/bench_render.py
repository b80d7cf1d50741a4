"""What one issue costs to render, and what each message costs to build.

Reports medians, the per-message cost, and the ratio that justifies rendering once per
issue and personalising per subscriber. The message figure is the one-off builder's (test
copies, the preview's SpamAssassin check); ``bench_outbox`` measures the bulk path.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable
from email.policy import SMTP
from pathlib import Path

from emails.issue import Issue
from emails.render import render_email, render_web
from pipeline.sending.mailing import Mailing, message_for
from subscribers.store.roster import Subscriber
from subscribers.store.states import SubscriberStatus

ROOT = Path(__file__).resolve().parent.parent

FIXTURE = ROOT / "tests" / "fixtures" / "issue.json"
TARGET_MS = 8


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    action()  # warm caches (template compile, imports) outside the measurement
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(quick: bool = False) -> None:
    repeat, messages = (3, 50) if quick else (41, 2000)

    issue = Issue.load(FIXTURE)

    def render_stage() -> tuple[str, str, str]:
        """What `morningpost render` computes: issue.json -> email.html, email.txt, web.html."""
        loaded = Issue.load(FIXTURE)
        email = render_email(loaded, postal_address="1 Example St")
        web = render_web(loaded, postal_address="1 Example St", archive_url="https://x.example/")
        return email.html, email.text, web

    render_s = median_seconds(render_stage, repeat)
    html, text, web = render_stage()
    mailing = Mailing(
        date=dt.date(2026, 2, 25),
        rendered=render_email(issue, postal_address="1 Example St"),
        sender="The AI Morning Post <briefing@example.com>",
        public_url="https://news.example.com",
        secret_key="bench-key",
    )
    people = [
        Subscriber(i, f"reader{i}@example.com", f"Reader {i}", SubscriberStatus.ACTIVE)
        for i in range(messages)
    ]

    start = time.perf_counter()
    for person in people:
        message_for(mailing, person).as_bytes(policy=SMTP)
    build_s = (time.perf_counter() - start) / messages

    print(
        f"render issue.json -> email.html + email.txt + web.html: median {render_s * 1e3:.1f} ms"
        f" ({repeat} runs; target <= {TARGET_MS} ms)"
    )
    print(
        f"sizes: email.html {len(html.encode()):,} bytes (budget 102,400), "
        f"email.txt {len(text.encode()):,} bytes, web.html {len(web.encode()):,} bytes"
    )
    print(
        f"personalise + build + serialise one message: {build_s * 1e6:.0f} us ({messages} messages)"
    )
    print(
        f"ratio render / per-message build: {render_s / build_s:.0f}x "
        "(what rendering per subscriber would multiply the cost by)"
    )
    print(f"messages per second per core, build only: {1 / build_s:,.0f}")
