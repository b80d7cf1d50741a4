"""Content sources, offline: the bundled replay and hand-written ``httpx.MockTransport`` servers."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest
from huggingface_hub import constants as hf_constants
from hypothesis import given, settings
from hypothesis import strategies as st

from emails.errors import SourceError
from pipeline.sources import (
    EditorialSource,
    FeedSource,
    HuggingFacePapers,
    HuggingFaceTrending,
    OpenMeteoWeather,
    build_sources,
    gather,
    sample_card_reader,
    sample_sources,
)
from pipeline.sources import huggingface as hf
from pipeline.sources.feeds import parse_feed
from pipeline.sources.http import USER_AGENT, get
from pipeline.sources.items import ModelItem
from pipeline.sources.replay import (
    ARXIV_FEED,
    BLOG_FEED,
    NEWS_FEED,
    SAMPLE_CARDS,
    sample_client,
    sample_editorial_dir,
)

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)


class Recorder:
    """A MockTransport handler that answers from a script and remembers what it was asked."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def weather_source(client: httpx.Client) -> OpenMeteoWeather:
    return OpenMeteoWeather(
        client,
        base_url="https://meteo.test",
        city="Manchester, United Kingdom",
        latitude=53.48,
        longitude=-2.24,
        timezone="Europe/London",
    )


# --- the bundled replay ----------------------------------------------------------------------


def test_sample_sources_replay_everything_offline() -> None:
    gathered = gather(sample_sources())

    assert len(gathered.models) == 8
    assert gathered.models[0].id == "HayatoHongo/everyoneschat-checkpoints"
    assert {p.source for p in gathered.papers} == {
        "Hugging Face Daily Papers",
        "cs.AI updates on arXiv.org",
    }
    assert len(gathered.papers) == 5 + 3  # HF papers + arXiv "new" only
    assert len(gathered.news) == 5 + 3  # the javascript: entry is dropped; Machine Learning Weekly
    assert gathered.weather is not None
    assert gathered.weather.condition == "Overcast"
    assert gathered.weather.temperature_c == pytest.approx(6.1)
    assert [p.section for p in gathered.editorial] == ["lead", "deep-dive", "opinion", "opinion"]
    assert gather(sample_sources(editorial=False)).editorial == []


def test_every_sample_model_has_a_recorded_card() -> None:
    """So `--sample` reads the featured models' cards, whichever they are, without a 404."""
    models = gather(sample_sources()).models
    assert {m.id for m in models} == set(SAMPLE_CARDS)
    cards = sample_card_reader()([m.id for m in models])
    assert set(cards) == set(SAMPLE_CARDS)
    assert cards["HayatoHongo/everyoneschat-checkpoints"].prose.startswith("EveryonesChat is")
    assert cards["deepdml/whisper-small-ar-mix-norm"].prose == ""  # the Trainer's template


def test_replay_answers_404_for_unrecorded_urls() -> None:
    with sample_client() as client:
        assert client.get("https://huggingface.co/api/spaces").status_code == 404
        assert client.get("https://elsewhere.example/api/models").status_code == 404
        # the query is ignored: a different limit still replays
        assert client.get("https://huggingface.co/api/models?limit=3").status_code == 200


# --- Hugging Face ----------------------------------------------------------------------------


def sample_models() -> dict[str, ModelItem]:
    models = HuggingFaceTrending(sample_client(), limit=8, endpoint=hf.PUBLIC_HUB).fetch().models
    return {m.id: m for m in models}


def test_parameters_come_from_safetensors_then_gguf_else_unknown() -> None:
    models = sample_models()
    assert models["anujjamwal/OpenMath-Nemotron-1.5B"].parameters == 1_543_714_304
    assert models["lmstudio-community/Qwen3-4B-Instruct-2507-GGUF"].parameters == 4_022_468_096
    assert models["ModelFarm/YOLO-R"].parameters is None


def test_descriptions_from_card_data_or_tags_are_plain_one_liners() -> None:
    models = sample_models()
    assert models["anujjamwal/OpenMath-Nemotron-1.5B"].description == (
        "Mathematical reasoning model fine-tuned on human-written chain-of-thought solutions."
    )
    assert models["deepdml/whisper-small-ar-mix-norm"].description == (
        "Automatic speech recognition model for Arabic, fine-tuned from openai/whisper-small"
    )
    lora = models["kaiokendev/sd-lora-watercolour"].description
    assert lora is not None
    assert "<b>" not in lora
    assert "\n" not in lora
    assert lora.startswith("A watercolour style LoRA")
    assert models["ModelFarm/YOLO-R"].description == "Object detection model"


