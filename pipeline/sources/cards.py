"""Model cards: what a model is for, in its authors' words, or else in ours.

A card is the repo's ``README.md``: YAML front matter (``license``, ``language``,
``base_model``...) and then Markdown that usually opens with badges, logos, a title, sometimes
an HTML banner or an install snippet, and only then a sentence about the model.

Fetching follows ``huggingface.py``: the request is ours (``pipeline.sources.http``: the
client's time-out, one retry, our User-Agent, so the loopback test server can answer it) and the
URL is the one ``huggingface_hub`` itself downloads cards from,
``hf_hub_url(repo_id, "README.md")`` = ``{HF_ENDPOINT}/{repo_id}/resolve/main/README.md``
(what ``ModelCard.load`` fetches through ``hf_hub_download``). The text is parsed by
``huggingface_hub.ModelCard``: its front-matter regex is the Hub server's own and its
``ModelCardData`` reads the metadata.

Card text is untrusted: only paragraph text is read (no HTML blocks, no raw HTML content,
no code, no image alt text, no link targets) and the result passes ``plain_text``, the same
sanitiser as feeds.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import yaml
from huggingface_hub import ModelCard, ModelCardData, hf_hub_url
from huggingface_hub.repocard import REGEX_YAML_BLOCK
from markdown_it import MarkdownIt
from markdown_it.token import Token

from emails.errors import SourceError
from emails.sanitize import plain_text
from pipeline.sources.http import get
from pipeline.sources.items import ModelItem
from pipeline.sources.vocabulary import language_name, licence_name, task_words
from pipeline.sources.wording import excerpt, is_unspaced, join_words

log = logging.getLogger(__name__)

CARD_PROSE_LIMIT = 200  # characters: two short sentences, one line on a desktop, three on a phone
MAX_WORKERS = 8  # a trending page is 8 models; more threads would only queue on the Hub
# Cards can be megabytes (benchmark tables, changelogs); the prose we want is near the top.
_MAX_CARD_CHARS = 200_000
_PROSE_SCAN_CHARS = 50_000
_MIN_WORDS = 4  # "Model card" / "Usage example" are labels, not sentences
_MIN_UNSPACED_CHARS = 8  # the same for scripts without spaces (Chinese, Japanese)
_MAX_LANGUAGES = 3
# "org/name" as the Hub allows it: letters, digits, "-", "_", "." (validate_repo_id's rule).
_REPO_ID = re.compile(r"^[\w.-]{1,96}/[\w.-]{1,96}$", re.ASCII)

# Sentences the Hub's card templates and trainers write for every model: true of none in
# particular, so they are not a description. Case-insensitive.
_BOILERPLATE = re.compile(
    r"automatically generated|more information needed|model card (?:of|for) a \S+ "
    r"(?:transformers )?model|has been pushed (?:on|to) the hub|provide a (?:quick|longer) summary|"
    # The Trainer's card template (tag generated_from_trainer): true of every fine-tune.
    r"this model is a fine-tuned version of \S.{0,150}? on the .{1,120}? dataset",
    re.IGNORECASE,
)
# Raw-HTML elements whose content is never prose (nh3 drops these too; this is for counting).
_HIDDEN_ELEMENTS = ("script", "style", "template", "noscript", "svg", "math")

_BASE_PHRASES = {
    "finetune": "fine-tuned from {base}",
    "quantized": "a {quant} version of {base}",
    "adapter": "an adapter for {base}",
    "merge": "merged from {base}",
}

_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@dataclass(frozen=True)
class Card:
    """What a model card says, already plain text."""

    repo_id: str
    prose: str  # "" when the card has no real sentence
    licence: str | None = None
    languages: tuple[str, ...] = ()
    base_model: str | None = None


# --- fetching ---------------------------------------------------------------------------------


def card_url(repo_id: str, endpoint: str) -> str:
    """Where ``huggingface_hub`` downloads ``repo_id``'s card from, on ``endpoint``."""
    # The id goes into a URL path: only the Hub's own shape, so no "../api/..." can sneak in.
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise SourceError(f"model card: invalid repo id {repo_id[:80]!r}")
    return hf_hub_url(repo_id, "README.md", endpoint=endpoint)


