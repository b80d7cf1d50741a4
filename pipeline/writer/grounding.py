"""The deterministic checker: a written sentence survives only if the facts pack supports it.

For every sentence, in this order (all failures are reported, joined by "; "):

1. **Links.** Markdown links, ``href``s, bare ``http(s)://`` URLs and bare domains
   (``evil.example``, ``www.x.com``) must be one of the pack's item links, compared as
   ``pipeline.dedup.canonical_url`` does (case of scheme and host, tracking parameters,
   trailing slash and fragment ignored); a bare domain must be the host of one of them.
   URLs written *inside* an item's text are not pack links: a feed cannot smuggle one in.
2. **Quotes.** Text in double quotes ("..." or curly) of three words or more must be found
   verbatim (spacing and quote characters normalised) in a pack string: an abstract, a
   card text, a title. One- and two-word quotes are scare quotes, not attributions; single
   quotes are left alone (they are apostrophes far more often than quotes).
3. **Numbers** (``pipeline.writer.quantities``): each must stand for a number of the pack:
   a count of an item (likes, downloads, parameters, upvotes, rank), a number written in a
   pack string, a part of the issue date or of a published date, a computed figure (and a
   figure "4/5" also yields 80%), or how many items of each kind the pack holds.
   List numbering at the start of a sentence ("1.", "2)") is not a figure.
4. **Names.** Model ids (``org/name``), tokens mixing letters and digits (``Qwen2.5-7B``),
   CamelCase and ALL-CAPS tokens (``HayatoHongo``, ``NVIDIA``), and runs of capitalised
   words not at the start of the sentence (``Google DeepMind``) are names; possessive
   ``'s`` is dropped. A name passes if it appears, as whole words and ignoring case, in a
   pack string (titles, ids, organisations, authors, sources, texts). ``COMMON_WORDS`` lists
   the capitalised words that are not names (sentence openers, days, months, "AI", the
   newsletter's section names). In headlines (``title=True``) title-case words are not
   names; only the strong shapes above are checked.

Known gaps, on purpose: a single capitalised word opening a sentence ("Alibaba released
it.") is not taken for a name, since without a dictionary it cannot be told from "Leading
the chart is..."; it is checked when followed by another name or by "'s". Lower-case names
without a digit or slash ("whisper-small") are not detected. Spelled-out numbers are prose.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pipeline.assembly.dedup import canonical_url
from pipeline.writer.facts import Fact, FactsPack
from pipeline.writer.quantities import Quantity, exact, quantities
from pipeline.writer.sentences import split_sentences

_COMMON_WORDS = """
    a an the this that these those it its their they them we our us you your i he she his her
    in on at for from with without by of to as and but or nor so yet if when while where why
    how what which who whose whether although though because since until after before also
    meanwhile today yesterday tomorrow tonight here there now then still even only just both
    each every all some many most more few several other another such no not none nothing
    first second third last next new latest top together taken however moreover furthermore
    instead rather indeed overall finally again beyond across among between behind under over
    into within alongside like unlike despite per via whereas either neither much any anyone
    something everything let consider note read see look expect yes one two three four five
    six seven eight nine ten is are was were be been has have had do does did can could will
    would should may might must
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december
    ai ml llm llms gpu gpus cpu cpus api apis nlp rl rag asr tts ocr vlm vlms moe sota
    lead story deep dive analysis opinion opinions tools tool week weekend reading numbers
    morning post desk editor editors column guest hub trending papers paper daily chart charts
