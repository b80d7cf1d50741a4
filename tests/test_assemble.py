from __future__ import annotations

import datetime as dt

import pytest

from pipeline.assembly.assemble import assemble
from pipeline.assembly.numbers import by_the_numbers, human_parameters
from pipeline.sources.items import (
    EditorialPiece,
    Gathering,
    ModelItem,
    PaperItem,
    WeatherReport,
)

DAY = dt.date(2026, 2, 25)


def model(name: str, task: str | None, params: int | None, score: float = 1.0) -> ModelItem:
    return ModelItem(
        id=f"org/{name}",
        author="org",
        url=f"https://huggingface.co/org/{name}",
        likes=10,
        downloads=100,
        trending_score=score,
        pipeline_tag=task,
        tags=(),
        parameters=params,
    )


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (1_543_714_304, "1.5B"),
        (350_000_000, "350M"),
        (12_000_000_000, "12B"),
        (999, "999"),
        (2_000_000_000_000, "2T"),
        (1_000_000_000, "1B"),
    ],
)
def test_human_parameters(count: int, text: str) -> None:
    assert human_parameters(count) == text


def test_figures_are_computed_from_the_models() -> None:
    models = [
        model("a", "automatic-speech-recognition", 1_000_000_000),
        model("b", "object-detection", 2_000_000_000),
        model("c", "text-generation", 70_000_000_000),
        model("d", "object-detection", None),
        model("f", "object-detection", 3_000_000_000),
        model("e", None, None),
    ]
    assert [(f.value, f.label, f.note) for f in by_the_numbers(models)] == [
        ("4 of 5", "trending models with a task are specialised", "1 more has no task on the Hub"),
        (
            "2B",
            "average parameter count of a specialised model",
            "3 of the 4 specialised models publish a size",
        ),
        ("2", "domains the specialised models cover", "speech recognition and object detection"),
    ]


def test_a_figure_over_fewer_than_three_values_is_left_out() -> None:
    two_sized = [
        model("a", "object-detection", 10**9),
        model("b", "object-detection", 2 * 10**9),
        model("c", "object-detection", None),
    ]
    figures = {f.label: f for f in by_the_numbers(two_sized)}
    assert "average parameter count of a specialised model" not in figures  # 2 sizes only
    assert figures["trending models are specialised"].value == "3 of 3"
    assert figures["domain the specialised models cover"].value == "1"
    assert by_the_numbers(two_sized[:2]) == []  # two models: no share, no domains either
    assert by_the_numbers([]) == []


def test_editorial_lead_wins_and_sections_follow_the_sample() -> None:
    gathered = Gathering(
        models=[model("small", "object-detection", 10**9, score=5), model("big", None, None, 9)],
        papers=[
            PaperItem(
                id="1",
                title="Low",
                summary="Meh. More.",
                url="https://x.example.com/1",
                authors=("A",),
                source="arXiv",
                upvotes=1,
            ),
            PaperItem(
                id="2",
                title="High",
                summary="Great result. Details.",
                url="https://x.example.com/2",
                authors=("B",),
                source="HF",
                upvotes=9,
            ),
        ],
        editorial=[
            EditorialPiece(
                section="lead", title="Lead", body_html="<p>x</p>", summary="Sum", score=8
            ),
            EditorialPiece(section="deep-dive", title="Deep", body_html="<p>y</p>", pull_quote="Q"),
            EditorialPiece(
                section="opinion", title="Op", body_html="<p>z</p>", column="Guest Column"
            ),
        ],
        weather=WeatherReport(city="Manchester", temperature_c=6.1, condition="Overcast"),
    )
    issue = assemble(gathered, date=DAY, number=28, city="Manchester, United Kingdom")
    assert issue.lead is not None
    assert (issue.lead.title, issue.lead.score, issue.subject) == ("Lead", 8, "Lead \u00b7 25 Feb")
    # the preheader teases the other sections, never the lead's standfirst
    assert issue.preheader == "Also inside: big in Tools of the Week; Further Reading: High."
    assert issue.deep_dive is not None
    assert issue.deep_dive.pull_quote == "Q"
    assert [o.kicker for o in issue.opinions] == ["Guest Column"]
    assert [t.name for t in issue.tools] == ["big", "small"]  # by trending score
    assert issue.tools[1].size == "1B\u00a0parameters"  # never broken across lines
    assert issue.tools[1].description == "Object detection"  # no card: the task in words
    assert issue.tools[1].task == ""  # and not said twice
    assert issue.tools[1].popularity == "10\u00a0likes \u00b7 100\u00a0downloads"
    assert issue.tools[0].size == ""  # unknown, not zero
    assert [r.title for r in issue.reading] == ["High", "Low"]  # by upvotes
    assert issue.reading[0].description == "Great result. Details."  # two sentences of it
    assert issue.reading[0].source == "HF \u00b7 9 upvotes"
    assert issue.reading_heading == "Further Reading"  # a Wednesday
    assert issue.masthead.weather is not None
    assert issue.masthead.weather.condition == "Overcast"


def test_without_editorial_the_lead_states_only_facts_from_the_data() -> None:
    top = model("top", "object-detection", 2 * 10**9, score=10)
    issue = assemble(
        Gathering(models=[top, model("next", None, None)]), date=DAY, number=1, city="Manchester"
    )
    assert issue.lead is not None
    assert issue.lead.title == "top tops today's Hugging Face trending chart"
    assert "org/" not in issue.lead.title  # a headline never names a repository id
    assert "It has 2B parameters, 10 likes and 100 downloads." in issue.lead.body_html
    assert "number one" in issue.lead.body_html or "most-trending" in issue.lead.body_html
    assert [link.url for link in issue.lead.links] == ["https://huggingface.co/org/top"]
    assert issue.lead.score == 2  # base 1 + holds the number one
    assert issue.deep_dive is None
    assert issue.opinions == []


def test_an_editor_lead_without_a_score_gets_the_clusters_score() -> None:
    gathered = Gathering(
        models=[model("a", "object-detection", None, 3), model("b", "object-detection", None)],
        editorial=[EditorialPiece(section="lead", title="Lead", body_html="<p>x</p>")],
    )
    issue = assemble(gathered, date=DAY, number=1, city="Manchester")
    assert issue.lead is not None
    assert (issue.lead.title, issue.lead.score) == ("Lead", 3)  # 1 + one more model + number one


def test_an_empty_day_gives_an_issue_with_nothing_invented() -> None:
    issue = assemble(Gathering(), date=DAY, number=3, city="Manchester")
    assert issue.lead is None
    assert (issue.numbers, issue.tools, issue.reading) == ([], [], [])
    assert issue.masthead.weather is None
    assert issue.subject == "The AI Morning Post \u2014 25 February 2026"
    assert issue.news == []
    assert issue.preheader == "The AI Morning Post for 25 February 2026"
    assert issue.preheader != issue.masthead.tagline