def test_model_fields_and_public_links() -> None:
    model = sample_models()["deepdml/whisper-small-ar-mix-norm"]
    assert model.url == "https://huggingface.co/deepdml/whisper-small-ar-mix-norm"
    assert model.author == "deepdml"
    assert model.likes == 97
    assert model.trending_score == 88.0
    assert model.pipeline_tag == "automatic-speech-recognition"
    assert model.created_at == dt.datetime(2026, 2, 14, 11, 3, 29, tzinfo=dt.UTC)


def test_trending_request_matches_list_models_and_honours_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # huggingface_hub reads HF_ENDPOINT into constants.ENDPOINT; we follow whatever it holds.
    monkeypatch.setattr(hf_constants, "ENDPOINT", "https://hub-mirror.test/")
    recorder = Recorder(httpx.Response(200, json=[{"_id": "x", "id": "org/m", "likes": 1}]))

    models = HuggingFaceTrending(client_for(recorder), limit=3).fetch().models

    (request,) = recorder.requests
    assert request.url.host == "hub-mirror.test"
    assert request.url.path == "/api/models"
    assert request.url.params["sort"] == "trendingScore"
    assert request.url.params["limit"] == "3"
    assert request.url.params.get_list("expand") == list(hf.EXPAND)
    assert "morningpost" in request.headers["user-agent"]
    assert models[0].url == "https://huggingface.co/org/m"  # readers get public links
    assert models[0].parameters is None
    assert models[0].downloads == 0


def test_a_malformed_model_entry_is_skipped_the_rest_kept() -> None:
    body = [{"_id": "no-id-here"}, {"_id": "y", "id": "org/good"}, "not an object"]
    recorder = Recorder(httpx.Response(200, json=body))
    models = HuggingFaceTrending(client_for(recorder), endpoint="https://hub.test").fetch().models
    assert [m.id for m in models] == ["org/good"]


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "not JSON"),
        (httpx.Response(200, json={"error": "Invalid"}), "expected a JSON list"),
        (httpx.Response(404, text="nope"), "HTTP 404 from hub.test"),
    ],
)
def test_hugging_face_garbage_is_a_source_error(response: httpx.Response, reason: str) -> None:
    source = HuggingFaceTrending(client_for(Recorder(response)), endpoint="https://hub.test")
    with pytest.raises(SourceError, match=reason):
        source.fetch()


def test_daily_papers_become_paper_items() -> None:
    papers = HuggingFacePapers(sample_client(), endpoint=hf.PUBLIC_HUB).fetch().papers
    first = papers[0]
    assert first.id == "2602.14417"
    assert first.url == "https://huggingface.co/papers/2602.14417"
    assert first.authors == ("Mira Okafor", "Tomás Lindqvist", "Wen-Li Zhao")
    assert first.upvotes == 142
    assert first.published_at == dt.datetime(2026, 2, 19, 16, 2, 11, tzinfo=dt.UTC)
    assert first.title.startswith("The Case for Small Language Models")


# --- feeds -----------------------------------------------------------------------------------


def sample_feed(url: str) -> FeedSource:
    return FeedSource(sample_client(), url)


def test_arxiv_entries_are_cleaned_and_only_new_ones_kept() -> None:
    gathered = sample_feed(ARXIV_FEED).fetch()
    assert gathered.news == []
    ids = [p.id for p in gathered.papers]
    assert ids == ["2602.16001", "2602.16044", "2602.16107"]  # cross and replace are gone
    first = gathered.papers[0]
    assert first.authors == ("Elena Marsh", "Rahul Iyer", "Björn Aalto", "Yuki Tanaka")
    assert first.summary.startswith("We route queries among a pool")
    assert "Announce Type" not in first.summary
    assert "arXiv:" not in first.summary
    assert first.url == "https://arxiv.org/abs/2602.16001"
    assert first.published_at == dt.datetime(2026, 2, 24, 5, 0, tzinfo=dt.UTC)
    assert gathered.papers[2].authors == ("Nadia Benali",)


