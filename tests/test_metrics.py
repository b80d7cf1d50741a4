"""/metrics scraped over real HTTP on loopback (serve's app under uvicorn, the scheduler's
server, the `schedule` command itself) and read with prometheus-client's own parser."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from emails.errors import SourceError
from pipeline import jobs, metrics
from pipeline.commands.web import build_app
from pipeline.context import Context
from pipeline.settings import Settings
from pipeline.sources.base import gather
from pipeline.sources.items import Gathering
from pipeline.writer.backends import OpenAICompatible
from pipeline.writer.desk import Desk
from subscribers.feedback.notifications import apply_notification
from subscribers.store import editions, schema
from subscribers.store.health import StoreCheck
from subscribers.store.roster import add_subscriber
from tests.conftest import TEST_KEY
from tests.fake_llm import answer_for, fake_llm
from tests.store_helpers import claim
from tests.test_web import serving
from tests.writer_answers import faithful
from tests.writer_pack import sample_pack

TOKEN = "scrape-token-0123456789"
FIXTURES = Path(__file__).parent / "fixtures" / "sns"
EVENTS = Path(__file__).parent / "fixtures" / "ses-events"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample as {(name, sorted labels): value}, through prometheus-client's parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


class Broken:
    name = "broken-feed"

    def fetch(self) -> Gathering:
        raise SourceError("HTTP 503 from the feed")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", secret_key=TEST_KEY, metrics_token=TOKEN)


@pytest.fixture
def sent(settings: Settings) -> Iterator[tuple[Context, dt.date]]:
    """A real sample send (5 demo readers, outbox) in the store ``settings`` point at."""
    day = dt.date(2026, 3, 2)
    with Context(settings) as ctx:
        result = jobs.run(ctx, ctx.issue(day), sample=True)
        assert result.report.delivered == 5
        yield ctx, day


def _apply(ctx: Context, name: str) -> None:
    data = json.loads((FIXTURES / name).read_text("utf-8"))
    with ctx.engine.begin() as conn:
        apply_notification(conn, data, transient_limit=3)


def _delivered_to_ada(ctx: Context, day: dt.date) -> None:
    """SES's Delivery event for Ada's copy of the issue, tied to it by its message id."""
    d, t = schema.deliveries, schema.subscribers
    with ctx.engine.connect() as conn:
        message_id = conn.scalar(
            select(d.c.message_id)
            .join(t, t.c.id == d.c.subscriber_id)
            .where(d.c.issue_date == day.isoformat(), t.c.email_key == "ada@example.com")
        )
    assert message_id
    data = json.loads((EVENTS / "delivery-ada.json").read_text("utf-8"))
    data["mail"]["messageId"] = message_id
    with ctx.engine.begin() as conn:
        apply_notification(conn, data, transient_limit=3)


def test_serve_exposes_the_store_and_process_figures(sent: tuple[Context, dt.date]) -> None:
    ctx, day = sent
    with ctx.engine.begin() as conn:
        add_subscriber(conn, "gone@example.com")
        add_subscriber(conn, "angry@example.com")
    _apply(ctx, "bounce-permanent.json")
    _apply(ctx, "complaint.json")
    _apply(ctx, "complaint.json")  # redelivered: counted once
    _delivered_to_ada(ctx, day)
    with ctx.engine.begin() as conn:  # a delivery left in flight, on an older issue
        editions.ensure(conn, dt.date(2026, 2, 27), 99)
        assert claim(conn, dt.date(2026, 2, 27), 1)
    gather([Broken()])
    writer = _spend_writer_tokens()
    failures = _local("morningpost_source_fetch_failures_total", source="broken-feed")

    with serving(build_app(ctx)) as base, httpx.Client(base_url=base, timeout=10) as http:
        response = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(response.text)

    issue = day.isoformat()
    assert value(samples, "morningpost_store_up") == 1
    assert value(samples, "morningpost_deliveries", issue=issue, state="sent") == 5
    assert value(samples, "morningpost_deliveries", issue=issue, state="failed") == 0
    assert value(samples, "morningpost_deliveries_in_flight") == 1
    assert value(samples, "morningpost_deliveries", issue="2026-02-27", state="sending") == 1
    assert value(samples, "morningpost_last_issue_state", issue=issue, state="sent") == 1
    assert value(samples, "morningpost_last_issue_state", issue=issue, state="sending") == 0
    assert value(samples, "morningpost_last_issue_number", issue=issue) == 1
    created = value(samples, "morningpost_last_issue_timestamp_seconds", issue=issue,
                    event="created")  # fmt: skip
    last_sent = value(samples, "morningpost_last_issue_timestamp_seconds", issue=issue,
                      event="last_sent")  # fmt: skip
    assert created is not None
    assert last_sent is not None
    assert created <= last_sent <= time.time()
    assert value(samples, "morningpost_feedback_events_total", type="bounce") == 1
    assert value(samples, "morningpost_feedback_events_total", type="complaint") == 1
    assert value(samples, "morningpost_feedback_events_total", type="delivery") == 1
    assert value(samples, "morningpost_issue_events", issue=issue, type="delivery") == 1
    assert value(samples, "morningpost_issue_events", issue=issue, type="bounce") is None
    assert value(samples, "morningpost_subscribers", status="active") == 5
    assert value(samples, "morningpost_subscribers", status="bounced") == 1
    assert value(samples, "morningpost_subscribers", status="complained") == 1
    assert failures >= 1
    assert (
        value(samples, "morningpost_source_fetch_failures_total", source="broken-feed") == failures
    )
    for direction, spent in writer.items():
        labels = {"backend": "openai", "model": "qwen3:8b", "direction": direction}
        assert value(samples, "morningpost_writer_tokens_total", **labels) == spent
    assert value(samples, "process_cpu_seconds_total") is not None


def _spend_writer_tokens() -> dict[str, float]:
    """Let the AI desk write one issue on the loopback fake; the counters it must now show."""
    labels = {"backend": "openai", "model": "qwen3:8b"}
    before = {d: _local("morningpost_writer_tokens_total", **labels, direction=d)
              for d in ("input", "output")}  # fmt: skip
    with fake_llm(lambda call: answer_for(call, faithful(call.piece))) as fake:
        desk = Desk(OpenAICompatible(fake.openai_url, "qwen3:8b", timeout=5), budget=40_000)
        report = desk.write(sample_pack()).report
    assert report.input_tokens > 0
    assert report.output_tokens > 0
    return {
        "input": before["input"] + report.input_tokens,
        "output": before["output"] + report.output_tokens,
    }


def _local(name: str, **labels: str) -> float:
    """A process-local counter's value now (other tests in this process may have moved it)."""
    registry = CollectorRegistry()
    registry.register(metrics.SOURCE_FAILURES)
    registry.register(metrics.WRITER_TOKENS)
    return registry.get_sample_value(name, labels) or 0.0


