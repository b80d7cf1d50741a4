"""The AI desk: asks a model for each piece no editor wrote, keeps only what the pack supports.

For each piece (lead, deep dive, opinion columns, blurbs) not in ``covered``:

1. **Answer.** From the cache when the same date, backend, model, prompt version and facts
   pack were asked before (unless ``rewrite``); else from the model, within the issue's
   token budget. A failed attempt (timeout, 429, 5xx, refusal, malformed or empty answer,
   an answer not of the asked shape) is retried once when a retry can help; then the piece
   falls back. Failures that every later call would meet (the server down or too slow,
   rate limits that outlast a retry, a rejected key, the budget spent) stop the desk: the
   remaining pieces fall back without being asked, so a dead server costs at most one
   timeout and its retry.
2. **Check.** Every sentence passes ``pipeline.writer.grounding`` or is removed (recorded
   with its reason); each kept sentence carries the ids it rests on: its paragraph's
   citations that exist in the pack, plus the items it names or links to.
3. **Thin?** A piece is dropped (``None``: the caller keeps its deterministic text) when
   its headline or title was removed, when it keeps fewer paragraphs or sentences than
   ``MINIMUM`` below, or when more than half of its sentences were removed: a model that
   strays that far from the pack has lost the thread, and its remains read as fragments.
   A blurb is one line: it is kept whole or not at all.

The model's own words are never printed when it fails: a refusal or an apology is not JSON
of the asked shape, so it is a failure, and failures are logged by kind, not by content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emails.errors import (
    BudgetExhausted,
    WriterError,
    WriterMalformed,
    WriterRateLimited,
    WriterTruncated,
)
from pipeline import metrics
from pipeline.settings import DEFAULT_WRITER_TIMEOUT, Settings
from pipeline.writer.backends import Backend, BedrockConverse, Completion, OpenAICompatible
from pipeline.writer.facts import FactsPack
from pipeline.writer.grounding import Checked, Grounding
from pipeline.writer.prompts import (
    ANSWER_TOKENS,
    ANSWERS,
    PIECES,
    PROMPT_VERSION,
    Answer,
    BlurbsAnswer,
    ColumnAnswer,
    DeepDiveAnswer,
    LeadAnswer,
    OpinionAnswer,
    Paragraph,
    Piece,
    build_request,
)

log = logging.getLogger(__name__)

BYLINE = "The AI Desk"
ANALYSIS = "Analysis"
CALL_TIMEOUT = DEFAULT_WRITER_TIMEOUT  # seconds per call, unless MORNINGPOST_WRITER_TIMEOUT
MIN_ANSWER_TOKENS = 400  # less room than this for an answer and the call is not worth making
MAX_RATE_LIMIT_WAIT = 5.0  # seconds: the morning does not wait longer for a busy server
MAX_BLURB_CHARS = 240


@dataclass(frozen=True)
class Minimum:
    paragraphs: int
    sentences: int


# Below these a piece is too thin to print (see the module docstring).
MINIMUM: dict[str, Minimum] = {
    "lead": Minimum(paragraphs=2, sentences=3),
    "deep-dive": Minimum(paragraphs=3, sentences=6),
    "opinion": Minimum(paragraphs=2, sentences=3),
}
MAX_REMOVED_SHARE = 0.5


# --- what the desk hands back ----------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class WrittenSentence(_Out):
    text: str
    cites: tuple[str, ...] = ()  # pack ids this sentence rests on


class WrittenParagraph(_Out):
    sentences: tuple[WrittenSentence, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def cites(self) -> tuple[str, ...]:
        return tuple(sorted({c for s in self.sentences for c in s.cites}))


class WrittenLead(_Out):
    headline: str
    standfirst: str
    paragraphs: tuple[WrittenParagraph, ...]
    score: int | None = Field(default=None, ge=1, le=10)  # None: the caller's own score
    score_reason: str = ""
    byline: str = BYLINE


class WrittenArticle(_Out):
    """The deep dive (``kicker`` "Analysis") or an opinion column (``kicker`` its name)."""

    title: str
    kicker: str
    paragraphs: tuple[WrittenParagraph, ...]
    pull_quote: str = ""
    byline: str = BYLINE


class Blurbs(_Out):
    """One line per pack id (models, papers, news); ids without a kept line are absent."""

    lines: dict[str, str] = Field(default_factory=dict)


class Removal(_Out):
    piece: str
    text: str
    reason: str


class Fallback(_Out):
    piece: str
    reason: str


class DeskReport(_Out):
    backend: str
    model: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    cached: tuple[str, ...] = ()  # pieces answered from the cache, at no cost
    removed: tuple[Removal, ...] = ()
    fallbacks: tuple[Fallback, ...] = ()


class DeskEdition(_Out):
    lead: WrittenLead | None = None
    deep_dive: WrittenArticle | None = None
    opinions: tuple[WrittenArticle, ...] = ()
    blurbs: Blurbs = Field(default_factory=Blurbs)
    report: DeskReport


# --- the cache -------------------------------------------------------------------------------


def cache_key(pack: FactsPack, *, backend: str, model: str) -> str:
    """sha256 of (date, backend, model, prompt version, facts pack)."""
    parts = [pack.date.isoformat(), backend, model, PROMPT_VERSION, pack.digest()]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


class AnswerCache:
    """Validated answers of one (date, input), one JSON file; no directory, no cache."""

    def __init__(self, directory: Path | None, pack: FactsPack, key: str) -> None:
        name = f"writer-{pack.date.isoformat()}-{key[:16]}.json"
        self.path = directory / name if directory is not None else None
        self._key = key
        self._pieces: dict[str, Any] = self._load()

    def get(self, piece: Piece) -> dict[str, Any] | None:
        entry = self._pieces.get(piece)
        return entry if isinstance(entry, dict) else None

    def put(self, piece: Piece, data: dict[str, Any]) -> None:
        self._pieces[piece] = data
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        content = {"key": self._key, "prompt_version": PROMPT_VERSION, "pieces": self._pieces}
        temporary.write_text(json.dumps(content, indent=2, ensure_ascii=False), "utf-8")
        os.replace(temporary, self.path)  # a crash never leaves half a cache file

    def _load(self) -> dict[str, Any]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            content = json.loads(self.path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            log.warning("writer: cache %s ignored: %s", self.path, type(err).__name__)
            return {}
        ok = isinstance(content, dict) and content.get("key") == self._key
        return dict(content["pieces"]) if ok and isinstance(content.get("pieces"), dict) else {}


# --- one issue's work ------------------------------------------------------------------------


@dataclass
class _Session:
    """The state of one ``Desk.write``: spending, what was removed, why pieces fell back."""

    pack: FactsPack
    grounding: Grounding
    cache: AnswerCache
    budget: int
    rewrite: bool
    used: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    stopped: str = ""
    cached: list[str] = field(default_factory=list)
    removed: list[Removal] = field(default_factory=list)
    fallbacks: list[Fallback] = field(default_factory=list)

    def fall_back(self, piece: str, reason: str) -> None:
        log.warning("writer: %s falls back to the deterministic text: %s", piece, reason)
        self.fallbacks.append(Fallback(piece=piece, reason=reason))

    def remove(self, piece: str, text: str, reason: str) -> None:
        log.info("writer: sentence removed from %s (%s): %s", piece, reason, text)
        self.removed.append(Removal(piece=piece, text=text, reason=reason))

    def account(self, completion: Completion) -> None:
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.used += completion.input_tokens + completion.output_tokens
        self.seconds += completion.seconds


class _Thin(Exception):
    """The piece is too thin to print; ``str()`` says why."""


Sleep = Callable[[float], None]


class Desk:
    """Writes an issue's pieces through ``backend``; see the module docstring."""

    def __init__(
        self,
        backend: Backend,
        *,
        budget: int,
        cache_dir: Path | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.backend = backend
        self.budget = budget
        self.cache_dir = cache_dir
        self._sleep = sleep

    def write(
        self, pack: FactsPack, *, covered: Collection[Piece] = (), rewrite: bool = False
    ) -> DeskEdition:
        """The pieces of ``pack``'s issue that editors did not cover, checked; never raises
        a ``WriterError``: a piece that could not be written is None (or absent) and its
        reason is in the report."""
        key = cache_key(pack, backend=self.backend.name, model=self.backend.model)
        session = _Session(pack, Grounding(pack), AnswerCache(self.cache_dir, pack, key),
                           self.budget, rewrite)  # fmt: skip
        written = {p: self._isolated(p, session) for p in PIECES if p not in covered}
        edition = _edition(written, self._report(session))
        log.info(
            "writer: %d call(s), %d tokens in, %d out, %.1f s",
            session.calls, session.input_tokens, session.output_tokens, session.seconds,
        )  # fmt: skip
        return edition

    def _report(self, session: _Session) -> DeskReport:
        return DeskReport(
            backend=self.backend.name,
            model=self.backend.model,
            calls=session.calls,
            input_tokens=session.input_tokens,
            output_tokens=session.output_tokens,
            seconds=round(session.seconds, 3),
            cached=tuple(session.cached),
            removed=tuple(session.removed),
            fallbacks=tuple(session.fallbacks),
        )

    # --- one piece ---------------------------------------------------------------------------

    def _isolated(self, piece: Piece, session: _Session) -> object | None:
        try:
            return self._piece(piece, session)
        except Exception as err:  # isolation: a bug in the writer must not stop the issue
            session.fall_back(piece, f"unexpected {type(err).__name__}")
            log.debug("writer: %s failed unexpectedly", piece, exc_info=True)
            return None

    def _piece(self, piece: Piece, session: _Session) -> object | None:
        answer = self._answer(piece, session)
        if answer is None:
            return None
        try:
            return _write(piece, answer, session)
        except _Thin as thin:
            session.fall_back(piece, f"too thin after checking: {thin}")
            return None

    def _answer(self, piece: Piece, session: _Session) -> Answer | None:
        cached = None if session.rewrite else session.cache.get(piece)
        if cached is not None:
            try:
                answer = _validated(piece, cached)
            except WriterMalformed:
                log.warning("writer: cached %s unreadable; asking again", piece)
            else:
                session.cached.append(piece)
                return answer
        if session.stopped:
            session.fall_back(piece, f"not asked: {session.stopped}")
            return None
        return self._ask(piece, session)

    def _ask(self, piece: Piece, session: _Session) -> Answer | None:
        for attempt in (1, 2):
            try:
                answer, data = self._attempt(piece, session)
            except WriterError as err:
                if attempt == 1 and err.retryable:
                    self._before_retry(piece, err)
                    continue
                session.fall_back(piece, f"{err.kind}: {err}")
                if err.stops_desk:
                    session.stopped = f"{err.kind} earlier in this issue"
                return None
            session.cache.put(piece, data)
            return answer
        return None  # not reached: the second attempt returns or falls back

    def _attempt(self, piece: Piece, session: _Session) -> tuple[Answer, dict[str, Any]]:
        request = build_request(piece, session.pack, max_tokens=ANSWER_TOKENS[piece])
        prompt_tokens = (len(request.system) + len(request.user)) // 4  # a rough estimate
        room = session.budget - session.used - prompt_tokens
        if room < MIN_ANSWER_TOKENS:
            raise BudgetExhausted(f"{session.used} of {session.budget} tokens spent")
        request = replace(request, max_tokens=min(room, request.max_tokens))
        session.calls += 1
        try:
            completion = self.backend.complete(request)
        except (WriterMalformed, WriterTruncated) as err:
            # Answered and billed, but unusable: count what it must have cost at least.
            session.used += prompt_tokens
            raise err from None
        session.account(completion)
        metrics.writer_spent(
            self.backend.name,
            self.backend.model,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
        )
        self._log_call(piece, completion)
        if completion.data is None:
            raise WriterMalformed("the answer holds no JSON object")
        return _validated(piece, completion.data), completion.data

    def _before_retry(self, piece: Piece, err: WriterError) -> None:
        log.info("writer: %s: %s (%s); asking once more", piece, err.kind, err)
        if isinstance(err, WriterRateLimited):
            self._sleep(min(err.retry_after or 1.0, MAX_RATE_LIMIT_WAIT))

    def _log_call(self, piece: Piece, completion: Completion) -> None:
        log.info(
            "writer: %s via %s %s: %d tokens in, %d out, %.1f s",
            piece, self.backend.name, self.backend.model, completion.input_tokens,
            completion.output_tokens, completion.seconds,
        )  # fmt: skip


def _validated(piece: Piece, data: dict[str, Any]) -> Answer:
    try:
        return ANSWERS[piece].model_validate(data)
    except ValidationError as err:
        where = ".".join(str(p) for p in err.errors()[0]["loc"]) or "answer"
        raise WriterMalformed(f"the answer is not the shape asked for ({where})") from None


# --- from answers to pieces ------------------------------------------------------------------


def _write(piece: Piece, answer: Answer, session: _Session) -> object:
    if isinstance(answer, LeadAnswer):
        return _lead(answer, session)
    if isinstance(answer, DeepDiveAnswer):
        return _deep_dive(answer, session)
    if isinstance(answer, OpinionAnswer):
        return _opinions(answer, session)
    assert isinstance(answer, BlurbsAnswer), piece
    return _blurbs(answer, session)


def _lead(answer: LeadAnswer, session: _Session) -> WrittenLead:
    headline = _title("lead", answer.headline, session)
    paragraphs = _paragraphs("lead", answer.paragraphs, session)
    return WrittenLead(
        headline=headline,
        standfirst=_prose("lead", answer.standfirst, session),
        paragraphs=paragraphs,
        score=answer.score,
        score_reason=_prose("lead", answer.score_reason, session),
    )


def _deep_dive(answer: DeepDiveAnswer, session: _Session) -> WrittenArticle:
    title = _title("deep-dive", answer.title, session)
    paragraphs = _paragraphs("deep-dive", answer.paragraphs, session)
    return WrittenArticle(
        title=title,
        kicker=ANALYSIS,
        paragraphs=paragraphs,
        pull_quote=_pull_quote(answer.pull_quote, paragraphs, session),
    )


def _opinions(answer: OpinionAnswer, session: _Session) -> tuple[WrittenArticle, ...]:
    columns: list[WrittenArticle] = []
    reasons: list[str] = []
    for column in answer.columns[:2]:
        try:
            columns.append(_column(column, session))
        except _Thin as thin:
            reasons.append(str(thin))
    if not columns:
        raise _Thin("; ".join(reasons) or "no column")
    return tuple(columns)


def _column(answer: ColumnAnswer, session: _Session) -> WrittenArticle:
    title = _title("opinion", answer.title, session)
    name = _title("opinion", answer.column, session, required=False) or "Desk Column"
    paragraphs = _paragraphs("opinion", answer.paragraphs, session)
    return WrittenArticle(title=title, kicker=name, paragraphs=paragraphs)


def _blurbs(answer: BlurbsAnswer, session: _Session) -> Blurbs:
    wanted = {i.id for i in session.pack.items}
    lines: dict[str, str] = {}
    for blurb in answer.blurbs:
        if blurb.id not in wanted or blurb.id in lines or len(blurb.text) > MAX_BLURB_CHARS:
            continue
        checked = _checked("blurbs", blurb.text, session)
        if checked.kept and not checked.removed:
            lines[blurb.id] = checked.text
    if not lines:
        raise _Thin("no blurb survived")
    return Blurbs(lines=lines)


# --- checking ---------------------------------------------------------------------------------


def _checked(piece: str, text: str, session: _Session, *, title: bool = False) -> Checked:
    checked = session.grounding.check_text(text, title=title)
    for sentence in checked.removed:
        session.remove(piece, sentence.text, sentence.reason)
    return checked


def _title(piece: str, text: str, session: _Session, *, required: bool = True) -> str:
    checked = _checked(piece, text, session, title=True)
    if checked.removed or not checked.kept:
        if required:
            raise _Thin("its title was removed" if checked.removed else "it has no title")
        return ""
    return checked.text


def _prose(piece: str, text: str, session: _Session) -> str:
    return _checked(piece, text, session).text


def _paragraphs(
    piece: str, paragraphs: list[Paragraph], session: _Session
) -> tuple[WrittenParagraph, ...]:
    ids = session.pack.ids()
    kept: list[WrittenParagraph] = []
    total = removed = 0
    for paragraph in paragraphs:
        checked = _checked(piece, paragraph.text, session)
        total += len(checked.kept) + len(checked.removed)
        removed += len(checked.removed)
        cites = {c for c in paragraph.cites if c in ids}
        sentences = tuple(
            WrittenSentence(text=s.text, cites=tuple(sorted(cites | s.evidence)))
            for s in checked.kept
        )
        if sentences:
            kept.append(WrittenParagraph(sentences=sentences))
    _require_body(piece, kept, total=total, removed=removed)
    return tuple(kept)


def _require_body(piece: str, kept: list[WrittenParagraph], *, total: int, removed: int) -> None:
    minimum = MINIMUM[piece]
    sentences = sum(len(p.sentences) for p in kept)
    if total and removed / total > MAX_REMOVED_SHARE:
        raise _Thin(f"{removed} of {total} sentences removed")
    if len(kept) < minimum.paragraphs or sentences < minimum.sentences:
        raise _Thin(
            f"{len(kept)} paragraph(s) and {sentences} sentence(s) kept, fewer than "
            f"{minimum.paragraphs} and {minimum.sentences}"
        )


def _pull_quote(quote: str, paragraphs: tuple[WrittenParagraph, ...], session: _Session) -> str:
    """The pull quote only if it is one of the essay's kept sentences (or part of one)."""
    quote = quote.strip().strip("\"\u201c\u201d").strip()
    if not quote:
        return ""
    if any(quote in p.text for p in paragraphs):
        return quote
    session.remove("deep-dive", quote, "the pull quote is not a sentence of the kept essay")
    return ""


def _edition(written: dict[Piece, object], report: DeskReport) -> DeskEdition:
    lead, deep_dive = written.get("lead"), written.get("deep-dive")
    opinions, blurbs = written.get("opinion"), written.get("blurbs")
    return DeskEdition(
        lead=lead if isinstance(lead, WrittenLead) else None,
        deep_dive=deep_dive if isinstance(deep_dive, WrittenArticle) else None,
        opinions=opinions if isinstance(opinions, tuple) else (),
        blurbs=blurbs if isinstance(blurbs, Blurbs) else Blurbs(),
        report=report,
    )


# --- from the settings -------------------------------------------------------------------------


def make_desk(
    settings: Settings, *, cache_dir: Path | None, timeout: float | None = None
) -> Desk | None:
    """The desk the settings ask for; None for ``MORNINGPOST_WRITER=none`` (nothing is
    built, so no network call can happen). ``timeout``: per call, else the setting's."""
    backend = make_backend(settings, timeout=timeout or settings.writer_timeout)
    if backend is None:
        return None
    return Desk(backend, budget=settings.writer_max_tokens, cache_dir=cache_dir)


def make_backend(settings: Settings, *, timeout: float = CALL_TIMEOUT) -> Backend | None:
    # The settings' validators guarantee the URL and model each writer needs.
    if settings.writer == "openai":
        assert settings.writer_url is not None
        assert settings.writer_model is not None
        key = settings.writer_api_key.get_secret_value() if settings.writer_api_key else None
        return OpenAICompatible(
            settings.writer_url, settings.writer_model, api_key=key, timeout=timeout
        )
    if settings.writer == "bedrock":
        assert settings.writer_model is not None
        return BedrockConverse(settings.writer_model, timeout=timeout)
    return None
