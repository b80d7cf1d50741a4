"""Recorded responses for ``--sample``: the real sources, parsing real-shaped bytes, offline.

``sample_client()`` is an ``httpx.Client`` whose transport answers from files bundled in
``pipeline/sample_data/``, matched on host and path (the query is ignored, so a changed
``limit`` still replays). Anything not recorded gets a 404, which the sources report like any
other failure. The Hugging Face sources use this same client (see ``huggingface.py``), so
sample mode exercises exactly the parsing a live run does.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

import httpx

SAMPLE_HF_ENDPOINT = "https://huggingface.co"
SAMPLE_WEATHER_URL = "https://api.open-meteo.com"
SAMPLE_CITY = "Manchester, United Kingdom"
SAMPLE_LATITUDE = 53.48
SAMPLE_LONGITUDE = -2.24
SAMPLE_TIMEZONE = "Europe/London"

ARXIV_FEED = "https://rss.arxiv.org/rss/cs.AI"
BLOG_FEED = "https://openlab.example.org/blog/feed.atom"
NEWS_FEED = "https://ai-dispatch.example.com/feed.rss"
WEEKLY_FEED = "https://mlweekly.example.org/feed.atom"
SAMPLE_FEEDS: tuple[str, ...] = (ARXIV_FEED, BLOG_FEED, NEWS_FEED, WEEKLY_FEED)

# The models of the recorded trending list whose cards are recorded too: all of them, so any
# day's featured models (a different four each day) read their cards without a 404.
SAMPLE_CARDS: tuple[str, ...] = (
    "HayatoHongo/everyoneschat-checkpoints",
    "anujjamwal/OpenMath-Nemotron-1.5B",
    "deepdml/whisper-small-ar-mix-norm",
    "ModelFarm/YOLO-R",
    "lmstudio-community/Qwen3-4B-Instruct-2507-GGUF",
    "sentence-transformers/all-MiniLM-L6-v2",
    "kaiokendev/sd-lora-watercolour",
    "mlx-community/SmolLM3-3B-4bit",
)

# (host, path) -> bundled file, relative to pipeline/sample_data/
RECORDINGS: dict[tuple[str, str], str] = {
    ("huggingface.co", "/api/models"): "hf_models_trending.json",
    ("huggingface.co", "/api/daily_papers"): "hf_daily_papers.json",
    ("rss.arxiv.org", "/rss/cs.AI"): "feeds/arxiv_cs_ai.xml",
    ("openlab.example.org", "/blog/feed.atom"): "feeds/openlab_blog.atom",
    ("ai-dispatch.example.com", "/feed.rss"): "feeds/ai_dispatch.rss",
    ("mlweekly.example.org", "/feed.atom"): "feeds/mlweekly.atom",
    ("api.open-meteo.com", "/v1/forecast"): "open_meteo_manchester.json",
    # Cards live where huggingface_hub downloads them: /{repo}/resolve/main/README.md
    **{
        ("huggingface.co", f"/{repo}/resolve/main/README.md"): f"cards/{repo.replace('/', '--')}.md"
        for repo in SAMPLE_CARDS
    },
}

_CONTENT_TYPES = {
    ".json": "application/json; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}


def sample_data() -> Traversable:
    """The bundled ``pipeline/sample_data`` folder, wherever the package is installed."""
    return files("pipeline").joinpath("sample_data")


def sample_editorial_dir() -> Traversable:
    """The bundled sample editorial pieces."""
    return sample_data().joinpath("editorial")


def replay_handler(request: httpx.Request) -> httpx.Response:
    """Answer ``request`` from the recordings; 404 for anything not recorded."""
    name = RECORDINGS.get((request.url.host, request.url.path))
    if name is None:
        return httpx.Response(404, text=f"no recording for {request.url.host}{request.url.path}")
    suffix = name[name.rfind(".") :]
    return httpx.Response(
        200,
        content=sample_data().joinpath(name).read_bytes(),
        headers={"Content-Type": _CONTENT_TYPES.get(suffix, "application/octet-stream")},
    )


def sample_client() -> httpx.Client:
    """An ``httpx.Client`` that never leaves the process: it replays the bundled recordings."""
    return httpx.Client(transport=httpx.MockTransport(replay_handler), follow_redirects=True)
