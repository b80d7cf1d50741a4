"""Hugging Face Hub: trending models and daily papers.

Why these sources call the Hub with *our* ``httpx.Client`` instead of ``HfApi().list_models``:
``huggingface_hub`` 2.x does its HTTP through ``httpx2`` (a separate package from ``httpx``),
on one process-wide client that only ``set_client_factory`` can replace. Replaying recorded
responses that way would mean swapping global state of a library other code in the process may
use, through a second HTTP stack with its own types. Instead we send the exact request
``list_models(sort="trending_score", limit=N, expand=[...])`` sends (``GET {endpoint}/api/models``
with ``sort=trendingScore``, ``limit`` and repeated ``expand``) and hand every entry to the
library's own parser, ``huggingface_hub.ModelInfo(**entry)`` (``PaperInfo`` for papers), just as
``list_models`` does. Live and ``--sample`` runs therefore share all parsing code, share the
retry/time-out/User-Agent policy of ``pipeline.sources.http``, and the endpoint still honours
``HF_ENDPOINT`` through ``huggingface_hub.constants.ENDPOINT``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from huggingface_hub import ModelInfo, constants
from huggingface_hub.hf_api import PaperInfo

from emails.errors import SourceError
from emails.sanitize import plain_text
from pipeline.sources import sizes
from pipeline.sources.cards import fetch_cards, with_cards
from pipeline.sources.http import QueryParams, get_json
from pipeline.sources.items import Gathering, ModelItem, PaperItem
from pipeline.sources.vocabulary import is_language_code, licence_name

log = logging.getLogger(__name__)

T = TypeVar("T")

# Links in the newsletter point at the public Hub even when HF_ENDPOINT names a mirror.
PUBLIC_HUB = "https://huggingface.co"

EXPAND = (
    "trendingScore",
    "likes",
    "downloads",
    "pipeline_tag",
    "tags",
    "library_name",
    "createdAt",
    "author",
    "safetensors",
    "gguf",
    "cardData",
    "config",  # quantisation settings: packed weights are converted to real sizes (sizes.py)
)

# Card fields some authors fill with a one-line description; the Hub itself has none.
_CARD_DESCRIPTION_KEYS = ("description", "model_summary", "summary")
_MAX_DESCRIPTION = 200

_LANGUAGES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "hi": "Hindi", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sw": "Swahili", "tr": "Turkish",
    "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip
_BASE_RELATIONS = {
    "finetune": "fine-tuned from",
    "quantized": "quantized from",
    "adapter": "adapter for",
    "merge": "merged from",
}
# The Hub tags a card's languages as bare ISO 639-1 codes; "tf" is TensorFlow, not a language.
_LANGUAGE_TAG = re.compile(r"^[a-z]{2}$")
_NOT_LANGUAGES = frozenset({"tf"})


def default_endpoint() -> str:
    """The Hub endpoint ``huggingface_hub`` uses: ``HF_ENDPOINT`` or https://huggingface.co."""
    return constants.ENDPOINT.rstrip("/")


class _HubSource:
    name: str
    default_limit: int

    def __init__(
        self, client: httpx.Client, *, limit: int | None = None, endpoint: str | None = None
    ) -> None:
        self._client = client
        self._limit = limit or self.default_limit
        self._endpoint = endpoint

    def _base(self) -> str:
        return self._endpoint or default_endpoint()


class HuggingFaceTrending(_HubSource):
    """Today's trending models, most trending first.

    ``cards`` > 0 also reads the model cards of the first ``cards`` models (in parallel, each
    with the same time-out and retry; one failing card only costs that model its card text).
    """

    name = "huggingface-trending"
    default_limit = 8

    def __init__(
        self,
        client: httpx.Client,
        *,
        limit: int | None = None,
        endpoint: str | None = None,
        cards: int = 0,
    ) -> None:
        super().__init__(client, limit=limit, endpoint=endpoint)
        self._cards = cards

    def fetch(self) -> Gathering:
        endpoint = self._base()
        params: QueryParams = {
            "sort": "trendingScore",
            "limit": self._limit,
            "expand": list(EXPAND),  # httpx repeats the key, as the Hub expects
        }
        _status, body = get_json(self._client, f"{endpoint}/api/models", params=params)
        entries = _entries(body, "models")
        models = with_base_sizes([model_item(info) for info in _parse_each(entries, _model_info)])
        models = models[: self._limit]
        if self._cards > 0:
            ids = [model.id for model in models[: self._cards]]
            models = with_cards(models, fetch_cards(self._client, ids, endpoint=endpoint))
        return Gathering(models=models)


