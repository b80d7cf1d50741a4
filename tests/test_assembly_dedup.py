"""Each item once: within the issue, and against what the last seven issues featured."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.assembly import history
from pipeline.assembly.assemble import assemble
from pipeline.assembly.dedup import Seen, canonical_url, clean_url, paper_key, title_key, unique
from pipeline.sources.items import Gathering, ModelItem, NewsItem, PaperItem
from pipeline.workspace import DataDir

DAY = dt.date(2026, 2, 25)


def model(name: str, score: float = 1.0, task: str = "object-detection") -> ModelItem:
    return ModelItem(
        id=f"org/{name}",
        author="org",
        url=f"https://huggingface.co/org/{name}",
        likes=1,
        downloads=1,
        trending_score=score,
        pipeline_tag=task,
        tags=(),
    )


def paper(pid: str, title: str, url: str, upvotes: int = 0) -> PaperItem:
    return PaperItem(
        id=pid, title=title, summary="S.", url=url, authors=(), source="src", upvotes=upvotes
    )


def news(title: str, url: str) -> NewsItem:
    return NewsItem(title=title, url=url, summary="S.", source="feed")


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "https://example.com/post",
        "https://EXAMPLE.com/post/",
        "https://example.com/post?utm_source=rss&utm_medium=feed",
        "https://example.com/post?fbclid=abc",
        "https://example.com/post?gclid=1&ref=newsletter",
        "https://example.com/post#comments",
        "HTTPS://example.com/post/?UTM_Campaign=x#top",
    ],
)
def test_canonical_url_folds_tracking_case_slash_and_fragment(variant: str) -> None:
    assert canonical_url(variant) == "https://example.com/post"


def test_canonical_url_keeps_what_names_the_page() -> None:
    assert canonical_url("https://x.com/a?id=2&page=1") == canonical_url(
        "https://x.com/a?page=1&id=2"
    )
    assert canonical_url("https://x.com/a?id=2") != canonical_url("https://x.com/a?id=3")
    assert canonical_url("https://x.com/A") != canonical_url(
        "https://x.com/a"
    )  # paths are case-sensitive


def test_clean_url_drops_tracking_only_and_only_allows_http() -> None:
    assert clean_url("https://x.com/a?utm_source=rss&id=7#s") == "https://x.com/a?id=7#s"
    assert clean_url("https://x.com/a?q=a%20b") == "https://x.com/a?q=a%20b"  # untouched
    for bad in ("javascript:alert(1)", "data:text/html,x", "mailto:a@b.c", "//x.com/a", "/a"):
        assert clean_url(bad) is None


def test_title_key_folds_case_punctuation_and_width_but_keeps_scripts() -> None:
    assert title_key("Fine-tuning  Whisper: for ARABIC!") == title_key(
        "fine tuning whisper for arabic"
    )
    assert title_key("\uff21\uff22\uff23") == title_key("abc")  # full-width forms
    assert title_key("مراجعة النماذج الصغيرة؟") == "مراجعة النماذج الصغيرة"
    assert title_key("שלום עולם") != title_key("עולם שלום")


@given(st.text(max_size=60))
def test_title_key_is_idempotent(text: str) -> None:
    assert title_key(title_key(text)) == title_key(text)


def test_paper_keys_join_hub_and_arxiv_links() -> None:
    keys = {
        paper_key("https://huggingface.co/papers/2602.16001"),
        paper_key("http://arxiv.org/abs/2602.16001v2"),
        paper_key("https://arxiv.org/pdf/2602.16001v1.pdf"),
    }
    assert keys == {"paper:2602.16001"}
    assert paper_key("https://example.com/2602.16001") == ""


# --- within the issue ------------------------------------------------------------------------


def test_within_the_issue_each_item_appears_once() -> None:
    gathered = Gathering(
        models=[model("a"), model("a"), model("b")],
        papers=[
            paper("2602.1", "Small Models Win", "https://arxiv.org/abs/2602.1"),
            paper("2602.1", "Small models win", "https://huggingface.co/papers/2602.1", 40),
            paper("2602.2", "Other", "https://arxiv.org/abs/2602.2"),
        ],
        news=[
            news("Story", "https://news.example/s?utm_source=rss"),
            news("Story, again", "https://NEWS.example/s/"),
            news("Same title", "https://one.example/x"),
            news("SAME  title!", "https://two.example/y"),
        ],
    )
    result = unique(gathered)
    assert [m.id for m in result.models] == ["org/a", "org/b"]
    # the Hub's listing (with its votes) wins over the arXiv one of the same paper
    assert [p.url for p in result.papers] == [
        "https://huggingface.co/papers/2602.1",
        "https://arxiv.org/abs/2602.2",
    ]
    assert [n.url for n in result.news] == [
        "https://news.example/s?utm_source=rss",
        "https://one.example/x",
    ]


def test_a_news_item_repeating_a_paper_is_dropped() -> None:
    gathered = Gathering(
        papers=[paper("2602.9", "A Paper", "https://huggingface.co/papers/2602.9", 3)],
        news=[news("Blog about it", "https://arxiv.org/abs/2602.9v1")],
    )
    assert unique(gathered).news == []


def test_unique_does_not_modify_what_it_is_given() -> None:
    already = Seen()
    already.add(url="https://huggingface.co/org/a")
    assert [m.id for m in unique(Gathering(models=[model("a"), model("b")]), already).models] == [
        "org/b"
    ]
    assert already.urls == {"https://huggingface.co/org/a"}


# --- against recent issues -------------------------------------------------------------------


def write_issue(data_dir: Path, date: str, **sections: object) -> None:
    folder = data_dir / "issues" / date
    folder.mkdir(parents=True)
    (folder / "issue.json").write_text(json.dumps({"date": date, **sections}), encoding="utf-8")


def test_history_reads_the_seven_latest_issues_before_the_date(tmp_path: Path) -> None:
    for day in range(10, 26):  # 2026-02-10 .. 2026-02-25
        write_issue(tmp_path, f"2026-02-{day:02d}")
    (tmp_path / "issues" / "notes").mkdir()
    files = history.recent_issue_files(DataDir(tmp_path), DAY)
    assert [f.parent.name for f in files] == [f"2026-02-{d}" for d in range(24, 17, -1)]
    assert history.recent_issue_files(DataDir(tmp_path / "nothing-here"), DAY) == []


def test_history_collects_lead_links_tools_and_reading(tmp_path: Path) -> None:
    write_issue(
        tmp_path,
        "2026-02-24",
        lead={"links": [{"title": "org/lead", "url": "https://huggingface.co/org/lead"}]},
        tools=[{"name": "tool", "url": "https://huggingface.co/org/tool?utm_source=x"}],
        reading=[{"title": "Read Me", "url": "https://huggingface.co/papers/2602.5"}],
    )
    seen = history.featured_before(DataDir(tmp_path), DAY)
    assert seen.has(url="https://huggingface.co/org/lead")
    assert seen.has(url="https://huggingface.co/org/tool")
    assert seen.has(title="read me")
    assert seen.has(url="https://arxiv.org/abs/2602.5")  # same paper, other site
    assert not seen.has(title="tool")  # a tool's short name is not a title


def test_a_broken_draft_in_history_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_issue(tmp_path, "2026-02-23", tools=[{"url": "https://huggingface.co/org/a"}])
    broken = tmp_path / "issues" / "2026-02-24"
    broken.mkdir(parents=True)
    (broken / "issue.json").write_text("{not json", encoding="utf-8")
    write_issue(tmp_path, "2026-02-22", tools="not a list", reading=[1, None])

    with caplog.at_level(logging.WARNING, logger="pipeline.assembly.history"):
        seen = history.featured_before(DataDir(tmp_path), DAY)

    assert seen.has(url="https://huggingface.co/org/a")
    assert "2026-02-24" in caplog.text


def test_items_of_recent_issues_are_not_featured_again_but_still_counted(tmp_path: Path) -> None:
    write_issue(
        tmp_path,
        "2026-02-24",
        tools=[{"name": "a", "url": "https://huggingface.co/org/a"}],
        reading=[{"title": "Old Paper", "url": "https://huggingface.co/papers/2602.1"}],
    )
    gathered = Gathering(
        models=[model("a", 9), model("b", 5)],
        papers=[
            paper("2602.1", "Old Paper", "https://huggingface.co/papers/2602.1", 90),
            paper("2602.2", "New Paper", "https://huggingface.co/papers/2602.2", 10),
        ],
    )
    featured = history.featured_before(DataDir(tmp_path), DAY)
    issue = assemble(gathered, date=DAY, number=2, city="Manchester", featured=featured)

    assert [t.name for t in issue.tools] == ["b"]
    assert [r.title for r in issue.reading] == ["New Paper"]
    assert issue.lead is not None
    assert issue.lead.links[0].url == "https://huggingface.co/org/b"
    # By the Numbers describes the whole day's chart, featured before or not
    # (two models: too few values for any figure, so the chart's share is left out)
    assert issue.numbers == []


def test_the_same_date_is_not_its_own_history(tmp_path: Path) -> None:
    write_issue(tmp_path, "2026-02-25", tools=[{"url": "https://huggingface.co/org/a"}])
    write_issue(tmp_path, "2026-02-26", tools=[{"url": "https://huggingface.co/org/b"}])
    seen = history.featured_before(DataDir(tmp_path), DAY)
    assert seen.urls == set()
