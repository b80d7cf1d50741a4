"""Every way an address comes in refuses what cannot be delivered, with the same one-line
reason (``subscribers.addresses`` decides): the form (``test_web_edges``), an import, `add`,
`send --to` and MORNINGPOST_EDITORS."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from tests.drafts import draft_from_recordings

UNDELIVERABLE = ["пользователь@пример.рф", "\uff41\uff44\uff4d\uff49\uff4e@example.com"]
REASON = "non-ASCII characters before the @"
DATE = "2026-11-27"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def refused(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert REASON in result.stderr
    return result.stderr


@pytest.mark.parametrize("address", UNDELIVERABLE)
def test_subscribers_add_refuses(env_settings: Path, address: str) -> None:
    refused(invoke("subscribers", "add", address))
    assert invoke("subscribers", "count").output.strip() == "0"


def test_import_skips_them_with_their_lines(tmp_path: Path, env_settings: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email\n" + "\n".join([*UNDELIVERABLE, "ada@пример.рф"]) + "\n", "utf-8")
    result = invoke("subscribers", "import", str(path))
    assert result.exit_code == 0
    assert result.stdout.strip() == "imported 1, updated 0, skipped 2"
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 2", "line 3"]
    assert all(REASON in line for line in lines)


@pytest.mark.parametrize("address", UNDELIVERABLE)
def test_send_to_refuses(env_settings: Path, address: str) -> None:
    draft_from_recordings(DATE)
    assert invoke("render", "--date", DATE).exit_code == 0
    refused(invoke("send", "--date", DATE, "--to", address))
    assert not (env_settings / "outbox").exists()


@pytest.mark.parametrize("address", UNDELIVERABLE)
def test_editors_refuses(env_settings: Path, monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    monkeypatch.setenv("MORNINGPOST_EDITORS", f'["ed@example.com", "{address}"]')
    error = refused(invoke("status"))
    assert error.startswith("error: MORNINGPOST_EDITORS: ")
