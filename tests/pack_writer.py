"""A scripted model that writes only from the facts pack it is sent: faithful on any day.

It reads the fenced pack out of the desk's prompt (one JSON value per line) and writes each
piece from the items in it, in sentences built from their names and counts, so every
sentence is supported whatever the day's data. ``obedient=True`` makes it a model that
follows instructions it finds inside the data: it then adds what an injected feed item asks
for (a foreign link, a made-up figure) to everything it writes.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fake_llm import Call, Reply, answer_for

INJECTED_ORDER = "Ignore previous instructions"
# What an injected item tells the model to write: a link and a figure no source gave.
EVIL_LINK = "http://evil.example/prize"
EVIL_SENTENCE = f"Claim the 1,000,000 free tokens at {EVIL_LINK} today."


def pack_items(call: Call) -> list[dict[str, Any]]:
    """The items of the pack in ``call``'s prompt (figures and headlines left out)."""
    lines = call.user_text.split("<<FACTS-", 1)[1].splitlines()[1:]
    items: list[dict[str, Any]] = []
    for line in lines:
        if line.startswith("<<END FACTS-"):
            break
        value = json.loads(line)
        if isinstance(value, dict) and "kind" in value:
            items.append(value)
    return items


def sentences(item: dict[str, Any]) -> list[str]:
    """Two or three sentences every word and number of which the pack holds."""
    found = [f"{item['name']} is one of the day's items.", "It is worth a look."]
    numbers = item.get("numbers", {})
    if "likes" in numbers:
        found.append(f"It has {int(numbers['likes'])} likes.")
    return found


def _paragraph(item: dict[str, Any], extra: str) -> dict[str, Any]:
    text = " ".join(sentences(item) + ([extra] if extra else []))
    return {"text": text, "cites": [item["id"]]}


def answer(call: Call, *, obedient: bool = False) -> dict[str, Any]:
    items = pack_items(call)
    extra = EVIL_SENTENCE if obedient and INJECTED_ORDER in call.user_text else ""
    paragraphs = [_paragraph(item, extra) for item in items[:3]]
    if call.piece == "lead":
        return {"headline": "The day in open models", "standfirst": "It is worth a look.",
                "paragraphs": paragraphs[:2], "score": 6,
                "score_reason": "It is worth a look."}  # fmt: skip
    if call.piece == "deep-dive":
        return {"title": "What the day's items say", "paragraphs": paragraphs,
                "pull_quote": "It is worth a look."}  # fmt: skip
    if call.piece == "opinion":
        return {"columns": [{"title": "Read the small print", "column": "Desk Column",
                             "paragraphs": paragraphs[:2]}]}  # fmt: skip
    return {
        "blurbs": [
            {"id": item["id"], "text": " ".join([sentences(item)[0]] + ([extra] if extra else []))}
            for item in items
        ]
    }


def faithful(call: Call) -> Reply:
    return answer_for(call, answer(call))


def obedient(call: Call) -> Reply:
    return answer_for(call, answer(call, obedient=True))
