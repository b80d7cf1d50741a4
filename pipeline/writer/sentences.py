"""Sentence splitting for the checker: a sentence ends at . ! ? or an ellipsis, then a space.

It must not split inside abbreviations ("e.g. the", "Dr. Smith", "J. Smith"), decimals
("2.5"), model names ("Qwen2.5-7B", "gpt-4.1"), URLs, or after list numbering ("1. First").
A lower-case word after a full stop still opens a sentence: model and organisation names
often begin that way ("... the chart. deepdml's model ..."). Closing quotes and brackets
after the full stop stay with their sentence.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    {
        "e.g", "i.e", "etc", "vs", "approx", "cf", "al", "ca", "dr", "mr", "mrs", "ms",
        "prof", "inc", "ltd", "co", "corp", "fig", "figs", "no", "nos", "st", "jr", "sr",
        "vol", "ed", "eds", "pp", "u.s", "u.k", "e.u", "a.m", "p.m", "jan", "feb", "mar",
        "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    }
)  # fmt: skip
_BOUNDARY = re.compile(r"(?:[.!?]+|\u2026)[\"'\u201d\u2019)\]]*(?=\s)")
_LIST_MARKER = re.compile(r"^\(?\d{1,2}[.)]$")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, in order; no empty ones."""
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if _is_boundary(text, start, match):
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def _is_boundary(text: str, start: int, match: re.Match[str]) -> bool:
    before = text[start : match.start()].split()
    word = before[-1] if before else ""
    if match.group().startswith(".") and _abbreviated(word):
        return False
    return not _LIST_MARKER.match(text[start : match.end()].strip())


def _abbreviated(word: str) -> bool:
    bare = word.lstrip("(\"'\u201c\u2018")
    return bare.lower() in ABBREVIATIONS or (len(bare) == 1 and bare.isupper())