def test_the_send_rate_comes_from_the_ledger(settings: Settings) -> None:
    from sqlalchemy import update

    day = dt.date(2026, 3, 2)
    with Context(settings) as ctx:
        jobs.run(ctx, ctx.issue(day), sample=True)
        d = schema.deliveries
        start = dt.datetime(2026, 3, 2, 6, 30, tzinfo=dt.UTC)
        with ctx.engine.begin() as conn:  # spread the five sends over 4 seconds
            for n in range(1, 6):
                conn.execute(update(d).where(d.c.subscriber_id == n)
                             .values(updated_at=start + dt.timedelta(seconds=n - 1)))  # fmt: skip
        body, _ = metrics.Exposition(metrics.registry(ctx.engine), None).render(None)
    samples = parse(body.decode())
    assert value(samples, "morningpost_send_rate_messages_per_second", issue="2026-03-02") == 1.0
    first = value(samples, "morningpost_last_issue_timestamp_seconds", issue="2026-03-02",
                  event="first_sent")  # fmt: skip
    assert first == start.timestamp()


def test_metrics_need_the_token_and_are_off_without_one(
    sent: tuple[Context, dt.date], settings: Settings
) -> None:
    ctx, _ = sent
    with serving(build_app(ctx)) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/metrics").status_code == 401
        wrong = http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert "morningpost" not in wrong.text
        head = http.head("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert head.status_code == 200
    without = Context(settings.model_copy(update={"metrics_token": None}), engine=ctx.engine)
    with serving(build_app(without)) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_openmetrics_when_the_scraper_asks_for_it(sent: tuple[Context, dt.date]) -> None:
    ctx, _ = sent
    with serving(build_app(ctx)) as base, httpx.Client(base_url=base, timeout=10) as http:
        response = http.get(
            "/metrics",
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Accept": "application/openmetrics-text; version=1.0.0",
            },
        )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_store_down_scrapes_as_store_up_zero(tmp_path: Path) -> None:
    from subscribers.store.engine import open_store

    engine = open_store(f"sqlite:///{tmp_path / 'gone' / 'mp.db'}")
    engine.dispose()
    (tmp_path / "gone" / "mp.db").unlink()
    (tmp_path / "gone").rmdir()
    body, _ = metrics.Exposition(metrics.registry(engine), None).render(None)
    samples = parse(body.decode())
    assert value(samples, "morningpost_store_up") == 0
    assert not any(name == "morningpost_deliveries" for name, _ in samples)


