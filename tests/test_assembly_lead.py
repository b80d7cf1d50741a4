"""The written lead: clusters, the significance score, and templates that state only facts."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from emails.sanitize import plain_text
from pipeline.assembly.assemble import assemble
from pipeline.assembly.lead import Cluster, clusters, strongest, written_lead
from pipeline.sources import gather, sample_sources
from pipeline.sources.items import Gathering, ModelItem, NewsItem, PaperItem

DAY = dt.date(2026, 2, 25)


def model(
    name: str,
    task: str | None,
    score: float,
    *,
    likes: int = 10,
    tags: tuple[str, ...] = (),
    params: int | None = None,
) -> ModelItem:
    return ModelItem(
        id=f"org/{name}",
        author="org",
        url=f"https://huggingface.co/org/{name}",
        likes=likes,
        downloads=likes * 10,
        trending_score=score,
        pipeline_tag=task,
        tags=tags,
        parameters=params,
    )


def paper(title: str, upvotes: int = 0) -> PaperItem:
    slug = re.sub(r"\W+", "-", title.lower())
    return PaperItem(
        id=slug,
        title=title,
        summary="An abstract that mentions speech and maths and language models.",
        url=f"https://papers.example/{slug}",
        authors=(),
        source="Papers",
        upvotes=upvotes,
    )


def test_models_cluster_by_domain_tag_else_task_papers_by_title_terms() -> None:
    models = [
        model("chat", "text-generation", 50),
        model("math", "text-generation", 40, tags=("math",)),
        model("asr-1", "automatic-speech-recognition", 30),
        model("asr-2", "automatic-speech-recognition", 20),
        model("untagged", None, 99),
    ]
    reading = [
        paper("Robust Speech Recognition for Dialects"),
        paper("Mathematical Reasoning in Small Models"),
        NewsItem(title="Whisper gets faster", url="https://n.example/w", summary="", source="N"),
        paper("Nothing Related Here"),  # its abstract mentions everything: titles only count
    ]
    found = {c.key: c for c in clusters(models, reading)}

    assert set(found) == {"text-generation", "math", "automatic-speech-recognition"}
    assert [m.id for m in found["math"].models] == ["org/math"]
    assert [r.title for r in found["math"].reading] == ["Mathematical Reasoning in Small Models"]
    assert [r.title for r in found["automatic-speech-recognition"].reading] == [
        "Robust Speech Recognition for Dialects",
        "Whisper gets faster",
    ]
    assert found["text-generation"].reading == []


@pytest.mark.parametrize(
    ("models", "related", "number_one", "score"),
    [
        (1, 0, False, 1),  # something trends, nothing else
        (2, 0, False, 2),
        (4, 0, False, 4),
        (9, 0, False, 4),  # models count at most + 3
        (1, 5, False, 3),  # papers at most + 2
        (1, 0, True, 2),
        (4, 2, True, 7),
    ],
)
def test_significance_score_from_counts(
    models: int, related: int, number_one: bool, score: int
) -> None:
    cluster = Cluster(
        "object-detection",
        models=[model(f"m{i}", "object-detection", 10 - i) for i in range(models)],
        reading=[paper(f"Detector {i}") for i in range(related)],
        has_number_one=number_one,
    )
    assert cluster.score == score


def test_likes_and_upvotes_raise_the_score_and_it_never_passes_ten() -> None:
    popular = [model("hit", "object-detection", 9, likes=12_000)]
    cluster = Cluster("object-detection", models=popular, reading=[paper("YOLO Detector", 150)])
    assert cluster.score == 1 + 2 + 1 + 1
    crowded = Cluster(
        "object-detection",
        models=[model(f"m{i}", "object-detection", 9, likes=50_000) for i in range(6)],
        reading=[paper(f"Detector {i}", 500) for i in range(4)],
        has_number_one=True,
    )
    assert crowded.score == 10


def test_the_strongest_cluster_wins_ties_by_trending_then_name() -> None:
    tie_a = [model("a", "object-detection", 5)]
    tie_b = [model("b", "image-classification", 5)]
    chart = [model("top", None, 99), *tie_a, *tie_b]
    first = strongest([*tie_b, *tie_a], [], chart=chart)
    again = strongest([*tie_a, *tie_b], [], chart=chart)
    assert first is not None
    assert again is not None
    assert first.key == again.key == "image-classification"  # same score and trend: by name
    heavier = strongest([*tie_a, model("b2", "image-classification", 9)], [], chart=chart)
    assert heavier is not None
    assert heavier.key == "image-classification"
    assert strongest([], [], chart=chart) is None


def test_the_written_lead_states_only_numbers_found_in_the_data() -> None:
    models = [
        model("det-1", "object-detection", 50, likes=1234, params=2_500_000_000),
        model("det-2", "object-detection", 40, likes=77),
        model("chat", "text-generation", 10, likes=5),
    ]
    reading = [paper("Fast Object Detection on Phones", upvotes=321)]
    cluster = strongest(models, reading, chart=models)
    assert cluster is not None
    lead = written_lead(cluster, chart=models)

    text = plain_text(f"{lead.title} {lead.summary} {lead.body_html}")
    # every number in the text is a like/download count, a size, a vote count or a count
    allowed = {"1,234", "12.3k", "2.5B", "77", "321", "2", "3"}
    numbers = set(re.findall(r"\d[\d,.]*\d[BMKk]?|\d[BMKk]?", re.sub(r"det-\d", "", text)))
    assert numbers <= allowed, numbers - allowed
    assert lead.title == "det-1 tops today's Hugging Face trending chart"
    assert "Two of the three models trending on Hugging Face today are object detection" in (
        lead.summary
    )
    assert "It has 2.5B parameters, 1,234 likes and 12.3k downloads." in lead.body_html
    assert "det-2 from org (77 likes)" in lead.body_html
    assert "\u201cFast Object Detection on Phones\u201d (Papers, 321 upvotes)" in lead.body_html
    assert [link.url for link in lead.links] == [
        "https://huggingface.co/org/det-1",
        "https://huggingface.co/org/det-2",
        "https://papers.example/fast-object-detection-on-phones",
    ]
    assert 1 <= lead.score <= 10


def test_hostile_text_in_a_model_or_title_is_escaped_in_the_lead() -> None:
    evil = model('x"><script>alert(1)</script>', "object-detection", 9)
    reading = [paper("<img src=x onerror=alert(1)> detector")]
    issue = assemble(Gathering(models=[evil], papers=reading), date=DAY, number=1, city="M")
    assert issue.lead is not None
    assert "<script" not in issue.lead.body_html
    assert "<img" not in issue.lead.body_html


def test_the_sample_day_without_its_editor_gets_a_factual_lead() -> None:
    gathered = gather(sample_sources())
    gathered.editorial = [p for p in gathered.editorial if p.section != "lead"]
    issue = assemble(gathered, date=DAY, number=1, city="Manchester, United Kingdom")
    assert issue.lead is not None
    assert issue.lead.title == "everyoneschat-checkpoints tops today's Hugging Face trending chart"
    assert issue.lead.score == 7
    assert all(link.url.startswith("https://") for link in issue.lead.links)
    # the lead's paper is not repeated in Weekend Reading
    lead_urls = {link.url for link in issue.lead.links}
    assert not lead_urls & {r.url for r in issue.reading}
