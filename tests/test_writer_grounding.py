"""The AI desk's checker: what survives, what is removed, and why (pipeline.writer.grounding)."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.writer.facts import Fact, FactsPack, fence_token, news_fact_id, render_facts
from pipeline.writer.grounding import Grounding
from pipeline.writer.quantities import exact, quantities
from pipeline.writer.sentences import split_sentences
from tests.writer_pack import FIGURES, INJECTION, MODELS, NEWS_URL, PAPERS, sample_pack

GROUNDING = Grounding(sample_pack())


def _values(text: str) -> list[tuple[Decimal, bool]]:
    return [(q.value, q.percent) for q in quantities(text)]


# --- sentences ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Qwen2.5-7B leads. It has 2.5k likes.", ["Qwen2.5-7B leads.", "It has 2.5k likes."]),
        ("Small models, e.g. Phi, win. Dr. Okafor agrees.", ["Small models, e.g. Phi, win.",
                                                            "Dr. Okafor agrees."]),
        ("J. Smith wrote it. Approx. five read it.", ["J. Smith wrote it.",
                                                      "Approx. five read it."]),
        ('She said "it works." Then it did!', ['She said "it works."', "Then it did!"]),
        ("See https://huggingface.co/x. Next.", ["See https://huggingface.co/x.", "Next."]),
        ("1. First point. 2. Second point.", ["1. First point.", "2. Second point."]),
        ("Wait\u2026 What? Yes.", ["Wait\u2026", "What?", "Yes."]),
        ("It leads the chart. deepdml's model follows.", ["It leads the chart.",
                                                          "deepdml's model follows."]),
    ],
)
def test_sentences_split_at_real_ends_only(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["15,230", "15230", "15.2k", "15.23k", "15k"])
def test_one_figure_however_written(written: str) -> None:
    (mention,) = quantities(f"It has {written} likes.")
    assert mention.stands_for(exact(15230))


@pytest.mark.parametrize("written", ["15,200", "15.3k", "16k", "15,231"])
def test_a_different_or_falsely_exact_figure_is_not_it(written: str) -> None:
    (mention,) = quantities(f"It has {written} likes.")
    assert not mention.stands_for(exact(15230))


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("7.6B params", [(Decimal("7.6e9"), False)]),
        ("7.6 billion", [(Decimal("7.6e9"), False)]),
        ("7,600,000,000", [(Decimal("7600000000"), False)]),
        ("42% and 3 per cent", [(Decimal(42), True), (Decimal(3), True)]),
        ("in 2024-2025", [(Decimal(2024), False), (Decimal(2025), False)]),
        ("a 4-bit, 70-billion-parameter model", [(Decimal(4), False), (Decimal("7e10"), False)]),
        ("1B-7B models", [(Decimal("1e9"), False), (Decimal("7e9"), False)]),
        ("4/5 trend, 3rd place, 2x faster, $2,000", [(Decimal(4), False), (Decimal(5), False),
                                                     (Decimal(3), False), (Decimal(2), False),
                                                     (Decimal(2000), False)]),
        ("Qwen2.5-7B, GPT-4o, H100 and COVID-19", []),
        ("one of two papers", []),
        ("see https://arxiv.org/abs/2602.14417 now", []),
    ],
)
def test_numbers_are_found_and_normalised(text: str, values: list[tuple[Decimal, bool]]) -> None:
    assert _values(text) == values


def test_a_percentage_is_not_a_count() -> None:
    (mention,) = quantities("18 likes")
    assert not mention.stands_for(exact(18, percent=True))


# --- the checker, case by case -------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "HayatoHongo/everyoneschat-checkpoints leads the chart with 212 likes and 1,843 downloads.",
        "anujjamwal's OpenMath-Nemotron-1.5B has 1.5B parameters and 9.4k downloads.",
        "deepdml's Arabic-focused Whisper model is third on the Hugging Face Hub.",
        "Specialised models hold 4/5 of the chart, or 80%, across 3 domains.",
        "See [the paper](https://huggingface.co/papers/2602.14417) for details.",
        'Read it at <a href="https://huggingface.co/papers/2602.15230">the Hub</a>.',
        "Mira Okafor and colleagues write that \u201cSpecialised small models match or exceed "
        "the generalists on in-domain tasks\u201d.",
        "The Case for Small Language Models in Domain-Specific Deployment compares 1B-7B models.",
        "Rosa Delgado of The AI Dispatch reported it on 24 February 2026.",
        "1. Leading the pack is ModelFarm/YOLO-R.",
        "Today, 4 models and 2 papers make up the day.",
    ],
)
def test_sentences_built_from_the_pack_survive(sentence: str) -> None:
    verdict = GROUNDING.check_sentence(sentence)
    assert verdict.passed, verdict.reason


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("Running it costs $2,000 a month.", "number $2,000 is not in the facts pack"),
        ("It scored 91.2% on MMLU.", "number 91.2% is not in the facts pack"),
        ("This dominated 2024-2025.", "number 2024-2025 is not in the facts pack"),
        ("It has 212,000 likes.", "number 212,000 is not in the facts pack"),
        ("Alibaba's Qwen2.5-7B follows.", "name \u2018Alibaba\u2019 is not in the facts pack"),
        ("Meanwhile, Google DeepMind watches.", "name \u2018Google DeepMind\u2019 is not"),
        ("AMD will be pleased, as will NVIDIA.", "name \u2018AMD\u2019 is not in the facts pack"),
        ("Read more at http://evil.example today.", "link http://evil.example is not one"),
        ("Read [this](https://evil.example/a) now.", "link https://evil.example/a is not one"),
        ('Go <a href="https://huggingface.co/evil">here</a>.', "link https://huggingface.co/evil"),
        ("Visit evil.example for more.", "link evil.example is not one of the facts pack"),
        ("Okafor says \u201csmall models always beat big ones\u201d.", "quote \u201csmall models"),
    ],
)
def test_outside_facts_remove_the_sentence_with_a_reason(sentence: str, reason: str) -> None:
    verdict = GROUNDING.check_sentence(sentence)
    assert not verdict.passed
    assert reason in verdict.reason


def test_links_compare_as_canonical_urls_and_yield_evidence() -> None:
    verdict = GROUNDING.check_sentence(f"Read it at {NEWS_URL.upper().replace('HTTPS', 'https')}/.")
    assert not verdict.passed  # the path's case matters: another page
    verdict = GROUNDING.check_sentence(f"Read it at {NEWS_URL}/?utm_source=x#top.")
    assert verdict.passed, verdict.reason
    assert verdict.evidence == {news_fact_id(NEWS_URL)}


def test_evidence_names_the_items_a_sentence_rests_on() -> None:
    verdict = GROUNDING.check_sentence("YOLO-R and Sara Haddad's paper both concern perception.")
    assert verdict.passed, verdict.reason
    assert verdict.evidence == {"model:ModelFarm/YOLO-R", "paper:2602.15230"}


def test_title_case_headlines_check_only_strong_names() -> None:
    title = "The Specialization Wave: Domain-Specific Models Challenge One-Size-Fits-All Thinking"
    assert GROUNDING.check_sentence(title, title=True).passed
    assert not GROUNDING.check_sentence(title).passed
    assert not GROUNDING.check_sentence("Qwen2.5-7B Takes The Crown", title=True).passed


def test_a_version_inside_a_model_name_is_part_of_the_name() -> None:
    """A lower-case part of a name ("v0.2") is not an adjective to trim off ("Arabic-focused")."""
    repo = "ExampleQuant/Mistral-7B-Instruct-v0.2-GPTQ"
    pack = sample_pack()
    model = MODELS[0].model_copy(update={"id": f"model:{repo}", "name": repo, "org": "x"})
    grounding = Grounding(pack.model_copy(update={"items": (*pack.items, model)}))
    assert grounding.check_sentence(f"{repo} is one of the day's items.").passed
    assert grounding.check_sentence("Mistral-7B-Instruct-v0.2-GPTQ is a quantised copy.").passed
    verdict = grounding.check_sentence("Mistral-7B-Instruct-v0.3-GPTQ is a quantised copy.")
    assert not verdict.passed
    assert GROUNDING.check_sentence("Arabic-focused models trend.").passed


def test_check_text_keeps_and_removes_whole_sentences() -> None:
    checked = GROUNDING.check_text(
        "ModelFarm/YOLO-R trends with 71 likes. It runs at 300 FPS on a phone. "
        "It is fourth on the chart."
    )
    assert checked.text == "ModelFarm/YOLO-R trends with 71 likes. It is fourth on the chart."
    assert [(r.text, r.reason) for r in checked.removed] == [
        (
            "It runs at 300 FPS on a phone.",
            "number 300 is not in the facts pack; name \u2018FPS\u2019 is not in the facts pack",
        )
    ]


def test_old_headlines_ground_nothing() -> None:
    # The last issues' headlines are in the pack so the model does not repeat them, but they
    # are not today's facts.
    verdict = GROUNDING.check_sentence("Yesterday sentence-transformers/all-MiniLM-L6-v2 led.")
    assert not verdict.passed


# --- the facts pack ----------------------------------------------------------------------------


def test_news_ids_are_stable_across_spellings_of_one_url() -> None:
    assert news_fact_id(NEWS_URL) == news_fact_id(NEWS_URL.replace("https://ai", "https://AI")
                                                  + "/?utm_source=feed")
    assert news_fact_id(NEWS_URL) != news_fact_id(NEWS_URL + "-2")


def test_ids_are_unique_and_match_their_kind() -> None:
    with pytest.raises(ValueError, match="not unique"):
        FactsPack(date=sample_pack().date, items=(MODELS[0], MODELS[0]))
    with pytest.raises(ValueError, match="does not start with"):
        Fact(id="paper:1", kind="model", name="x")


def test_rendered_pack_fences_untrusted_text_as_json_data() -> None:
    pack = sample_pack(injected=True)
    block = render_facts(pack)
    token = fence_token(pack)
    lines = block.splitlines()
    assert lines[0] == f"<<{token}>>"
    assert lines[-1] == f"<<END {token}>>"
    assert block.count(f"END {token}") == 1
    data = [json.loads(line) for line in lines[1:-1]]  # every line between fences is JSON
    texts = [d.get("untrusted_text") for d in data if "untrusted_text" in d]
    assert INJECTION in texts  # the same string, as a value, whatever it says
    assert "<<END" not in "\n".join(lines[1:-1])  # no fence-like line can be forged
    assert {d["id"] for d in data if "id" in d} == pack.ids()


def test_the_pack_digest_follows_its_content() -> None:
    assert sample_pack().digest() == sample_pack().digest()
    assert sample_pack().digest() != sample_pack(injected=True).digest()


# --- property: no outside number or link survives ------------------------------------------------


def _spellings(value: int) -> st.SearchStrategy[str]:
    options = [str(value), f"{value:,}"]
    for suffix, scale in (("k", 1e3), ("M", 1e6), ("B", 1e9)):
        if value >= scale:
            options.append(f"{value / scale:.1f}{suffix}")
    return st.sampled_from(options)


@st.composite
def faithful_sentences(draw: st.DrawFn) -> str:
    """A sentence of one to three clauses, each stating a fact of the pack."""
    clauses = [draw(_faithful_clause()) for _ in range(draw(st.integers(1, 3)))]
    return "; ".join(clauses) + "."


@st.composite
def _faithful_clause(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["model", "paper", "figure", "quote", "link"]))
    if kind == "model":
        model = draw(st.sampled_from(MODELS))
        field = draw(st.sampled_from(sorted(model.numbers)))
        number = draw(_spellings(int(model.numbers[field])))
        return f"{model.name} by {model.org} shows {number} ({field})"
    paper = draw(st.sampled_from(PAPERS))
    if kind == "paper":
        upvotes = draw(_spellings(int(paper.numbers["upvotes"])))
        return f"\u201c{paper.name}\u201d by {paper.authors[0]} has {upvotes} upvotes"
    if kind == "figure":
        figure = draw(st.sampled_from(FIGURES))
        return f"the {figure.label.lower()} figure reads {figure.value}"
    if kind == "quote":
        words = paper.text.split()
        start = draw(st.integers(0, len(words) - 4))
        end = draw(st.integers(start + 3, min(len(words), start + 12)))
        return f"{paper.authors[-1]} writes \u201c{' '.join(words[start:end])}\u201d"
    return f"see [{paper.name}]({paper.url})"


_outside_numbers = st.one_of(
    st.integers(100_001, 999_999).flatmap(_spellings),
    st.integers(81, 99).map(lambda n: f"{n}%"),
    st.integers(1950, 2018).map(str),
    st.integers(19, 69).map(lambda n: f"{n}B"),
)
_hosts = st.from_regex(r"[a-z]{3,10}\.(com|io|ai|example|net)", fullmatch=True).filter(
    lambda host: "huggingface" not in host and "ai-dispatch" not in host
)
_outside_links = st.tuples(
    _hosts, st.from_regex(r"[a-z0-9/-]{0,20}", fullmatch=True), st.integers(0, 3)
).map(lambda t: _link(*t))


def _link(host: str, path: str, form: int) -> str:
    url = f"https://{host}/{path}"
    return [url, f"[more]({url})", f'<a href="{url}">more</a>', f"www.{host}"][form]


@given(faithful_sentences())
def test_sentences_of_pack_facts_survive(sentence: str) -> None:
    verdict = GROUNDING.check_sentence(sentence)
    assert verdict.passed, (sentence, verdict.reason)


@given(faithful_sentences(), _outside_numbers | _outside_links, st.integers(0, 20))
def test_an_outside_number_or_link_never_survives(sentence: str, outside: str, at: int) -> None:
    words = sentence.split(" ")
    at = at % (len(words) + 1)
    tainted = " ".join([*words[:at], outside, *words[at:]])
    verdict = GROUNDING.check_sentence(tainted)
    assert not verdict.passed, tainted
    assert re.search(r"^(number|link|quote) |; (number|link|quote) ", verdict.reason)
