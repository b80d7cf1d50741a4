"""Start-up: ``morningpost --help`` and ``status`` import only what they use.

What is imported is asserted, not how long it takes: a fresh interpreter runs the command
and names the heavy libraries it loaded. ``benchmarks/bench_startup.py`` gives the times.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pipeline.cli import COMMANDS, SHORT_HELP, main

# Each is tens of milliseconds to import, and neither listing commands nor `status` needs it.
HEAVY = (
    "premailer", "cssutils", "lxml", "mjml", "jinja2", "boto3", "botocore", "huggingface_hub",
    "httpx", "feedparser", "rich", "starlette", "uvicorn", "markdown_it", "yaml",
    "email_validator",
)  # fmt: skip
# `status` reads the settings and the store; the list of commands needs neither.
STORE = ("sqlalchemy", "pydantic", "pydantic_settings")
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('\\nloaded:', *sys.modules, file=sys.stderr))\n"
    "from pipeline.cli import main\n"
    "main()\n"
)


def loaded_by(*args: str, data_dir: Path) -> tuple[str, set[str]]:
    """Run ``morningpost *args`` in a new interpreter: its output and the modules it loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")}
    env["MORNINGPOST_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, set(done.stderr.rsplit("\nloaded:", 1)[1].split())


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_help_lists_every_command_and_imports_none_of_them(tmp_path: Path) -> None:
    output, loaded = loaded_by("--help", data_dir=tmp_path / "var")
    assert all(f"  {name} " in output for name in COMMANDS)
    assert "pipeline.cli" in loaded  # the probe does see what was imported
    assert not top_level(loaded) & {*HEAVY, *STORE}
    assert not {m for m in loaded if m.startswith("pipeline.commands")}


def test_status_imports_the_store_and_nothing_heavy(tmp_path: Path) -> None:
    output, loaded = loaded_by("status", "--date", "2026-02-25", data_dir=tmp_path / "var")
    assert output.startswith("2026-02-25: no issue")
    assert set(STORE) <= top_level(loaded)  # it did run against the store
    assert not top_level(loaded) & set(HEAVY)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_commands_short_help_is_its_docstrings_first_paragraph(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    assert command.help is not None
    first_paragraph = " ".join(command.help.split("\n\n")[0].split())
    assert SHORT_HELP.get(name) == first_paragraph, f"pipeline/cli.py SHORT_HELP[{name!r}]"


def test_the_listing_is_the_one_click_would_write_from_the_commands() -> None:
    ctx = click.Context(main)
    ours, clicks = click.HelpFormatter(), click.HelpFormatter()
    main.format_commands(ctx, ours)
    click.Group.format_commands(main, ctx, clicks)  # imports every command to ask it
    assert ours.getvalue() == clicks.getvalue()