# --- the scheduler's own server ------------------------------------------------------------


def test_the_scheduler_server_answers_metrics_and_health(sent: tuple[Context, dt.date]) -> None:
    ctx, day = sent
    server = metrics.MetricsServer(
        metrics.Exposition(metrics.registry(ctx.engine), TOKEN),
        StoreCheck(ctx.engine).check,
        host="127.0.0.1",
        port=0,
    )
    server.start()
    host, port = server.address
    try:
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as http:
            health = http.get("/healthz")
            assert (health.status_code, health.text) == (200, "ok\n")
            assert http.head("/healthz").status_code == 200
            assert http.get("/metrics").status_code == 401
            scraped = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert http.get("/nothing").status_code == 404
    finally:
        server.stop()
    samples = parse(scraped.text)
    assert value(samples, "morningpost_deliveries", issue=day.isoformat(), state="sent") == 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_schedule_command_serves_metrics_on_its_port(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")},
        "MORNINGPOST_DATA_DIR": str(tmp_path / "var"),
        "MORNINGPOST_SECRET_KEY": TEST_KEY,
        "MORNINGPOST_METRICS_PORT": str(port),
        # Nothing due while the test runs, whatever the time: a draft at 23:57 at the latest.
        "MORNINGPOST_TIMEZONE": "Pacific/Kiritimati",
        "MORNINGPOST_DRAFT_TIME": "23:57",
        "MORNINGPOST_SEND_TIME": "23:58",
        "MORNINGPOST_CUTOFF_TIME": "23:59",
    }
    script = Path(sys.executable).with_name("morningpost")
    process = subprocess.Popen(  # --sample: whatever is due is drafted offline
        [str(script), "schedule", "--sample"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        body = _wait_for(f"http://127.0.0.1:{port}", process)
        samples = parse(body)
        assert value(samples, "morningpost_store_up") == 1
        assert value(samples, "morningpost_subscribers", status="active") is not None
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "scheduler stopped" in stderr


def _wait_for(base: str, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            with httpx.Client(base_url=base, timeout=5) as http:
                assert http.get("/healthz").text == "ok\n"
                return http.get("/metrics").text
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the scheduler did not serve metrics in 30 s"
            time.sleep(0.1)


def test_a_scrape_does_not_wait_for_a_writer(
    sent: tuple[Context, dt.date], settings: Settings
) -> None:
    ctx, day = sent
    holder = sqlite3.connect(settings.data_dir / "morningpost.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a send's transaction holds the write lock...
    holder.execute("DELETE FROM deliveries")  # ...with changes not yet committed
    try:
        started = time.monotonic()
        body, _ = metrics.Exposition(metrics.registry(ctx.engine), None).render(None)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert waited < 5  # a writer's lock would have held it for the 10 s busy timeout
    samples = parse(body.decode())
    assert value(samples, "morningpost_deliveries", issue=day.isoformat(), state="sent") == 5


def test_a_taken_metrics_port_stops_the_scheduler_in_one_line(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("MORNINGPOST_METRICS_PORT", str(port))
        result = CliRunner().invoke(main, ["schedule", "--sample"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: MORNINGPOST_METRICS_PORT: cannot listen on 127.0.0.1:{port} "
        "(Address already in use)"
    )
