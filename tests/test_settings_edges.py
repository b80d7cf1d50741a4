"""Settings mistakes and library errors end a command in one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions
import httpx
import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from tests.drafts import draft_from_recordings

DATE = "2026-11-27"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.fixture
def rendered(env_settings: Path) -> Path:
    draft_from_recordings(DATE)
    assert invoke("render", "--date", DATE).exit_code == 0
    return env_settings


@pytest.mark.parametrize("args", [("--to", "ed@example.com"), ("--dry-run",), ()])
def test_ses_without_a_region_names_aws_default_region(
    rendered: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("MORNINGPOST_TRANSPORT", "ses")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    error = one_line_error(invoke("send", "--date", DATE, *args))
    assert "AWS_DEFAULT_REGION" in error


@pytest.mark.parametrize("key", ["k", "x" * 31])
def test_a_short_secret_key_is_refused_outside_sample_runs(
    rendered: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("MORNINGPOST_SECRET_KEY", key)
    error = one_line_error(invoke("send", "--date", DATE, "--dry-run"))
    assert f"MORNINGPOST_SECRET_KEY is {len(key)} characters" in error
    assert "at least 32" in error
    assert key * 2 not in error
    serve = one_line_error(invoke("serve", "--port", "0"))
    assert "at least 32" in serve
    sample = invoke("run", "--sample", "--date", DATE)  # signs with its own key
    assert sample.exit_code == 0, sample.stderr


def test_a_key_of_32_characters_is_enough(rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORNINGPOST_SECRET_KEY", "x" * 32)
    assert invoke("send", "--date", DATE, "--dry-run").exit_code == 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (botocore.exceptions.NoRegionError(), "set AWS_DEFAULT_REGION"),
        (botocore.exceptions.NoCredentialsError(), "no AWS credentials"),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="https://sqs.example"),
            "AWS: Could not connect to the endpoint URL",
        ),
        (
            botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not\nallowed"}}, "GetAccount"
            ),
            "AWS: An error occurred (AccessDenied)",
        ),
        (
            httpx.ConnectError("refused", request=httpx.Request("GET", "https://hf.example/x")),
            "HTTP (GET hf.example): refused",
        ),
        (httpx.ReadTimeout("timed out"), "HTTP: timed out"),
    ],
)
def test_library_errors_become_one_line_at_the_edge(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str
) -> None:
    def fail(*_args: object, **_kwargs: object) -> object:
        raise error

    monkeypatch.setattr("pipeline.commands.status.issue_status", fail)
    assert expected in one_line_error(invoke("status", "--date", DATE))


def test_a_bug_still_shows_its_traceback(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object, **_kwargs: object) -> object:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("pipeline.commands.status.issue_status", fail)
    result = invoke("status", "--date", DATE)
    assert isinstance(result.exception, ZeroDivisionError)
