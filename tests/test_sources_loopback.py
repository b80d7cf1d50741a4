"""Sources against a real HTTP server on 127.0.0.1, replaying recorded real-shape responses.

The server is the standard library's ``ThreadingHTTPServer`` on an ephemeral port; it serves
the files under ``tests/fixtures/sources/``, answers 500 on ``/broken`` and holds ``/slow``
until the test releases it (waiting on an ``Event``, so the client's time-out fires for real).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emails.errors import SourceError
from pipeline.sources import (
    FeedSource,
    HuggingFacePapers,
    HuggingFaceTrending,
    OpenMeteoWeather,
    build_sources,
    gather,
)
from pipeline.sources import huggingface as hf
from pipeline.sources.http import make_client
from tests.fixture_server import FixtureHandler, FixtureServer, serving

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
# The CLI in a fresh interpreter, so HF_ENDPOINT is read by huggingface_hub at import, as live.
MORNINGPOST = [sys.executable, "-c", "from pipeline.cli import main; main()"]
CLIENT_TIMEOUT = 0.3  # seconds; /slow holds its answer far longer than this
SLOW_HOLD = 10.0  # the most /slow ever waits, should the test never release it

ROUTES: dict[str, tuple[str, str]] = {
    "/api/models": ("hf_models.json", "application/json"),
    "/api/daily_papers": ("hf_daily_papers.json", "application/json"),
    "/v1/forecast": ("open_meteo.json", "application/json"),
    "/feeds/rss2.xml": ("rss2.xml", "application/rss+xml"),
    "/feeds/atom.xml": ("atom.xml", "application/atom+xml"),
    "/rss/cs.AI": ("arxiv_rss.xml", "application/rss+xml"),
    "/api/query": ("arxiv_api.atom", "application/atom+xml"),
    "/feeds/malformed.xml": ("malformed.xml", "application/rss+xml"),
    "/feeds/not-a-feed": ("not_a_feed.html", "text/html"),
    "/feeds/hostile.rss": ("hostile.rss", "application/rss+xml"),
}


class _Handler(FixtureHandler):
    def special(self, path: str) -> bool:
        if path == "/slow":
            self.server.release.wait(SLOW_HOLD)
            self.answer(200, b"<rss version='2.0'><channel/></rss>", "application/rss+xml")
        elif path == "/broken":
            self.answer(500, b"Internal Server Error", "text/plain")
        else:
            return False
        return True


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with serving(FixtureServer(FIXTURES, ROUTES, _Handler)) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=CLIENT_TIMEOUT) as live:
        yield live


# --- Hugging Face ----------------------------------------------------------------------------


def test_trending_models_with_and_without_safetensors(
    server: FixtureServer, client: httpx.Client
) -> None:
    models = HuggingFaceTrending(client, limit=8, endpoint=server.url).fetch().models

    by_id = {m.id: m for m in models}
    assert len(models) == 8
    assert by_id["anujjamwal/OpenMath-Nemotron-1.5B"].parameters == 1_543_714_304  # safetensors
    assert by_id["lmstudio-community/Qwen3-4B-Instruct-2507-GGUF"].parameters == 4_022_468_096
    assert by_id["ModelFarm/YOLO-R"].parameters is None  # neither: unknown, not zero
    assert all(m.url.startswith("https://huggingface.co/") for m in models)  # public links
    (asked,) = server.requests
    query = httpx.URL(asked).params
    assert query["sort"] == "trendingScore"
    assert query.get_list("expand") == list(hf.EXPAND)


def test_daily_papers(server: FixtureServer, client: httpx.Client) -> None:
    papers = HuggingFacePapers(client, endpoint=server.url).fetch().papers
    assert [p.id for p in papers][:2] == ["2602.14417", "2602.13902"]
    assert papers[0].upvotes == 142
    assert papers[0].url == "https://huggingface.co/papers/2602.14417"


# --- feeds -----------------------------------------------------------------------------------


def test_rss_2(server: FixtureServer, client: httpx.Client) -> None:
    news = FeedSource(client, f"{server.url}/feeds/rss2.xml").fetch().news
    assert [n.source for n in news] == ["The AI Dispatch"] * 3
    assert news[0].title == "Open-weight models close the gap on maths benchmarks"
    assert "<" not in news[0].summary


def test_atom_relative_links_resolve_against_the_server(
    server: FixtureServer, client: httpx.Client
) -> None:
    news = FeedSource(client, f"{server.url}/feeds/atom.xml").fetch().news
    titles = [n.title for n in news]
    assert titles == [
        "Fine-tuning Whisper for Arabic dialects",
        "Serving a dozen small models on one GPU",
    ]
    assert news[0].url == f"{server.url}/blog/whisper-arabic-dialects"


def test_arxiv_rss(server: FixtureServer, client: httpx.Client) -> None:
    papers = FeedSource(client, f"{server.url}/rss/cs.AI").fetch().papers
    assert [p.id for p in papers] == ["2602.16001", "2602.16044", "2602.16107"]
    assert papers[0].authors == ("Elena Marsh", "Rahul Iyer", "Björn Aalto", "Yuki Tanaka")
    assert not papers[0].summary.startswith("arXiv:")


def test_arxiv_api_atom(server: FixtureServer, client: httpx.Client) -> None:
    url = f"{server.url}/api/query?search_query=cat:cs.CL&sortBy=submittedDate&max_results=3"
    gathered = FeedSource(client, url).fetch()

    assert gathered.news == []
    first, second, third = gathered.papers
    assert first.id == "2602.16210"
    assert first.title == "Dialect-Aware Normalisation for Arabic Speech Recognition"
    # several author/name elements, all kept (feedparser's entry.author is only the last)
    assert first.authors == ("Layla Hassan", "Omar Farouk", "Ines Moreau")
    assert first.url == "https://arxiv.org/abs/2602.16210"  # the abstract page, not the PDF
    assert first.source == "arXiv cs.CL"
    assert first.summary.startswith("We show that normalising")
    assert second.id == "2602.16188"  # version suffix v2 dropped
    assert third.title == "Token-Level Uncertainty for Honest"  # a tag-looking word is stripped
    assert (
        third.summary
        == "We calibrate token probabilities & show summaries that abstain when unsure."
    )


def test_a_malformed_feed_keeps_what_parsed(server: FixtureServer, client: httpx.Client) -> None:
    news = FeedSource(client, f"{server.url}/feeds/malformed.xml").fetch().news
    assert [n.title for n in news] == ["Survives the break"]


def test_an_html_page_instead_of_a_feed_is_a_source_error(
    server: FixtureServer, client: httpx.Client
) -> None:
    with pytest.raises(SourceError, match="not RSS or Atom"):
        FeedSource(client, f"{server.url}/feeds/not-a-feed").fetch()


# --- failures: 500 and time-out, each retried once ----------------------------------------------


def test_http_500_is_retried_once_then_left_out(
    server: FixtureServer, client: httpx.Client
) -> None:
    with pytest.raises(SourceError, match=r"^HTTP 500 from 127\.0\.0\.1$"):
        FeedSource(client, f"{server.url}/broken").fetch()
    assert server.hits("/broken") == 2


def test_a_timeout_is_retried_once_then_a_one_line_source_error(
    server: FixtureServer, client: httpx.Client
) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"^timed out talking to 127\.0\.0\.1$"):
        FeedSource(client, f"{server.url}/slow").fetch()
    elapsed = time.monotonic() - started

    assert server.wait_for_hits("/slow", 2) == 2
    # Two attempts, each cut off by the client's time-out, not by the server's answer.
    assert elapsed < SLOW_HOLD
    assert not server.release.is_set()


def test_weather(server: FixtureServer, client: httpx.Client) -> None:
    source = OpenMeteoWeather(
        client,
        base_url=server.url,
        city="Manchester, United Kingdom",
        latitude=53.48,
        longitude=-2.24,
        timezone="Europe/London",
    )
    report = source.fetch().weather
    assert report is not None
    assert (report.temperature_c, report.condition) == (6.1, "Overcast")
    assert "latitude=53.48" in server.requests[0]


def test_one_bad_source_never_sinks_the_rest(
    server: FixtureServer, client: httpx.Client, tmp_path: Path
) -> None:
    sources = build_sources(
        client=client,
        feeds=[f"{server.url}/broken", f"{server.url}/slow", f"{server.url}/feeds/rss2.xml"],
        weather_url=server.url,
        city="Manchester",
        latitude=53.48,
        longitude=-2.24,
        timezone="Europe/London",
        editorial_dir=tmp_path / "2026-02-25",
        hf_endpoint=server.url,
    )
    gathered = gather(sources)
    assert len(gathered.models) == 8
    assert len(gathered.papers) == 5
    assert len(gathered.news) == 3
    assert gathered.weather is not None


# --- the whole command, configured only through the environment, HF_ENDPOINT included ---------


def test_assemble_command_reads_every_source_from_the_environment(
    server: FixtureServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    feeds = [
        f"{server.url}/feeds/rss2.xml",
        f"{server.url}/feeds/atom.xml",
        f"{server.url}/rss/cs.AI",
        f"{server.url}/api/query?search_query=cat:cs.CL",
        f"{server.url}/feeds/malformed.xml",
        f"{server.url}/feeds/not-a-feed",
        f"{server.url}/broken",
        f"{server.url}/feeds/hostile.rss",
    ]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MORNINGPOST_", "HF_"))
    }
    env |= {
        "HF_ENDPOINT": server.url,
        "MORNINGPOST_DATA_DIR": str(data_dir),
        "MORNINGPOST_FEEDS": json.dumps(feeds),
        "MORNINGPOST_WEATHER_URL": server.url,
        "MORNINGPOST_EDITORIAL_DIR": str(tmp_path / "content"),
        "MORNINGPOST_SOURCE_TIMEOUT": "2",
    }
    done = subprocess.run(
        [*MORNINGPOST, "assemble", "--date", "2026-02-25"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert server.hits("/api/models") == 1  # HF_ENDPOINT honoured: the Hub was our server
    assert server.hits("/api/daily_papers") == 1
    issue = json.loads((data_dir / "issues" / "2026-02-25" / "issue.json").read_text("utf-8"))
    assert issue["masthead"]["weather"] == {"temperature_c": 6.1, "condition": "Overcast"}
    assert issue["lead"]["links"]  # written from the data: no editorial folder today
    assert issue["tools"][0]["name"] == "everyoneschat-checkpoints"
    # the failing feeds are named in one line each; the missing editorial is not a warning
    assert "HTTP 500 from 127.0.0.1" in done.stderr
    assert "not RSS or Atom" in done.stderr
    assert "editorial" not in done.stderr
    raw = json.dumps(issue).lower()
    for hostile in ("<script", "javascript:", "onerror", "onclick", "<img", "<style", "utm_"):
        assert hostile not in raw
