from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.settings import Settings

TEST_KEY = "test-secret-key-0123456789"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's MORNINGPOST_* variables, .env file or AWS account."""
    for name in list(os.environ):
        if name.startswith(("MORNINGPOST_", "AWS_")) or name == "HF_ENDPOINT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", secret_key=TEST_KEY)


@pytest.fixture
def env_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The same settings, as environment variables, for tests that go through the CLI."""
    data_dir = tmp_path / "var"
    monkeypatch.setenv("MORNINGPOST_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MORNINGPOST_SECRET_KEY", TEST_KEY)
    return data_dir
