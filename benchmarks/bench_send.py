"""The send engine against the loopback fake SES v2: rate, CPU, memory, exactly once.

The fake runs in its own process (``python -m tests.fake_ses``, checking every request's
SigV4 signature), so the CPU measured here is the sender's alone. Each scenario prints what
it reached beside the target of issue 15's table:

1. quota 1,000/s: 20,000 subscribers, 50 ms latency, default threads.
2. quota 5,000/s: 60,000 subscribers, 50 ms latency, default threads (sized from the rate
   and the latency): share of the quota, client CPU per message.
3. faults: 5% of calls answered 500, 200 msg/s quota: every subscriber exactly once.
4. workers: three ``morningpost send`` processes on one issue, a PostgreSQL store (its own
   schema), quota 3,000/s, 60,000 subscribers: together, duplicates, 429s, CPU and peak
   RSS per process. Needs ``MORNINGPOST_BENCH_POSTGRES_URL`` or
   ``MORNINGPOST_TEST_POSTGRES_URL`` (CI has one); skipped with a line saying so otherwise.
5. resume and memory: a send over 100,000 and 1,000,000 subscribers who all have the issue
   (its CPU: nothing to walk), then with the last 20,000 still to send (peak RSS, flat in
   the list's size). Each is a fresh process that loads the rendered issue from a file and
   imports only the send path, so its RSS is the send's, not the renderer's.

Send processes run with ``MALLOC_ARENA_MAX=2``, as the container image and the systemd
units run the product.

``--quick`` shrinks every scenario for CI (about a minute in all).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from subprocess import PIPE
from typing import Any

from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "issue.json"
DAY = dt.date(2026, 2, 25)
ROWS_PER_INSERT = 10_000
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
SCHEMA = "bench_workers"  # the multi-worker scenario's own schema


# -- the fake SES ---------------------------------------------------------------------------


def start_fake(*args: str) -> tuple[subprocess.Popen[str], str]:
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_ses", "--secret", "bench", "--no-model-check", *args],
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


def once(url: str, expected: int) -> tuple[int, int]:
    """(copies beyond the first, readers missing) as the fake saw them."""
    counts = fake_get(url, "recipients")
    return sum(n - 1 for n in counts.values() if n > 1), expected - len(counts)


# -- stores -----------------------------------------------------------------------------------


def make_store(url: str, count: int, *, sent_before: int = 0) -> Engine:
    """``count`` active subscribers; the first ``sent_before`` already have the issue."""
    from subscribers.store import editions, schema
    from subscribers.store.engine import open_store
    from subscribers.store.stamps import now
    from subscribers.store.states import DeliveryState, SubscriberStatus

    engine = open_store(url)
    stamp = now()
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 28)
    for start in range(0, count, ROWS_PER_INSERT):
        ids = range(start + 1, min(start + ROWS_PER_INSERT, count) + 1)
        people = [
            {"id": i, "email": f"reader{i}@example.com", "email_key": f"reader{i}@example.com",
             "name": f"Reader {i}", "status": SubscriberStatus.ACTIVE, "source": "bench",
             "created_at": stamp, "updated_at": stamp}
            for i in ids
        ]  # fmt: skip
        sent = [
            {"issue_date": DAY.isoformat(), "subscriber_id": i, "state": DeliveryState.SENT,
             "message_id": f"m{i}", "attempts": 1, "updated_at": stamp}
            for i in ids
            if i <= sent_before
        ]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(schema.subscribers.insert(), people)
            if sent:
                conn.execute(schema.deliveries.insert(), sent)
    return engine


def rendered_file(folder: Path) -> Path:
    """The issue rendered once, pickled: the send processes read it, as ``send`` reads
    email.html and email.txt, without importing the renderer."""
    from emails.issue import Issue
    from emails.render import render_email

    path = folder / "rendered.pickle"
    if not path.exists():
        rendered = render_email(Issue.load(FIXTURE), postal_address="1 Example St")
        path.write_bytes(pickle.dumps(rendered))
    return path


# -- one send in a fresh process (the child side) ---------------------------------------------


def child(store: str, rendered: str, url: str) -> None:
    """Send through the fake at ``url`` with the store at ``store``; print one JSON line."""
    os.environ.update(CREDENTIALS, AWS_DEFAULT_REGION="eu-west-1", AWS_ENDPOINT_URL_SESV2=url)
    from emails.transports.ses import SesTransport, make_client
    from pipeline.sending.engine import SendOptions, send_issue
    from pipeline.sending.mailing import Mailing
    from pipeline.sending.pace import MOST
    from subscribers.store.engine import open_store

    engine = open_store(store)
    mailing = Mailing(
        date=DAY,
        rendered=pickle.loads(Path(rendered).read_bytes()),  # our own file
        sender="The AI Morning Post <briefing@example.com>",
        public_url="https://news.example.com",
        secret_key="bench-key",
    )
    transport = SesTransport(make_client(concurrency=MOST))
    options = SendOptions(max_rate=transport.max_send_rate())
    rss_start = _peak_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    report = send_issue(engine, transport, mailing, options=options)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({
        "sent": report.delivered, "already": report.already, "failed": report.failed,
        "cpu": cpu, "wall": wall, "rss_start": rss_start, "peak": _peak_mb(),
    }))  # fmt: skip


def _peak_mb() -> float:
    # VmHWM: this process's own peak. (ru_maxrss keeps the parent's peak across fork and
    # exec on Linux, so a child of a big parent would report the parent's.)
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) / 1024


# As the container image and the systemd units run the product (see deploy/Dockerfile).
DEPLOYED = {"MALLOC_ARENA_MAX": "2"}


def run_child(store: str, rendered: Path, url: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", store, str(rendered), url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | DEPLOYED | {"PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the send process failed: {done.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


# -- scenarios --------------------------------------------------------------------------------


def rate(folder: Path, count: int, quota: int, target: str) -> None:
    """One process, default threads, at ``quota`` msg/s (the fake's GetAccount says so)."""
    store = f"sqlite:///{folder / f'rate{quota}.db'}"
    make_store(store, count).dispose()
    fake, url = start_fake("--latency", "0.05", "--quota", str(quota))
    try:
        found = run_child(store, rendered_file(folder), url)
        summary = fake_get(url, "summary")
        doubled, missing = once(url, count)
    finally:
        stop_fake(fake)
    window = summary["last_at"] - summary["first_at"]
    print(f"quota {quota:,}/s: {count:,} subscribers, 50 ms latency, one process, default threads")
    print(
        f"  {found['sent'] / found['wall'] / quota:.1%} of the quota over the whole send "
        f"({found['sent'] / found['wall']:,.0f} msg/s in {found['wall']:.1f} s; sustained "
        f"{summary['accepted'] / window / quota:.1%})   target: {target}"
    )
    print(
        f"  client CPU {found['cpu'] * 1e3 / max(found['sent'], 1):.3f} ms per message"
        f"   target: <= 0.08 ms at 5,000/s"
    )
    print(
        f"  duplicates {doubled}, missing {missing}, failed {found['failed']}, "
        f"429s {summary.get('throttled', 0)} of {summary['calls']} calls; "
        f"peak RSS {found['peak']:.0f} MB"
    )


def faults(folder: Path, count: int) -> None:
    store = f"sqlite:///{folder / 'faults.db'}"
    make_store(store, count).dispose()
    fake, url = start_fake("--latency", "0.05", "--quota", "200", "--fault-rate", "0.05")
    try:
        found = run_child(store, rendered_file(folder), url)
        summary = fake_get(url, "summary")
        doubled, missing = once(url, count)
    finally:
        stop_fake(fake)
    print(f"faults: {count:,} subscribers, 5% of calls answered 500, 200 msg/s quota")
    print(
        f"  sent {found['sent']:,}, failed {found['failed']}, duplicates {doubled}, "
        f"missing {missing}; 500s {summary.get('faults', 0)}, 429s "
        f"{summary.get('throttled', 0)} of {summary['calls']} calls"
    )


def resume_and_memory(folder: Path, sizes: tuple[int, ...], to_send: int) -> None:
    """A send over a list already sent (its CPU), then with the last ``to_send`` still to
    go (peak RSS), at each list size: the CPU must not follow the list, nor the memory."""
    rendered = rendered_file(folder)
    for count in sizes:
        path = folder / f"list{count}.db"
        store = f"sqlite:///{path}"
        make_store(store, count, sent_before=count).dispose()
        fake, url = start_fake("--latency", "0.05", "--quota", "5000")
        try:
            resumed = run_child(store, rendered, url)
            _forget_the_last(store, to_send)
            fresh = run_child(store, rendered, url)
            doubled, missing = once(url, to_send)
        finally:
            stop_fake(fake)
        print(f"resume: {count:,} subscribers who all have the issue")
        print(
            f"  {resumed['cpu']:.2f} s CPU, {resumed['wall']:.2f} s wall, sent "
            f"{resumed['sent']}   target: <= 2 s at 1,000,000"
        )
        print(f"memory: {count:,} subscribers, the last {to_send:,} still to send")
        print(
            f"  sent {fresh['sent']:,} (duplicates {doubled}, missing {missing}); peak RSS "
            f"{fresh['peak']:.0f} MB ({fresh['rss_start']:.0f} MB when the send began)"
            f"   target: <= 100 MB, flat in the list's size"
        )
        path.unlink()


def _forget_the_last(store: str, count: int) -> None:
    engine = create_engine(store)
    with engine.begin() as conn:
        last = conn.scalar(text("SELECT max(id) FROM subscribers"))
        conn.execute(text("DELETE FROM deliveries WHERE subscriber_id > :n"), {"n": last - count})
    engine.dispose()


# -- several workers on PostgreSQL --------------------------------------------------------------


def workers(folder: Path, count: int, *, procs: int = 3, quota: int = 3000) -> None:
    base = os.environ.get("MORNINGPOST_BENCH_POSTGRES_URL") or os.environ.get(
        "MORNINGPOST_TEST_POSTGRES_URL"
    )
    print(f"workers: {procs} `morningpost send` processes, PostgreSQL, quota {quota:,}/s")
    if not base:
        print(
            "  skipped: no PostgreSQL (set MORNINGPOST_BENCH_POSTGRES_URL or "
            "MORNINGPOST_TEST_POSTGRES_URL; it uses its own schema, bench_workers)"
        )
        return
    store = _own_schema(base)
    make_store(store, count).dispose()
    data = folder / "var"
    _publish(data)
    fake, url = start_fake("--latency", "0.05", "--quota", str(quota))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")} | CREDENTIALS
    env |= DEPLOYED
    env |= {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_SESV2": url,
        "MORNINGPOST_DATA_DIR": str(data),
        "MORNINGPOST_DATABASE_URL": store,
        "MORNINGPOST_TRANSPORT": "ses",
        "MORNINGPOST_SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "MORNINGPOST_POSTAL_ADDRESS": "1 Example St",
        "PYTHONPATH": str(ROOT),
    }
    command = [
        shutil.which("time") or "/usr/bin/time", "-f", "TIME %e %U %S %M",
        sys.executable, "-c", "from pipeline.cli import main; main()",
        "send", "--date", DAY.isoformat(),
    ]  # fmt: skip
    try:
        started, began = time.perf_counter(), time.monotonic()  # the fake stamps monotonic
        running = [
            subprocess.Popen(command, env=env, stdout=PIPE, stderr=PIPE, text=True)
            for _ in range(procs)
        ]
        outs = [p.communicate(timeout=600) for p in running]
        wall = time.perf_counter() - started
        summary_edges = (began, time.monotonic())
        summary = fake_get(url, "summary")
        doubled, missing = once(url, count)
        states = _ledger_states(store)
    finally:
        stop_fake(fake)
        _drop_schema(base)
    _report_workers(count, quota, wall, summary, doubled, missing, running, outs)
    print(f"  the ledger at the end: {states}")
    print(
        f"  first message accepted {summary['first_at'] - summary_edges[0]:.1f} s after the "
        f"processes started; the last one exited {summary_edges[1] - summary['last_at']:.1f} s "
        "after the last message"
    )


def _report_workers(
    count: int,
    quota: int,
    wall: float,
    summary: dict[str, Any],
    doubled: int,
    missing: int,
    running: list[subprocess.Popen[str]],
    outs: list[tuple[str, str]],
) -> None:
    times = [
        [float(x) for x in line.split()[1:]]
        for _, err in outs
        for line in err.splitlines()
        if line.startswith("TIME ")
    ]
    cpu = sum(user + system for _, user, system, _ in times)
    window = summary["last_at"] - summary["first_at"]
    codes = [p.returncode for p in running]
    print(f"  {count:,} subscribers; exit codes {codes}")
    print(
        f"  together {summary['accepted'] / window / quota:.1%} of the quota while sending "
        f"({summary['accepted'] / window:,.0f} msg/s, first to last accepted); "
        f"{summary['accepted'] / wall / quota:.1%} over the whole wall ({wall:.1f} s, "
        f"start-up included)   target: >= 95% together"
    )
    print(
        f"  duplicates {doubled}, missing {missing}   target: 0 duplicates; "
        f"429s {summary.get('throttled', 0)} of {summary['calls']} calls"
    )
    if times:
        print(
            f"  CPU {cpu * 1e3 / max(summary['accepted'], 1):.3f} ms per message for the "
            f"{len(times)} processes, start-up included; peak RSS "
            f"{', '.join(f'{t[3] / 1024:.0f}' for t in times)} MB"
        )
    for code, (_, err) in zip(codes, outs, strict=True):
        said = [line for line in err.splitlines() if line.startswith("error:")]
        if code != 0:
            print(f"  a worker ended {code}: {said[-1] if said else err.strip()[-300:]}")


def _ledger_states(store: str) -> dict[str, int]:
    engine = create_engine(store)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM deliveries GROUP BY state"))
        found = {str(state): int(n) for state, n in rows}
    engine.dispose()
    return found


def _drop_schema(base: str) -> None:
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def _own_schema(base: str) -> str:
    """``base`` with a schema of our own, emptied: nobody else's tables are touched."""
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    admin.dispose()
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{SCHEMA}"


def _publish(data: Path) -> None:
    """The fixture issue, rendered, where ``send`` reads it."""
    from emails.issue import Issue
    from emails.render import render_email
    from pipeline.workspace import DataDir

    folder = DataDir(data).issues / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, folder / "issue.json")
    rendered = render_email(Issue.load(FIXTURE), postal_address="1 Example St")
    (folder / "email.html").write_text(rendered.html, encoding="utf-8")
    (folder / "email.txt").write_text(rendered.text, encoding="utf-8")


def main(quick: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-send-") as name:
        folder = Path(name)
        if quick:
            rate(folder, 3_000, 1000, "100% (keep)")
            rate(folder, 15_000, 5000, ">= 98% with defaults")
            faults(folder, 600)
            workers(folder, 9_000)
            resume_and_memory(folder, (20_000, 100_000), 2_000)
        else:
            rate(folder, 20_000, 1000, "100% (keep)")
            rate(folder, 60_000, 5000, ">= 98% with defaults")
            faults(folder, 5_000)
            workers(folder, 60_000)
            resume_and_memory(folder, (100_000, 1_000_000), 20_000)


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT)]
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        main(quick="--quick" in sys.argv)
