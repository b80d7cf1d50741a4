"""The assembly half of the no-editor briefing: news, tools, reading, figures, subject, lead.

The end-to-end tests run the real ``morningpost`` command in a fresh interpreter, configured
only through the environment: ``HF_ENDPOINT`` and ``MORNINGPOST_*`` point every source at a
``ThreadingHTTPServer`` on 127.0.0.1 serving the recorded fixtures of ``tests/fixtures/briefing``
(model cards with front matter, badges, HTML and script; a 4-bit MLX repo; feeds carrying the
same story; an Arabic feed), with an empty editorial folder. The issue they assemble is the
golden no-editor issue under ``tests/golden/no-editor/`` (rerun with UPDATE_GOLDEN=1 and review
the diff when a change is deliberate).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from huggingface_hub import ModelInfo
from hypothesis import given
from hypothesis import strategies as st

from emails.issue import Issue, Reading, Story, Tool
from emails.render import render_email
from pipeline.assembly import blurbs, headlines
from pipeline.assembly.assemble import assemble, choose_reading, count_items
from pipeline.assembly.dedup import Seen
from pipeline.assembly.lead import strongest_story, written_lead
from pipeline.assembly.numbers import by_the_numbers
from pipeline.assembly.specialism import is_specialised
from pipeline.cli import main
from pipeline.sources.huggingface import model_item
from pipeline.sources.items import Gathering, ModelItem, NewsItem, PaperItem

HERE = Path(__file__).parent
BRIEFING = HERE / "fixtures" / "briefing"
GOLDEN = HERE / "golden" / "no-editor"
MORNINGPOST = [sys.executable, "-c", "from pipeline.cli import main; main()"]
DAY = "2026-02-25"  # a Wednesday
MLX_ID = "mlx-community/SmolLM3-3B-4bit"
ARABIC_HEADLINE = "GPT-5 يغيّر قواعد البحث على الإنترنت"
JAPANESE_HEADLINE = "オープンラボ、アラビア語音声モデル「Atlas-7B」を公開"
TAGLINE = "Your Daily AI Intelligence Briefing"
REPO_ID = re.compile(r"\b[\w.-]+/[\w.-]+\b")

CARDS = {
    "HayatoHongo/everyoneschat-checkpoints": "everyoneschat-checkpoints.md",
    "anujjamwal/OpenMath-Nemotron-1.5B": "OpenMath-Nemotron-1.5B.md",
    "ModelFarm/YOLO-R": "YOLO-R.md",
    "kaiokendev/sd-lora-watercolour": "sd-lora-watercolour.md",
    MLX_ID: "SmolLM3-3B-4bit.md",
    "ExampleQuant/Mistral-7B-Instruct-v0.2-GPTQ": "Mistral-7B-Instruct-v0.2-GPTQ.md",
}
ROUTES: dict[str, tuple[Path, str]] = {
    "/api/models": (BRIEFING / "hf_models.json", "application/json"),
    "/api/daily_papers": (BRIEFING / "hf_daily_papers.json", "application/json"),
    "/feeds/dispatch.rss": (BRIEFING / "dispatch.rss", "application/rss+xml"),
    "/feeds/mlweekly.atom": (BRIEFING / "mlweekly.atom", "application/atom+xml"),
    "/feeds/arabic.rss": (BRIEFING / "arabic.rss", "application/rss+xml"),
    "/v1/forecast": (HERE / "fixtures" / "sources" / "open_meteo.json", "application/json"),
    **{
        f"/{repo}/resolve/main/README.md": (BRIEFING / "cards" / name, "text/markdown")
        for repo, name in CARDS.items()
    },
}
FEEDS = ["/feeds/dispatch.rss", "/feeds/mlweekly.atom", "/feeds/arabic.rss"]


# --- the loopback server ------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, down: tuple[str, ...] = ()) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.down = down  # path prefixes that answer 503: an outage
        self.requests: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def cards_asked(self) -> list[str]:
        with self.lock:
            paths = [p.split("?")[0] for p in self.requests if "/resolve/main/" in p]
        return [p.removeprefix("/").removesuffix("/resolve/main/README.md") for p in paths]


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append(self.path)
        path = self.path.split("?")[0]
        if path.startswith(self.server.down):
            self._answer(503, b"Service Unavailable", "text/plain")
        elif path in ROUTES:
            file, kind = ROUTES[path]
            self._answer(200, file.read_bytes(), f"{kind}; charset=utf-8")
        else:
            self._answer(404, b"Entry not found", "text/plain")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(down: tuple[str, ...] = ()) -> Iterator[Server]:
    server = Server(down)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Run:
    """One ``morningpost assemble`` + ``render`` in a fresh interpreter, and what it wrote."""

    server: Server
    folder: Path
    assembled: subprocess.CompletedProcess[str]
    rendered: subprocess.CompletedProcess[str] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def issue_dir(self) -> Path:
        return self.folder / "var" / "issues" / DAY

    @property
    def issue(self) -> Issue:
        return Issue.load(self.issue_dir / "issue.json")

    def text(self, name: str) -> str:
        return (self.issue_dir / name).read_text("utf-8")


def morningpost(
    server: Server, folder: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MORNINGPOST_", "HF_"))}
    env |= {
        "HF_ENDPOINT": server.url,
        "MORNINGPOST_DATA_DIR": str(folder / "var"),
        "MORNINGPOST_FEEDS": json.dumps([server.url + feed for feed in FEEDS]),
        "MORNINGPOST_WEATHER_URL": server.url,
        "MORNINGPOST_EDITORIAL_DIR": str(folder / "content"),  # no editorial at all
        "MORNINGPOST_SOURCE_TIMEOUT": "2",
        "MORNINGPOST_POSTAL_ADDRESS": "The AI Morning Post, 1 Example Street, Manchester",
        **extra,
    }
    return subprocess.run(
        [*MORNINGPOST, *args],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_day(folder: Path, *, down: tuple[str, ...] = (), **extra: str) -> Iterator[Run]:
    folder.mkdir(parents=True, exist_ok=True)
    for server in serve(down):
        assembled = morningpost(server, folder, "assemble", "--date", DAY, **extra)
        run = Run(server, folder, assembled, extra=extra)
        if assembled.returncode == 0:
            run.rendered = morningpost(server, folder, "render", "--date", DAY, **extra)
        yield run


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The no-editor day, assembled and rendered once for the module."""
    yield from run_day(tmp_path_factory.mktemp("no-editor"))


