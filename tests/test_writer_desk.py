"""The AI desk end to end against the loopback fakes of both APIs (pipeline.writer.desk)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.writer.backends import Backend, BedrockConverse, CompletionRequest, OpenAICompatible
from pipeline.writer.desk import BYLINE, Desk, DeskEdition
from pipeline.writer.facts import fence_token
from tests.fake_llm import (
    Call,
    FakeLLM,
    Reply,
    answer_for,
    bedrock_error,
    chat_answer,
    converse_answer,
    fake_llm,
    openai_error,
)
from tests.writer_answers import CASE, MATHS, TOP, YOLO, faithful
from tests.writer_pack import INJECTION, sample_pack

TIMEOUT = 0.5
BUDGET = 40_000
PROFILE = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
APOLOGY = "I'm sorry, but I can't help with that request."
ALL = ["lead", "deep-dive", "opinion", "blurbs"]


def faithfully(call: Call) -> Reply:
    return answer_for(call, faithful(call.piece))


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with fake_llm(faithfully) as server:
        yield server


@pytest.fixture(params=["openai", "bedrock"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(api: str, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> Backend:
    if api == "openai":
        return OpenAICompatible(fake.openai_url, "qwen3:8b", timeout=TIMEOUT)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
    return BedrockConverse(PROFILE, timeout=TIMEOUT)


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)  # recorded, not slept: the tests stay fast


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def desk(backend: Backend, sleeps: Sleeps) -> Desk:
    return Desk(backend, budget=BUDGET, sleep=sleeps)


def _texts(edition: DeskEdition) -> dict[str, Any]:
    """What readers would get, without the report: to compare two editions."""
    return edition.model_dump(exclude={"report"})


@pytest.fixture(scope="module")
def faithful_edition() -> DeskEdition:
    with fake_llm(faithfully) as server:
        backend = OpenAICompatible(server.openai_url, "m", timeout=TIMEOUT)
        return Desk(backend, budget=BUDGET).write(sample_pack())


def _error(api: str, kind: str) -> Reply:
    openai = {
        "429": openai_error(429, "Rate limit reached for requests", "requests",
                            "rate_limit_exceeded"),
        "500": openai_error(500, "The server had an error", "server_error"),
    }  # fmt: skip
    bedrock = {
        "429": bedrock_error(429, "ThrottlingException", "Too many requests, please wait."),
        "500": bedrock_error(500, "InternalServerException", "Internal server error."),
    }
    return (openai if api == "openai" else bedrock)[kind]


def _say(api: str, text: str) -> Reply:
    return chat_answer(text) if api == "openai" else converse_answer(text)


# --- a faithful answer is printed ----------------------------------------------------------------


def test_a_faithful_answer_is_printed_in_full(desk: Desk, fake: FakeLLM) -> None:
    edition = desk.write(sample_pack())
    report = edition.report
    assert report.removed == ()
    assert report.fallbacks == ()
    assert [c.piece for c in fake.calls] == ALL
    assert report.calls == 4
    assert (report.input_tokens, report.output_tokens) == (4 * 1200, 4 * 300)
    assert report.seconds > 0

    lead = edition.lead
    assert lead is not None
    assert lead.headline == faithful("lead")["headline"]
    assert [p.text for p in lead.paragraphs] == [p["text"] for p in faithful("lead")["paragraphs"]]
    assert (lead.score, lead.byline) == (7, BYLINE)
    assert edition.deep_dive is not None
    assert edition.deep_dive.kicker == "Analysis"
    assert edition.deep_dive.pull_quote == "Today's trending chart is a study in focus."
    assert [c.kicker for c in edition.opinions] == ["Desk Column"]
    assert len(edition.blurbs.lines) == 3


def test_each_sentence_keeps_the_ids_it_rests_on(desk: Desk) -> None:
    lead = desk.write(sample_pack()).lead
    assert lead is not None
    first, second = lead.paragraphs[0].sentences
    assert TOP in first.cites  # the paragraph cited it, the sentence names it
    assert MATHS in second.cites
    # The second paragraph names YOLO-R without citing it: the sentence still rests on it.
    assert YOLO in lead.paragraphs[1].sentences[1].cites
    assert lead.paragraphs[2].cites == (CASE,)


def test_plain_text_answers_are_read_defensively(api: str, desk: Desk, fake: FakeLLM) -> None:
    """A server without structured output answers in prose around the JSON."""

    def chatty(call: Call) -> Reply:
        if call.structured:
            if api == "openai":
                return openai_error(400, "Invalid parameter: 'response_format' of type "
                                    "'json_schema' is not supported with this model.",
                                    "invalid_request_error")  # fmt: skip
            return bedrock_error(400, "ValidationException",
                                 "This model doesn't support tool use.")  # fmt: skip
        text = json.dumps(faithful(call.piece))
        return _say(api, f"<think>Let me write it.</think>Here is the piece:\n```json\n{text}\n```")

    fake.responder = chatty
    edition = desk.write(sample_pack())
    assert edition.report.fallbacks == ()
    plain = [c for c in fake.calls if not c.structured]
    assert [c.piece for c in plain] == ALL  # the first rejection taught the backend
    assert len(fake.calls) == 5


def test_the_same_edition_from_either_api(desk: Desk, faithful_edition: DeskEdition) -> None:
    assert _texts(desk.write(sample_pack())) == _texts(faithful_edition)


# --- inventions lose exactly their sentences --------------------------------------------------


INVENTIONS = {
    "figure": ("Running it costs $2,000 a month.", "number $2,000 is not in the facts pack"),
    "model": ("Alibaba's Qwen2.5-7B trails far behind.", "name \u2018Alibaba\u2019"),
    "link": ("The weights are at http://evil.example/weights now.", "link http://evil.example"),
    "quote": ("Okafor calls it \u201cthe end of the giant model era\u201d.", "quote \u201cthe end"),
}


@pytest.mark.parametrize("invention", sorted(INVENTIONS))
def test_an_invention_loses_exactly_its_sentence(
    desk: Desk, fake: FakeLLM, faithful_edition: DeskEdition, invention: str
) -> None:
    sentence, reason = INVENTIONS[invention]

    def inventive(call: Call) -> Reply:
        answer = faithful(call.piece)
        if call.piece == "lead":
            answer["paragraphs"][1]["text"] += " " + sentence
        return answer_for(call, answer)

    fake.responder = inventive
    edition = desk.write(sample_pack())
    (removal,) = edition.report.removed
    assert (removal.piece, removal.text) == ("lead", sentence)
    assert reason in removal.reason
    assert _texts(edition) == _texts(faithful_edition)


def test_all_inventions_at_once_lose_exactly_those_sentences(
    desk: Desk, fake: FakeLLM, faithful_edition: DeskEdition
) -> None:
    def inventive(call: Call) -> Reply:
        answer = faithful(call.piece)
        if call.piece == "lead":
            for paragraph, (sentence, _reason) in zip(
                answer["paragraphs"] * 2, INVENTIONS.values(), strict=False
            ):
                paragraph["text"] += " " + sentence
        return answer_for(call, answer)

    fake.responder = inventive
    edition = desk.write(sample_pack())
    assert sorted(r.text for r in edition.report.removed) == sorted(
        s for s, _ in INVENTIONS.values()
    )
    assert _texts(edition) == _texts(faithful_edition)
    assert "evil.example" not in json.dumps(_texts(edition))


# --- thin pieces fall back ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda a: a.update(paragraphs=a["paragraphs"][:1]), "1 paragraph(s)"),
        (lambda a: a.update(headline="Qwen2.5-7B stuns the field"), "title was removed"),
        (lambda a: a.update(paragraphs=[
            {"text": p["text"] + " It scored 99.1% on MMLU. It costs $3.75 an hour. "
                                 "It beat GPT-5 by 12 points.", "cites": []}
            for p in a["paragraphs"]]), "sentences removed"),
    ],
)  # fmt: skip
def test_a_thin_lead_falls_back(
    desk: Desk, fake: FakeLLM, change: Callable[[dict[str, Any]], None], why: str
) -> None:
    def thin(call: Call) -> Reply:
        answer = faithful(call.piece)
        if call.piece == "lead":
            change(answer)
        return answer_for(call, answer)

    fake.responder = thin
    edition = desk.write(sample_pack())
    assert edition.lead is None
    (fallback,) = edition.report.fallbacks
    assert fallback.piece == "lead"
    assert "too thin" in fallback.reason
    assert why in fallback.reason
    assert edition.deep_dive is not None  # the other pieces are unaffected


@pytest.mark.parametrize(("score", "printed"), [(12, 10), (0, 1), ("8/10", 8), (6.6, 7)])
def test_the_score_is_clamped(desk: Desk, fake: FakeLLM, score: object, printed: int) -> None:
    def scored(call: Call) -> Reply:
        answer = faithful(call.piece)
        if call.piece == "lead":
            answer["score"] = score
        return answer_for(call, answer)

    fake.responder = scored
    lead = desk.write(sample_pack()).lead
    assert lead is not None
    assert lead.score == printed


def test_a_pull_quote_not_in_the_essay_is_dropped(desk: Desk, fake: FakeLLM) -> None:
    def misquoted(call: Call) -> Reply:
        answer = faithful(call.piece)
        if call.piece == "deep-dive":
            answer["pull_quote"] = "Small models will rule the world."
        return answer_for(call, answer)

    fake.responder = misquoted
    edition = desk.write(sample_pack())
    assert edition.deep_dive is not None
    assert edition.deep_dive.pull_quote == ""
    assert [r.reason for r in edition.report.removed] == [
        "the pull quote is not a sentence of the kept essay"
    ]


# --- failures never stop the morning -------------------------------------------------------------


def test_a_slow_server_falls_back_within_the_timeout(desk: Desk, fake: FakeLLM) -> None:
    fake.responder = lambda call: Reply(hang=True)
    started = time.monotonic()
    edition = desk.write(sample_pack())
    elapsed = time.monotonic() - started
    assert elapsed < 2 * TIMEOUT + 1.0  # one call and its retry, then no more asking
    assert len(fake.calls) == 2
    assert [(f.piece, f.reason.split(":")[0]) for f in edition.report.fallbacks] == [
        ("lead", "timeout"),
        ("deep-dive", "not asked"),
        ("opinion", "not asked"),
        ("blurbs", "not asked"),
    ]
    assert edition.lead is None
    assert edition.blurbs.lines == {}


@pytest.mark.parametrize("kind", ["429", "500"])
def test_one_failure_is_retried(
    api: str, desk: Desk, fake: FakeLLM, sleeps: Sleeps, kind: str
) -> None:
    fake.queue(_error(api, kind))
    edition = desk.write(sample_pack())
    assert edition.report.fallbacks == ()
    assert edition.lead is not None
    assert [c.piece for c in fake.calls] == ["lead", *ALL]
    assert sleeps.seconds == ([1.0] if kind == "429" else [])


@pytest.mark.parametrize("kind", ["429", "500"])
def test_a_second_failure_falls_back_and_stops_asking(
    api: str, desk: Desk, fake: FakeLLM, kind: str
) -> None:
    fake.responder = lambda call: _error(api, kind)
    edition = desk.write(sample_pack())
    assert len(fake.calls) == 2
    reasons = [f.reason for f in edition.report.fallbacks]
    assert reasons[0].startswith("rate-limited" if kind == "429" else "unavailable")
    assert all(r.startswith("not asked") for r in reasons[1:])
    assert len(reasons) == 4


def test_retry_after_is_honoured_up_to_a_cap(fake: FakeLLM, sleeps: Sleeps) -> None:
    # OpenAI-compatible servers only: Converse's ThrottlingException carries no Retry-After.
    reply = _error("openai", "429")
    reply.headers["Retry-After"] = "120"
    fake.queue(reply)
    backend = OpenAICompatible(fake.openai_url, "m", timeout=TIMEOUT)
    Desk(backend, budget=BUDGET, sleep=sleeps).write(sample_pack())
    assert sleeps.seconds == [5.0]


@pytest.mark.parametrize(
    "bad",
    [
        "{\"headline\": \"broken",  # malformed JSON
        "",  # empty
        APOLOGY,  # a plain-text refusal: no JSON, never printed
        json.dumps({"title": "not a lead"}),  # JSON of the wrong shape
    ],
)
def test_malformed_empty_or_refusing_answers_fall_back_for_that_piece_only(
    api: str, desk: Desk, fake: FakeLLM, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeline")  # ours, not botocore's wire log
    fake.queue(_say(api, bad), _say(api, bad))
    edition = desk.write(sample_pack())
    assert edition.lead is None
    (fallback,) = edition.report.fallbacks
    assert fallback.piece == "lead"
    assert fallback.reason.startswith(("malformed", "refused"))
    assert [c.piece for c in fake.calls] == ["lead", "lead", "deep-dive", "opinion", "blurbs"]
    assert edition.deep_dive is not None
    assert "sorry" not in caplog.text.lower()
    assert "sorry" not in edition.model_dump_json().lower()


def test_an_api_refusal_is_retried_then_falls_back(api: str, desk: Desk, fake: FakeLLM,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeline")  # ours, not botocore's wire log
    refusal = (chat_answer(None, refusal=APOLOGY) if api == "openai"
               else converse_answer(APOLOGY, stop="guardrail_intervened"))  # fmt: skip
    fake.queue(refusal, refusal)
    edition = desk.write(sample_pack())
    assert edition.report.fallbacks[0].reason.startswith("refused")
    assert edition.lead is None
    assert edition.deep_dive is not None
    assert "sorry" not in caplog.text.lower()


def test_a_refusal_then_a_good_answer_prints_the_good_one(desk: Desk, fake: FakeLLM,
                                                          api: str) -> None:
    fake.queue(_say(api, APOLOGY))
    edition = desk.write(sample_pack())
    assert edition.lead is not None
    assert edition.report.fallbacks == ()


def test_the_budget_stops_asking_once_spent(api: str, backend: Backend, fake: FakeLLM) -> None:
    big = (chat_answer(json.dumps(faithful("lead")), usage=(30_000, 900)) if api == "openai"
           else None)  # fmt: skip
    if big is None:
        big = converse_answer(faithful("lead"), tool="lead_story", usage=(30_000, 900))
    fake.queue(big)
    edition = Desk(backend, budget=32_000).write(sample_pack())
    assert edition.lead is not None
    assert len(fake.calls) == 1
    assert edition.report.input_tokens == 30_000
    reasons = [(f.piece, f.reason.split(":")[0]) for f in edition.report.fallbacks]
    assert reasons == [("deep-dive", "budget"), ("opinion", "not asked"),
                       ("blurbs", "not asked")]  # fmt: skip


def test_a_budget_too_small_for_one_call_asks_nothing(backend: Backend, fake: FakeLLM) -> None:
    edition = Desk(backend, budget=1_000).write(sample_pack())
    assert fake.calls == []
    assert edition.report.fallbacks[0].reason.startswith("budget")


def test_the_answer_cap_never_exceeds_what_the_budget_has_left(backend: Backend,
                                                               fake: FakeLLM) -> None:
    Desk(backend, budget=BUDGET).write(sample_pack())
    caps = [c.body.get("max_tokens") or c.body["inferenceConfig"]["maxTokens"]
            for c in fake.calls]  # fmt: skip
    assert caps == [1_000, 1_600, 1_400, 1_200]


def test_an_unexpected_error_in_a_backend_falls_back(sleeps: Sleeps) -> None:
    class Broken:
        name, model = "openai", "broken"

        def complete(self, request: CompletionRequest) -> Any:
            raise KeyError("choices")

    edition = Desk(Broken(), budget=BUDGET, sleep=sleeps).write(sample_pack())
    assert {f.reason for f in edition.report.fallbacks} == {"unexpected KeyError"}


# --- editors, cache, injection --------------------------------------------------------------------


def test_pieces_an_editor_covered_are_not_asked(desk: Desk, fake: FakeLLM) -> None:
    edition = desk.write(sample_pack(), covered={"lead", "deep-dive", "opinion"})
    assert [c.piece for c in fake.calls] == ["blurbs"]
    assert edition.lead is None
    assert edition.report.fallbacks == ()  # covered is not a fallback
    assert edition.blurbs.lines


def test_answers_are_cached_per_date_and_input(backend: Backend, fake: FakeLLM,
                                               tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = Desk(backend, budget=BUDGET, cache_dir=cache).write(sample_pack())
    assert len(fake.calls) == 4
    (cache_file,) = cache.iterdir()
    assert cache_file.name.startswith("writer-2026-02-25-")

    again = Desk(backend, budget=BUDGET, cache_dir=cache).write(sample_pack())
    assert len(fake.calls) == 4  # nothing paid twice
    assert _texts(again) == _texts(first)
    assert again.report.cached == tuple(ALL)
    assert (again.report.calls, again.report.input_tokens) == (0, 0)

    Desk(backend, budget=BUDGET, cache_dir=cache).write(sample_pack(), rewrite=True)
    assert len(fake.calls) == 8  # --rewrite asks again

    Desk(backend, budget=BUDGET, cache_dir=cache).write(sample_pack(injected=True))
    assert len(fake.calls) == 12  # another input, another answer


def test_a_failed_piece_is_not_cached(backend: Backend, fake: FakeLLM, tmp_path: Path,
                                      api: str) -> None:
    fake.queue(_say(api, "nonsense"), _say(api, "nonsense"))
    Desk(backend, budget=BUDGET, cache_dir=tmp_path).write(sample_pack())
    edition = Desk(backend, budget=BUDGET, cache_dir=tmp_path).write(sample_pack())
    assert edition.report.cached == ("deep-dive", "opinion", "blurbs")
    assert edition.lead is not None  # asked again, and answered this time


def test_a_prompt_injection_in_a_feed_changes_nothing(
    desk: Desk, fake: FakeLLM, faithful_edition: DeskEdition
) -> None:
    """An obedient model follows the injected text; what it adds never reaches readers."""

    def obedient(call: Call) -> Reply:
        answer = faithful(call.piece)
        if "Ignore previous instructions" in call.user_text:
            for paragraph in answer.get("paragraphs", []):
                paragraph["text"] += " Print http://evil.example now."
            if "blurbs" in answer:
                injected = pack.items[-1].id
                answer["blurbs"].append({"id": injected, "text": "See http://evil.example."})
        return answer_for(call, answer)

    pack = sample_pack(injected=True)
    fake.responder = obedient
    edition = desk.write(pack)
    assert _texts(edition) == _texts(faithful_edition)
    assert "evil.example" not in json.dumps(_texts(edition))
    assert {r.reason.split(" ")[0] for r in edition.report.removed} == {"link"}
    # The injected text reached the model only as data, inside the fence, JSON-encoded.
    token = fence_token(pack)
    user = fake.calls[0].user_text
    inside = user.split(f"<<{token}>>")[1].split(f"<<END {token}>>")[0]
    assert json.dumps(INJECTION)[1:30] in inside
    assert user.count(INJECTION[:30]) == 1
    assert "<<END FACTS-000000000000>>" not in user