def fetch_card(client: httpx.Client, repo_id: str, *, endpoint: str) -> Card:
    """GET and parse one card; ``SourceError`` with a one-line reason when that fails."""
    response = get(client, card_url(repo_id, endpoint))
    return parse_card(repo_id, response.text[:_MAX_CARD_CHARS])


def parse_card(repo_id: str, content: str) -> Card:
    """Parse card text with ``huggingface_hub.ModelCard``; ``SourceError`` if it cannot."""
    try:
        data, body = _card_parts(content)
    except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError) as err:
        reason = " ".join(str(err).split())[:120] or type(err).__name__
        raise SourceError(f"model card {repo_id} unreadable: {reason}") from None
    licence = licence_name(_text(data.license), _text(data.get("license_name")))
    return Card(
        repo_id=repo_id,
        prose=card_prose(body),
        licence=licence,
        languages=_strings(data.language),
        base_model=next(iter(_strings(data.base_model)), None),
    )


def _card_parts(content: str) -> tuple[ModelCardData, str]:
    if not REGEX_YAML_BLOCK.search(content):
        # ModelCard would log a warning for every card without metadata; that is not a fault.
        return ModelCardData(), content
    card = ModelCard(content, ignore_metadata_errors=True)
    data = card.data
    if not isinstance(data, ModelCardData):  # pragma: no cover - ModelCard's own class
        raise TypeError("card metadata is not model metadata")
    return data, card.text


def fetch_cards(
    client: httpx.Client,
    repo_ids: Sequence[str],
    *,
    endpoint: str,
    workers: int = MAX_WORKERS,
) -> dict[str, Card]:
    """Every card that could be read, fetched in parallel; a failure is logged in one line.

    Each request has the client's time-out and one retry, like every source. A card that
    fails is simply missing from the result: its model falls back to ``describe_model``.
    """
    unique = list(dict.fromkeys(repo_ids))
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(unique)))) as pool:
        results = pool.map(lambda repo_id: _card_or_none(client, repo_id, endpoint), unique)
        return {card.repo_id: card for card in results if card is not None}


def _card_or_none(client: httpx.Client, repo_id: str, endpoint: str) -> Card | None:
    try:
        return fetch_card(client, repo_id, endpoint=endpoint)
    except SourceError as err:
        log.warning("model card %s left out: %s", repo_id, err)
    except Exception as err:  # noqa: BLE001 - isolation: one odd card must not cost the others
        log.warning("model card %s left out: unexpected %s: %s", repo_id, type(err).__name__, err)
    return None


def with_cards(models: Iterable[ModelItem], cards: Mapping[str, Card]) -> list[ModelItem]:
    """``models`` with what their cards add; the Hub's own listing wins where both say."""
    return [_with_card(model, cards.get(model.id)) for model in models]


def _with_card(model: ModelItem, card: Card | None) -> ModelItem:
    if card is None:
        return model
    return dataclasses.replace(
        model,
        card_text=card.prose or model.card_text,
        licence=model.licence or card.licence,
        languages=model.languages or card.languages,
        base_model=model.base_model or card.base_model,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v.strip())
    return ()


# --- the card's own words -----------------------------------------------------------------------


def card_prose(markdown: str, *, limit: int = CARD_PROSE_LIMIT) -> str:
    """The first real sentence or two of a card's prose, plain, within ``limit``; "" if none.

    Front matter, headings, badges, images, link-only lines, tables, lists, quotes, code and
    HTML blocks are skipped: only top-level paragraphs with words of their own count.
    """
    match = REGEX_YAML_BLOCK.search(markdown)
    body = markdown[match.end() :] if match else markdown
    # Parsing is the costly part; a card whose prose starts this deep has none worth showing.
    for paragraph in _paragraphs(_markdown.parse(body[:_PROSE_SCAN_CHARS])):
        prose = _sentences_of(paragraph, limit)
        if prose is not None:
            return prose  # the first real paragraph, even if not one word of it fits
    return ""


