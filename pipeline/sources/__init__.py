"""Content sources: where each issue's material comes from.

``build_sources`` wires the live sources to one injected client; ``sample_sources`` wires the
same classes to the bundled recordings, so ``--sample`` runs offline through the real parsers.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources.abc import Traversable

import httpx

from pipeline.sources import replay
from pipeline.sources.base import Source, gather
from pipeline.sources.editorial import EditorialSource
from pipeline.sources.feeds import FeedSource
from pipeline.sources.huggingface import HuggingFacePapers, HuggingFaceTrending
from pipeline.sources.weather import OpenMeteoWeather

__all__ = [
    "EditorialSource",
    "FeedSource",
    "HuggingFacePapers",
    "HuggingFaceTrending",
    "OpenMeteoWeather",
    "Source",
    "build_sources",
    "gather",
    "sample_sources",
]


def build_sources(
    *,
    client: httpx.Client,
    feeds: Sequence[str],
    weather_url: str,
    city: str,
    latitude: float,
    longitude: float,
    timezone: str,
    editorial_dir: Traversable,
    hf_limit: int = 8,
    hf_endpoint: str | None = None,
) -> list[Source]:
    """Every source of an issue, all fetching through ``client``.

    ``hf_endpoint`` None means what ``huggingface_hub`` uses (``HF_ENDPOINT`` or the public Hub).
    """
    sources: list[Source] = [
        HuggingFaceTrending(client, limit=hf_limit, endpoint=hf_endpoint),
        HuggingFacePapers(client, endpoint=hf_endpoint),
    ]
    sources.extend(FeedSource(client, url) for url in feeds)
    sources.append(
        OpenMeteoWeather(
            client,
            base_url=weather_url,
            city=city,
            latitude=latitude,
            longitude=longitude,
            timezone=timezone,
        )
    )
    sources.append(EditorialSource(editorial_dir))
    return sources


def sample_sources() -> list[Source]:
    """The same sources, replaying the bundled recordings and the bundled editorial folder."""
    return build_sources(
        client=replay.sample_client(),
        feeds=replay.SAMPLE_FEEDS,
        weather_url=replay.SAMPLE_WEATHER_URL,
        city=replay.SAMPLE_CITY,
        latitude=replay.SAMPLE_LATITUDE,
        longitude=replay.SAMPLE_LONGITUDE,
        timezone=replay.SAMPLE_TIMEZONE,
        editorial_dir=replay.sample_editorial_dir(),
        # Pinned: a developer's HF_ENDPOINT must not point the replay at an unrecorded host.
        hf_endpoint=replay.SAMPLE_HF_ENDPOINT,
    )
