"""The AI desk's wiring, in process: the facts pack of a day, editors first, the tokens counter,
the writer's key in logs, the draft's desk record, and what the preview shows of it."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from emails.issue import (
    CitedSentence,
    DeskFallback,
    DeskPiece,
    DeskRecord,
    DeskRemoval,
    DeskSource,
    Issue,
)
from emails.preview.app import create_preview_app
from emails.preview.config import Draft
from emails.render import render_email
from pipeline import logs, metrics
from pipeline.assembly.assemble import assemble
from pipeline.cli import main
from pipeline.sources import sample_sources
from pipeline.sources.base import gather
from pipeline.sources.items import ModelItem
from pipeline.writer.desk import DeskEdition
from pipeline.writer.facts import FactsPack
from pipeline.writer.pack import MAX_MODELS, facts_pack
from tests.fake_llm import Call, FakeLLM, Reply, answer_for, fake_llm
from tests.helpers_preview import serving
from tests.test_preview import ADDRESS, Pipeline, stub_config

HERE = Path(__file__).parent
ANSWERS: dict[str, Any] = json.loads((HERE / "fixtures/writer/sample-day.json").read_text())
DAY = "2026-02-25"
KEY = "sk-writer-very-secret-0123456789"


def scripted(call: Call) -> Reply:
    return answer_for(call, ANSWERS[call.piece])


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, env_settings: Path) -> Iterator[FakeLLM]:
    """The OpenAI-compatible fake, answering the sample day faithfully, in the settings."""
    with fake_llm(scripted) as server:
        monkeypatch.setenv("MORNINGPOST_WRITER", "openai")
        monkeypatch.setenv("MORNINGPOST_WRITER_URL", server.openai_url)
        monkeypatch.setenv("MORNINGPOST_WRITER_MODEL", "llama3.2")
        yield server


def assemble_cli(*args: str) -> Any:
    result = CliRunner().invoke(main, ["assemble", "--sample", "--date", DAY, *args])
    assert result.exit_code == 0, result.output
    return result


def _tokens(direction: str) -> float:
    registry = CollectorRegistry()
    registry.register(metrics.WRITER_TOKENS)
    labels = {"backend": "openai", "model": "llama3.2", "direction": direction}
    return registry.get_sample_value("morningpost_writer_tokens_total", labels) or 0.0


# --- the facts pack -----------------------------------------------------------------------------


def _model(n: int, score: float) -> ModelItem:
    repo = f"org{n}/model-{n}"
    return ModelItem(id=repo, author=f"org{n}", url=f"https://huggingface.co/{repo}", likes=n,
                     downloads=10 * n, trending_score=score, pipeline_tag="text-generation",
                     tags=(), card_text=f"<b>Card</b> of model {n}.")  # fmt: skip


def test_the_pack_ranks_caps_and_cleans_the_day() -> None:
    chart = [_model(n, score=100 - n) for n in range(1, 21)]
    fresh = chart[2:]  # the first two were featured lately: not candidates, but still ranked
    pack = facts_pack(date=dt.date(2026, 2, 25), chart=chart, models=fresh, papers=[],
                      stories=[])  # fmt: skip
    assert len(pack.items) == MAX_MODELS
    first = pack.items[0]
    assert (first.id, first.numbers["rank"], first.numbers["likes"]) == ("model:org3/model-3", 3, 3)
    assert first.text == "Card of model 3."  # plain text: what readers (and the checker) see
    again = facts_pack(date=dt.date(2026, 2, 25), chart=chart, models=fresh, papers=[],
                       stories=[])  # fmt: skip
    assert again.digest() == pack.digest()  # same day, same pack: the cache answers


def test_the_sample_day_pack_holds_every_item_the_issue_features() -> None:
    packs: list[FactsPack] = []

    def desk(pack: FactsPack, *, covered: object) -> DeskEdition:
        packs.append(pack)
        raise RuntimeError("the desk is down")  # and the issue is written without it

    gathered = gather(sample_sources(editorial=False))
    day = dt.date(2026, 2, 25)
    issue = assemble(gathered, date=day, number=1, city="Manchester", desk=desk,
                     recent_headlines=["Yesterday's lead"])  # fmt: skip
    plain = assemble(gathered, date=day, number=1, city="Manchester")
    assert issue == plain  # the desk failed: the deterministic issue, and no record
    (pack,) = packs
    urls = {item.url.split("?")[0] for item in pack.items}
    featured = [t.url for t in issue.tools] + [r.url for r in issue.reading]
    featured += [s.url for s in issue.news]
    assert all(url in urls for url in featured)
    assert [f.value for f in pack.figures] == [f.value for f in issue.numbers]
    assert pack.recent_headlines == ("Yesterday's lead",)


# --- editors first, history, rewrite, the counter ----------------------------------------------


def test_editors_files_win_and_the_desk_writes_only_the_rest(fake: FakeLLM) -> None:
    assemble_cli()  # the sample day with its editorial: lead, deep dive, two columns
    assert [c.piece for c in fake.calls] == ["blurbs"]
    issue = _draft()
    assert issue.lead is not None
    assert issue.lead.byline != "The AI Desk"
    assert issue.deep_dive is not None
    assert issue.deep_dive.byline != "The AI Desk"
    assert issue.desk is not None
    assert issue.desk.pieces == []
    assert issue.desk.blurbs  # the one-line descriptions are never an editor's


def _draft(day: str = DAY) -> Issue:
    data = Path(os.environ["MORNINGPOST_DATA_DIR"]) / "sample"  # where sample runs keep apart
    return Issue.load(data / "issues" / day / "issue.json")


def test_the_last_issues_headlines_go_to_the_desk(fake: FakeLLM) -> None:
    assemble_cli("--no-editorial")
    result = CliRunner().invoke(main, ["assemble", "--sample", "--no-editorial",
                                       "--date", "2026-02-26"])  # fmt: skip
    assert result.exit_code == 0, result.output
    headline = ANSWERS["lead"]["headline"]
    assert f'"recent_headlines": ["{headline}"]' in fake.calls[-1].user_text


def test_the_tokens_counter_counts_real_calls_only(fake: FakeLLM) -> None:
    before = _tokens("input"), _tokens("output")
    assemble_cli("--no-editorial")
    assert (_tokens("input"), _tokens("output")) == (before[0] + 4 * 1200, before[1] + 4 * 300)
    assemble_cli("--no-editorial")  # from the cache: nothing spent, nothing counted
    assert (_tokens("input"), _tokens("output")) == (before[0] + 4 * 1200, before[1] + 4 * 300)
    assemble_cli("--no-editorial", "--rewrite")
    assert _tokens("input") == before[0] + 8 * 1200
    assert len(fake.calls) == 8


# --- the writer's key in logs -----------------------------------------------------------------


def _captured(run: Any) -> str:
    stream = io.StringIO()
    saved, sys.stderr = sys.stderr, stream
    try:
        run()
    finally:
        sys.stderr = saved
    return stream.getvalue()


def test_the_writer_key_never_reaches_a_log(
    fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MORNINGPOST_WRITER_API_KEY", KEY)
    handler = logs.setup(verbose=True, json_lines=True)
    try:

        def run() -> None:
            assemble_cli("--no-editorial")
            logging.getLogger("pipeline.test").warning("the key is %s", KEY)

        text = _captured(run)
    finally:
        logging.getLogger().removeHandler(handler)
    assert fake.calls[0].headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in text
    assert "the key is [redacted]" in text
    assert "MORNINGPOST_WRITER_API_KEY" in logs.SECRET_VARIABLES


def test_a_writer_key_from_the_dotenv_file_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"MORNINGPOST_WRITER_API_KEY={KEY}\n")
    handler = logs.setup(json_lines=True)
    try:

        def run() -> None:
            assert CliRunner().invoke(main, ["subscribers", "count"]).exit_code == 0
            logging.getLogger("pipeline.test").warning("key is %s", KEY)

        text = _captured(run)
    finally:
        logging.getLogger().removeHandler(handler)
    assert KEY not in text
    assert "[redacted]" in text


# --- the draft's record ------------------------------------------------------------------------


def record() -> DeskRecord:
    return DeskRecord(
        byline="The AI Desk",
        backend="openai",
        model="llama3.2",
        pieces=[
            DeskPiece(
                section="deep-dive",
                title="What a chart of small specialists says about cost",
                paragraphs=[[
                    CitedSentence(text="Cost is the thread that runs through the day's papers.",
                                  ids=["paper:2602.13902"]),
                    CitedSentence(text="Figures say so.", ids=["figure:1"]),
                ]],
            )
        ],
        sources=[
            DeskSource(id="paper:2602.13902",
                       title="Economic Analysis of AI Model Deployment Costs",
                       url="https://huggingface.co/papers/2602.13902"),
            DeskSource(id="figure:1",
                       title="By the Numbers: 5 of 8 trending models are specialised"),
        ],
        removed=[DeskRemoval(piece="deep-dive", text="Running it costs $2,000 a month.",
                             reason="number $2,000 is not in the facts pack")],
        fallbacks=[DeskFallback(piece="opinion", reason="timeout: no answer within 60 s")],
    )  # fmt: skip


def test_older_drafts_load_and_a_draft_without_the_desk_is_unchanged() -> None:
    older = Issue.load(HERE / "fixtures" / "issue.json")  # written before the desk existed
    assert older.desk is None
    assert older.lead is not None
    assert older.lead.score_reason == ""
    current = (HERE / "golden" / "no-editor" / "issue.json").read_text("utf-8")
    issue = Issue.model_validate_json(current)
    assert issue.to_json() == current  # no new key appears in a draft the desk did not touch
    for key in ('"desk"', '"score_reason"'):
        assert key not in issue.to_json()
    with_desk = issue.model_copy(update={"desk": record()})
    assert Issue.model_validate_json(with_desk.to_json()) == with_desk
    assert '"desk": {' in with_desk.to_json()


def test_the_preview_shows_what_the_desk_wrote_its_sources_and_what_it_removed(
    tmp_path: Path,
) -> None:
    issue = Issue.load(HERE / "fixtures" / "issue.json").model_copy(update={"desk": record()})
    email = render_email(issue, postal_address=ADDRESS)
    pipeline = Pipeline(tmp_path / "var" / "issue.json")
    (tmp_path / "var").mkdir()
    pipeline.issue_json.write_text("first")
    config = stub_config(tmp_path, pipeline)
    config = replace(config, render=lambda: Draft(issue, email, "web"))
    with serving(create_preview_app(config)) as base:
        page = httpx.get(base, timeout=10).text
    panel = page.split('id="desk-panel"')[1].split("</section>")[0]
    assert "Deep Dive: What a chart of small specialists says about cost" in panel
    assert ('<a href="https://huggingface.co/papers/2602.13902">Economic Analysis of AI Model '
            "Deployment Costs</a> <code>paper:2602.13902</code>") in panel  # fmt: skip
    assert "By the Numbers: 5 of 8 trending models are specialised" in panel
    assert "Running it costs $2,000 a month." in panel
    assert "number $2,000 is not in the facts pack" in panel
    assert "timeout: no answer within 60 s" in panel
    assert "an editor's file always wins" in panel
    assert "desk-panel" not in httpx_page_without_desk(tmp_path)


def httpx_page_without_desk(tmp_path: Path) -> str:
    issue = Issue.load(HERE / "fixtures" / "issue.json")
    email = render_email(issue, postal_address=ADDRESS)
    folder = tmp_path / "plain"
    (folder / "var").mkdir(parents=True)
    pipeline = Pipeline(folder / "var" / "issue.json")
    pipeline.issue_json.write_text("first")
    config = replace(stub_config(folder, pipeline), render=lambda: Draft(issue, email, "web"))
    with serving(create_preview_app(config)) as base:
        return httpx.get(base, timeout=10).text
