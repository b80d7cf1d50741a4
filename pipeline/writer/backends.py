"""The models the AI desk can ask: one ``Backend`` protocol, two implementations.

- ``OpenAICompatible``: any server speaking Chat Completions (``POST {base}/chat/completions``):
  OpenAI itself, Ollama (``http://localhost:11434/v1``), vLLM, llama.cpp's ``llama-server``.
  Structured output through ``response_format: {"type": "json_schema", ...}``. Quirks met:
  a server that rejects ``response_format`` with 400/422 is asked again without it (the
  prompt carries the schema as text) and remembered; OpenAI's newer models reject
  ``max_tokens`` and want ``max_completion_tokens``, so that is switched the same way;
  errors come as ``{"error": {"message": ...}}`` (OpenAI, llama.cpp), ``{"error": "..."}``
  (Ollama) or ``{"object": "error", "message": ...}`` (older vLLM); reasoning models served
  by Ollama put ``<think>...</think>`` before the JSON; ``usage`` may be missing.
- ``BedrockConverse``: Amazon Bedrock's Converse API through boto3 ``bedrock-runtime``.
  Structured output through tool use: one tool whose ``inputSchema`` is the JSON schema and
  ``toolChoice`` forcing it; the answer is ``output.message.content[].toolUse.input``. A
  model that rejects ``toolChoice`` (ValidationException naming the tool field) is asked
  again in plain text, as above.

Both turn every failure into one ``WriterError`` subclass (``emails.errors``) and
never retry on their own: the retry policy is the desk's. Request builders and response
parsers are pure functions, tested without the network.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ReadTimeoutError,
)

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

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_bedrock_runtime.type_defs import ConverseResponseTypeDef

log = logging.getLogger(__name__)

Clock = Callable[[], float]
_CHARS_PER_TOKEN = 4  # for servers that report no usage: a rough, conservative estimate
_MESSAGE_LIMIT = 200


@dataclass(frozen=True)
class CompletionRequest:
    """One question to a model: instructions, the user turn, and the answer's JSON schema."""

    system: str
    user: str
    schema_name: str  # [A-Za-z0-9_-]{1,64}: OpenAI's json_schema name, Bedrock's tool name
    schema: Mapping[str, Any]
    max_tokens: int  # cap on the answer's tokens
    temperature: float = 0.4


@dataclass(frozen=True)
class Completion:
    """A model's answer: its text, the JSON object in it if any, tokens and seconds."""

    text: str
    data: dict[str, Any] | None
    input_tokens: int
    output_tokens: int
    seconds: float


class Backend(Protocol):
    """A model the desk can ask. ``complete`` raises a ``WriterError`` on any failure."""

    name: str
    model: str

    def complete(self, request: CompletionRequest) -> Completion: ...


# --- JSON out of text ---------------------------------------------------------------------------

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_MAX_OBJECT_STARTS = 20


def extract_json(text: str) -> dict[str, Any] | None:
    """The JSON object a model meant to answer with, or None.

    Tried in order: the whole text; a fenced ```json block; the first ``{`` from which a
    whole object decodes. Reasoning (``<think>...</think>``) is dropped first.
    """
    text = _THINK.sub("", text).strip()
    candidates = [text, *(m.group(1) for m in _FENCE.finditer(text))]
    for candidate in candidates:
        value = _loads(candidate.strip())
        if value is not None:
            return value
    return _first_object(text)


def _loads(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"\{", text)][:_MAX_OBJECT_STARTS]
    for start in starts:
        try:
            value, _end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def schema_instruction(request: CompletionRequest) -> str:
    """What a plain-text request adds to the user turn in place of structured output."""
    schema = json.dumps(request.schema, separators=(",", ":"))
    return (
        "\n\nAnswer with one JSON object and nothing else (no prose, no code fence). "
        f"It must follow this JSON schema: {schema}"
    )


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // _CHARS_PER_TOKEN)


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "\u2026"


# --- OpenAI-compatible Chat Completions ---------------------------------------------------------


@dataclass
class ChatOptions:
    """What this server accepts, learnt from its 400s and kept for the next calls."""

    structured: bool = True
    cap_field: str = "max_tokens"  # widest support; OpenAI's newer models want the other


def build_chat_request(
    request: CompletionRequest, *, model: str, options: ChatOptions
) -> dict[str, Any]:
    """The body of ``POST /chat/completions``."""
    user = request.user if options.structured else request.user + schema_instruction(request)
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": request.system},
            {"role": "user", "content": user},
        ],
        options.cap_field: request.max_tokens,
        "temperature": request.temperature,
        "stream": False,
    }
    if options.structured:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "strict": True,
                            "schema": dict(request.schema)},
        }  # fmt: skip
    return body


