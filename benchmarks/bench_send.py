"""The send engine against the loopback fake SES v2: rate, CPU, memory, exactly once.

The fake runs in its own process (``python -m tests.fake_ses``), so the CPU measured here
is the sender's alone; the memory run is a fresh process of its own, so its peak RSS is the
sender's with a 1,000,000-subscriber store, not this process's history.

1. throughput: 20,000 subscribers, 50 ms latency, 1,000 msg/s quota (the rate comes from
   GetAccount): sustained rate, client CPU per message, failures, duplicates.
2. faults: 5% of calls answered 500, 200 msg/s quota: every subscriber exactly once.
3. memory: 1,000,000 subscribers in the store, all but the last 20,000 already sent (a
   resumed run): the send walks the whole list, claims and sends what is missing; peak RSS
   and RSS along the way (it must not grow with the list).

``--quick`` shrinks every scenario for CI (about 30 s).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from emails.issue import Issue
from emails.render import render_email
from emails.transports.ses import SesTransport, make_client
from pipeline.sending.engine import SendOptions, SendReport, send_issue
from pipeline.sending.mailing import Mailing
from subscribers.store import editions, schema
from subscribers.store.engine import open_store
from subscribers.store.stamps import now
from subscribers.store.states import DeliveryState, SubscriberStatus

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "issue.json"
DAY = dt.date(2026, 2, 25)
CONCURRENCY = 8
ROWS_PER_INSERT = 10_000


def start_fake(*args: str) -> tuple[subprocess.Popen[str], str]:
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_ses", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdout is not None
    return fake, fake.stdout.readline().split()[1]


def stop_fake(fake: subprocess.Popen[str]) -> None:
    assert fake.stdin is not None
    fake.stdin.close()
    fake.wait(timeout=30)


def fake_get(url: str, what: str) -> Any:
    with urllib.request.urlopen(f"{url}/_fake/{what}", timeout=30) as answer:
        return json.load(answer)


def make_store(path: Path, count: int, *, sent_before: int = 0) -> Engine:
    """``count`` active subscribers; the first ``sent_before`` already have the issue."""
    engine = open_store(f"sqlite:///{path}")
    stamp = now()
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 28)
    for start in range(0, count, ROWS_PER_INSERT):
        ids = range(start + 1, min(start + ROWS_PER_INSERT, count) + 1)
        people = [
            {
                "id": i,
                "email": f"reader{i}@example.com",
                "email_key": f"reader{i}@example.com",
                "name": f"Reader {i}",
                "status": SubscriberStatus.ACTIVE,
                "source": "bench",
                "created_at": stamp,
                "updated_at": stamp,
            }
            for i in ids
        ]
        sent = [
            {
                "issue_date": DAY.isoformat(),
                "subscriber_id": i,
                "state": DeliveryState.SENT,
                "message_id": f"m{i}",
                "attempts": 1,
                "updated_at": stamp,
            }
            for i in ids
            if i <= sent_before
        ]
        with engine.begin() as conn:
            conn.execute(schema.subscribers.insert(), people)
            if sent:
                conn.execute(schema.deliveries.insert(), sent)
    return engine


def mailing() -> Mailing:
    return Mailing(
        date=DAY,
        rendered=render_email(Issue.load(FIXTURE), postal_address="1 Example St"),
        sender="The AI Morning Post <briefing@example.com>",
        public_url="https://news.example.com",
        secret_key="bench-key",
    )


def send(engine: Engine, url: str, **kwargs: Any) -> tuple[SendReport, float, float]:
    """Send through the fake at ``url``; the report, process CPU and wall seconds of the send
    alone (rendering the issue and creating the client happen before)."""
    os.environ["AWS_ENDPOINT_URL_SESV2"] = url
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    transport = SesTransport(make_client(concurrency=CONCURRENCY))
    options = SendOptions(concurrency=CONCURRENCY, max_rate=transport.max_send_rate())
    issue = mailing()
    cpu, wall = time.process_time(), time.perf_counter()
    report = send_issue(engine, transport, issue, options=options, **kwargs)
    return report, time.process_time() - cpu, time.perf_counter() - wall


def exactly_once(url: str, expected: int) -> str:
    counts = fake_get(url, "recipients")
    doubled = sum(n - 1 for n in counts.values() if n > 1)
    missing = expected - len(counts)
    return f"duplicates {doubled}, missing {missing}"


def throughput(folder: Path, count: int) -> None:
    engine = make_store(folder / "throughput.db", count)
    fake, url = start_fake("--latency", "0.05", "--quota", "1000")
    try:
        report, cpu, wall = send(engine, url)
        summary = fake_get(url, "summary")
        once = exactly_once(url, count)
    finally:
        stop_fake(fake)
    window = summary["last_at"] - summary["first_at"]
    print(f"throughput: {count:,} subscribers, 50 ms latency, 1,000 msg/s quota (GetAccount)")
    print(
        f"  sent {report.delivered:,}, failed {report.failed}, {once}, "
        f"throttled calls {summary.get('throttled', 0)}"
    )
    print(
        f"  {report.delivered / wall:,.0f} msg/s over the whole run ({wall:.1f} s); "
        f"sustained {summary['accepted'] / window:,.0f} msg/s (first to last accepted)"
    )
    print(
        f"  client CPU {cpu * 1e3 / max(report.delivered, 1):.3f} ms per message "
        f"({cpu:.1f} s process CPU, fake server in another process: "
        f"{summary['busy_seconds'] / wall:.0%} of a core)"
    )


def faults(folder: Path, count: int) -> None:
    engine = make_store(folder / "faults.db", count)
    fake, url = start_fake("--latency", "0.05", "--quota", "200", "--fault-rate", "0.05")
    try:
        report, _, _ = send(engine, url)
        summary = fake_get(url, "summary")
        once = exactly_once(url, count)
    finally:
        stop_fake(fake)
    print(f"faults: {count:,} subscribers, 5% of calls answered 500, 200 msg/s quota")
    print(
        f"  sent {report.delivered:,}, failed {report.failed}, {once}; "
        f"500s {summary.get('faults', 0)}, 429s {summary.get('throttled', 0)} "
        f"of {summary['calls']} calls; {report.rate:,.0f} msg/s"
    )


def memory(folder: Path, count: int, to_send: int) -> None:
    path = folder / "memory.db"
    make_store(path, count, sent_before=count - to_send).dispose()
    fake, url = start_fake("--latency", "0.05", "--quota", "1000")
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(path), url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
        )
        once = exactly_once(url, to_send)
    finally:
        stop_fake(fake)
    found = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"memory: {count:,} subscribers in the store, {to_send:,} still to send")
    print(
        f"  walked {found['done']:,} subscribers, sent {found['sent']:,} in "
        f"{found['seconds']:.1f} s, {once}"
    )
    print(
        f"  RSS at 10% {found['rss_10']:.0f} MB, 50% {found['rss_50']:.0f} MB, "
        f"end {found['rss_end']:.0f} MB; peak {found['peak']:.0f} MB"
    )


class _MemoryProbe:
    """A progress sink that notes the RSS as the walk passes 10% and 50% of the list."""

    def __init__(self) -> None:
        self.total = 0
        self.marks: dict[int, float] = {}

    def start(self, total: int) -> None:
        self.total = total

    def update(self, report: SendReport) -> None:
        for share in (10, 50):
            if share not in self.marks and report.done * 100 >= share * self.total:
                self.marks[share] = _rss_mb()

    def close(self, report: SendReport) -> None:
        pass


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(db: str, url: str) -> None:
    probe = _MemoryProbe()
    report, _, _ = send(open_store(f"sqlite:///{db}"), url, progress=probe)
    print(
        json.dumps(
            {
                "done": report.done,
                "sent": report.delivered,
                "seconds": report.seconds,
                "rss_10": probe.marks.get(10, 0.0),
                "rss_50": probe.marks.get(50, 0.0),
                "rss_end": _rss_mb(),
                "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main(quick: bool = False) -> None:
    sizes = (3_000, 600, 100_000, 2_000) if quick else (20_000, 5_000, 1_000_000, 20_000)
    with tempfile.TemporaryDirectory(prefix="bench-send-") as name:
        folder = Path(name)
        throughput(folder, sizes[0])
        faults(folder, sizes[1])
        memory(folder, sizes[2], sizes[3])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory-child"]:
        memory_child(sys.argv[2], sys.argv[3])
    else:
        sys.path[:0] = [str(ROOT)]
        main(quick="--quick" in sys.argv)