def test_atom_links_resolved_tracking_kept_unsafe_dropped_html_stripped() -> None:
    news = sample_feed(BLOG_FEED).fetch().news
    by_title = {n.title: n for n in news}
    whisper = by_title["Fine-tuning Whisper for Arabic dialects"]  # <em> stripped from title
    assert whisper.url == "https://openlab.example.org/blog/whisper-arabic-dialects"
    assert whisper.summary == "How normalising transcripts cut word error rate on dialectal speech."
    assert whisper.authors == ("Sara Haddad",)
    serving = by_title["Serving a dozen small models on one GPU"]
    # tracking parameters are dedup's business, not the feed parser's
    assert "utm_source=rss" in serving.url
    assert serving.summary.startswith("Adapter swapping")  # <content> used when no <summary>
    assert serving.authors == ("Kenji Watanabe", "Ana Ribeiro")
    assert "Release notes: evaluation harness 2.3" not in by_title  # javascript: link


def test_rss_news_html_and_entities_decoded_dates_optional() -> None:
    news = sample_feed(NEWS_FEED).fetch().news
    assert news[0].title == "Open-weight models close the gap on maths benchmarks"
    assert "<" not in news[0].summary
    assert news[0].published_at == dt.datetime(2026, 2, 24, 5, 45, tzinfo=dt.UTC)
    assert news[1].summary == (
        "The consultation runs until April & asks for comments on red-teaming requirements."
    )
    assert news[2].published_at is None


def test_relative_links_resolve_against_the_final_feed_url_after_redirects() -> None:
    atom = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        b'<entry><title>Post</title><link href="post-1"/><id>1</id></entry></feed>'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "old.test":
            return httpx.Response(301, headers={"Location": "https://new.test/blog/feed.xml"})
        return httpx.Response(200, content=atom)

    (item,) = FeedSource(client_for(handler), "https://old.test/feed").fetch().news
    assert item.url == "https://new.test/blog/post-1"


def test_a_bozo_feed_keeps_the_entries_that_parsed() -> None:
    broken = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Half</title>'
        b"<item><title>Survivor</title><link>https://half.test/a</link></item>"
        b"<item><title>Cut off &bogus; <link>"
    )
    news = parse_feed(broken, base_url="https://half.test/rss").news
    assert [n.title for n in news][:1] == ["Survivor"]


def test_a_feed_with_nothing_usable_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="unreadable"):
        parse_feed(b"\x00\x01 this is not a feed <<<", base_url="https://junk.test/rss")


# Arbitrary text, plus the shapes that smuggle scripts: raw, entity-encoded, double-encoded.
_script_bits = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&amp;lt;script&amp;gt;",
        "<SCRIPT src=//x.test/a.js></SCRIPT>",
        "<scr<script>ipt>",
        "<![CDATA[<script>]]>",
    ]
)
_xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
)
_fragments = st.lists(st.one_of(_xml_text, _script_bits), min_size=1, max_size=5).map("".join)


@settings(max_examples=150, deadline=None)
@given(title=_fragments, summary=_fragments)
def test_parsed_titles_and_summaries_never_carry_a_script_tag(title: str, summary: str) -> None:
    rss = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>P</title>'
        f"<item><title>{escape(title)}</title><link>https://p.test/1</link>"
        f"<description>{escape(summary)}</description></item></channel></rss>"
    ).encode()
    gathered = parse_feed(rss, base_url="https://p.test/rss")
    for item in gathered.news:
        assert "<script" not in item.title.lower()
        assert "<script" not in item.summary.lower()


# --- weather ---------------------------------------------------------------------------------


def test_weather_request_and_report() -> None:
    body = {"current": {"time": "2026-02-25T06:15", "temperature_2m": -1.5, "weather_code": 95}}
    recorder = Recorder(httpx.Response(200, json=body))

    report = weather_source(client_for(recorder)).fetch().weather

    assert report is not None
    assert (report.city, report.temperature_c, report.condition) == (
        "Manchester, United Kingdom",
        -1.5,
        "Thunderstorm",
    )
    params = recorder.requests[0].url.params
    assert recorder.requests[0].url.path == "/v1/forecast"
    assert params["current"] == "temperature_2m,weather_code,is_day"
    assert (params["latitude"], params["longitude"]) == ("53.48", "-2.24")
    assert params["timezone"] == "Europe/London"


def test_open_meteo_400_is_a_source_error_with_its_reason() -> None:
    reason = "Latitude must be in range of -90 to 90°. Given: 153.48."
    recorder = Recorder(httpx.Response(400, json={"error": True, "reason": reason}))
    with pytest.raises(SourceError, match="Latitude must be in range") as caught:
        weather_source(client_for(recorder)).fetch()
    assert "\n" not in str(caught.value)
    assert len(recorder.requests) == 1  # a bad request is not retried


