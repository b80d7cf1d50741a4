"""Logging: one line per event, JSON when stderr is not a terminal, no addresses or secrets.

Events carry their fields as ``extra``: ``log.info("issue sent", extra={"date": ...})``
becomes ``{"time": ..., "level": "info", "logger": ..., "event": "issue sent", "date": ...}``
for a log collector (journald, CloudWatch), or ``issue sent date=...`` on a terminal.

Code masks addresses itself (``subscribers.addresses.mask``); the ``Redact`` filter is the
second line of defence: it masks anything shaped like an address, replaces the token of any
confirm or unsubscribe URL, and removes the values of secret environment variables from
every record, whatever code logged it (uvicorn and other libraries included: ``morningpost
serve`` routes their loggers here, and the web app writes its own access log).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from subscribers.addresses import mask
from subscribers.links import redact_tokens

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
SECRET_VARIABLES = (
    "MORNINGPOST_SECRET_KEY",
    "MORNINGPOST_WRITER_API_KEY",
    "MORNINGPOST_METRICS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
_MIN_SECRET = 6  # shorter values would redact ordinary words
# Attributes every LogRecord has; anything else on a record came in through ``extra``.
# uvicorn adds "color_message", the same text with terminal colours: not a field of ours.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every address masked, every secret replaced by ``[redacted]``, and every
    confirm or unsubscribe token (a key to someone's subscription) by ``[token]``."""
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return redact_tokens(_ADDRESS.sub(lambda m: mask(m.group(0)), text))


class Redact(logging.Filter):
    """Masks addresses and secrets in the message, its fields and its traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        fresh = {s for s in secrets if s and len(s) >= _MIN_SECRET} - set(self.secrets)
        self.secrets += tuple(sorted(fresh))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        for name, value in fields(record).items():
            if isinstance(value, str):
                setattr(record, name, redact(value, self.secrets))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event's own fields: what the caller passed as ``extra``."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For people at a terminal: ``06:30:00 INFO pipeline.scheduler: issue sent date=...``."""

    def format(self, record: logging.LogRecord) -> str:
        local = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extra = " ".join(f"{k}={v}" for k, v in fields(record).items())
        line = f"{local} {record.levelname} {record.name}: {record.getMessage()}"
        line = f"{line} {extra}" if extra else line
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        # One event, one line: the traceback's lines are folded in.
        return f"{line} | {record.exc_text.replace(chr(10), ' | ')}" if record.exc_text else line


def _utc(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def setup(*, verbose: bool = False, json_lines: bool | None = None) -> logging.Handler:
    """Install the one product handler on the root logger (again: replacing it); return it.

    ``json_lines`` defaults to "stderr is not a terminal".
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    as_json = not _isatty(sys.stderr) if json_lines is None else json_lines
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    handler.addFilter(Redact(os.environ.get(name, "") for name in SECRET_VARIABLES))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    return handler


def protect(*secrets: str | None) -> None:
    """Redact these values too: secrets read from ``.env`` never pass through the environment."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, Redact):
                found.add(secrets)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
