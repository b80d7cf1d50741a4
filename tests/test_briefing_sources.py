"""The source half of the no-editor briefing: model cards, real sizes, findings, news stories.

Fixtures under ``tests/fixtures/briefing/`` are hand-made in the APIs' real shapes: the Hub's
``/api/models`` with ``expand`` (``safetensors``, ``config``, ``cardData``), card READMEs as
authors write them (front matter, banners, badges, scripts, code before the prose), daily papers
with and without ``ai_summary``, and RSS 2.0 / Atom / Arabic feeds. Network tests talk to a
``ThreadingHTTPServer`` on 127.0.0.1 only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import ModelInfo
from hypothesis import example, given
from hypothesis import strategies as st

from emails.errors import SourceError
from pipeline.assembly.news import (
    SAME_STORY_JACCARD,
    cluster_stories,
    rank_stories,
    same_story,
    story_key,
    story_text,
    title_similarity,
)
from pipeline.sources import FeedSource, HuggingFacePapers, HuggingFaceTrending, gather
from pipeline.sources.cards import (
    CARD_PROSE_LIMIT,
    card_prose,
    card_url,
    describe_model,
    fetch_cards,
    model_blurb,
    parse_card,
    with_cards,
)
from pipeline.sources.feeds import parse_feed
from pipeline.sources.http import make_client
from pipeline.sources.huggingface import model_item
from pipeline.sources.items import ModelItem, NewsItem, PaperItem
from pipeline.sources.papers import paper_finding
from pipeline.sources.sizes import Quantization, quantization_of, real_parameters
from pipeline.sources.wording import ELLIPSIS, excerpt, human_count, is_unspaced, join_words
from tests.fixture_server import FixtureHandler, FixtureServer, serving

FIXTURES = Path(__file__).parent / "fixtures" / "briefing"
CARDS = FIXTURES / "cards"
CLIENT_TIMEOUT = 0.3  # seconds; a held card answers far later than this
HOLD = 10.0  # the most a held answer waits, should the test never release it
NOW = dt.datetime(2026, 2, 24, 12, 0, tzinfo=dt.UTC)

MLX_ID = "mlx-community/SmolLM3-3B-4bit"
GPTQ_ID = "ExampleQuant/Mistral-7B-Instruct-v0.2-GPTQ"
WHISPER_ID = "deepdml/whisper-small-arz"
SMOLLM3_PARAMETERS = 3_075_098_624  # 36 layers x 78,123,008 + 128256 x 2048 embeddings + norm
MISTRAL_7B_PARAMETERS = 7_241_732_096

CARD_FILES = {
    "HayatoHongo/everyoneschat-checkpoints": "everyoneschat-checkpoints.md",
    "anujjamwal/OpenMath-Nemotron-1.5B": "OpenMath-Nemotron-1.5B.md",
    "ModelFarm/YOLO-R": "YOLO-R.md",
    "kaiokendev/sd-lora-watercolour": "sd-lora-watercolour.md",
    MLX_ID: "SmolLM3-3B-4bit.md",
    GPTQ_ID: "Mistral-7B-Instruct-v0.2-GPTQ.md",
}
BROKEN_CARD = f"/{WHISPER_ID}/resolve/main/README.md"  # answers 500
HELD_CARD = f"/{GPTQ_ID}/resolve/main/README.md"  # answers after the client gave up

ROUTES: dict[str, tuple[str, str]] = {
    "/api/models": ("hf_models.json", "application/json"),
    "/api/daily_papers": ("hf_daily_papers.json", "application/json"),
    "/feeds/dispatch.rss": ("dispatch.rss", "application/rss+xml"),
    "/feeds/mlweekly.atom": ("mlweekly.atom", "application/atom+xml"),
    "/feeds/arabic.rss": ("arabic.rss", "application/rss+xml"),
    **{
        f"/{repo}/resolve/main/README.md": (f"cards/{name}", "text/markdown")
        for repo, name in CARD_FILES.items()
    },
}


# --- the loopback server ------------------------------------------------------------------------


class BriefingServer(FixtureServer):
    def __init__(self) -> None:
        super().__init__(FIXTURES, ROUTES, _Handler)
        # When set, card requests wait here for each other: only parallel fetching passes.
        self.barrier: threading.Barrier | None = None

    def card_requests(self) -> set[str]:
        with self.lock:
            return {p for p in self.requests if p.endswith("/resolve/main/README.md")}

    def let_go(self) -> None:
        super().let_go()
        if self.barrier is not None:
            self.barrier.abort()


class _Handler(FixtureHandler):
    server: BriefingServer

    def special(self, path: str) -> bool:
        if path.endswith("/README.md") and self.server.barrier is not None:
            try:
                self.server.barrier.wait()
            except threading.BrokenBarrierError:
                self.answer(503, b"cards were fetched one at a time", "text/plain")
                return True
        if path == HELD_CARD:
            self.server.release.wait(HOLD)
        if path == BROKEN_CARD:
            self.answer(500, b"Internal Server Error", "text/plain")
            return True
        return False


@pytest.fixture
def server() -> Iterator[BriefingServer]:
    with serving(BriefingServer()) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=CLIENT_TIMEOUT) as live:
        yield live


def entry(repo_id: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = json.loads((FIXTURES / "hf_models.json").read_text("utf-8"))
    return next(e for e in entries if e["id"] == repo_id)


def item(repo_id: str) -> ModelItem:
    return model_item(ModelInfo(**{"siblings": None, **entry(repo_id)}))


def card(name: str) -> str:
    return (CARDS / name).read_text("utf-8")


# --- sizes ----------------------------------------------------------------------------------------


def test_a_4bit_mlx_checkpoint_counts_its_real_parameters() -> None:
    mlx = entry(MLX_ID)
    assert mlx["safetensors"]["total"] == 480_610_304  # packed elements: what the Hub shows

    model = item(MLX_ID)

    # U32 x 8 weights, plus BF16 minus one scale and one bias per 64 weights: exact.
    assert model.parameters == SMOLLM3_PARAMETERS
    assert model.parameters_basis == "converted"
    assert model.quantization == "4-bit MLX"


def test_a_gptq_checkpoint_is_converted_within_the_g_idx_error() -> None:
    model = item(GPTQ_ID)

    assert model.parameters is not None
    assert model.parameters_basis == "converted"
    assert model.quantization == "4-bit GPTQ"
    # g_idx cannot be told apart from qweight in per-dtype counts: at most 0.3% over.
    assert MISTRAL_7B_PARAMETERS <= model.parameters <= MISTRAL_7B_PARAMETERS * 1.003


def test_unquantised_and_gguf_sizes_are_reported_as_published() -> None:
    assert item("anujjamwal/OpenMath-Nemotron-1.5B").parameters == 1_543_714_304
    assert item("ModelFarm/YOLO-R").parameters is None  # no weights listed: unknown, not 0
    # BERT's I64 position_ids are real (tiny) elements, not packed weights.
    assert real_parameters({"I64": 512, "F32": 22_713_216}).parameters == 22_713_728
    gguf = real_parameters(None, gguf_total=4_022_468_096)
    assert (gguf.parameters, gguf.basis) == (4_022_468_096, "gguf")


def test_mlx_detected_from_tags_when_the_config_is_missing() -> None:
    quant = quantization_of(None, ["mlx", "4-bit"], "mlx")
    assert quant == Quantization("mlx", 4)
    # mlx_lm's default group size (64) stands in for the missing config.
    size = real_parameters({"BF16": 96_241_664, "U32": 384_368_640}, quantization=quant)
    assert size.parameters == SMOLLM3_PARAMETERS


def test_nested_and_per_channel_quantization_configs() -> None:
    nested = {"text_config": {"quantization_config": {"quant_method": "awq", "bits": 4}}}
    assert quantization_of(nested) == Quantization("awq", 4)
    per_channel = quantization_of(
        {"quantization_config": {"quant_method": "gptq", "bits": 8, "group_size": -1}}
    )
    assert per_channel is not None
    # 8-bit in I32: four weights per element, no per-group overhead.
    size = real_parameters({"I32": 1_000_000, "F16": 50_000}, quantization=per_channel)
    assert size.parameters == 4_050_000


def test_bitsandbytes_4bit_with_and_without_double_quantisation() -> None:
    weights, rest = 6_400_000, 1_000_000
    plain = quantization_of(
        {"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}}
    )
    counts = {"U8": weights // 2, "F32": weights // 64, "F16": rest}
    assert real_parameters(counts, quantization=plain).parameters == weights + rest

    double = quantization_of(
        {
            "quantization_config": {
                "quant_method": "bitsandbytes",
                "_load_in_4bit": True,
                "bnb_4bit_use_double_quant": True,
            }
        }
    )
    assert double is not None
    assert double.double_quant
    counts = {"U8": weights // 2 + weights // 64, "F16": rest}
    assert real_parameters(counts, quantization=double).parameters == weights + rest


def test_8bit_bitsandbytes_and_fp8_need_no_conversion() -> None:
    int8 = quantization_of(
        {"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}}
    )
    assert real_parameters({"I8": 7_000_000, "F16": 262_000}, quantization=int8).parameters == (
        7_262_000
    )
    fp8 = quantization_of({"quantization_config": {"quant_method": "fp8"}})
    size = real_parameters({"F8_E4M3": 7_000_000, "BF16": 262_000}, quantization=fp8)
    assert (size.parameters, size.basis) == (7_262_000, "reported")


def test_packed_weights_without_a_known_layout_are_left_blank() -> None:
    # No config, no tags: U32 holding most elements cannot be counted honestly.
    assert real_parameters({"U32": 384_368_640, "BF16": 96_241_664}).parameters is None
    hqq = quantization_of({"quantization_config": {"quant_method": "hqq", "nbits": 4}})
    assert real_parameters({"U8": 3_000_000, "F16": 100_000}, quantization=hqq).parameters is None
    # Counts that cannot fit the declared layout (fewer floats than its scales) are not guessed.
    mlx = Quantization("mlx", 4, 64)
    assert real_parameters({"U32": 1_000_000, "BF16": 10}, quantization=mlx).parameters is None


def test_a_listed_base_model_gives_a_quantisation_its_exact_size(
    server: BriefingServer, client: httpx.Client
) -> None:
    models = {m.id: m for m in HuggingFaceTrending(client, endpoint=server.url).fetch().models}

    assert "config" in httpx.URL(server.requests[0]).params.get_list("expand")
    mlx = models[MLX_ID]
    assert (mlx.parameters, mlx.parameters_basis) == (SMOLLM3_PARAMETERS, "base")
    # The GPTQ repo's base is not in the listing: its converted size stands.
    assert models[GPTQ_ID].parameters_basis == "converted"
    assert not server.card_requests()  # cards=0: no card is fetched


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1k"),
        (15_234, "15.2k"),
        (99_960, "100k"),
        (152_345, "152k"),
        (999_950, "1M"),
        (1_234_567, "1.2M"),
        (91_234_556, "91.2M"),
        (2_500_000_000, "2.5B"),
    ],
)
def test_human_count(count: int, shown: str) -> None:
    assert human_count(count) == shown


# --- model cards: prose -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prose"),
    [
        (
            "everyoneschat-checkpoints.md",  # banner, badges, <script>, title, links, code first
            "EveryonesChat is a 1.2B-parameter bilingual chat model trained from scratch on "
            "Japanese and English conversations.",
        ),
        (
            "OpenMath-Nemotron-1.5B.md",  # image, indented code, admonition, list; "e.g." inside
            "Mathematical reasoning model fine-tuned on 40,000 human-written chain-of-thought "
            "solutions to competition problems, e.g. AIME and HMMT.",
        ),
        (
            "sd-lora-watercolour.md",  # encoded <script>, javascript: link, inline HTML
            "A watercolour style LoRA for SDXL, trained on 300 public-domain paintings. Trigger "
            "it with \u201cin watercolour style\u201d at the end of a prompt.",
        ),
        (
            "SmolLM3-3B-4bit.md",  # links keep their text, lose their targets
            "This model mlx-community/SmolLM3-3B-4bit was converted to MLX format from "
            "HuggingFaceTB/SmolLM3-3B using mlx-lm version 0.26.0.",
        ),
    ],
)
def test_card_prose_is_the_first_real_sentence_or_two(name: str, prose: str) -> None:
    assert card_prose(card(name)) == prose


@pytest.mark.parametrize("name", ["YOLO-R.md", "template-only.md"])
def test_a_card_without_real_prose_gives_nothing(name: str) -> None:
    # YOLO-R: only a logo, badges, headings, code, a table, <details> and links.
    # The template: the Hub's "automatically generated" boilerplate and placeholders.
    assert card_prose(card(name)) == ""


def test_card_prose_never_carries_markup_or_hostile_text() -> None:
    for path in CARDS.glob("*.md"):
        prose = card_prose(path.read_text("utf-8"))
        assert len(prose) <= CARD_PROSE_LIMIT
        for hostile in (
            "<",
            ">",
            "script",
            "alert",
            "javascript",
            "onerror",
            "cookie",
            "](",
            "![",
            "```",
            "evil",
            "http",
        ):
            assert hostile not in prose, (path.name, hostile)


def test_card_prose_cuts_a_long_sentence_at_a_word() -> None:
    markdown = "# Title\n\n" + "Transcribes " + "dialectal " * 40 + "speech.\n"
    prose = card_prose(markdown, limit=60)
    assert prose.endswith(ELLIPSIS)
    assert len(prose) <= 60
    assert prose[:-1].split() == ["Transcribes", *["dialectal"] * (len(prose[:-1].split()) - 1)]


def test_parse_card_reads_front_matter_with_huggingface_hub() -> None:
    parsed = parse_card("anujjamwal/OpenMath-Nemotron-1.5B", card("OpenMath-Nemotron-1.5B.md"))
    assert parsed.licence == "CC BY 4.0"
    assert parsed.languages == ("en",)
    assert parsed.base_model == "nvidia/OpenMath-Nemotron-1.5B"
    no_metadata = parse_card("org/plain", "A plain card without front matter, still prose.")
    assert (no_metadata.prose, no_metadata.licence) == (
        "A plain card without front matter, still prose.",
        None,
    )


def test_a_card_with_broken_front_matter_is_a_one_line_source_error() -> None:
    with pytest.raises(SourceError, match=r"^model card org/bad unreadable: .+") as raised:
        parse_card("org/bad", "---\nlicense: [unclosed\n---\nProse that never counts here.\n")
    assert "\n" not in str(raised.value)


def test_card_url_is_the_one_huggingface_hub_downloads() -> None:
    assert card_url("org/model", "http://127.0.0.1:9") == (
        "http://127.0.0.1:9/org/model/resolve/main/README.md"
    )
    with pytest.raises(SourceError, match="invalid repo id"):
        card_url("../api/models", "http://127.0.0.1:9")


# --- model cards: fetched through the Hub endpoint -----------------------------------------------


def test_cards_are_read_for_the_top_models_and_a_failing_card_costs_only_its_model(
    server: BriefingServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pipeline.sources.cards")
    source = HuggingFaceTrending(client, endpoint=server.url, cards=7)

    gathered = gather([source])

    models = {m.id: m for m in gathered.models}
    assert len(models) == 8  # nothing else lost
    assert models["HayatoHongo/everyoneschat-checkpoints"].card_text == card_prose(
        card("everyoneschat-checkpoints.md")
    )
    assert models["ModelFarm/YOLO-R"].card_text is None  # the card has no prose
    assert models[WHISPER_ID].card_text is None  # 500, retried once
    assert models[GPTQ_ID].card_text is None  # timed out, retried once
    assert server.hits(BROKEN_CARD) == 2
    assert "/HuggingFaceTB/SmolLM3-3B/resolve/main/README.md" not in server.card_requests()
    # The two failures, one line each, naming the model and the reason.
    lines = sorted(r.getMessage() for r in caplog.records if "left out" in r.getMessage())
    assert lines == [
        f"model card {GPTQ_ID} left out: timed out talking to 127.0.0.1",
        f"model card {WHISPER_ID} left out: HTTP 500 from 127.0.0.1",
    ]
    # Fallbacks are plain English built from the data.
    assert model_blurb(models[WHISPER_ID]) == (
        "Speech recognition for Egyptian Arabic, fine-tuned from whisper-small"
    )
    assert model_blurb(models["ModelFarm/YOLO-R"]) == "Object detection"


def test_cards_are_fetched_in_parallel(server: BriefingServer) -> None:
    repos = ["HayatoHongo/everyoneschat-checkpoints", "ModelFarm/YOLO-R", MLX_ID]
    # Each card request waits for the other two: fetched one at a time, the first would
    # wait alone until the barrier gives up and answers 503.
    server.barrier = threading.Barrier(len(repos), timeout=5)
    with make_client(timeout=HOLD) as patient:
        cards = fetch_cards(patient, repos, endpoint=server.url)
    assert sorted(cards) == sorted(repos)


def test_card_metadata_fills_what_the_listing_left_out(
    server: BriefingServer, client: httpx.Client
) -> None:
    bare = ModelItem(
        id=MLX_ID,
        author="mlx-community",
        url=f"https://huggingface.co/{MLX_ID}",
        likes=0,
        downloads=0,
        trending_score=0.0,
        pipeline_tag=None,
        tags=(),
    )
    (filled,) = with_cards([bare], fetch_cards(client, [MLX_ID], endpoint=server.url))
    assert filled.licence == "Apache 2.0"
    assert filled.languages[:2] == ("en", "fr")
    assert filled.base_model == "HuggingFaceTB/SmolLM3-3B"
    assert filled.card_text is not None
    assert filled.card_text.startswith("This model ")


def test_hf_endpoint_alone_points_the_card_fetch_at_the_loopback_server(
    server: BriefingServer, tmp_path: Path
) -> None:
    script = (
        "import json\n"
        "from pipeline.sources import HuggingFaceTrending\n"
        "from pipeline.sources.http import make_client\n"
        "models = HuggingFaceTrending(make_client(2.0), cards=2).fetch().models\n"
        "print(json.dumps({m.id: m.card_text for m in models[:2]}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MORNINGPOST_"))}
    env["HF_ENDPOINT"] = server.url
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    texts = json.loads(done.stdout)
    assert texts["anujjamwal/OpenMath-Nemotron-1.5B"].startswith("Mathematical reasoning model")
    assert server.hits("/anujjamwal/OpenMath-Nemotron-1.5B/resolve/main/README.md") == 1


# --- model descriptions from data ------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo_id", "description"),
    [
        (WHISPER_ID, "Speech recognition for Egyptian Arabic, fine-tuned from whisper-small"),
        ("HayatoHongo/everyoneschat-checkpoints", "Text generation for Japanese and English"),
        ("ModelFarm/YOLO-R", "Object detection"),
        (
            MLX_ID,
            "Text generation for English, French, Spanish and 5 more languages, "
            "a 4-bit MLX version of SmolLM3-3B",
        ),
        (
            "kaiokendev/sd-lora-watercolour",
            "Image generation from text, an adapter for stable-diffusion-xl-base-1.0",
        ),
        (
            "anujjamwal/OpenMath-Nemotron-1.5B",
            "Text generation for English, fine-tuned from OpenMath-Nemotron-1.5B",
        ),
    ],
)
def test_describe_model_in_plain_english(repo_id: str, description: str) -> None:
    model = item(repo_id)
    assert describe_model(model) == description
    # Never the raw task tag, in any case, nor a tag shouted in capitals ("TEXT-GENERATION").
    assert model.pipeline_tag is not None
    assert model.pipeline_tag not in description.lower()
    assert not re.search(r"\b[A-Z]{2,}(?:-[A-Z]{2,})+\b", description)


def test_describe_model_without_task_or_languages() -> None:
    model = ModelItem(
        id="org/thing",
        author="org",
        url="https://huggingface.co/org/thing",
        likes=1,
        downloads=1,
        trending_score=1.0,
        pipeline_tag=None,
        tags=("xx", "custom_code"),
        languages=("xx",),
    )
    assert describe_model(model) == "A model by org"
    unusual = ModelItem(
        id="org/g",
        author="org",
        url="https://huggingface.co/org/g",
        likes=1,
        downloads=1,
        trending_score=1.0,
        pipeline_tag="graph-neural-magic",
        tags=(),
    )
    assert describe_model(unusual) == "Graph neural magic"  # words, never the raw tag


def test_join_words() -> None:
    assert join_words([]) == ""
    assert join_words(["Arabic"]) == "Arabic"
    assert join_words(["Japanese", "English"]) == "Japanese and English"
    assert join_words(["A", "B", "C"]) == "A, B and C"


def test_listing_fields_licence_languages_base() -> None:
    whisper = item(WHISPER_ID)
    assert (whisper.licence, whisper.languages) == ("Apache 2.0", ("arz",))
    assert (whisper.base_model, whisper.base_relation) == ("openai/whisper-small", "finetune")
    assert item("ModelFarm/YOLO-R").licence == "GPL 3.0"
    assert item("kaiokendev/sd-lora-watercolour").licence == "OpenRAIL++"
    assert item(GPTQ_ID).base_relation == "quantized"


# --- papers ----------------------------------------------------------------------------------


def test_daily_papers_keep_the_hubs_ai_summary(
    server: BriefingServer, client: httpx.Client
) -> None:
    first, second = HuggingFacePapers(client, endpoint=server.url).fetch().papers

    # Nested inside "paper" in /api/daily_papers; sanitised like every outside string.
    assert first.ai_summary == (
        "Fine-tuned 1B-7B models match 70B generalists on in-domain tasks at far lower cost."
    )
    assert second.ai_summary == ""
    assert paper_finding(first) == first.ai_summary
    # Without one: whole sentences of the abstract within the limit ("e.g." is not an end).
    assert paper_finding(second) == (
        "Arabic speech recognisers are usually evaluated on Modern Standard Arabic, although "
        "most speech is dialectal."
    )
    assert paper_finding(second, limit=300) == (
        "Arabic speech recognisers are usually evaluated on Modern Standard Arabic, although "
        "most speech is dialectal. We introduce a normalisation scheme for orthographic "
        "variation in Egyptian, Levantine and Gulf Arabic transcripts, e.g. hamza and taa "
        "marbuta spellings."
    )


def test_paper_finding_cuts_a_long_first_sentence_at_a_word() -> None:
    paper = PaperItem(
        id="x",
        title="T",
        summary="We " + "carefully " * 50 + "measure.",
        url="u",
        authors=(),
        source="arXiv",
    )
    finding = paper_finding(paper, limit=50)
    assert finding.endswith(ELLIPSIS)
    assert len(finding) <= 50
    assert set(finding[:-1].split()) <= {"We", "carefully"}


# --- news: feeds -------------------------------------------------------------------------------


def news() -> list[NewsItem]:
    items: list[NewsItem] = []
    for name, base in (
        ("dispatch.rss", "https://ai-dispatch.example.com/feed.rss"),
        ("mlweekly.atom", "https://mlweekly.example.org/feed.atom"),
        ("arabic.rss", "https://ai-arabic.example.com/feed.rss"),
    ):
        items.extend(parse_feed((FIXTURES / name).read_bytes(), base_url=base).news)
    return items


def test_news_items_carry_outlet_text_time_and_language() -> None:
    by_title = {n.title: n for n in news()}
    atlas = by_title["OpenLab releases Atlas-7B, an open model for Arabic speech"]
    assert atlas.outlet == "The AI Dispatch"  # feed title, its <b> stripped
    assert atlas.published_at == dt.datetime(2026, 2, 24, 7, 10, tzinfo=dt.UTC)
    assert (atlas.language, atlas.direction) == ("en-gb", "ltr")
    # content:encoded is the entry's own text: HTML, image and <script> gone.
    assert atlas.text.startswith("OpenLab has released Atlas-7B under the Apache 2.0 licence.")
    assert "Dr. Amal Nasser" in atlas.text
    assert not re.search(r"<|track\(\)|img", atlas.text)

    japanese = by_title["オープンラボ、アラビア語音声モデル「Atlas-7B」を公開"]
    assert (japanese.language, japanese.direction) == ("ja", "ltr")  # the entry's xml:lang
    arabic = by_title["أوبن لاب تطلق نموذج Atlas-7B للتعرف على الكلام العربي"]
    assert (arabic.outlet, arabic.language, arabic.direction) == (
        "نشرة الذكاء الاصطناعي",
        "ar",
        "rtl",
    )
    # An Arabic headline that opens with Latin letters is still right-to-left.
    assert by_title["GPT-5 يغيّر قواعد البحث على الإنترنت"].direction == "rtl"


def test_feeds_are_served_and_parsed_over_loopback(
    server: BriefingServer, client: httpx.Client
) -> None:
    gathered = gather(
        FeedSource(client, f"{server.url}/feeds/{name}")
        for name in ("dispatch.rss", "mlweekly.atom", "arabic.rss")
    )
    (atlas,) = [s for s in cluster_stories(gathered.news) if "OpenLab releases Atlas" in s.headline]
    assert atlas.outlets == ("The AI Dispatch", "Machine Learning Weekly")
    # The Atom entry's relative link resolves against the server it came from.
    assert atlas.items[1].url == f"{server.url}/news/atlas-7b"


# --- news: stories -------------------------------------------------------------------------------


def stories() -> dict[str, Any]:
    return {s.headline: s for s in cluster_stories(news())}


def test_one_story_from_two_outlets_names_both_and_keeps_the_first_report() -> None:
    atlas = stories()["OpenLab releases Atlas-7B, an open model for Arabic speech"]
    assert atlas.outlets == ("The AI Dispatch", "Machine Learning Weekly")
    assert atlas.url.startswith("https://ai-dispatch.example.com/2026/02/24/openlab-atlas-7b")
    assert atlas.published_at == dt.datetime(2026, 2, 24, 7, 10, tzinfo=dt.UTC)
    assert atlas.updated_at == dt.datetime(2026, 2, 24, 9, 30, tzinfo=dt.UTC)
    assert atlas.summary == (
        "OpenLab has released Atlas-7B under the Apache 2.0 licence. The model transcribes "
        "Egyptian, Levantine and Gulf Arabic."
    )


def test_titles_reworded_by_another_outlet_are_one_story() -> None:
    eu = stories()["EU AI Office publishes draft code of practice for general-purpose models"]
    assert eu.outlets == ("The AI Dispatch", "Machine Learning Weekly")
    assert title_similarity(eu.items[0].title, eu.items[1].title) >= SAME_STORY_JACCARD


def test_one_canonical_url_is_one_story_whatever_the_titles() -> None:
    chips = stories()["Chip export rules tightened for AI accelerators"]
    assert chips.outlets == ("The AI Dispatch", "Machine Learning Weekly")
    first, second = chips.items
    assert title_similarity(first.title, second.title) < SAME_STORY_JACCARD
    assert story_key(first) == story_key(second)  # utm_/ref, host case, slash ignored


def test_a_near_miss_from_the_same_company_stays_a_separate_story() -> None:
    harness = "OpenLab releases an evaluation harness for Arabic speech models"
    atlas = "OpenLab releases Atlas-7B, an open model for Arabic speech"
    assert title_similarity(harness, atlas) == 0.5  # the threshold sits above this
    found = stories()
    assert found[harness].outlets == ("The AI Dispatch",)
    assert len(found) == 8  # 11 items: Atlas x2, EU x2, chips x2 merged; the rest alone


def test_rtl_and_cjk_headlines_keep_their_characters() -> None:
    found = stories()
    arabic = found["أوبن لاب تطلق نموذج Atlas-7B للتعرف على الكلام العربي"]
    assert arabic.direction == "rtl"
    assert arabic.language == "ar"
    assert arabic.summary == (
        "أطلقت أوبن لاب نموذج Atlas-7B مفتوح المصدر للتعرف على الكلام. هل يفهم النموذج اللهجات؟"
    )
    japanese = found["オープンラボ、アラビア語音声モデル「Atlas-7B」を公開"]
    assert japanese.summary == (
        "オープンラボは２４日、アラビア語の音声認識モデル「Atlas-7B」を公開した。"
        "エジプト、レバント、湾岸の方言に対応する！"  # noqa: RUF001 - the scripts' own punctuation is the point
    )


def test_cjk_titles_compare_by_character_pairs() -> None:
    a = "オープンラボ、アラビア語音声モデル「Atlas-7B」を公開"
    b = "アラビア語音声モデル「Atlas-7B」、オープンラボが公開"
    assert title_similarity(a, b) >= SAME_STORY_JACCARD
    assert title_similarity(a, "政府、AI規制の新たな指針を発表") < 0.1


def test_rank_stories_by_outlets_and_recency() -> None:
    ranked = [s.headline for s in rank_stories(cluster_stories(news()), NOW)]
    assert ranked == [
        "OpenLab releases Atlas-7B, an open model for Arabic speech",  # 2 outlets, 2.5 h
        "EU AI Office publishes draft code of practice for general-purpose models",  # 2, 4 h
        "Chip export rules tightened for AI accelerators",  # 2 outlets, 23 h
        "オープンラボ、アラビア語音声モデル「Atlas-7B」を公開",  # 1 outlet, 2 h
        "أوبن لاب تطلق نموذج Atlas-7B للتعرف على الكلام العربي",  # 1 outlet, 6 h
        "GPT-5 يغيّر قواعد البحث على الإنترنت",  # 1 outlet, 18 h
        "OpenLab releases an evaluation harness for Arabic speech models",  # 1 outlet, 21 h
        "Why edge devices are the next battleground for vision models",  # undated
    ]


def test_one_outlet_twice_is_named_once_and_future_dates_count_as_now() -> None:
    early = NewsItem(
        title="Atlas-7B is out now for everyone today",
        url="https://a.example/x",
        summary="",
        source="Wire",
        published_at=NOW - dt.timedelta(hours=1),
    )
    again = NewsItem(
        title="Atlas-7B is out now for everyone today",
        url="https://a.example/x?utm_medium=x",
        summary="Second.",
        source="Wire",
        published_at=NOW + dt.timedelta(hours=5),
    )
    (story,) = cluster_stories([again, early])
    assert story.outlets == ("Wire",)
    assert story.items == (early, again)
    assert story.summary == "Second."  # the first report had no text of its own
    fresh = NewsItem(
        title="Something else entirely happened here",
        url="https://b.example/y",
        summary="",
        source="Other",
        published_at=NOW,
    )
    assert [s.outlets for s in rank_stories([*cluster_stories([fresh]), story], NOW)] == [
        ("Wire",),
        ("Other",),  # equal weight (1 outlet, age 0): the later report first
    ]


def test_same_story_needs_three_shared_words() -> None:
    a = NewsItem(title="OpenAI models", url="https://a.example/1", summary="", source="A")
    b = NewsItem(title="OpenAI models!", url="https://b.example/2", summary="", source="B")
    assert title_similarity(a.title, b.title) == 1.0
    assert not same_story(a, b)  # two words in common is a topic, not a story


def test_story_text_drops_feed_footers() -> None:
    footer = NewsItem(
        title="T",
        url="https://a.example/",
        source="S",
        text="",
        summary="Short news. The post Short news appeared first on The AI Dispatch.",
    )
    assert story_text(footer) == "Short news."


# --- excerpt --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two. Three.", "One. Two."),
        ("Dr. Amal Nasser leads it. It works.", "Dr. Amal Nasser leads it. It works."),
        ("It beats GPT-4, i.e. the old one. Next.", "It beats GPT-4, i.e. the old one. Next."),
        ("Up 3.5% on J. Smith's test! Really? Yes.", "Up 3.5% on J. Smith's test! Really?"),
        ("これは文です。二文目です！三文目。", "これは文です。二文目です！"),  # noqa: RUF001 - the scripts' own punctuation is the point
        ("هل يعمل؟ نعم يعمل. ثالثاً.", "هل يعمل؟ نعم يعمل."),
        ("یہ پہلا جملہ ہے۔ دوسرا جملہ۔ تیسرا۔", "یہ پہلا جملہ ہے۔ دوسرا جملہ۔"),  # noqa: RUF001 - the scripts' own punctuation is the point
        ("No full stop at all", "No full stop at all"),
        ("  spaced   out.  Text  ", "spaced out. Text"),
        ("", ""),
    ],
)
def test_excerpt_sentences(text: str, expected: str) -> None:
    assert excerpt(text, max_sentences=2, limit=200) == expected


def test_excerpt_limits() -> None:
    assert excerpt("First sentence here. Second sentence is longer.", limit=25) == (
        "First sentence here."
    )
    # A limit that falls exactly on a sentence's end keeps that sentence.
    assert excerpt("One. Two. Three.", limit=4) == "One."
    assert excerpt("One. Two. Three.", limit=9) == "One. Two."
    assert excerpt("One. Two. Three. " * 2000, max_sentences=1, limit=8) == "One."
    assert excerpt("Supercalifragilistic", limit=5) == ""  # no whole word fits
    assert excerpt("日本語の長い文章はここで切れる", limit=6) == "日本語の長" + ELLIPSIS
    assert excerpt("Words, words, words", limit=13) == "Words, words" + ELLIPSIS
    assert excerpt("Words, words, words", limit=12) == "Words" + ELLIPSIS  # no dangling comma


# --- properties -----------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.sampled_from(list("abc XYZ.,!?;:'\"()-…") + list("語音声。！？、") + list("كلم؟۔")),  # noqa: RUF001 - the scripts' own punctuation is the point
    max_size=300,
)


def _core(out: str) -> str:
    return out.removesuffix(ELLIPSIS)


@given(text=_TEXT, limit=st.integers(min_value=1, max_value=320), count=st.integers(1, 3))
@example(text="abc abc abc", limit=5, count=1)
@example(text="語音声語音声", limit=3, count=1)
@example(text="abc, abc", limit=5, count=2)
def test_excerpt_never_exceeds_the_limit_nor_cuts_a_word(text: str, limit: int, count: int) -> None:
    folded = " ".join(text.split())
    out = excerpt(text, max_sentences=count, limit=limit)

    assert len(out) <= limit
    core = _core(out)
    assert folded.startswith(core)
    after = folded[len(core) : len(core) + 1]
    if core and after:
        # Mid-word means a letter or digit on both sides, in a script that writes spaces.
        mid_word = core[-1].isalnum() and after.isalnum()
        assert not mid_word or is_unspaced(core[-1]) or is_unspaced(after)


_WORDS = st.sampled_from(["model", "speech", "weights", "trained", "Arabic", "small", "fast"])
_PROSE = st.lists(_WORDS, min_size=4, max_size=60).map(lambda ws: " ".join(ws) + ".")
_NOISE = st.sampled_from(
    [
        "# Heading words here",
        "## Usage",
        "[![badge](https://img.shields.io/x.svg)](https://example.com)",
        "![logo](https://example.com/logo.png)",
        "[Paper](https://arxiv.org/abs/1) | [Code](https://github.com/x)",
        '<p align="center"><img src="x.png" alt="banner"></p>',
        "<script>\nalert('x')\n</script>",
        "<style>body{color:red}</style>",
        "```python\nimport torch\n```",
        "    indented code line",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "<!-- a comment -->",
        "> [!WARNING]\n> heads up",
        "- list item words",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ]
)


@given(
    noise=st.lists(_NOISE, max_size=6),
    prose=st.lists(_PROSE, max_size=3),
    limit=st.integers(min_value=1, max_value=CARD_PROSE_LIMIT),
)
@example(
    noise=["<script>\nalert('x')\n</script>"],
    prose=["model speech weights fast."],
    limit=CARD_PROSE_LIMIT,
)
def test_card_prose_is_plain_whole_words_within_the_limit(
    noise: list[str], prose: list[str], limit: int
) -> None:
    front = "---\nlicense: mit\ntags:\n- x\n---\n"
    markdown = front + "\n\n".join([*noise, *prose])

    out = card_prose(markdown, limit=limit)

    assert len(out) <= limit
    words = _core(out).replace(".", " ").split()
    # Only words of the prose, whole: nothing from headings, badges, code, HTML or tables.
    assert set(words) <= {"model", "speech", "weights", "trained", "Arabic", "small", "fast"}
    assert not re.search(r"[<>\[\]()`#|!]", out)
    if prose and out:
        assert prose[0].startswith(_core(out).rstrip("."))