@pytest.mark.parametrize(
    "body",
    [{"current": {"temperature_2m": "warm", "weather_code": 3}}, {"hourly": {}}, [1, 2]],
)
def test_weather_without_usable_current_block_is_a_source_error(body: object) -> None:
    with pytest.raises(SourceError, match="Open-Meteo"):
        weather_source(client_for(Recorder(httpx.Response(200, json=body)))).fetch()


# --- the HTTP helper -------------------------------------------------------------------------


def test_500_is_retried_once_then_a_source_error_naming_status_and_host() -> None:
    recorder = Recorder(httpx.Response(503))
    with pytest.raises(SourceError, match=r"^HTTP 503 from meteo\.test$"):
        weather_source(client_for(recorder)).fetch()
    assert len(recorder.requests) == 2


def test_one_failure_then_success_is_success() -> None:
    ok = {"current": {"temperature_2m": 6.1, "weather_code": 3}}
    recorder = Recorder(httpx.Response(502), httpx.Response(200, json=ok))
    assert weather_source(client_for(recorder)).fetch().weather is not None
    assert len(recorder.requests) == 2


def test_timeout_is_retried_once_then_a_source_error() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"))
    with pytest.raises(SourceError, match=r"timed out talking to meteo\.test"):
        weather_source(client_for(recorder)).fetch()
    assert len(recorder.requests) == 2


def test_connection_failure_is_a_source_error() -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(SourceError, match=r"could not reach feeds\.test: ConnectError"):
        FeedSource(client_for(recorder), "https://feeds.test/rss").fetch()


def test_garbage_json_is_a_source_error() -> None:
    recorder = Recorder(httpx.Response(200, content=b"{not json"))
    with pytest.raises(SourceError, match=r"meteo\.test sent a body that is not JSON"):
        weather_source(client_for(recorder)).fetch()


def test_requests_name_the_product_in_the_user_agent() -> None:
    recorder = Recorder(httpx.Response(200, text="ok"))
    get(client_for(recorder), "https://any.test/")
    assert recorder.requests[0].headers["user-agent"] == USER_AGENT
    assert "morningpost" in USER_AGENT


# --- editorial -------------------------------------------------------------------------------


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


GOOD = "---\nsection: opinion\ntitle: Fine\ncolumn: Guest Column\n---\nBody *here*.\n"


def test_bundled_editorial_pieces_load_in_file_order() -> None:
    pieces = EditorialSource(sample_editorial_dir()).fetch().editorial
    lead, deep, editor, guest = pieces
    assert lead.section == "lead"
    assert lead.score == 7
    assert lead.title.startswith("The Specialization Wave")
    assert lead.summary.startswith("From Arabic speech recognition")
    assert '<a href="https://huggingface.co/anujjamwal/OpenMath-Nemotron-1.5B"' in lead.body_html
    assert deep.pull_quote.startswith("The future likely belongs")
    assert "<li>" in deep.body_html
    assert "<strong>accessibility</strong>" in deep.body_html
    assert (editor.column, guest.column) == ("Editor's Column", "Guest Column")


def test_markdown_is_rendered_and_raw_html_is_not(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.md",
        "---\nsection: deep-dive\ntitle: <b>T</b>\n---\n"
        "Hello *world*.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n",
    )
    (piece,) = EditorialSource(tmp_path).fetch().editorial
    assert piece.title == "T"
    assert "<em>world</em>" in piece.body_html
    assert "<script" not in piece.body_html
    assert 'href="javascript' not in piece.body_html  # left as inert text, never a link
    assert piece.path.endswith("a.md")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("No front matter at all.\n", "no front matter"),
        ("---\nsection: lead\ntitle: T\n", "not closed"),
        ("---\nsection: [lead\ntitle: T\n---\nbody\n", "not valid YAML"),
        ("---\n- a list\n---\nbody\n", "must be a mapping"),
        ("---\nsection: sports\ntitle: T\n---\nbody\n", "section must be one of"),
        ("---\nsection: lead\ntitle: T\nscore: 11\n---\nbody\n", "score must be"),
        ("---\nsection: lead\ntitle: T\nscore: true\n---\nbody\n", "score must be"),
        ("---\nsection: opinion\ntitle: T\npullquote: x\n---\nbody\n", "unknown key"),
        ("---\nsection: opinion\n---\nbody\n", "title is missing"),
    ],
)
def test_a_bad_front_matter_file_is_skipped_with_one_line_and_others_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, reason: str
) -> None:
    write(tmp_path, "01-bad.md", text)
    write(tmp_path, "02-good.md", GOOD)
    write(tmp_path, "notes.txt", "not markdown, ignored")

    with caplog.at_level(logging.WARNING, logger="pipeline.sources.editorial"):
        pieces = EditorialSource(tmp_path).fetch().editorial

    assert [p.title for p in pieces] == ["Fine"]
    (record,) = caplog.records
    message = record.getMessage()
    assert "01-bad.md" in message
    assert reason in message
    assert "\n" not in message
    assert record.exc_info is None  # a reason, not a traceback