# --- the golden no-editor issue -------------------------------------------------------------


@pytest.mark.parametrize("name", ["issue.json", "email.txt"])
def test_golden_no_editor_issue(day: Run, name: str) -> None:
    """Any change to the no-editor issue is deliberate: UPDATE_GOLDEN=1, then read the diff."""
    assert day.assembled.returncode == 0, day.assembled.stderr
    assert day.rendered is not None
    assert day.rendered.returncode == 0, day.rendered.stderr
    # A relative link in a feed resolves against where the feed came from: the test server,
    # whose port changes from run to run.
    actual = day.text(name).replace(day.server.url, "http://127.0.0.1:PORT")
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


def test_the_no_editor_issue_has_the_sample_sections_minus_the_essays(day: Run) -> None:
    issue = day.issue
    assert issue.lead is not None
    assert issue.numbers
    assert 4 <= len(issue.news) <= 8
    assert issue.tools
    assert issue.reading
    assert (issue.deep_dive, issue.opinions) == (None, [])
    text = day.text("email.txt")
    order = [
        "LEAD STORY",
        "BY THE NUMBERS",
        "NEWS IN BRIEF",
        "TOOLS OF THE WEEK",
        "FURTHER READING",
    ]
    assert [text.index(f"\n{h}") for h in order] == sorted(text.index(f"\n{h}") for h in order)


def test_cards_are_read_for_the_featured_models_only_through_hf_endpoint(day: Run) -> None:
    issue = day.issue
    assert issue.lead is not None
    asked = day.server.cards_asked()
    featured = {t.url.removeprefix("https://huggingface.co/") for t in issue.tools}
    lead_models = {
        link.url.removeprefix("https://huggingface.co/")
        for link in issue.lead.links
        if link.url.startswith("https://huggingface.co/") and "/papers/" not in link.url
    }
    assert sorted(asked) == sorted(featured | lead_models)  # each once, nothing else
    assert "kaiokendev/sd-lora-watercolour" not in asked  # trending, but not featured


