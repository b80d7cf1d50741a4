from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from emails.errors import ConfigError
from pipeline.settings import DEFAULT_FEEDS, Settings, load_settings


def test_defaults_match_the_design_table() -> None:
    s = load_settings()
    assert s.data_dir == Path("./var")
    assert s.store_url == "sqlite:///var/morningpost.db"
    assert s.transport == "outbox"
    assert s.sender == "The AI Morning Post <briefing@example.com>"
    assert s.public_url == "http://127.0.0.1:8080"
    assert s.secret_key is None
    assert s.feeds == list(DEFAULT_FEEDS)
    assert s.weather_url == "https://api.open-meteo.com"
    assert s.max_send_rate is None
    assert s.editorial_dir == Path("./content")
    assert s.timezone == "Europe/London"
    assert (s.draft_time, s.send_time, s.cutoff_time) == (
        dt.time(5, 0),
        dt.time(6, 30),
        dt.time(10, 0),
    )
    assert s.require_approval is False
    assert s.editors == []
    assert s.has_placeholder_address


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORNINGPOST_FEEDS", '["https://a.example.com/feed"]')
    monkeypatch.setenv("MORNINGPOST_EDITORS", '["ed@example.com"]')
    monkeypatch.setenv("MORNINGPOST_MAX_SEND_RATE", "14")
    monkeypatch.setenv("MORNINGPOST_REQUIRE_APPROVAL", "true")
    monkeypatch.setenv("MORNINGPOST_SEND_TIME", "07:15")
    monkeypatch.setenv("MORNINGPOST_PUBLIC_URL", "https://news.example.com/")
    s = load_settings()
    assert s.feeds == ["https://a.example.com/feed"]
    assert s.editors == ["ed@example.com"]
    assert s.max_send_rate == 14
    assert s.require_approval is True
    assert s.send_time == dt.time(7, 15)
    assert s.public_url == "https://news.example.com"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MORNINGPOST_TRANSPORT=ses\nMORNINGPOST_SECRET_KEY=abc\n")
    s = load_settings()
    assert (s.transport, s.secret_key) == ("ses", "abc")


def test_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORNINGPOST_MAX_SEND_RATE", "")
    assert load_settings().max_send_rate is None


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("MORNINGPOST_FEEDS", "https://not-json", "not a JSON list of strings"),
        ("MORNINGPOST_FEEDS", '{"a": 1}', "not a JSON list of strings"),
        ("MORNINGPOST_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("MORNINGPOST_MAX_SEND_RATE", "-2", "greater than 0"),
        ("MORNINGPOST_TRANSPORT", "smtp", "'outbox' or 'ses'"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith(f"{name}: ")
    assert reason in message
    assert "\n" not in message


def test_missing_secret_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^MORNINGPOST_SECRET_KEY is not set"):
        Settings().require_secret_key()


def test_today_is_in_the_newsletter_time_zone() -> None:
    s = Settings(timezone="Pacific/Kiritimati")  # UTC+14: often a day ahead of UTC
    assert s.today() == dt.datetime.now(s.zone).date()
