"""Content sources: where each issue's material comes from.

``build_sources`` wires the live sources to one injected client; ``sample_sources`` wires the
same classes to the bundled recordings, so ``--sample`` runs offline through the real parsers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources.abc import Traversable

import httpx

from pipeline.sources import replay
from pipeline.sources.base import Source, gather
from pipeline.sources.cards import Card, fetch_cards
from pipeline.sources.editorial import EditorialSource
from pipeline.sources.feeds import FeedSource
from pipeline.sources.huggingface import HuggingFacePapers, HuggingFaceTrending, default_endpoint
from pipeline.sources.weather import OpenMeteoWeather

# Reads the model cards of the given repo ids; a card that fails is missing from the result.
CardReader = Callable[[Sequence[str]], dict[str, Card]]

__all__ = [
    "CardReader",
    "EditorialSource",
    "FeedSource",
    "HuggingFacePapers",
    "HuggingFaceTrending",
    "OpenMeteoWeather",
    "Source",
    "build_sources",
    "card_reader",
    "gather",
    "sample_card_reader",
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


def card_reader(*, client: httpx.Client, hf_endpoint: str | None = None) -> CardReader:
    """Model cards through ``client``, from ``hf_endpoint`` (None: ``HF_ENDPOINT`` or the Hub).

    Cards are read for the featured models only, once assembly has chosen them.
    """
    endpoint = hf_endpoint or default_endpoint()
    return lambda repo_ids: fetch_cards(client, repo_ids, endpoint=endpoint)


def sample_card_reader() -> CardReader:
    """The bundled card recordings, replayed like the other sample sources."""
    return card_reader(client=replay.sample_client(), hf_endpoint=replay.SAMPLE_HF_ENDPOINT)


def sample_sources(*, editorial: bool = True) -> list[Source]:
    """The same sources, replaying the bundled recordings and the bundled editorial folder.

    ``editorial=False`` leaves the editors' pieces out: the issue of a day no editor wrote.
    """
    sources = _sample_sources()
    if editorial:
        return sources
    return [source for source in sources if source.name != EditorialSource.name]


def _sample_sources() -> list[Source]:
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