def parse_chat_response(body: Any, *, seconds: float, prompt: str = "") -> Completion:
    """A Chat Completions answer as a ``Completion``; refusals and cut answers raise."""
    choice = _first_choice(body)
    message = _dict(choice.get("message"))
    finish = choice.get("finish_reason")
    if message.get("refusal") or finish == "content_filter":
        raise WriterRefused("the model declined to answer (refusal or content filter)")
    if finish == "length":
        raise WriterTruncated("the answer hit its token cap before it was complete")
    text = _content_text(message.get("content"))
    if not text.strip():
        raise WriterMalformed("the model answered with nothing")
    usage = _dict(body.get("usage"))
    return Completion(
        text=text,
        data=extract_json(text),
        input_tokens=_count(usage.get("prompt_tokens"), prompt),
        output_tokens=_count(usage.get("completion_tokens"), text),
        seconds=seconds,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first_choice(body: Any) -> dict[str, Any]:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise WriterMalformed("the answer has no choices")
    return choices[0]


def _content_text(content: Any) -> str:
    """``content`` is a string, null, or (some servers) a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _count(reported: Any, text: str) -> int:
    if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 0:
        return reported
    return _estimate_tokens(text)


def error_message(response: httpx.Response) -> str:
    """The server's own one-line reason, from any of the error shapes in the docstring."""
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text) or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return _one_line(error.get("message") or error.get("type") or "")
    if isinstance(error, str):
        return _one_line(error)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return _one_line(body["message"])
    return response.reason_phrase


def status_error(response: httpx.Response) -> WriterError:
    """The ``WriterError`` for a non-2xx answer."""
    status, reason = response.status_code, error_message(response)
    message = f"the writer's API answered {status}: {reason}"
    if status == 429:
        return WriterRateLimited(message, retry_after=_retry_after(response))
    if status == 408:
        return WriterTimeout(message)
    if status >= 500:
        return WriterUnavailable(message)
    return WriterRejected(message)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


class OpenAICompatible:
    """A Chat Completions server over httpx; ``client`` may be injected (tests, proxies)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float,
        client: httpx.Client | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout))
        self._clock = clock
        self.options = ChatOptions()

    def complete(self, request: CompletionRequest) -> Completion:
        started = self._clock()
        response = self._post(request)
        # Two things a server may reject that another request can do without; each is
        # learnt once per backend, so later calls ask the right way at once.
        for _ in range(2):
            if response.status_code not in (400, 422) or not self._adapt(response):
                break
            response = self._post(request)
        if not response.is_success:
            raise status_error(response)
        try:
            body = response.json()
        except ValueError:
            raise WriterMalformed("the writer's API answered with something not JSON") from None
        return parse_chat_response(
            body, seconds=self._clock() - started, prompt=request.system + request.user
        )

    def _post(self, request: CompletionRequest) -> httpx.Response:
        body = build_chat_request(request, model=self.model, options=self.options)
        try:
            return self._client.post(self._url, json=body, headers=self._headers)
        except httpx.TimeoutException:
            raise WriterTimeout("the writer's API did not answer in time") from None
        except httpx.HTTPError as err:
            message = f"the writer's API is unreachable: {type(err).__name__}"
            raise WriterUnavailable(message) from None

    def _adapt(self, response: httpx.Response) -> bool:
        """Change what is asked after a 400; False when there is nothing left to change."""
        reason = error_message(response).lower()
        if "max_completion_tokens" in reason and self.options.cap_field == "max_tokens":
            self.options.cap_field = "max_completion_tokens"
        elif self.options.structured:
            self.options.structured = False
        else:
            return False
        log.info("writer: %s rejected a request (%s); asking differently", self.model, reason)
        return True


# --- Amazon Bedrock Converse ----------------------------------------------------------------------

# Converse error codes, by what they mean here (botocore reads them from x-amzn-ErrorType).
_BEDROCK_ERRORS: dict[str, type[WriterError]] = {
    "ThrottlingException": WriterRateLimited,
    "ModelTimeoutException": WriterTimeout,
    "ServiceUnavailableException": WriterUnavailable,
    "InternalServerException": WriterUnavailable,
    "ModelNotReadyException": WriterUnavailable,
    "ModelErrorException": WriterUnavailable,
    "ValidationException": WriterRejected,
    "AccessDeniedException": WriterRejected,
    "ResourceNotFoundException": WriterRejected,
}
_REFUSING_STOPS = frozenset({"guardrail_intervened", "content_filtered"})
_MALFORMED_STOPS = frozenset({"malformed_model_output", "malformed_tool_use"})


def make_bedrock_client(*, timeout: float) -> BedrockRuntimeClient:
    """A ``bedrock-runtime`` client: region, credentials and ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
    as botocore finds them; the call's timeout as its read timeout; no retries of its own
    (the desk counts and retries). In botocore's ``retries`` config ``max_attempts`` counts
    *retries* (``max_attempts: 1`` still sends a request twice); ``total_max_attempts``
    counts requests, so 1 is what switches retrying off."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
    )
    return boto3.client("bedrock-runtime", config=config)


