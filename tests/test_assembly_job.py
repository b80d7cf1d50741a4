"""``assemble_issue`` and ``morningpost assemble``: drafts written, replaced, or refused."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from emails.errors import TooFewItems
from emails.issue import Issue
from pipeline import jobs
from pipeline.assembly.assemble import count_items
from pipeline.cli import main
from pipeline.context import Context
from pipeline.settings import Settings
from subscribers.store import editions
from subscribers.store.engine import open_store

DAY = dt.date(2026, 2, 25)


def assemble_issue(settings: Settings, day: dt.date, **options: Any) -> Issue:
    with Context(settings) as ctx:
        return jobs.assemble_issue(ctx, ctx.issue(day), **options)


def draft_path(settings: Settings, day: dt.date = DAY) -> Path:
    return settings.data_dir / "issues" / day.isoformat() / "issue.json"


def test_sample_assembly_has_every_section_of_the_sample_issue(settings: Settings) -> None:
    issue = assemble_issue(settings, DAY, sample=True)

    assert Issue.load(draft_path(settings)) == issue
    assert issue.masthead.city == "Manchester, United Kingdom"
    assert issue.masthead.weather is not None
    assert issue.lead is not None
    assert issue.lead.score == 7  # the editor's
    assert [(f.value, f.label) for f in issue.numbers] == [
        ("5 of 8", "trending models are specialised"),
        ("603M", "average parameter count of a specialised model"),
        ("5", "domains the specialised models cover"),
    ]
    assert [(s.headline, s.via) for s in issue.news] == [
        (
            "Open-weight models close the gap on maths benchmarks",
            "The AI Dispatch and Machine Learning Weekly",
        ),
        ("Regulators publish draft guidance on model evaluations", "The AI Dispatch"),
        ("A public leaderboard for Arabic speech recognition opens", "Machine Learning Weekly"),
        ("Fine-tuning Whisper for Arabic dialects", "Open Lab Notes"),
        ("Why edge devices are the next battleground for vision models", "The AI Dispatch"),
        ("Serving a dozen small models on one GPU", "Open Lab Notes"),
    ]
    assert issue.deep_dive is not None
    assert [o.kicker for o in issue.opinions] == ["Editor's Column", "Guest Column"]
    assert [t.name for t in issue.tools] == [
        "everyoneschat-checkpoints",
        "OpenMath-Nemotron-1.5B",
        "whisper-small-ar-mix-norm",
        "YOLO-R",
    ]
    assert [r.title for r in issue.reading] == [
        "The Case for Small Language Models in Domain-Specific Deployment",
        "Economic Analysis of AI Model Deployment Costs",
        "BabyLM Challenge: Learning with Limited Data",
    ]
    assert issue.reading_heading == "Further Reading"  # 25 February 2026 is a Wednesday
    assert issue.subject == "The Specialization Wave \u00b7 25 Feb"  # the editor's, shortened
    assert count_items(issue) == 17  # 4 pieces, 6 stories, 4 tools, 3 readings


def test_reassembling_replaces_the_draft_and_keeps_the_number(settings: Settings) -> None:
    first = assemble_issue(settings, DAY, sample=True)
    draft_path(settings).write_text("{}", encoding="utf-8")  # an editor's scribble
    again = assemble_issue(settings, DAY, sample=True)
    assert again.number == first.number == 1
    assert Issue.load(draft_path(settings)) == again
    assert not list(draft_path(settings).parent.glob("*.partial"))


def test_the_next_day_features_nothing_from_the_day_before(settings: Settings) -> None:
    day_one = assemble_issue(settings, DAY, sample=True)
    day_two = assemble_issue(settings, DAY + dt.timedelta(days=1), sample=True)

    assert not {t.url for t in day_one.tools} & {t.url for t in day_two.tools}
    assert not {r.url for r in day_one.reading} & {r.url for r in day_two.reading}
    assert day_one.news
    assert not {s.url for s in day_one.news} & {s.url for s in day_two.news}
    assert [t.name for t in day_two.tools][:2] == [
        "Qwen3-4B-Instruct-2507-GGUF",
        "all-MiniLM-L6-v2",
    ]
    assert day_two.numbers == day_one.numbers  # the chart itself is the same


def test_too_few_items_fails_in_one_line_and_writes_nothing(settings: Settings) -> None:
    strict = settings.model_copy(update={"min_items": 50})
    with pytest.raises(TooFewItems) as caught:
        assemble_issue(strict, DAY, sample=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "only 17 item(s)" in message
    assert "minimum of 50" in message
    assert not draft_path(settings).exists()
    with open_store(settings.store_url).connect() as conn:
        assert editions.state(conn, DAY) is None  # no number was used up


def test_too_few_items_keeps_the_previous_draft(settings: Settings) -> None:
    assemble_issue(settings, DAY, sample=True)
    before = draft_path(settings).read_bytes()
    with pytest.raises(TooFewItems):
        assemble_issue(settings.model_copy(update={"min_items": 50}), DAY, sample=True)
    assert draft_path(settings).read_bytes() == before


def test_a_day_without_editorial_logs_info_not_a_warning(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every live source points at a closed port: all fail, each with one warning line.
    offline = settings.model_copy(
        update={
            "feeds": [],
            "weather_url": "http://127.0.0.1:9",
            "editorial_dir": tmp_path / "content",
            "min_items": 0,
            "source_timeout": 0.5,
        }
    )
    with caplog.at_level(logging.INFO):
        issue = assemble_issue(offline, DAY)

    assert issue.lead is None
    editorial = [r for r in caplog.records if r.name == "pipeline.sources.editorial"]
    assert [(r.levelno, r.getMessage().split(" (")[0]) for r in editorial] == [
        (logging.INFO, "no editorial for 2026-02-25")
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("open-meteo left out" in w for w in warnings)
    assert not any("editorial" in w for w in warnings)


def test_the_command_writes_the_draft_and_fails_in_one_line(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["assemble", "--sample", "--date", "2026-02-25"])
    assert done.exit_code == 0, done.output
    assert "Issue #1 of 2026-02-25" in done.output
    assert "(17 items)" in done.output
    draft = env_settings / "sample" / "issues" / "2026-02-25" / "issue.json"
    assert json.loads(draft.read_text("utf-8"))["number"] == 1

    monkeypatch.setenv("MORNINGPOST_MIN_ITEMS", "99")
    refused = runner.invoke(main, ["assemble", "--sample", "--date", "2026-02-26"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: the issue of 2026-02-26 would feature only")
    assert refused.stderr.count("\n") == 1
    assert not (env_settings / "sample" / "issues" / "2026-02-26").exists()