class HuggingFacePapers(_HubSource):
    """Today's daily papers on the Hub."""

    name = "huggingface-papers"
    default_limit = 10

    def fetch(self) -> Gathering:
        endpoint = self._base()
        params = {"limit": self._limit}
        _status, body = get_json(self._client, f"{endpoint}/api/daily_papers", params=params)
        entries = _entries(body, "daily papers")
        papers = [paper_item(info) for info in _parse_each(entries, _paper_info)]
        return Gathering(papers=[p for p in papers if p.title][: self._limit])


def _entries(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise SourceError(f"Hugging Face {what}: expected a JSON list, got {type(body).__name__}")
    return [entry for entry in body if isinstance(entry, dict)]


def _model_info(entry: dict[str, Any]) -> ModelInfo:
    # What list_models does to every entry before parsing it.
    entry.setdefault("siblings", None)
    # ModelInfo.__init__ is unannotated upstream; it is still the parser list_models uses.
    return ModelInfo(**entry)  # type: ignore[no-untyped-call]


def _paper_info(entry: dict[str, Any]) -> PaperInfo:
    # /api/daily_papers nests ai_summary inside "paper", but PaperInfo reads it only from the
    # top level (where /api/papers puts it): lift it so the library's parser sees it.
    paper = entry.get("paper")
    if isinstance(paper, dict) and "ai_summary" in paper and "ai_summary" not in entry:
        entry = {**entry, "ai_summary": paper["ai_summary"]}
    return PaperInfo(**entry)


def _parse_each(
    entries: Iterable[dict[str, Any]], parse: Callable[[dict[str, Any]], T]
) -> Iterator[T]:
    """Parse every entry; one malformed entry is logged and skipped, the rest still count."""
    for entry in entries:
        try:
            yield parse(entry)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            log.warning(
                "Hugging Face entry %r skipped: %s: %s", entry.get("id"), type(err).__name__, err
            )


def model_item(info: ModelInfo) -> ModelItem:
    """Turn the library's ``ModelInfo`` into our record."""
    quantization = quantization_of(info)
    size = model_size(info, quantization)
    base_model, base_relation = base_model_of(info)
    return ModelItem(
        id=info.id,
        author=info.author or info.id.partition("/")[0],
        url=f"{PUBLIC_HUB}/{info.id}",
        likes=info.likes or 0,
        downloads=info.downloads or 0,
        trending_score=float(info.trending_score or 0),
        pipeline_tag=info.pipeline_tag,
        tags=tuple(info.tags or ()),
        library_name=info.library_name,
        created_at=info.created_at,
        parameters=size.parameters,
        description=describe(info),
        parameters_basis=size.basis,
        licence=licence_of(info),
        languages=language_codes(info),
        base_model=base_model,
        base_relation=base_relation,
        quantization=quantization.label if quantization is not None else None,
    )


def quantization_of(info: ModelInfo) -> sizes.Quantization | None:
    """The repo's quantisation, from its config (``expand=config``) or its tags."""
    return sizes.quantization_of(info.config, info.tags or (), info.library_name)


def model_size(info: ModelInfo, quantization: sizes.Quantization | None) -> sizes.Size:
    """The real parameter count (packed quantised weights converted); unknown is never 0."""
    breakdown = info.safetensors.parameters if info.safetensors is not None else None
    total = (info.gguf or {}).get("total")
    gguf_total = total if isinstance(total, int) and not isinstance(total, bool) else None
    return sizes.real_parameters(breakdown, quantization=quantization, gguf_total=gguf_total)


def parameter_count(info: ModelInfo) -> int | None:
    """The real parameter count of ``info``, or None: unknown is never reported as 0."""
    return model_size(info, quantization_of(info)).parameters


def with_base_sizes(models: Sequence[ModelItem]) -> list[ModelItem]:
    """Quantised models of unknown size take their base model's, when the base is listed too.

    Only for the ``quantized`` relation: a fine-tune or an adapter is not its base's size.
    """
    known = {m.id: m.parameters for m in models if m.parameters and m.quantization is None}
    return [_with_base_size(model, known) for model in models]


def _with_base_size(model: ModelItem, known: Mapping[str, int]) -> ModelItem:
    base_size = known.get(model.base_model or "")
    if model.base_relation != "quantized" or not base_size:
        return model
    if model.parameters is not None and model.parameters_basis != "converted":
        return model
    return dataclasses.replace(model, parameters=base_size, parameters_basis="base")


def licence_of(info: ModelInfo) -> str | None:
    """The licence by name: the card's ``license`` (or ``license_name``), else the tag."""
    card = info.card_data
    declared = card.get("license") if card is not None else None
    other = card.get("license_name") if card is not None else None
    if not isinstance(declared, str):
        declared = next(
            (t.removeprefix("license:") for t in info.tags or () if t.startswith("license:")),
            None,
        )
    return licence_name(plain_text(declared) if declared else None, _str_or_none(other))


def language_codes(info: ModelInfo) -> tuple[str, ...]:
    """The card's declared ``language`` codes, else the language tags the Hub derived."""
    declared = info.card_data.get("language") if info.card_data is not None else None
    if isinstance(declared, str):
        declared = [declared]
    if isinstance(declared, list):
        return tuple(plain_text(c) for c in declared if isinstance(c, str) and c.strip())
    return tuple(t for t in info.tags or () if is_language_code(t) and t not in _NOT_LANGUAGES)


def base_model_of(info: ModelInfo) -> tuple[str | None, str | None]:
    """(base repo id, relation) from ``base_model:<relation>:<id>`` tags, else the card."""
    plain: str | None = None
    for tag in info.tags or ():
        if not tag.startswith("base_model:"):
            continue
        relation, _, repo = tag.removeprefix("base_model:").partition(":")
        if repo and relation in _BASE_RELATIONS:
            return repo, relation
        plain = plain or relation
    if plain is None and info.card_data is not None:
        declared = info.card_data.get("base_model")
        first = declared[0] if isinstance(declared, list) and declared else declared
        plain = first if isinstance(first, str) else None
    return plain, None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def describe(info: ModelInfo) -> str | None:
    """One plain line: the card's own description if it has one, else one built from tags."""
    text = _card_description(info) or _tag_description(info)
    if not text:
        return None
    line = plain_text(text)
    if len(line) > _MAX_DESCRIPTION:
        line = line[: _MAX_DESCRIPTION - 1].rsplit(" ", 1)[0] + "…"
    return line or None


def _card_description(info: ModelInfo) -> str | None:
    if info.card_data is None:
        return None
    for key in _CARD_DESCRIPTION_KEYS:
        value = info.card_data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _tag_description(info: ModelInfo) -> str | None:
    tags = info.tags or []
    kind = info.pipeline_tag.replace("-", " ").capitalize() + " model" if info.pipeline_tag else ""
    languages = _languages(info, tags)
    if languages:
        kind = f"{kind or 'Model'} for {', '.join(languages)}"
    parts = [part for part in (kind, _base_model(tags)) if part]
    if not parts:
        return None
    text = ", ".join(parts)
    return text[0].upper() + text[1:]


def _languages(info: ModelInfo, tags: list[str]) -> list[str]:
    declared = info.card_data.get("language") if info.card_data is not None else None
    if isinstance(declared, str):
        codes = [declared]
    elif isinstance(declared, list):
        codes = [c for c in declared if isinstance(c, str)]
    else:
        codes = [t for t in tags if _LANGUAGE_TAG.match(t) and t not in _NOT_LANGUAGES]
    return [_LANGUAGES.get(code, code) for code in codes[:3]]


def _base_model(tags: list[str]) -> str | None:
    """``base_model:finetune:org/x`` -> "fine-tuned from org/x"; else "based on x"."""
    plain: str | None = None
    for tag in tags:
        if not tag.startswith("base_model:"):
            continue
        rest = tag.removeprefix("base_model:")
        relation, _, repo = rest.partition(":")
        if repo and relation in _BASE_RELATIONS:
            return f"{_BASE_RELATIONS[relation]} {repo}"
        plain = plain or f"based on {rest}"
    return plain


def paper_item(info: PaperInfo) -> PaperItem:
    """Turn the library's ``PaperInfo`` into our record."""
    return PaperItem(
        id=info.id,
        title=plain_text(info.title or ""),
        summary=plain_text(info.summary or ""),
        url=f"{PUBLIC_HUB}/papers/{info.id}",
        authors=tuple(plain_text(a.name) for a in info.authors or () if a.name),
        source="Hugging Face Daily Papers",
        upvotes=info.upvotes or 0,
        published_at=info.published_at,
        ai_summary=plain_text(info.ai_summary or ""),
    )
