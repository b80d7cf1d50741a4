"""Numbers in prose, normalised so that one figure matches however it is written.

``15,230``, ``15230`` and ``15.2k`` are one figure; so are ``7.6B``, ``7.6 billion`` and
``7,600,000,000``. Each number found becomes a ``Quantity``: its value, whether it is a
percentage, and its *precision*, the worth of the last digit written (``15.2k`` -> 100,
``15,230`` -> 1, ``7.6B`` -> 100,000,000). A number written in the prose stands for a number
of the pack when the two differ by at most half that precision: ``15.2k`` stands for 15,230
(a rounding of it) but ``15,200`` does not (it claims to be exact).

What counts as a number (decided here, documented for the checker's users):

- digits, with thousands separators and decimals: ``15,230``, ``0.5``; a currency sign in
  front is dropped (``$2,000`` is the number 2000, which must then be in the pack);
- scale suffixes glued to the digits (``k K M B bn T``) or as the next word (``thousand``,
  ``million``, ``billion``, ``trillion``): ``1.5B params``, ``70 billion``;
- percentages: ``42%``, ``42 percent``, ``42 per cent``; they only match percentages;
- years are plain numbers (``2026``); a range ``2024-2025`` or ``1-3`` is both its ends;
- a fraction ``4/5`` is both its numbers, ``1B-7B`` and ``1-7B`` both ends; ``3rd`` is 3;
- compounds of a number and lower-case words: ``4-bit``, ``70-billion-parameter``, ``2x``.

What is *not* a number:

- spelled-out words (``one``, ``two``, ``a dozen``): prose counting ("one of the", "two
  papers") is left to the writer's judgement; the instructions ask for digits for any figure;
- digits inside a name: ``Qwen2.5-7B``, ``GPT-4o``, ``H100``, ``COVID-19`` (a token mixing
  letters and digits is a name, and the name check covers it);
- digits inside URLs (the link check covers those); list numbering is stripped by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

_SUFFIXES = {
    "k": Decimal(1_000),
    "K": Decimal(1_000),
    "M": Decimal(1_000_000),
    "B": Decimal(1_000_000_000),
    "bn": Decimal(1_000_000_000),
    "T": Decimal(1_000_000_000_000),
}
_SCALE_WORDS = {
    "thousand": Decimal(1_000),
    "million": Decimal(1_000_000),
    "billion": Decimal(1_000_000_000),
    "trillion": Decimal(1_000_000_000_000),
}
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUMBER = re.compile(
    rf"^[$£€]?(?P<num>{_NUM})(?P<suffix>bn|[kKMBT])?(?P<times>[x\u00d7])?(?P<pct>%)?$"
)
_ORDINAL = re.compile(r"^(?P<num>\d+)(?:st|nd|rd|th)$")
_SUFFIX = r"bn|[kKMBT]"
_PAIR = re.compile(
    rf"^[$£€]?(?P<a>{_NUM})(?P<sa>{_SUFFIX})?[-\u2013/](?P<b>{_NUM})(?P<sb>{_SUFFIX})?(?P<pct>%)?$"
)
_WORD = re.compile(r"^[a-z]+$")
_TOKEN = re.compile(r"\S+")
_LEADING = "([{\"'\u201c\u2018#~\u2248"
_TRAILING = ".,;:!?)]}\"'\u201d\u2019\u2026"
_POSSESSIVE = re.compile(r"['\u2019]s$")


@dataclass(frozen=True)
class Quantity:
    """A number as written: ``value`` normalised, ``precision`` the worth of its last digit."""

    raw: str
    value: Decimal
    precision: Decimal
    percent: bool = False

    def stands_for(self, other: Quantity) -> bool:
        """True if this mention is ``other`` as written, or a rounding of it."""
        if self.percent != other.percent:
            return False
        return abs(self.value - other.value) * 2 <= self.precision


def exact(value: float | int | Decimal, *, percent: bool = False) -> Quantity:
    """A number known exactly (a count from a source), as a ``Quantity``."""
    number = Decimal(str(value))
    return Quantity(raw=str(value), value=number, precision=Decimal(0), percent=percent)


def quantities(text: str) -> list[Quantity]:
    """Every number written in ``text`` (see the module docstring for what counts)."""
    tokens = [_strip(t) for t in _TOKEN.findall(text)]
    found: list[Quantity] = []
    for index, token in enumerate(tokens):
        following = " ".join(tokens[index + 1 : index + 3]).lower()
        found.extend(_token_quantities(token, following))
    return found


def _strip(token: str) -> str:
    token = token.lstrip(_LEADING).rstrip(_TRAILING)
    return _POSSESSIVE.sub("", token)


def _token_quantities(token: str, following: str) -> Iterator[Quantity]:
    if not token or not any(ch.isdigit() for ch in token) or "://" in token:
        return
    if match := _NUMBER.match(token):
        yield _quantity(token, match["num"], match["suffix"], following, pct=bool(match["pct"]))
    elif match := _ORDINAL.match(token):
        yield _quantity(token, match["num"], None, "", pct=False)
    elif match := _PAIR.match(token):
        # "1-7B" is 1B to 7B: a suffix written once applies to both ends.
        percent, suffix = bool(match["pct"]), match["sb"]
        yield _quantity(token, match["a"], match["sa"] or suffix, "", pct=percent)
        yield _quantity(token, match["b"], suffix, following, pct=percent)
    else:
        yield from _compound(token)


def _compound(token: str) -> Iterator[Quantity]:
    """``4-bit``, ``70-billion-parameter``: a number, then lower-case words only."""
    head, *rest = re.split(r"[-\u2013]", token)
    match = _NUMBER.match(head)
    if match is None or not rest or not all(_WORD.match(word) for word in rest):
        return  # a name such as Qwen2.5-7B, GPT-4o: the name check's business
    following = " ".join(rest)
    yield _quantity(token, match["num"], match["suffix"], following, pct=bool(match["pct"]))


def _quantity(raw: str, digits: str, suffix: str | None, following: str, *, pct: bool) -> Quantity:
    """``following``: the next words (lower case), which may carry a scale or "percent"."""
    plain = digits.replace(",", "")
    decimals = len(plain.partition(".")[2])
    next_word = following.partition(" ")[0]
    scale = _SUFFIXES[suffix] if suffix else _SCALE_WORDS.get(next_word, Decimal(1))
    percent = pct or (not suffix and following.startswith(("percent", "per cent")))
    return Quantity(
        raw=raw,
        value=Decimal(plain) * scale,
        precision=Decimal(1).scaleb(-decimals) * scale,
        percent=percent,
    )