def test_files_load_sorted_by_name(tmp_path: Path) -> None:
    write(tmp_path, "b.md", GOOD.replace("Fine", "Second"))
    write(tmp_path, "a.md", GOOD.replace("Fine", "First"))
    assert [p.title for p in EditorialSource(tmp_path).fetch().editorial] == ["First", "Second"]


def test_a_missing_editorial_folder_is_news_at_info_level_not_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pipeline.sources.editorial"):
        gathered = EditorialSource(tmp_path / "2026-02-25").fetch()
    assert gathered.editorial == []
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("no editorial for 2026-02-25")


def test_an_unreadable_editorial_folder_is_a_source_error(tmp_path: Path) -> None:
    # A file where the day's folder should be: present, but not readable as a folder.
    (tmp_path / "2026-02-25").write_text("oops", encoding="utf-8")
    with pytest.raises(SourceError, match="unreadable"):
        EditorialSource(tmp_path / "2026-02-25").fetch()


def test_an_unreadable_editorial_file_is_a_warning_and_the_rest_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "02-good.md", GOOD)
    (tmp_path / "01-dir.md").mkdir()  # is_file() is False: not a piece, silently not read
    write(tmp_path, "03-latin1.md", "---\nsection: opinion\ntitle: Caf\xe9\n---\n")
    (tmp_path / "03-latin1.md").write_bytes("---\ntitle: Caf\xe9\n---\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="pipeline.sources.editorial"):
        pieces = EditorialSource(tmp_path).fetch().editorial
    assert [p.title for p in pieces] == ["Fine"]
    assert "03-latin1.md" in caplog.text


# --- composition and isolation ---------------------------------------------------------------


def test_gather_leaves_a_failing_source_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "01.md", GOOD)
    failing = weather_source(client_for(Recorder(httpx.Response(500))))

    with caplog.at_level(logging.WARNING, logger="pipeline.sources.base"):
        gathered = gather([failing, EditorialSource(tmp_path)])

    assert gathered.weather is None
    assert [p.title for p in gathered.editorial] == ["Fine"]
    assert "source open-meteo left out: HTTP 500 from meteo.test" in caplog.text


def test_build_sources_wires_every_source_to_the_one_client(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(503)

    sources = build_sources(
        client=client_for(handler),
        feeds=["https://f1.test/rss", "https://f2.test/atom"],
        weather_url="https://meteo.test",
        city="Manchester",
        latitude=53.48,
        longitude=-2.24,
        timezone="Europe/London",
        editorial_dir=tmp_path,
        hf_endpoint="https://hub.test",
    )
    gathered = gather(sources)

    assert [s.name for s in sources] == [
        "huggingface-trending",
        "huggingface-papers",
        "feed f1.test",
        "feed f2.test",
        "open-meteo",
        "editorial",
    ]
    assert sorted(set(seen)) == ["f1.test", "f2.test", "hub.test", "meteo.test"]
    assert (gathered.models, gathered.papers, gathered.news) == ([], [], [])


def test_recorded_sample_data_has_the_real_shapes() -> None:
    with sample_client() as client:
        models = client.get("https://huggingface.co/api/models").json()
        papers = client.get("https://huggingface.co/api/daily_papers").json()
        weather = client.get("https://api.open-meteo.com/v1/forecast").json()
    assert all({"_id", "id", "trendingScore", "tags"} <= set(m) for m in models)
    assert sum("safetensors" in m for m in models) >= 4
    assert sum("gguf" in m and "safetensors" not in m for m in models) == 1
    assert any("safetensors" not in m and "gguf" not in m for m in models)
    assert all({"paper", "title", "publishedAt", "numComments"} <= set(p) for p in papers)
    assert {"current", "current_units", "timezone"} <= set(weather)
    assert json.dumps(weather["current"]["weather_code"]) == "3"