"""
COMMON_WORDS = frozenset(_COMMON_WORDS.split())
SLASH_WORDS = frozenset({"and/or", "input/output", "read/write", "on/off", "yes/no", "he/she"})
_MIN_QUOTE_WORDS = 3
_TLDS = (
    "com|org|net|io|ai|co|dev|app|example|edu|gov|uk|de|fr|info|xyz|me|ly|gg|sh|so|tech|"
    "cloud|test|invalid|local|news|blog|site|online|biz|us|eu"
)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\(\s*([^)\s]+)[^)]*\)")
_HREF = re.compile(r"""href\s*=\s*["']?([^"'\s>]+)["']?""", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+", re.IGNORECASE)
_DOMAIN = re.compile(rf"(?<![\w@/.-])(?:www\.)?(?:[a-z0-9-]+\.)+(?:{_TLDS})(?![\w.-]*\w)", re.I)
_TAG = re.compile(r"<[^>]*>")
_QUOTED = re.compile(r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d")
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|[-*\u2022])\s+")
_CLAUSE_BREAK = re.compile(r"[,;()\[\]{}\u2014\u2013]|\s-\s|:")
_CLAUSE_SPLIT = re.compile(r"([,;()\[\]{}\u2014\u2013]|\s-\s|:)")
_STARTS_CLAUSE = re.compile(r"[:(\u2014\u2013]|\s-\s")
_POSSESSIVE = re.compile(r"['\u2019]s$")
_TRAILING = ".,;:!?'\"\u2019\u201d\u2026"
_LEADING = "'\"\u2018\u201c#$"


@dataclass(frozen=True)
class Verdict:
    """What the checker found in one sentence: why it fails (empty: it passes), and the
    ids of the items it names or links to."""

    reasons: tuple[str, ...] = ()
    evidence: frozenset[str] = frozenset()

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class KeptSentence:
    text: str
    evidence: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RemovedSentence:
    text: str
    reason: str


@dataclass
class Checked:
    """A text after the check: the sentences kept and those removed, with reasons."""

    kept: list[KeptSentence] = field(default_factory=list)
    removed: list[RemovedSentence] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.kept)


class Grounding:
    """The checker for one facts pack; build it once, then check any number of sentences."""

    def __init__(self, pack: FactsPack) -> None:
        self._strings = list(_pack_strings(pack))
        self._corpus = "\n".join(_fold(s) for s in self._strings)
        self._verbatim = "\n".join(_spaced(s) for s in self._strings)
        self._numbers = list(_pack_numbers(pack, self._strings))
        self._links = {canonical_url(i.url): i.id for i in pack.items if i.url}
        self._hosts = {_host(url) for url in self._links}
        self._names = list(_evidence_names(pack.items))

    def check_text(self, text: str, *, title: bool = False) -> Checked:
        checked = Checked()
        for sentence in split_sentences(text):
            verdict = self.check_sentence(sentence, title=title)
            if verdict.passed:
                checked.kept.append(KeptSentence(sentence, verdict.evidence))
            else:
                checked.removed.append(RemovedSentence(sentence, verdict.reason))
        return checked

    def check_sentence(self, sentence: str, *, title: bool = False) -> Verdict:
        reasons: list[str] = []
        rest, linked = self._check_links(sentence, reasons)
        rest = self._check_quotes(rest, reasons)
        rest = _LIST_MARKER.sub("", rest)
        reasons += self._number_reasons(rest)
        reasons += self._name_reasons(rest, title=title)
        unique = tuple(dict.fromkeys(reasons))  # "2024-2025" fails once, not per end
        return Verdict(unique, frozenset(linked) | self._mentioned(sentence))

    # --- links ------------------------------------------------------------------------------

    def _check_links(self, sentence: str, reasons: list[str]) -> tuple[str, set[str]]:
        """Check every link; return the sentence without them and the ids linked to."""
        linked: set[str] = set()
        text = _MARKDOWN_LINK.sub(lambda m: f"{m[1]} {m[2]}", sentence)
        urls = _HREF.findall(text)
        text = _TAG.sub(" ", _HREF.sub(" ", text))
        urls += [u.rstrip(_TRAILING) for u in _URL.findall(text)]
        # A link ends a run of names ("[Title](url); Name"), and its trailing
        # punctuation is the sentence's, not the URL's.
        text = _URL.sub(lambda m: ", " + m[0][len(m[0].rstrip(_TRAILING)) :], text)
        for url in urls:
            fact_id = self._links.get(canonical_url(url))
            if fact_id is None:
                reasons.append(f"link {url} is not one of the facts pack's links")
            else:
                linked.add(fact_id)
        for domain in _DOMAIN.findall(text):
            if _bare_host(domain) not in self._hosts:
                reasons.append(f"link {domain} is not one of the facts pack's links")
        return _DOMAIN.sub(", ", text), linked

    # --- quotes -----------------------------------------------------------------------------

    def _check_quotes(self, text: str, reasons: list[str]) -> str:
        """Check long quotes; a verified quote is taken out of what the other checks read."""

        def verify(match: re.Match[str]) -> str:
            quote = match[1] or match[2] or ""
            if len(quote.split()) < _MIN_QUOTE_WORDS:
                return quote
            if _spaced(quote).strip(" .,") not in self._verbatim:
                reasons.append(f"quote \u201c{_short(quote)}\u201d is not in the facts pack")
            return " "

        return _QUOTED.sub(verify, text)

    # --- numbers and names ------------------------------------------------------------------

    def _number_reasons(self, text: str) -> list[str]:
        return [
            f"number {q.raw} is not in the facts pack"
            for q in quantities(text)
            if not any(q.stands_for(known) for known in self._numbers)
        ]

    def _name_reasons(self, text: str, *, title: bool) -> list[str]:
        return [
            f"name \u2018{name}\u2019 is not in the facts pack"
            for name in _names(text, title=title)
            if not self._in_corpus(name)
        ]

    def _in_corpus(self, phrase: str) -> bool:
        pattern = rf"(?<!\w){re.escape(_fold(phrase))}(?!\w)"
        return re.search(pattern, self._corpus) is not None

    def _mentioned(self, sentence: str) -> frozenset[str]:
        folded = _fold(sentence)
        return frozenset(fact_id for name, fact_id in self._names if name in folded)


# --- what the pack holds ----------------------------------------------------------------------


def _pack_strings(pack: FactsPack) -> Iterator[str]:
    """Every string of the pack that may ground a name or a quote (not old headlines)."""
    for item in pack.items:
        yield from (item.name, item.org, item.source, item.task, item.text, *item.authors)
        yield item.task.replace("-", " ")
    for figure in pack.figures:
        yield from (figure.label, figure.value)


def _pack_numbers(pack: FactsPack, strings: Iterable[str]) -> Iterator[Quantity]:
    for item in pack.items:
        yield from (exact(value) for value in item.numbers.values())
        if item.published is not None:
            yield from _date_numbers(item.published)
    yield from _date_numbers(pack.date)
    for text in strings:
        yield from quantities(text)
    yield from _figure_percentages(pack)
    yield from _counts(pack)


def _date_numbers(date: dt.date) -> Iterator[Quantity]:
    yield from (exact(date.day), exact(date.year))


def _figure_percentages(pack: FactsPack) -> Iterator[Quantity]:
    """A figure "4/5" is also 80%."""
    for figure in pack.figures:
        parts = figure.value.split("/")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts) and int(parts[1]):
            yield exact(round(100 * int(parts[0]) / int(parts[1]), 1), percent=True)


def _counts(pack: FactsPack) -> Iterator[Quantity]:
    """How many models, papers and news items the pack holds, and all of them."""
    for kind in ("model", "paper", "news"):
        yield exact(sum(item.kind == kind for item in pack.items))
    yield exact(len(pack.items))


def _evidence_names(items: Iterable[Fact]) -> Iterator[tuple[str, str]]:
    """(folded name, id) pairs by which a sentence shows it rests on an item."""
    for item in items:
        yield _fold(item.name), item.id
        yield from ((_fold(author), item.id) for author in item.authors)
        if item.kind == "model" and "/" in item.name:
            short = item.name.rpartition("/")[2]
            if len(short) >= 4:  # "YOLO" or longer: shorter names match words by chance
                yield _fold(short), item.id


# --- names in a sentence ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Clause:
    text: str
    starts: bool  # opens the sentence, or follows a colon, a bracket or a dash


@dataclass(frozen=True)
class _Word:
    text: str
    possessive: bool


def _clauses(text: str) -> Iterator[_Clause]:
    starts = True
    for piece in _CLAUSE_SPLIT.split(text):
        if _CLAUSE_BREAK.fullmatch(piece):
            starts = _STARTS_CLAUSE.fullmatch(piece) is not None
            continue
        if piece.strip():
            yield _Clause(piece, starts)
            starts = False


def _names(text: str, *, title: bool) -> Iterator[str]:
    """Candidate names: runs of name-like words within a clause (see the module docstring)."""
    for clause in _clauses(text):
        words = [w for w in (_word(token) for token in clause.text.split()) if w.text]
        yield from _runs(words, at_start=clause.starts, title=title)


def _runs(words: list[_Word], *, at_start: bool, title: bool) -> Iterator[str]:
    kinds = [_kind(word.text, title=title) for word in words]
    opener = at_start and bool(kinds) and kinds[0] == "weak" and not words[0].possessive
    if opener and (len(kinds) < 2 or kinds[1] is None):
        # A capitalised opener is a name only when a name follows ("Google DeepMind").
        kinds[0] = None
    run: list[str] = []
    for word, kind in zip(words, kinds, strict=True):
        if kind is None:
            yield from _flush(run)
            continue
        trimmed = _trim_lower_parts(word.text)
        if trimmed != word.text:  # "Arabic-focused": an adjective made of a name
            yield from _flush(run)
            yield trimmed
            continue
        run.append(word.text)
        if word.possessive:  # "Alibaba's Qwen": the owner and the owned are two names
            yield from _flush(run)
    yield from _flush(run)


def _flush(run: list[str]) -> Iterator[str]:
    if run:
        yield " ".join(run)
        run.clear()


def _kind(word: str, *, title: bool) -> str | None:
    """"strong" (id, digits, CamelCase, caps), "weak" (capitalised), or None (not a name)."""
    folded = word.casefold()
    if folded in COMMON_WORDS or folded in SLASH_WORDS or quantities(word):
        return None
    letters = any(ch.isalpha() for ch in word)
    if re.search(r"\w/\w", word) or (letters and any(ch.isdigit() for ch in word)):
        return "strong"
    if any(any(ch.isupper() for ch in part[1:]) for part in re.split(r"[-\u2013.]", word)):
        return "strong"
    if word[:1].isupper():
        return None if title else "weak"
    return None


def _word(token: str) -> _Word:
    bare = token.strip(_LEADING).rstrip(_TRAILING)
    stripped = _POSSESSIVE.sub("", bare)
    return _Word(stripped.rstrip(_TRAILING), possessive=stripped != bare)


def _trim_lower_parts(word: str) -> str:
    """"Arabic-focused" -> "Arabic"; "non-English" -> "English"; others unchanged.

    Only lower-case *words* are trimmed: a version ("Mistral-7B-Instruct-v0.2-GPTQ") is part
    of a name, and a repo id ("org/name-v0.2") is checked whole.
    """
    if "/" in word:
        return word
    parts = re.split(r"([-\u2013])", word)
    keep = [p for p in parts[::2] if not (p.isalpha() and p.islower())]
    return "-".join(keep) if keep else word


# --- normalisation ----------------------------------------------------------------------------


def _spaced(text: str) -> str:
    """Quote characters straightened and spacing collapsed: what "verbatim" compares."""
    table = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
    return " ".join(text.translate(table).split())


def _fold(text: str) -> str:
    return _spaced(text).casefold()


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _host(url: str) -> str:
    return _bare_host(urlsplit(url).netloc)


def _bare_host(host: str) -> str:
    return host.lower().removeprefix("www.")