def test_tools_are_described_in_their_cards_words_or_plain_english(day: Run) -> None:
    tools = {t.name: t for t in day.issue.tools}
    assert tools["everyoneschat-checkpoints"].description.startswith(
        "EveryonesChat is a 1.2B-parameter bilingual chat model"
    )
    # the card's banner, badges and <script> never reach the blurb
    for tool in tools.values():
        assert "<" not in tool.description
        assert "document.cookie" not in tool.description
        assert not re.search(r"\b[A-Z]{2,}-[A-Z]{2,}", " ".join(tool.meta))  # no TAGS-IN-CAPS
        assert "-" not in tool.task  # "Speech recognition", never "automatic-speech-recognition"
    everyone = tools["everyoneschat-checkpoints"]
    assert everyone.meta == [
        "Text generation",
        "1.2B\u00a0parameters",
        "Apache 2.0",
        "212\u00a0likes \u00b7 15.2k\u00a0downloads",
    ]
    # the Whisper card answers 500 (twice): the fallback says it in words
    assert tools["whisper-small-arz"].description == (
        "Speech recognition for Egyptian Arabic, fine-tuned from whisper-small"
    )


def test_news_is_clustered_before_dedup_and_names_every_outlet(day: Run) -> None:
    issue = day.issue
    assert issue.lead is not None
    stories = {s.headline: s for s in issue.news}
    everything = [*issue.news]
    chip = stories["Chip export rules tightened for AI accelerators"]
    assert chip.outlets == ["The AI Dispatch", "Machine Learning Weekly"]  # one canonical URL
    assert chip.via == "The AI Dispatch and Machine Learning Weekly"
    assert "utm_" not in chip.url
    assert ARABIC_HEADLINE in stories
    assert (stories[ARABIC_HEADLINE].direction, stories[ARABIC_HEADLINE].language) == ("rtl", "ar")
    assert JAPANESE_HEADLINE in stories
    assert stories[JAPANESE_HEADLINE].language == "ja"
    # each story's text is the outlet's own, cut at a sentence, footers dropped
    for story in everything:
        assert "appeared first on" not in story.summary
        assert story.summary.endswith((".", "!", "?", "\u3002", "\uff01", "\u061f"))
    html = render_email(issue, postal_address="x").html
    headline = re.compile(
        r'<div class="mp-story-headline" lang="ar" dir="rtl"[^>]*><a href="([^"]+)"'
    )
    assert set(headline.findall(html)) == {s.url for s in issue.news if s.direction == "rtl"}
    assert JAPANESE_HEADLINE in day.text("email.txt")
    assert "\u200f" + ARABIC_HEADLINE in day.text("email.txt")  # plain text: an RLM opens it


def test_one_story_appears_in_one_section_only(day: Run) -> None:
    issue = day.issue
    assert issue.lead is not None
    urls = [link.url for link in issue.lead.links]
    urls += [link.url for story in issue.news for link in story.sources]
    urls += [tool.url for tool in issue.tools] + [item.url for item in issue.reading]
    lead_models = {u for u in urls[: len(issue.lead.links)] if "/papers/" not in u}
    repeated = {u for u in urls if urls.count(u) > 1} - lead_models  # tools may be in the lead
    assert repeated == set()


def test_figures_say_what_they_count_and_leave_out_what_is_too_thin(day: Run) -> None:
    assert [(f.value, f.label, f.note) for f in day.issue.numbers] == [
        ("4 of 8", "trending models are specialised", ""),
        # only 2 of the 4 specialised models publish a size: no average of two
        (
            "4",
            "domains the specialised models cover",
            "maths, speech recognition, object detection and 1 more",
        ),
    ]


def test_quantised_sizes_are_real_and_the_lead_shows_them(day: Run) -> None:
    lead = day.issue.lead
    assert lead is not None
    # the 4-bit MLX SmolLM3 stores 481M packed elements; it is the 3B model it says it is
    assert "SmolLM3-3B-4bit from mlx-community (3.1B parameters" in lead.body_html
    assert "481M" not in lead.body_html


def test_subject_and_preheader_are_written_for_the_inbox(day: Run) -> None:
    issue = day.issue
    assert issue.lead is not None
    assert len(issue.subject) <= headlines.SUBJECT_LIMIT
    assert not REPO_ID.search(issue.subject)
    assert issue.preheader not in (TAGLINE, issue.lead.summary)
    assert issue.lead.summary not in issue.preheader
    assert issue.preheader.startswith("Also inside: ")


