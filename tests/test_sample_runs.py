"""Sample runs (`make run`, `--sample`) in an operator's directory never touch the real day."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber
from tests.conftest import TEST_KEY
from tests.drafts import draft_from_recordings

DATE = "2026-11-27"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def files(*roots: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def operator(tmp_path: Path) -> tuple[Path, Path]:
    """An operator's directory: .env naming a real data dir and a real store (with readers,
    a rendered draft of the day and a published archive), and SES as the transport."""
    data, store = tmp_path / "srv" / "data", tmp_path / "srv" / "db"
    (tmp_path / ".env").write_text(
        f"MORNINGPOST_DATA_DIR={data}\n"
        f"MORNINGPOST_DATABASE_URL=sqlite:///{store / 'real.db'}\n"
        f"MORNINGPOST_SECRET_KEY={TEST_KEY}\n"
        "MORNINGPOST_TRANSPORT=ses\n",
        encoding="utf-8",
    )
    engine = open_store(f"sqlite:///{store / 'real.db'}")
    with engine.begin() as conn:
        for name in ("ada", "grace", "alan"):
            add_subscriber(conn, f"{name}@example.org", source="import")
    engine.dispose()
    draft_from_recordings(DATE)
    assert invoke("render", "--date", DATE).exit_code == 0
    assert (data / "archive" / "index.html").exists()
    return data, store


def test_a_sample_run_leaves_the_real_store_and_archive_untouched(
    operator: tuple[Path, Path],
) -> None:
    data, store = operator
    before = files(data, store)
    result = invoke("run", "--sample", "--date", DATE)
    assert result.exit_code == 0, result.stderr
    sample = data / "sample"
    after = {p: b for p, b in files(data, store).items() if not p.is_relative_to(sample)}
    assert after == before, "the sample run changed a real file"
    assert "Delivered 5 via outbox" in result.output
    assert (sample / "issues" / DATE / "email.html").is_file()
    assert len(list((sample / "outbox" / DATE).glob("*.eml"))) == 5
    # The real issue is still the operator's to send: a draft, number 1.
    status = invoke("status", "--date", DATE, "--json")
    assert '"state": "draft"' in status.output
    assert '"number": 1' in status.output


def test_a_real_store_in_the_sample_folder_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "var"
    monkeypatch.setenv("MORNINGPOST_DATA_DIR", str(data))
    monkeypatch.setenv("MORNINGPOST_DATABASE_URL", f"sqlite:///{data / 'sample' / 'real.db'}")
    result = invoke("run", "--sample", "--date", DATE)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: refusing a sample run: the store ")
    assert result.stderr.count("\n") == 1
    assert not (data / "sample").exists()


def test_a_sample_store_holding_a_real_list_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "var"
    monkeypatch.setenv("MORNINGPOST_DATA_DIR", str(data))
    engine = open_store(f"sqlite:///{data / 'sample' / 'morningpost.db'}")
    with engine.begin() as conn:
        add_subscriber(conn, "real.reader@example.org", source="import")
    engine.dispose()
    before = files(data)
    result = invoke("run", "--sample", "--date", DATE)
    assert result.exit_code == 1
    assert "holds 1 subscribers that are not demo ones" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (data / "sample" / "outbox").exists()
    assert files(data).keys() == before.keys()


def test_make_run_needs_no_key() -> None:
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "$(BIN)/morningpost run --sample" in makefile
    assert "SECRET_KEY" not in makefile  # sample runs sign with their own key
