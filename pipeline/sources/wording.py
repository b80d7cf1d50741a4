"""Words and numbers for readers: counts written for humans, lists joined with "and", and
excerpts cut at a sentence boundary.

Everything here is pure and takes text that is already plain (sanitised by
``emails.sanitize.plain_text``); nothing here ever adds markup.

Sentence boundaries understood by ``excerpt``:

- Latin-script ``.`` ``!`` ``?`` ``…`` followed by a space, unless the next word starts in lower
  case ("e.g. this") or the word before is a known abbreviation or an initial ("Dr.", "J.");
- the CJK ideographic full stop and full-width ``!`` ``?`` ``.`` (U+3002, U+FF01, U+FF1F,
  U+FF0E), which need no space after them;
- the Arabic question mark (U+061F) and the Urdu full stop (U+06D4); Arabic also uses ``.``.

"Never mid-word" means a cut falls on a space, or between two Chinese/Japanese characters
(those scripts write no spaces; every character boundary is a place a reader can stop).
Korean writes spaces, so Hangul is cut at spaces like English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ELLIPSIS = "\u2026"

# (divisor, suffix), smallest first: the first unit under 1000 wins, so 999_950 is "1M".
_UNITS = ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "B"), (1_000_000_000_000, "T"))

# A candidate end of sentence: terminal punctuation, closing quotes/brackets, then the space
# (Latin, Arabic) or nothing (CJK full stops end a sentence without a space).
_SPACED_END = re.compile(r"[.!?\u2026\u061f\u06d4]+[\"'\u201d\u2019\u00bb)\]]*(?=\s)")
_CJK_END = re.compile(r"[\u3002\uff01\uff1f\uff0e]+[\u300d\u300f\u201d\u2019\uff09)]*")
_WORD_BEFORE = re.compile(r"(\S+)$")
_LOOK_BACK = 24  # characters: longer than any abbreviation in the list below
# Words whose full stop is not the end of a sentence. Lower-case, with their dots.
_ABBREVIATIONS = frozenset(
    {"e.g.", "i.e.", "etc.", "vs.", "cf.", "al.", "fig.", "figs.", "eq.", "no.", "dr.", "mr.",
     "mrs.", "ms.", "prof.", "st.", "approx.", "inc.", "ltd.", "co.", "jr.", "sr.", "u.s.",
     "u.k.", "e.u.", "p.", "pp.", "vol.", "sec.", "ch."}
)  # fmt: skip
# Han, kana and CJK compatibility ideographs: scripts written without spaces between words.
_UNSPACED = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
# A word ends before these; "-", "'", "." and "/" may sit inside one ("fine-tuned", "3.5").
_CLOSING_PUNCTUATION = frozenset(',;:!?)]}"\u201d\u00bb\u3001\u3002')
# Left dangling at the end of a cut: they read badly before an ellipsis.
_DANGLING = " ,;:\u2013\u2014-([{\"'\u201c\u2018\u00ab\u3001"


def human_count(count: int) -> str:
    """Likes and downloads for humans: 999 -> '999', 15_234 -> '15.2k', 152_345 -> '152k',
    1_234_567 -> '1.2M'. One decimal below 100 of a unit, none above; '.0' is dropped."""
    if abs(count) < 1_000:
        return str(count)
    for divisor, suffix in _UNITS:
        scaled = abs(count) / divisor
        shown = round(scaled, 1) if round(scaled, 1) < 100 else float(round(scaled))
        if shown < 1_000 or suffix == _UNITS[-1][1]:
            sign = "-" if count < 0 else ""
            return f"{sign}{shown:.1f}".removesuffix(".0") + suffix
    raise AssertionError("unreachable: the last unit always formats")  # pragma: no cover


def join_words(words: Sequence[str]) -> str:
    """['Japanese', 'English'] -> 'Japanese and English'; three -> 'A, B and C'."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def sentence_ends(text: str, *, whole: bool = True) -> list[int]:
    """Offsets just after each sentence of ``text``.

    With ``whole`` (``text`` is all there is) the end of the text ends the last sentence too;
    without it ``text`` is a window onto something longer, and its end is not a boundary.
    """
    ends = {m.end() for m in _SPACED_END.finditer(text) if _is_boundary(text, m.start(), m.end())}
    ends.update(m.end() for m in _CJK_END.finditer(text))
    stripped = len(text.rstrip())
    ends = {end for end in ends if 0 < end < stripped}
    if stripped and whole:
        ends.add(stripped)
    return sorted(ends)


def _is_boundary(text: str, start: int, end: int) -> bool:
    following = text[end : end + 2].lstrip()[:1]
    if following.islower():
        return False  # "e.g. this", "… and then": the sentence goes on
    # Only the word just before matters; a bounded look-back keeps long texts linear.
    word = _WORD_BEFORE.search(text[max(0, start - _LOOK_BACK) : start + 1])
    if word is None:
        return True
    token = word.group(1).lower().lstrip("(\"'\u201c\u2018")
    if token in _ABBREVIATIONS:
        return False
    # An initial ("J. Smith") is one letter and a dot.
    return not (len(token) == 2 and token[0].isalpha() and token[1] == ".")


def excerpt(text: str, max_sentences: int = 2, limit: int = 240) -> str:
    """Up to ``max_sentences`` whole sentences of ``text`` within ``limit`` characters.

    When even the first sentence is longer than ``limit`` it is cut at the last word boundary
    that fits and ends with an ellipsis; the result never exceeds ``limit`` and is "" when not
    even one word fits.
    """
    folded = " ".join(text.split())
    if not folded or limit <= 0 or max_sentences <= 0:
        return ""
    # Sentences ending past the limit are never used: look at a window just longer than it
    # (the extra character tells whether the limit falls exactly on a sentence's end).
    window = folded[: limit + 2]
    ends = sentence_ends(window, whole=len(window) == len(folded))
    fitting = [end for end in ends[:max_sentences] if end <= limit]
    if fitting:
        return folded[: fitting[-1]].strip()
    return cut_at_word(folded, limit)


def cut_at_word(text: str, limit: int) -> str:
    """``text`` if it fits, else its longest prefix ending at a word boundary, plus '…'."""
    if len(text) <= limit:
        return text
    budget = limit - len(ELLIPSIS)
    cut = _last_boundary(text, budget)
    core = text[:cut].rstrip(_DANGLING)
    return f"{core}{ELLIPSIS}" if core else ""


def _last_boundary(text: str, budget: int) -> int:
    """The largest index ``i <= budget`` where ``text`` may be cut (0 when there is none)."""
    for index in range(min(budget, len(text) - 1), 0, -1):
        before, after = text[index - 1], text[index]
        if after.isspace() or before.isspace() or after in _CLOSING_PUNCTUATION:
            return index
        if _UNSPACED.match(before) or _UNSPACED.match(after):
            return index
    return 0


def is_unspaced(char: str) -> bool:
    """True for a Chinese or Japanese character: a word boundary lies on either side of it."""
    return bool(_UNSPACED.match(char))