# --- outages ------------------------------------------------------------------------------------


def test_a_hugging_face_outage_with_working_feeds_still_makes_an_issue(tmp_path: Path) -> None:
    for run in run_day(tmp_path, down=("/api/", "/HayatoHongo", "/anujjamwal")):
        assert run.assembled.returncode == 0, run.assembled.stderr
        issue = run.issue
        assert (issue.tools, issue.numbers) == ([], [])
        assert issue.lead is not None
        assert issue.lead.kicker == "From today's news"  # the strongest story is a news story
        assert 4 <= len(issue.news) <= 8
        assert count_items(issue) >= 5  # news counts toward MORNINGPOST_MIN_ITEMS
        left_out = [line for line in run.assembled.stderr.splitlines() if "left out" in line]
        assert len(left_out) == 2  # trending and papers, one line each
        assert "HTTP 503" in left_out[0]
        assert run.server.cards_asked() == []


def test_every_source_down_exits_1_with_one_line(tmp_path: Path) -> None:
    for run in run_day(tmp_path, down=("/",)):
        assert run.assembled.returncode == 1
        errors = [line for line in run.assembled.stderr.splitlines() if line.startswith("error:")]
        assert errors == [
            f"error: the issue of {DAY} would feature only 0 item(s), fewer than the minimum "
            "of 5 (MORNINGPOST_MIN_ITEMS); no draft written"
        ]
        assert "Traceback" not in run.assembled.stderr
        assert not run.issue_dir.exists()


# --- the bundled sample, without its editor -------------------------------------------------------