def build_converse_request(
    request: CompletionRequest, *, model: str, structured: bool
) -> dict[str, Any]:
    """The keyword arguments of ``converse``."""
    user = request.user if structured else request.user + schema_instruction(request)
    kwargs: dict[str, Any] = {
        "modelId": model,
        "system": [{"text": request.system}],
        "messages": [{"role": "user", "content": [{"text": user}]}],
        "inferenceConfig": {"maxTokens": request.max_tokens, "temperature": request.temperature},
    }
    if structured:
        spec = {
            "name": request.schema_name,
            "description": "Write the piece: call this with the whole answer.",
            "inputSchema": {"json": dict(request.schema)},
        }
        kwargs["toolConfig"] = {
            "tools": [{"toolSpec": spec}],
            "toolChoice": {"tool": {"name": request.schema_name}},
        }
    return kwargs


def parse_converse_response(response: ConverseResponseTypeDef, *, seconds: float) -> Completion:
    """A Converse answer as a ``Completion``; refusals and cut answers raise."""
    stop = str(response.get("stopReason", ""))
    if stop in _REFUSING_STOPS:
        raise WriterRefused(f"the model's answer was stopped ({stop})")
    if stop == "max_tokens":
        raise WriterTruncated("the answer hit its token cap before it was complete")
    if stop in _MALFORMED_STOPS:
        raise WriterMalformed(f"the model's answer was malformed ({stop})")
    if stop == "model_context_window_exceeded":
        raise WriterRejected("the facts pack does not fit the model's context window")
    blocks = response.get("output", {}).get("message", {}).get("content", [])
    texts = [b["text"] for b in blocks if "text" in b]
    inputs = [b["toolUse"].get("input") for b in blocks if "toolUse" in b]
    text = "".join(texts)
    data = next((i for i in inputs if isinstance(i, dict)), None) or extract_json(text)
    if data is None and not text.strip():
        raise WriterMalformed("the model answered with nothing")
    usage = response.get("usage", {})
    return Completion(
        text=text or json.dumps(data),
        data=data,
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        seconds=seconds,
    )


def client_error(err: ClientError) -> WriterError:
    """The ``WriterError`` for a Converse error response."""
    error = err.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = f"Bedrock answered {code or 'an error'}: {_one_line(str(error.get('Message', '')))}"
    return _BEDROCK_ERRORS.get(code, WriterUnavailable)(message)


class BedrockConverse:
    """A Bedrock model (or inference profile) through Converse."""

    name = "bedrock"

    def __init__(
        self,
        model: str,
        *,
        timeout: float,
        client: BedrockRuntimeClient | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.model = model
        self._client = client or make_bedrock_client(timeout=timeout)
        self._clock = clock
        self.structured = True

    def complete(self, request: CompletionRequest) -> Completion:
        started = self._clock()
        try:
            response = self._converse(request)
        except WriterRejected as err:
            if not (self.structured and "tool" in str(err).lower()):
                raise
            # This model takes no forced tool use: ask for JSON in plain text from now on.
            log.info("writer: %s rejected tool use; asking for plain JSON", self.model)
            self.structured = False
            response = self._converse(request)
        return parse_converse_response(response, seconds=self._clock() - started)

    def _converse(self, request: CompletionRequest) -> ConverseResponseTypeDef:
        kwargs = build_converse_request(request, model=self.model, structured=self.structured)
        try:
            return self._client.converse(**kwargs)
        except ClientError as err:
            raise client_error(err) from None
        except (ReadTimeoutError, ConnectTimeoutError):
            raise WriterTimeout("Bedrock did not answer in time") from None
        except NoCredentialsError:
            raise WriterRejected("no AWS credentials for Bedrock") from None
        except BotoCoreError as err:
            raise WriterUnavailable(f"Bedrock is unreachable: {type(err).__name__}") from None
