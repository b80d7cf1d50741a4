"""The README is the front door: every command and every setting must be in it."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from pipeline.cli import main
from pipeline.settings import ENV_PREFIX, Settings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _names(group: click.Group, prefix: str = "morningpost") -> list[str]:
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        found.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            found += [f"{prefix} {name} {sub}" for sub in command.list_commands(ctx)]
    return found


@pytest.mark.parametrize("command", _names(main))
def test_every_command_is_in_the_readme(command: str) -> None:
    top = " ".join(command.split()[:2])
    last = command.split()[-1]
    assert top in README, f"README does not mention `{top}`"
    assert last in README, f"README does not mention `{command}`"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(field: str) -> None:
    assert f"{ENV_PREFIX}{field.upper()}" in README


def test_the_quickstart_is_the_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in quickstart.splitlines()]
    assert [c for c in commands if c.startswith("make")] == ["make run", "make test"]