def test_the_sample_run_without_editorial_reads_like_the_sample(
    env_settings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = CliRunner()
    with caplog.at_level(logging.INFO):
        done = runner.invoke(main, ["assemble", "--sample", "--no-editorial", "--date", DAY])
    assert done.exit_code == 0, done.output
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []  # every featured model's card is recorded: no 404 lines
    issue = Issue.load(env_settings / "sample" / "issues" / DAY / "issue.json")
    assert issue.lead is not None
    assert issue.lead.kicker == "From today's chart"
    assert [t.name for t in issue.tools] == [
        "everyoneschat-checkpoints",
        "OpenMath-Nemotron-1.5B",
        "whisper-small-ar-mix-norm",
        "YOLO-R",
    ]
    assert next((f.value, f.label) for f in issue.numbers) == (
        "5 of 8",
        "trending models are specialised",
    )
    assert issue.news[0].via == "The AI Dispatch and Machine Learning Weekly"
    # a long read from a feed joins the papers once the lead has taken the top paper
    assert [r.source for r in issue.reading][-1] == "Machine Learning Weekly"
    assert (issue.deep_dive, issue.opinions) == (None, [])


# --- the rules, one by one --------------------------------------------------------------------


def model_from_fixture(repo_id: str, **changes: Any) -> ModelItem:
    entries = json.loads((BRIEFING / "hf_models.json").read_text("utf-8"))
    entry = next(e for e in entries if e["id"] == repo_id)
    item = model_item(ModelInfo(**{"siblings": None, **entry}))
    return dataclasses.replace(item, **changes) if changes else item


def test_a_quantised_reupload_is_described_from_the_data_not_its_boilerplate_card() -> None:
    boilerplate = (
        "This model mlx-community/SmolLM3-3B-4bit was converted to MLX format from "
        "HuggingFaceTB/SmolLM3-3B using mlx-lm version 0.26.0."
    )
    mlx = model_from_fixture(MLX_ID, card_text=boilerplate)
    assert blurbs.tool_blurb(mlx) == (
        "Text generation for English, French, Spanish and 5 more languages, "
        "a 4-bit MLX version of SmolLM3-3B"
    )
    assert blurbs.tool_size(mlx) == "3.1B\u00a0parameters"  # not the 481M packed elements
    own_words = model_from_fixture("ModelFarm/YOLO-R", card_text="Finds things in pictures fast.")
    assert blurbs.tool_blurb(own_words) == "Finds things in pictures fast."
    assert blurbs.tool_task(own_words) == "Object detection"
    bare = model_from_fixture("ModelFarm/YOLO-R")
    assert (blurbs.tool_blurb(bare), blurbs.tool_task(bare)) == ("Object detection", "")


@pytest.mark.parametrize(
    ("likes", "downloads", "shown"),
    [
        (212, 15_234, "212\u00a0likes \u00b7 15.2k\u00a0downloads"),
        (1, 0, "1\u00a0like"),
        (0, 1_234_567, "1.2M\u00a0downloads"),
        (0, 0, ""),
    ],
)
def test_likes_and_downloads_are_written_for_humans(likes: int, downloads: int, shown: str) -> None:
    model = model_from_fixture("ModelFarm/YOLO-R", likes=likes, downloads=downloads)
    assert blurbs.tool_popularity(model) == shown


@pytest.mark.parametrize(
    ("day", "configured", "name"),
    [
        (dt.date(2026, 2, 25), None, "Further Reading"),  # Wednesday
        (dt.date(2026, 2, 28), None, "Weekend Reading"),  # Saturday
        (dt.date(2026, 3, 1), None, "Weekend Reading"),  # Sunday
        (dt.date(2026, 3, 2), None, "Further Reading"),  # Monday
        (dt.date(2026, 2, 25), "The Long Read", "The Long Read"),
    ],
)
def test_the_reading_section_is_named_for_the_day(
    day: dt.date, configured: str | None, name: str
) -> None:
    assert headlines.reading_heading(day, configured) == name
    issue = assemble(Gathering(), date=day, number=1, city="M", reading_heading=configured)
    assert issue.reading_heading == name


def test_the_reading_heading_setting_reaches_the_issue(settings: Any) -> None:
    from pipeline import jobs
    from pipeline.context import Context

    configured = settings.model_copy(update={"reading_heading": "The Long Read"})
    with Context(configured) as ctx:
        issue = jobs.assemble_issue(ctx, ctx.issue(dt.date(2026, 2, 25)), sample=True)
    assert issue.reading_heading == "The Long Read"
    assert "THE LONG READ" in render_email(issue, postal_address="x").text


def paper(number: int, votes: int) -> PaperItem:
    return PaperItem(
        id=f"2602.{number}",
        title=f"Paper {number}",
        summary="We did a thing. It worked well.",
        url=f"https://huggingface.co/papers/2602.{number}",
        authors=(),
        source="Hugging Face Daily Papers",
        upvotes=votes,
        ai_summary="The thing works." if number == 1 else "",
    )


def long_read() -> NewsItem:
    return NewsItem(
        title="A year of small models",
        url="https://weekly.example.org/long",
        summary="What a year taught us. Much.",
        source="Weekly",
        text="word " * 450,
        published_at=dt.datetime(2026, 2, 22, tzinfo=dt.UTC),
    )


def test_reading_mixes_papers_with_long_reads_when_they_are_better() -> None:
    papers = [paper(1, 120), paper(2, 12), paper(3, 0)]
    chosen = choose_reading(papers, [long_read()], skip=Seen())
    assert [r.title for r in chosen] == ["Paper 1", "A year of small models", "Paper 2"]
    assert chosen[0].description == "The thing works."  # the Hub's ai_summary: the finding
    assert chosen[2].description == "We did a thing. It worked well."  # two sentences
    assert chosen[1].source == "Weekly"


def test_a_long_read_goes_to_reading_and_never_to_the_news() -> None:
    gathered = Gathering(news=[long_read()], papers=[paper(1, 120)])
    issue = assemble(gathered, date=dt.date(2026, 2, 25), number=1, city="M")
    assert [r.title for r in issue.reading][-1] == "A year of small models"
    assert "A year of small models" not in [s.headline for s in issue.news]


@given(
    st.text(min_size=1, max_size=160).filter(lambda t: t.strip()),
    st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)),
)
def test_a_subject_is_never_longer_than_the_limit_nor_a_repository_id(
    headline: str, day: dt.date
) -> None:
    subject = headlines.subject_line(
        f"org-name/{headline}",
        date=day,
        brand="The AI Morning Post",
        model_ids=[f"org-name/{headline}"],
    )
    assert 0 < len(subject) <= headlines.SUBJECT_LIMIT
    assert "org-name/" not in subject


