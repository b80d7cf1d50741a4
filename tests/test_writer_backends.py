"""The writer's backends against the loopback fake: request shapes, answers, every failure."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from emails.errors import (
    WriterError,
    WriterMalformed,
    WriterRateLimited,
    WriterRefused,
    WriterRejected,
    WriterTimeout,
    WriterTruncated,
    WriterUnavailable,
)
from pipeline.writer.backends import (
    BedrockConverse,
    CompletionRequest,
    OpenAICompatible,
    extract_json,
    make_bedrock_client,
)
from tests.fake_llm import (
    FakeLLM,
    Reply,
    bedrock_error,
    chat_answer,
    converse_answer,
    fake_llm,
    openai_error,
)

SCHEMA = {
    "type": "object",
    "properties": {"headline": {"type": "string"}},
    "required": ["headline"],
    "additionalProperties": False,
}
REQUEST = CompletionRequest(
    system="You write the lead.",
    user="Piece: lead\nFacts follow.",
    schema_name="lead",
    schema=SCHEMA,
    max_tokens=900,
)
ANSWER = {"headline": "ModelFarm/YOLO-R trends"}
PROFILE = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
TIMEOUT = 0.5


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        yield server


@pytest.fixture
def bedrock(fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> BedrockConverse:
    # botocore finds the endpoint the way it would in production: from the environment.
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
    return BedrockConverse(PROFILE, timeout=TIMEOUT)


def _openai(fake: FakeLLM, key: str | None = None) -> OpenAICompatible:
    return OpenAICompatible(fake.openai_url, "qwen3:8b", api_key=key, timeout=TIMEOUT)


# --- JSON out of text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"headline": "x"}',
        'Sure! Here it is:\n```json\n{"headline": "x"}\n```\nHope that helps.',
        '<think>The user wants {json}. Let me think.</think>\n{"headline": "x"}',
        'Answer: {"headline": "x"} -- done',
        'Note {not json} then {"headline": "x"}',
    ],
)
def test_json_is_found_in_plain_text(text: str) -> None:
    assert extract_json(text) == {"headline": "x"}


@pytest.mark.parametrize("text", ["I'm sorry, I can't help with that.", "[1, 2]", '{"a": 1', ""])
def test_no_json_object_is_none(text: str) -> None:
    assert extract_json(text) is None


# --- OpenAI-compatible ---------------------------------------------------------------------------


def test_structured_request_and_answer(fake: FakeLLM) -> None:
    fake.queue(chat_answer(ANSWER, usage=(1500, 120)))
    completion = _openai(fake, key="sk-test-123").complete(REQUEST)
    assert completion.data == ANSWER
    assert (completion.input_tokens, completion.output_tokens) == (1500, 120)
    assert completion.seconds >= 0
    (call,) = fake.calls
    assert call.path == "/v1/chat/completions"
    assert call.headers["Authorization"] == "Bearer sk-test-123"
    assert call.body["model"] == "qwen3:8b"
    assert call.body["max_tokens"] == 900
    assert call.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "lead", "strict": True, "schema": SCHEMA},
    }
    assert [m["role"] for m in call.body["messages"]] == ["system", "user"]


def test_no_key_no_authorization_header(fake: FakeLLM) -> None:
    fake.queue(chat_answer(ANSWER))
    _openai(fake).complete(REQUEST)
    assert "Authorization" not in fake.calls[0].headers


def test_a_server_rejecting_response_format_is_asked_in_plain_text_from_then_on(
    fake: FakeLLM,
) -> None:
    backend = _openai(fake)
    fake.queue(
        openai_error(400, "response_format json_schema is not supported", "invalid_request_error"),
        chat_answer(f"Here you go: {ANSWER}".replace("'", '"'), usage=None),
        chat_answer(ANSWER),
    )
    completion = backend.complete(REQUEST)
    assert completion.data == ANSWER
    assert completion.input_tokens > 0  # no usage reported: estimated
    first, second = fake.calls
    assert first.structured
    assert not second.structured
    assert '"required":["headline"]' in second.user_text  # the schema travels as text
    backend.complete(REQUEST)
    assert len(fake.calls) == 3  # learnt: the third call went plain at once
    assert not fake.calls[2].structured


def test_max_completion_tokens_is_used_when_max_tokens_is_refused(fake: FakeLLM) -> None:
    message = (
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead."
    )
    fake.queue(openai_error(400, message, "invalid_request_error", "unsupported_parameter"))
    fake.queue(chat_answer(ANSWER))
    assert _openai(fake).complete(REQUEST).data == ANSWER
    retried = fake.calls[1].body
    assert retried["max_completion_tokens"] == 900
    assert "max_tokens" not in retried
    assert "response_format" in retried


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (openai_error(429, "Rate limit reached", "requests", "rate_limit_exceeded"),
         WriterRateLimited, "429: Rate limit reached"),
        (openai_error(500, "The server had an error", "server_error"), WriterUnavailable, "500"),
        (Reply(status=503, body="<html>Bad gateway</html>"), WriterUnavailable, "503"),
        (openai_error(401, "Incorrect API key provided", "invalid_request_error",
                      "invalid_api_key"), WriterRejected, "Incorrect API key"),
        (Reply(status=404, body={"error": "model 'qwen3:8b' not found"}), WriterRejected,
         "model 'qwen3:8b' not found"),  # Ollama's shape
        (Reply(status=500, body={"object": "error", "message": "CUDA out of memory",
                                 "type": "InternalServerError", "code": 500}),
         WriterUnavailable, "CUDA out of memory"),  # vLLM's older shape
        (chat_answer(None, refusal="I can't help with that."), WriterRefused, "declined"),
        (chat_answer("", finish="content_filter"), WriterRefused, "declined"),
        (chat_answer('{"headline": "cut sh', finish="length"), WriterTruncated, "token cap"),
        (chat_answer(""), WriterMalformed, "nothing"),
        (Reply(body="<html>proxy login</html>"), WriterMalformed, "not JSON"),
        (Reply(body={"choices": []}), WriterMalformed, "no choices"),
    ],
)  # fmt: skip
def test_openai_failures_map_to_the_writer_errors(
    fake: FakeLLM, reply: Reply, error: type[WriterError], words: str
) -> None:
    fake.queue(reply)
    with pytest.raises(error, match=words) as caught:
        _openai(fake).complete(REQUEST)
    assert type(caught.value) is error
    assert "can't help" not in str(caught.value)  # never the model's own apology
    assert len(fake.calls) == 1  # no retry of its own


def test_retry_after_is_read_from_a_429(fake: FakeLLM) -> None:
    reply = openai_error(429, "slow down", "requests")
    reply.headers["Retry-After"] = "7"
    fake.queue(reply)
    with pytest.raises(WriterRateLimited) as caught:
        _openai(fake).complete(REQUEST)
    assert caught.value.retry_after == 7.0


def test_a_slow_server_times_out_within_the_timeout(fake: FakeLLM) -> None:
    fake.queue(Reply(hang=True))
    started = time.monotonic()
    with pytest.raises(WriterTimeout):
        _openai(fake).complete(REQUEST)
    assert time.monotonic() - started < TIMEOUT + 1.0


def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAICompatible(f"http://127.0.0.1:{port}/v1", "m", timeout=TIMEOUT)
    with pytest.raises(WriterUnavailable, match="unreachable"):
        backend.complete(REQUEST)


# --- Bedrock Converse ----------------------------------------------------------------------------


def test_converse_forces_the_tool_and_reads_its_input(
    fake: FakeLLM, bedrock: BedrockConverse
) -> None:
    fake.queue(converse_answer(ANSWER, tool="lead", usage=(2100, 180)))
    completion = bedrock.complete(REQUEST)
    assert completion.data == ANSWER
    assert (completion.input_tokens, completion.output_tokens) == (2100, 180)
    (call,) = fake.calls
    assert call.api == "bedrock"
    assert call.model == PROFILE
    assert call.body["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "lead", "description": call.body["toolConfig"]["tools"][0][
            "toolSpec"]["description"], "inputSchema": {"json": SCHEMA}}}],
        "toolChoice": {"tool": {"name": "lead"}},
    }
    assert call.body["inferenceConfig"]["maxTokens"] == 900
    assert call.system_text == "You write the lead."
    assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256")  # signed as for real


def test_a_model_without_forced_tools_is_asked_for_plain_json(
    fake: FakeLLM, bedrock: BedrockConverse
) -> None:
    fake.queue(
        bedrock_error(400, "ValidationException",
                      "This model doesn't support the toolConfig.toolChoice.tool field. "
                      "Remove toolConfig.toolChoice.tool and try again."),
        converse_answer("```json\n" + '{"headline": "ModelFarm/YOLO-R trends"}' + "\n```"),
    )  # fmt: skip
    assert bedrock.complete(REQUEST).data == ANSWER
    assert "toolConfig" not in fake.calls[1].body
    assert "JSON schema" in fake.calls[1].user_text


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (bedrock_error(429, "ThrottlingException", "Too many requests, please wait."),
         WriterRateLimited),
        (bedrock_error(408, "ModelTimeoutException", "Model has timed out."), WriterTimeout),
        (bedrock_error(503, "ServiceUnavailableException", "Service unavailable."),
         WriterUnavailable),
        (bedrock_error(500, "InternalServerException", "Internal error."), WriterUnavailable),
        (bedrock_error(429, "ModelNotReadyException", "Model is not ready."), WriterUnavailable),
        (bedrock_error(400, "ValidationException", "Malformed input request."), WriterRejected),
        (bedrock_error(403, "AccessDeniedException", "You don't have access to the model."),
         WriterRejected),
        (converse_answer({"headline": "cut"}, tool="lead", stop="max_tokens"), WriterTruncated),
        (converse_answer("Sorry.", stop="guardrail_intervened"), WriterRefused),
        (converse_answer("", stop="content_filtered"), WriterRefused),
        (converse_answer(""), WriterMalformed),
    ],
)  # fmt: skip
def test_converse_failures_map_to_the_writer_errors(
    fake: FakeLLM, bedrock: BedrockConverse, reply: Reply, error: type[WriterError]
) -> None:
    fake.queue(reply)
    with pytest.raises(error) as caught:
        bedrock.complete(REQUEST)
    assert type(caught.value) is error
    assert len(fake.calls) == 1  # botocore's own retries are off


def test_converse_times_out_within_the_timeout(fake: FakeLLM, bedrock: BedrockConverse) -> None:
    fake.queue(Reply(hang=True))
    started = time.monotonic()
    with pytest.raises(WriterTimeout):
        bedrock.complete(REQUEST)
    assert time.monotonic() - started < TIMEOUT + 1.0
    assert len(fake.calls) == 1


def test_the_bedrock_client_never_retries_by_itself() -> None:
    client = make_bedrock_client(timeout=30)
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert client.meta.config.read_timeout == 30
