"""A loopback fake of two model APIs, scriptable per test.

One threaded HTTP server on 127.0.0.1 (port chosen by the OS) answers:

- ``POST /v1/chat/completions``: OpenAI-compatible Chat Completions;
- ``POST /model/{modelId}/converse``: Amazon Bedrock Converse (boto3 reaches it through
  ``endpoint_url`` or ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, with dummy credentials).

Every request is recorded. What it answers is decided by ``responder``, a function of the
request (``Call``), or by replies queued with ``queue`` (taken first, in order). Error
bodies have the real shapes: OpenAI's ``{"error": {"message", "type", "code"}}``, Bedrock's
``x-amzn-ErrorType`` header with ``{"message": ...}``. A ``hang`` reply never answers until
the server is closed, so a client's timeout is what ends the call: no sleeping anywhere.

Run as a program, it serves scripted answers (a JSON file: one answer per piece, as in
``tests/fixtures/writer/sample-day.json``) until stopped, for trying the desk by hand::

    python -m tests.fake_llm tests/fixtures/writer/sample-day-imperfect.json --port 8765
    MORNINGPOST_WRITER=openai MORNINGPOST_WRITER_URL=http://127.0.0.1:8765/v1 \
    MORNINGPOST_WRITER_MODEL=fake morningpost assemble --sample --no-editorial

Token counts are then estimated from the text (four characters a token), as a server that
reports no usage would leave them.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

_PIECE_LINE = re.compile(r"^Piece: (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Call:
    """A request the fake received."""

    api: str  # "openai" or "bedrock"
    path: str
    headers: Mapping[str, str]
    body: Any

    @property
    def model(self) -> str:
        if self.api == "bedrock":
            return unquote(self.path.split("/")[2])
        return str(self.body.get("model", ""))

    @property
    def user_text(self) -> str:
        messages = self.body.get("messages", [])
        content = messages[-1]["content"] if messages else ""
        if isinstance(content, list):  # Converse: a list of blocks
            return "".join(block.get("text", "") for block in content)
        return str(content)

    @property
    def system_text(self) -> str:
        if self.api == "bedrock":
            return "".join(block.get("text", "") for block in self.body.get("system", []))
        return str(self.body["messages"][0]["content"])

    @property
    def structured(self) -> bool:
        return "response_format" in self.body or "toolConfig" in self.body

    @property
    def piece(self) -> str:
        """Which piece is asked for (the desk's user turn opens with ``Piece: <name>``)."""
        match = _PIECE_LINE.search(self.user_text)
        return match.group(1) if match else ""


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a dict or list is sent as JSON, a str as it is
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


Responder = Callable[[Call], Reply]


# --- answers in each API's shape ----------------------------------------------------------------


def chat_answer(
    content: Any,
    *,
    finish: str = "stop",
    refusal: str | None = None,
    usage: tuple[int, int] | None = (1200, 300),
) -> Reply:
    """A Chat Completions answer; ``content`` as a dict is sent as its JSON text."""
    text = json.dumps(content) if isinstance(content, dict) else content
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1772000000,
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": refusal},
                "finish_reason": finish,
            }
        ],
    }
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                         "total_tokens": sum(usage)}  # fmt: skip
    return Reply(body=body)


def converse_answer(
    content: Any,
    *,
    tool: str | None = None,
    stop: str | None = None,
    usage: tuple[int, int] = (1200, 300),
) -> Reply:
    """A Converse answer: with ``tool``, a toolUse block carrying ``content``; else text."""
    if tool is not None:
        block: dict[str, Any] = {"toolUse": {"toolUseId": "tooluse_fake", "name": tool,
                                             "input": content}}  # fmt: skip
    else:
        block = {"text": json.dumps(content) if isinstance(content, dict) else content}
    return Reply(
        body={
            "output": {"message": {"role": "assistant", "content": [block]}},
            "stopReason": stop or ("tool_use" if tool else "end_turn"),
            "usage": {"inputTokens": usage[0], "outputTokens": usage[1],
                      "totalTokens": sum(usage)},
            "metrics": {"latencyMs": 420},
        }
    )


def openai_error(status: int, message: str, type_: str, code: str | None = None) -> Reply:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return Reply(status=status, body=body)


def bedrock_error(status: int, code: str, message: str) -> Reply:
    # The header's value is the code, then the shape's namespace after a colon.
    header = f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    return Reply(status=status, body={"message": message}, headers={"x-amzn-ErrorType": header})


def answer_for(
    call: Call, data: dict[str, Any], *, usage: tuple[int, int] = (1200, 300)
) -> Reply:
    """``data`` as a well-formed answer to ``call``, in its API's structured shape."""
    if call.api == "bedrock":
        tool = call.body.get("toolConfig", {}).get("toolChoice", {}).get("tool", {}).get("name")
        return converse_answer(data, tool=tool, usage=usage)
    return chat_answer(data, usage=usage)


def estimated_usage(call: Call, data: Any) -> tuple[int, int]:
    """(prompt, answer) tokens at four characters a token."""
    prompt = len(call.system_text) + len(call.user_text)
    return prompt // 4, len(json.dumps(data, ensure_ascii=False)) // 4


def scripted(answers: Mapping[str, Any]) -> Responder:
    """Answers ``answers[piece]`` to each request, structured, with estimated usage; a piece
    it has no answer for gets a 500."""

    def respond(call: Call) -> Reply:
        data = answers.get(call.piece)
        if data is None:
            return openai_error(500, f"no scripted answer for {call.piece!r}", "server_error")
        return answer_for(call, data, usage=estimated_usage(call, data))

    return respond


# --- the server ---------------------------------------------------------------------------------


class FakeLLM:
    def __init__(self, responder: Responder | None = None, *, port: int = 0) -> None:
        self.calls: list[Call] = []
        self.responder: Responder = responder or (lambda call: chat_answer("{}"))
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def close(self) -> None:
        self._release.set()  # let hanging handlers go
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _reply_to(self, call: Call) -> Reply:
        with self._lock:
            self.calls.append(call)
            queued = self._queue.popleft() if self._queue else None
        return queued or self.responder(call)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                api = "bedrock" if self.path.endswith("/converse") else "openai"
                if api == "openai" and not self.path.endswith("/chat/completions"):
                    self._send(Reply(status=404, body={"error": "not found"}))
                    return
                call = Call(api, self.path, dict(self.headers), json.loads(raw or b"{}"))
                reply = fake._reply_to(call)
                if reply.hang:
                    fake._release.wait()
                    return
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                body = reply.body
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests assert on fake.calls instead

        return Handler


@contextmanager
def fake_llm(responder: Responder | None = None) -> Iterator[FakeLLM]:
    fake = FakeLLM(responder).start()
    try:
        yield fake
    finally:
        fake.close()


def main(argv: list[str] | None = None) -> None:
    """Serve the scripted answers of a JSON file on 127.0.0.1 until interrupted."""
    import argparse
    import signal
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m tests.fake_llm", description=main.__doc__)
    parser.add_argument("answers", type=Path, help="JSON object: piece name -> answer")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any)")
    args = parser.parse_args(argv)
    fake = FakeLLM(scripted(json.loads(args.answers.read_text("utf-8"))), port=args.port).start()
    print(f"OpenAI-compatible: {fake.openai_url}  Converse: {fake.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print(f"served {len(fake.calls)} request(s)", flush=True)
        fake.close()


if __name__ == "__main__":
    main()
