"""The lock files: every dependency of pyproject pinned within its range, with hashes of index
files only, and the image, `make install` and the systemd steps install from them."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["postgres"]]
DEV = [*RUNTIME, *PROJECT["optional-dependencies"]["dev"]]
LOCKS = {"requirements.lock": RUNTIME, "requirements-dev.lock": DEV}


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), f"{path.name}: an option line: {line}"
        requirement, *hashes = (part.strip() for part in line.split(" --hash="))
        parsed = Requirement(requirement)
        (spec,) = parsed.specifier
        assert spec.operator == "==", line
        name = canonicalize_name(parsed.name)
        pins[name] = Pin(name, Version(spec.version), parsed.marker, tuple(hashes))
    return pins


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_dependency_is_pinned_within_its_range(lock: str) -> None:
    pins = read_lock(ROOT / lock)
    for line in LOCKS[lock]:
        wanted = Requirement(line)
        pin = pins.get(canonicalize_name(wanted.name))
        assert pin is not None, f"{lock} lacks {wanted.name}: run `make lock`"
        assert wanted.specifier.contains(pin.version, prereleases=True), (
            f"{lock} pins {wanted.name}=={pin.version}, outside pyproject's {wanted.specifier}"
        )
    # The extras asked for are pinned too (psycopg[binary] -> psycopg-binary).
    assert "psycopg-binary" in pins


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_has_index_hashes_and_no_local_path(lock: str) -> None:
    text = (ROOT / lock).read_text()
    assert "file:" not in text
    assert "/opt/" not in text
    assert "/tmp/" not in text
    assert not re.search(r"^\s*-e\s|^--(index-url|extra-index-url|find-links)", text, re.M)
    for pin in read_lock(ROOT / lock).values():
        assert pin.hashes, f"{pin.name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), pin.name


def test_the_runtime_lock_agrees_with_the_dev_lock() -> None:
    runtime, dev = read_lock(ROOT / "requirements.lock"), read_lock(ROOT / "requirements-dev.lock")
    assert set(runtime) <= set(dev)
    differ = {n: (runtime[n].version, dev[n].version) for n in runtime
              if runtime[n].version != dev[n].version}  # fmt: skip
    assert differ == {}, "the image would run other versions than the tests ran"


def test_this_environment_is_the_locked_one() -> None:
    """`make install` installed requirements-dev.lock: the suite runs on the pinned versions."""
    wrong = {}
    for pin in read_lock(ROOT / "requirements-dev.lock").values():
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        try:
            installed = Version(version(pin.name))
        except PackageNotFoundError:
            wrong[pin.name] = "missing"
            continue
        if installed != pin.version:
            wrong[pin.name] = f"{installed} installed, {pin.version} locked"
    assert wrong == {}, "run `make install`"


def test_installs_use_the_lock_with_hashes() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile
    assert "!requirements.lock" in (ROOT / "deploy" / "Dockerfile.dockerignore").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile
    assert re.search(r"^lock: ", makefile, re.M)
    deploy = (ROOT / "deploy" / "README.md").read_text()
    assert "pip install --require-hashes -r /path/to/checkout/requirements.lock" in deploy
    assert "pip install --no-deps /path/to/checkout" in deploy