@pytest.mark.parametrize(
    ("headline", "subject"),
    [
        ("Small models win", "Small models win \u00b7 25 Feb"),
        (
            "The Specialization Wave: Domain-Specific AI Models Challenge One-Size-Fits-All "
            "Approach",
            "The Specialization Wave \u00b7 25 Feb",
        ),
        (
            "HayatoHongo/everyoneschat-checkpoints leads three trending text generation models",
            "everyoneschat-checkpoints leads three trending text generation models",
        ),
    ],
)
def test_subject_lines(headline: str, subject: str) -> None:
    ids = ["HayatoHongo/everyoneschat-checkpoints"]
    shown = headlines.subject_line(
        headline, date=dt.date(2026, 2, 25), brand="The AI Morning Post", model_ids=ids
    )
    assert shown == subject


def test_the_preheader_teases_other_sections_never_the_tagline_or_standfirst() -> None:
    story = Story(headline="EU drafts a code", url="https://n.example/eu", sources=[])
    tool = Tool(name="YOLO-R", description="d", url="https://huggingface.co/ModelFarm/YOLO-R")
    reading = Reading(title="Small models", description="d", url="https://p.example/1")
    text = headlines.preheader(
        [story], [tool], [reading], reading_name="Further Reading", fallback="x"
    )
    assert text == (
        "Also inside: EU drafts a code; YOLO-R in Tools of the Week; Further Reading: Small models."
    )
    skipped = headlines.preheader(
        [story], [tool], [], reading_name="R", fallback="x", skip=[tool.url]
    )
    assert skipped == "Also inside: EU drafts a code."
    assert headlines.preheader([], [], [], reading_name="R", fallback="quiet") == "quiet"
    very_long = Story(headline="word " * 60, url="https://n.example/l", sources=[])
    cut = headlines.preheader([very_long], [], [], reading_name="R", fallback="x")
    assert len(cut) <= headlines.PREHEADER_LIMIT
    assert cut.endswith("\u2026")


def chat_model(name: str, score: float, tags: tuple[str, ...] = ()) -> ModelItem:
    return ModelItem(
        id=f"org/{name}",
        author="org",
        url=f"https://huggingface.co/org/{name}",
        likes=50,
        downloads=500,
        trending_score=score,
        pipeline_tag="text-generation",
        tags=tags,
    )


def test_the_lead_never_cites_a_general_model_as_evidence_of_specialisation() -> None:
    general = [chat_model("chat-a", 9), chat_model("chat-b", 8), chat_model("chat-c", 7)]
    candidate = strongest_story(general, [], [], chart=general, now=dt.datetime.now(dt.UTC))
    assert candidate is not None
    lead = written_lead(candidate, chart=general)
    assert not any(is_specialised(m) for m in general)
    assert "speciali" not in f"{lead.title} {lead.summary} {lead.body_html}".lower()
    # a maths-tagged text generator is specialised by the one rule, and its cluster is maths
    maths = chat_model("math-a", 10, tags=("math",))
    candidate = strongest_story(
        [maths, *general], [], [], chart=[maths, *general], now=dt.datetime.now(dt.UTC)
    )
    assert candidate is not None
    assert is_specialised(maths)


def test_with_hugging_face_down_the_lead_is_the_story_most_outlets_carry() -> None:
    when = dt.datetime(2026, 2, 24, 12, tzinfo=dt.UTC)
    one = NewsItem(
        title="A small thing happened",
        url="https://a.example/1",
        summary="A.",
        source="A",
        published_at=when,
    )
    both = [
        NewsItem(
            title="EU AI Office drafts a code of practice for general-purpose models",
            url="https://a.example/eu",
            summary="The draft asks for summaries.",
            source="A",
            published_at=when,
        ),
        NewsItem(
            title="EU AI Office publishes draft code of practice for general-purpose models",
            url="https://b.example/eu",
            summary="Providers would publish summaries.",
            source="B",
            published_at=when + dt.timedelta(hours=1),
        ),
    ]
    issue = assemble(Gathering(news=[one, *both]), date=dt.date(2026, 2, 25), number=1, city="M")
    assert issue.lead is not None
    assert issue.lead.title == both[0].title
    assert issue.lead.kicker == "From today's news"
    assert [link.title for link in issue.lead.links] == ["A", "B"]
    assert "B adds: \u201cProviders would publish summaries.\u201d" in issue.lead.body_html
    assert [s.headline for s in issue.news] == ["A small thing happened"]  # not twice
    assert count_items(issue) == 2
    figures = by_the_numbers([])
    assert figures == []
