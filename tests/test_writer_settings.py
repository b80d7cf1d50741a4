"""The writer's five settings: defaults, validation (one line naming the variable), the desk
they build."""

from __future__ import annotations

from pathlib import Path

import pytest

from emails.errors import ConfigError
from pipeline.settings import DEFAULT_WRITER_MAX_TOKENS, load_settings
from pipeline.writer.backends import BedrockConverse, OpenAICompatible
from pipeline.writer.desk import make_desk
from tests.fake_llm import answer_for, fake_llm
from tests.writer_answers import faithful
from tests.writer_pack import sample_pack


def test_by_default_no_writer_and_no_desk(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.writer == "none"
    assert (settings.writer_url, settings.writer_model, settings.writer_api_key) == (None,) * 3
    assert settings.writer_max_tokens == DEFAULT_WRITER_MAX_TOKENS == 40_000
    assert make_desk(settings, cache_dir=tmp_path) is None  # nothing built, nothing called


@pytest.mark.parametrize(
    ("env", "name", "reason"),
    [
        ({"WRITER": "openai", "WRITER_MODEL": "m"}, "WRITER_URL", "required when"),
        ({"WRITER": "openai", "WRITER_URL": "http://h/v1"}, "WRITER_MODEL", "required when"),
        ({"WRITER": "bedrock"}, "WRITER_MODEL", "required when MORNINGPOST_WRITER=bedrock"),
        ({"WRITER": "claude"}, "WRITER", "'none', 'openai' or 'bedrock'"),
        ({"WRITER_URL": "localhost:11434"}, "WRITER_URL", "not an http(s) URL"),
        ({"WRITER_MAX_TOKENS": "500"}, "WRITER_MAX_TOKENS", "greater than or equal to 1000"),
        ({"WRITER_TIMEOUT": "0"}, "WRITER_TIMEOUT", "greater than 0"),
        ({"WRITER_TIMEOUT": "3600"}, "WRITER_TIMEOUT", "less than or equal to 600"),
    ],
)
def test_bad_writer_settings_fail_with_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], name: str, reason: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(f"MORNINGPOST_{key}", value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith(f"MORNINGPOST_{name}: ")
    assert reason in message
    assert "\n" not in message


def test_the_api_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORNINGPOST_WRITER_API_KEY", "sk-very-secret-key")
    settings = load_settings()
    assert "sk-very-secret-key" not in repr(settings)
    assert settings.writer_api_key is not None
    assert settings.writer_api_key.get_secret_value() == "sk-very-secret-key"


def test_openai_settings_build_a_desk_that_sends_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with fake_llm(lambda call: answer_for(call, faithful(call.piece))) as fake:
        monkeypatch.setenv("MORNINGPOST_WRITER", "openai")
        monkeypatch.setenv("MORNINGPOST_WRITER_URL", fake.openai_url + "/")
        monkeypatch.setenv("MORNINGPOST_WRITER_MODEL", "llama3.2")
        monkeypatch.setenv("MORNINGPOST_WRITER_API_KEY", "sk-local")
        monkeypatch.setenv("MORNINGPOST_WRITER_MAX_TOKENS", "9000")
        desk = make_desk(load_settings(), cache_dir=tmp_path, timeout=2)
        assert desk is not None
        assert isinstance(desk.backend, OpenAICompatible)
        assert desk.budget == 9000
        edition = desk.write(sample_pack(), covered={"lead", "deep-dive", "opinion"})
    assert edition.blurbs.lines
    (call,) = fake.calls
    assert call.headers["Authorization"] == "Bearer sk-local"
    assert call.model == "llama3.2"


def test_bedrock_settings_build_a_converse_desk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORNINGPOST_WRITER", "bedrock")
    monkeypatch.setenv("MORNINGPOST_WRITER_MODEL", "amazon.nova-pro-v1:0")
    desk = make_desk(load_settings(), cache_dir=None)
    assert desk is not None
    assert isinstance(desk.backend, BedrockConverse)
    assert desk.backend.model == "amazon.nova-pro-v1:0"