def _paragraphs(tokens: Sequence[Token]) -> Iterator[str]:
    """Plain text of each top-level paragraph that has words outside links and images."""
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "paragraph_open" or opening.level != 0 or inline.type != "inline":
            continue
        fragment, own_words = _inline_html(inline.children or [])
        if own_words:
            yield plain_text(fragment)


def _inline_html(children: Sequence[Token]) -> tuple[str, bool]:
    """Re-escape the paragraph as HTML for ``plain_text``; also say if it has its own words.

    Raw inline HTML is passed through so the sanitiser removes it, and what a ``<script>`` or
    ``<style>`` holds with it. Image alt text and link targets are never taken.
    """
    parts: list[str] = []
    own: list[str] = []
    in_link = hidden = 0
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(html.escape(child.content))
            if not in_link and not hidden:
                own.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "html_inline":
            parts.append(child.content)
            hidden += _hidden_delta(child.content)
        elif child.type in ("link_open", "link_close"):
            in_link += 1 if child.type == "link_open" else -1
    return "".join(parts), any(ch.isalpha() for ch in "".join(own))


def _hidden_delta(tag: str) -> int:
    name = re.match(r"<\s*(/?)\s*([a-zA-Z0-9]+)", tag)
    if name is None or name.group(2).lower() not in _HIDDEN_ELEMENTS:
        return 0
    return -1 if name.group(1) else 1


def _sentences_of(paragraph: str, limit: int) -> str | None:
    """One or two sentences of ``paragraph`` if it opens with real prose, else None."""
    first = excerpt(paragraph, max_sentences=1, limit=len(paragraph))
    # "It achieves the following results:" introduces a table, it says nothing itself.
    if first.endswith(":") or not _is_prose(first):
        return None
    text = excerpt(paragraph, max_sentences=2, limit=limit)
    return excerpt(paragraph, max_sentences=1, limit=limit) if text.endswith(":") else text


def _is_prose(text: str) -> bool:
    if _BOILERPLATE.search(text):
        return False
    if len(text.split()) >= _MIN_WORDS:
        return True
    # Chinese and Japanese write no spaces: count their characters instead of words.
    return sum(is_unspaced(ch) for ch in text) >= _MIN_UNSPACED_CHARS


# --- our words, from the data -------------------------------------------------------------------


def describe_model(item: ModelItem) -> str:
    """A plain-English line built from the data: 'Speech recognition for Egyptian Arabic'.

    Task names in words, languages by name joined with "and" (three at most, then "and N more
    languages"), the base model by name. Never a raw tag.
    """
    task = task_words(item.pipeline_tag)
    languages = _language_phrase(item.languages)
    if task and languages:
        head = f"{task} for {languages}"
    elif task:
        head = task
    elif languages:
        head = f"A model for {languages}"
    else:
        head = f"A model by {plain_text(item.author)}" if item.author else "A model"
    base = _base_phrase(item)
    return f"{head}, {base}" if base else head


def model_blurb(item: ModelItem) -> str:
    """The card's own words when there are any, else ``describe_model``."""
    return item.card_text or describe_model(item)


def _language_phrase(codes: Sequence[str]) -> str:
    names = list(dict.fromkeys(n for n in (language_name(c) for c in codes) if n))
    if len(names) > _MAX_LANGUAGES:
        shown, rest = names[:_MAX_LANGUAGES], len(names) - _MAX_LANGUAGES
        return f"{', '.join(shown)} and {rest} more language{'s' if rest > 1 else ''}"
    return join_words(names)


def _base_phrase(item: ModelItem) -> str:
    if not item.base_model:
        return ""
    base = plain_text(item.base_model.rpartition("/")[2])
    if not base:
        return ""
    template = _BASE_PHRASES.get(item.base_relation or "", "based on {base}")
    quant = item.quantization or "quantised"
    return template.format(base=base, quant=quant)
