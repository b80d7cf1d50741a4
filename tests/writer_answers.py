"""Faithful answers to the desk's four requests about ``tests.writer_pack.sample_pack``:
every sentence is supported by the pack, so the checker keeps all of them."""

from __future__ import annotations

import copy
from typing import Any

from pipeline.writer.facts import news_fact_id
from tests.writer_pack import NEWS_URL

TOP = "model:HayatoHongo/everyoneschat-checkpoints"
MATHS = "model:anujjamwal/OpenMath-Nemotron-1.5B"
SPEECH = "model:deepdml/whisper-small-ar-mix-norm"
YOLO = "model:ModelFarm/YOLO-R"
CASE = "paper:2602.14417"
ARABIC = "paper:2602.15230"
NEWS = news_fact_id(NEWS_URL)

LEAD: dict[str, Any] = {
    "headline": "HayatoHongo/everyoneschat-checkpoints leads a chart of specialists",
    "standfirst": "Four trending models and two papers point the same way today.",
    "paragraphs": [
        {
            "text": (
                "HayatoHongo/everyoneschat-checkpoints is number 1 on today's Hugging Face Hub "
                "trending chart, with 212 likes and 1,843 downloads. Close behind, "
                "anujjamwal/OpenMath-Nemotron-1.5B has 164 likes and 9.4k downloads for a "
                "1.5B-parameter model."
            ),
            "cites": [TOP, MATHS],
        },
        {
            "text": (
                "Specialised models make up 4/5 of the chart. deepdml's Arabic speech "
                "recognition model has 97 likes, and ModelFarm/YOLO-R brings object detection "
                "with 71."
            ),
            "cites": [SPEECH, "figure:1"],
        },
        {
            "text": (
                "The research agrees. Mira Okafor and colleagues compare 1B-7B parameter models "
                "with general-purpose models up to 70B and find that \u201cSpecialised small "
                "models match or exceed the generalists on in-domain tasks\u201d."
            ),
            "cites": [CASE],
        },
    ],
    "score": 7,
    "score_reason": "Three of the day's 4 trending models serve a narrow domain.",
}

DEEP_DIVE: dict[str, Any] = {
    "title": "Why small, specialised models are winning the chart",
    "paragraphs": [
        {
            "text": (
                "Today's trending chart is a study in focus. Of the 4 models on it, three serve "
                "a narrow task: maths, Arabic speech recognition and object detection."
            ),
            "cites": [MATHS, SPEECH, YOLO],
        },
        {
            "text": (
                "The research points the same way. The Case for Small Language Models in "
                "Domain-Specific Deployment compares 1B-7B parameter models with "
                "general-purpose models up to 70B across legal, medical and mathematical "
                "benchmarks."
            ),
            "cites": [CASE],
        },
        {
            "text": (
                "Speech is a case in point. Sara Haddad, Omar Farouk and Lina Mansour report "
                "that normalising Arabic transcripts lowers the word error rate of fine-tuned "
                "Whisper models by up to 18% relative on dialectal test sets."
            ),
            "cites": [ARABIC],
        },
        {
            "text": (
                "None of this makes general models obsolete. It does suggest that the open "
                "community builds tools for particular jobs, and that the chart rewards them."
            ),
            "cites": [],
        },
    ],
    "pull_quote": "Today's trending chart is a study in focus.",
}

OPINION: dict[str, Any] = {
    "columns": [
        {
            "title": "Small is the new serious",
            "column": "Desk Column",
            "paragraphs": [
                {
                    "text": (
                        "The chart tells a simple story. Specialised models hold 4/5 of it, and "
                        "anujjamwal/OpenMath-Nemotron-1.5B, with 9,421 downloads, does one "
                        "thing: maths."
                    ),
                    "cites": [MATHS, "figure:1"],
                },
                {
                    "text": (
                        "That is a lesson for anyone choosing a model. Start from the task, "
                        "then look for the smallest model that serves it."
                    ),
                    "cites": [],
                },
            ],
        }
    ]
}

BLURBS: dict[str, Any] = {
    "blurbs": [
        {"id": YOLO, "text": "An object detection model from ModelFarm with 71 likes."},
        {"id": ARABIC, "text": "Arabic transcript normalisation cuts word error rate by up "
                               "to 18% relative."},
        {"id": NEWS, "text": "Rosa Delgado reports that small, specialised models now rival "
                             "closed systems on competition maths."},
    ]
}  # fmt: skip

FAITHFUL: dict[str, dict[str, Any]] = {
    "lead": LEAD,
    "deep-dive": DEEP_DIVE,
    "opinion": OPINION,
    "blurbs": BLURBS,
}


def faithful(piece: str) -> dict[str, Any]:
    """A fresh copy of the faithful answer to ``piece``, safe to modify."""
    return copy.deepcopy(FAITHFUL[piece])
