"""``morningpost backup``: a consistent copy of the store and the issue files, with a manifest.

What a backup folder holds::

    manifest.json      what is here: when, which code, each file's size and sha256, the
                       store's row counts and migrations, the issue dates in the archive
    morningpost.db     SQLite: the store copied by SQLite's online backup API
    morningpost.pgdump PostgreSQL: ``pg_dump --format=custom`` (restored with pg_restore)
    files.tar.gz       DATA_DIR/issues/ (drafts, rendered issues, send records) and
                       DATA_DIR/archive/ (the public web archive)

Consistent while a send runs: SQLite's backup API copies the database as of one read
transaction (the store runs in WAL mode, so writers go on meanwhile), and pg_dump reads one
snapshot. The folder is written as ``<output>.partial`` and renamed when complete, so a
folder without that suffix is always a whole backup. Restoring is described in
deploy/README.md ("Backups").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from emails.errors import BackupError
from pipeline.settings import Settings
from pipeline.workspace import DataDir

MANIFEST = "manifest.json"
SQLITE_COPY = "morningpost.db"
PG_DUMP = "morningpost.pgdump"
FILES = "files.tar.gz"
PG_DUMP_TIMEOUT = 3600  # seconds; a newsletter's store dumps in seconds, a stuck one never

_PG_DUMP_MISSING = (
    "pg_dump is not on PATH: install the PostgreSQL client tools of the server's major "
    "version (e.g. `apt-get install postgresql-client`), or run `morningpost backup "
    "--no-store` and dump the database yourself: `pg_dump --format=custom --file "
    f"{PG_DUMP} postgresql://USER@HOST:PORT/DBNAME`"
)


@dataclass(frozen=True)
class Backup:
    directory: Path
    manifest: dict[str, Any]


def default_output(settings: Settings, now: dt.datetime | None = None) -> Path:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return settings.data_dir / "backups" / stamp


def backup(settings: Settings, output: Path, *, include_store: bool = True) -> Backup:
    """Write a backup of ``settings``' store and issue files into the new folder ``output``."""
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise BackupError(f"{output} already exists and is not an empty folder")
    partial = output.with_name(output.name + ".partial")
    if partial.exists():
        raise BackupError(f"{partial} is left from an interrupted backup: remove it first")
    partial.mkdir(parents=True)
    try:
        manifest = _write(settings, partial, include_store=include_store)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if output.exists():
            output.rmdir()  # empty, checked above
        partial.rename(output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Backup(output, manifest)


def _write(settings: Settings, folder: Path, *, include_store: bool) -> dict[str, Any]:
    store = _store(make_url(settings.store_url), folder) if include_store else None
    data = DataDir(settings.data_dir)
    files = _files(data, folder / FILES)
    return {
        "format": 1,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "morningpost_version": _version(),
        "data_dir": str(settings.data_dir),
        "store": store,
        "files": files,
        "restore": "deploy/README.md, section Backups",
    }


def _store(url: URL, folder: Path) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise BackupError("the store is in memory: there is nothing on disk to back up")
        return _sqlite(Path(url.database), folder / SQLITE_COPY)
    if backend == "postgresql":
        return _postgres(url, folder / PG_DUMP)
    raise BackupError(f"cannot back up a {backend} store (SQLite and PostgreSQL only)")


# --- SQLite --------------------------------------------------------------------------------


def _sqlite(source: Path, target: Path) -> dict[str, Any]:
    if not source.is_file():
        raise BackupError(f"there is no store at {source}")
    try:
        _sqlite_copy(source, target)
        facts = _sqlite_facts(target)
    except sqlite3.Error as err:
        raise BackupError(f"the SQLite backup failed: {err}") from err
    if facts["integrity_check"] != "ok":
        raise BackupError(f"the copy fails PRAGMA integrity_check: {facts['integrity_check']}")
    return {"kind": "sqlite", **_describe(target), **facts}


def _sqlite_copy(source: Path, target: Path) -> None:
    # timeout: wait for a writer's lock instead of failing. pages=-1 copies everything in one
    # step, inside one read transaction: a snapshot, whatever writers commit meanwhile (a
    # stepped copy restarts whenever another connection writes, and may never finish).
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
        # One self-contained file: no -wal or -shm beside it to lose when it is copied.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def _sqlite_facts(copy: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        check = "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        # Names come from the copy's own catalogue, quoted: nothing outside reaches the SQL.
        rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608
        migrations = [r[0] for r in conn.execute("SELECT number FROM schema_migrations")]
    finally:
        conn.close()
    return {"integrity_check": check, "rows": rows, "migrations": sorted(migrations)}


# --- PostgreSQL ----------------------------------------------------------------------------


def _postgres(url: URL, target: Path) -> dict[str, Any]:
    program = shutil.which("pg_dump")
    if program is None:
        raise BackupError(_PG_DUMP_MISSING)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)  # never on the command line, where ps shows it
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    command = [program, "--format=custom", "--no-owner", "--file", str(target), "--dbname", libpq]
    try:
        done = subprocess.run(  # noqa: S603 - a fixed program, arguments as a list
            command, env=env, capture_output=True, text=True, timeout=PG_DUMP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"pg_dump did not finish within {PG_DUMP_TIMEOUT} s") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
        raise BackupError(f"pg_dump failed: {first}")
    return {"kind": "postgresql", **_describe(target), "restore_with": "pg_restore"}


# --- the issue files -----------------------------------------------------------------------


def _files(data: DataDir, target: Path) -> dict[str, Any]:
    folders = [p for p in (data.issues, data.archive) if p.is_dir()]
    entries = 0
    with tarfile.open(target, "w:gz") as tar:
        for folder in folders:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.name.endswith(".tmp"):
                    tar.add(path, arcname=str(path.relative_to(data.root)), recursive=False)
                    entries += 1
    issues = sorted(day.isoformat() for day, _ in data.issue_folders())
    return {**_describe(target), "entries": entries, "folders": [f.name for f in folders],
            "issues": issues}  # fmt: skip


def _describe(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _version() -> str:
    try:
        return version("morningpost")
    except PackageNotFoundError:
        return "unknown"
