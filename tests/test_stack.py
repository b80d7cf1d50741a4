"""deploy/compose.yaml, the one-command stack: every service runs a real command of this code,
and its ports, volumes and store agree with the settings and the image. (No Docker engine
runs here: the file is read, not started.)"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml
from sqlalchemy.engine import make_url

from pipeline.cli import COMMANDS, main
from pipeline.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
APP_SERVICES = ("serve", "schedule")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def dockerfile_lines() -> str:
    return (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")


def image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage."""
    final = dockerfile_lines().rsplit("\nFROM ", 1)[1]
    pairs: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", final, flags=re.MULTILINE):
        pairs.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return pairs


def test_the_stack_is_serve_schedule_and_postgres(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"serve", "schedule", "postgres"}
    for name in APP_SERVICES:
        service = services(compose)[name]
        build = service["build"]
        assert build == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["env_file"] == ".env"
        assert "healthcheck" in service
    assert "healthcheck" in services(compose)["postgres"]


def test_every_service_runs_a_real_command(compose: dict[str, Any]) -> None:
    ctx = click.Context(main)
    for name in APP_SERVICES:
        args = services(compose)[name]["command"]
        assert args[0] in COMMANDS, args
        command = main.get_command(ctx, args[0])
        assert command is not None
        # Parses exactly as the entrypoint would (unknown options or bad values raise).
        command.make_context(args[0], list(args[1:]))


def test_the_image_entrypoint_exists() -> None:
    text = dockerfile_lines()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert entrypoint == ["morningpost", "--verbose"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts[entrypoint[0]].partition(":")
    assert f"{module}:{function}" == "pipeline.cli:main"
    assert main.params[0].opts == ["-v", "--verbose"]


def test_serve_publishes_the_port_it_listens_on_and_checks(compose: dict[str, Any]) -> None:
    serve = services(compose)["serve"]
    args = serve["command"]
    port = args[args.index("--port") + 1]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    published = [p.rsplit(":", 1) for p in serve["ports"]]
    assert [container for _, container in published] == [port]
    assert published[0][0] == "127.0.0.1:8080"  # the host's loopback, for a reverse proxy
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(serve["healthcheck"]["test"])
    assert f"EXPOSE {port}" in dockerfile_lines()


def test_the_scheduler_checks_the_port_it_serves_health_on(compose: dict[str, Any]) -> None:
    schedule = services(compose)["schedule"]
    env = environment(schedule)
    port = env["MORNINGPOST_METRICS_PORT"]
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(schedule["healthcheck"]["test"])
    assert "ports" not in schedule  # metrics stay inside the stack's network
    # The scheduler must be given time to end a send cleanly (the systemd unit gives 120 s).
    assert schedule["stop_grace_period"] == "2m"


def test_the_data_directory_is_the_named_volume(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        service = services(compose)[name]
        data_dir = environment(service)["MORNINGPOST_DATA_DIR"]
        assert data_dir == image_env()["MORNINGPOST_DATA_DIR"] == "/data"
        mounts = dict(v.split(":", 1) for v in service["volumes"])
        assert mounts == {"data": data_dir}
    assert set(compose["volumes"]) == {"data", "postgres"}
    pg_mounts = dict(v.split(":", 1) for v in services(compose)["postgres"]["volumes"])
    assert pg_mounts == {"postgres": "/var/lib/postgresql/data"}


def test_the_store_is_the_postgres_service(compose: dict[str, Any]) -> None:
    postgres = environment(services(compose)["postgres"])
    for name in APP_SERVICES:
        raw = environment(services(compose)[name])["MORNINGPOST_DATABASE_URL"]
        url = make_url(raw.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in deploy/.env}",
                                   "pw"))  # fmt: skip
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port) == ("postgres", 5432)
        assert url.username == postgres["POSTGRES_USER"]
        assert url.database == postgres["POSTGRES_DB"]
        # The same variable fills both: compose refuses to start when it is missing.
        assert "${POSTGRES_PASSWORD:?" in raw
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_every_setting_named_is_a_real_one(compose: dict[str, Any]) -> None:
    known = {ENV_PREFIX + field.upper() for field in Settings.model_fields}
    named = {k for s in APP_SERVICES for k in environment(services(compose)[s])}
    named |= set(_env_example())
    named |= set(image_env())
    assert {n for n in named if n.startswith(ENV_PREFIX)} <= known


def _env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
             if line and not line.startswith("#"))  # fmt: skip
    return {k: v for k, v in pairs}


def test_the_env_example_holds_no_secret() -> None:
    example = _env_example()
    for name in ("POSTGRES_PASSWORD", "MORNINGPOST_SECRET_KEY", "MORNINGPOST_METRICS_TOKEN"):
        assert example[name] == "", name
    assert "AWS_SECRET_ACCESS_KEY" not in example  # commented out, and empty
    assert "# AWS_SECRET_ACCESS_KEY=\n" in ENV_EXAMPLE.read_text()
    # compose.yaml sets these itself, pointing at the volume and the postgres service.
    assert "MORNINGPOST_DATA_DIR" not in example
    assert "MORNINGPOST_DATABASE_URL" not in example
    assert urlsplit(example["MORNINGPOST_PUBLIC_URL"]).scheme == "https"


def test_deploy_readme_starts_with_the_stack() -> None:
    readme = (DEPLOY / "README.md").read_text()
    first_section = readme.split("\n## ", 2)[1]
    assert first_section.startswith("0. The whole stack with Docker Compose")
    assert "docker compose -f deploy/compose.yaml up -d --build" in first_section
    assert "cp deploy/.env.example deploy/.env" in first_section
