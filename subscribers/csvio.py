"""CSV import and export of the list.

Import reads a header row naming an ``email`` column (``name`` and ``status`` optional, any
other column ignored), in batches inside ONE transaction: a file whose header cannot be read
changes nothing. Parsing is strict and line by line: one record per line, decoded as UTF-8
line by line, so a malformed row (a quote left open, a stray quote, bytes that are not
UTF-8) is skipped and reported with its own line number, and never swallows the rows after
it (a quoted field may hold commas, not line breaks: ``export`` never writes any). Row by
row, a bad row is skipped with its line number and a one-line reason; a dry run
(``dry_run=True``) does all of it and rolls back, so its report is exactly the real one.
An import never brings back an address that unsubscribed, bounced or complained; a
``status`` column (as ``export`` writes it) can only carry such a suppression in, never lift
one, so export -> import into a new store keeps them suppressed. An erased address
(``subscribers.erasure``) is never imported again.

Export writes ``status_reason`` and ``status_changed_at`` too: why and when each status was
last set (a bounce's diagnostic, "unsubscribed through the link", "import", ...).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import Connection, Engine, bindparam, case, select, update

from emails.errors import CsvError, InvalidAddress
from subscribers import erasure, lifecycle
from subscribers.addresses import normalise
from subscribers.store import schema
from subscribers.store.roster import clean_name, iter_all
from subscribers.store.stamps import now
from subscribers.store.states import SubscriberStatus

_t = schema.subscribers
EXPORT_COLUMNS = (
    "email",
    "name",
    "status",
    "source",
    "created_at",
    "status_reason",
    "status_changed_at",
)
_IMPORTED = "import"
_BATCH = 1000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ONE_LINE = re.compile(r"\s+")
_BOM = b"\xef\xbb\xbf"


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def skip(self, line: int, reason: str) -> None:
        self.skipped.append((line, _ONE_LINE.sub(" ", reason)))

    @property
    def summary(self) -> str:
        return f"imported {self.imported}, updated {self.updated}, skipped {len(self.skipped)}"


@dataclass(frozen=True)
class _Row:
    line: int
    email: str
    key: str
    name: str | None
    status: SubscriberStatus


@dataclass(frozen=True)
class _Columns:
    email: int
    name: int | None
    status: int | None


def import_csv(
    engine: Engine,
    stream: IO[bytes],
    *,
    source: str = "import",
    batch_size: int = _BATCH,
    secret_key: str | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Merge the CSV on the binary ``stream`` into the list (``dry_run``: report, store nothing).

    ``secret_key`` recognises erased addresses; without it, an import into a store that
    erased anyone fails (``ConfigError``) rather than let one back.
    """
    report = ImportReport()
    records = _records(stream, report)
    columns = _header(records)
    seen: dict[str, int] = {}
    with engine.connect() as conn, conn.begin() as transaction:
        batch: list[_Row] = []
        for line, cells in records:
            row = _parse(line, cells, columns, seen, report)
            if row is not None:
                batch.append(row)
            if len(batch) >= batch_size:
                _apply(conn, _not_erased(conn, batch, secret_key, report), source, report)
                batch = []
        _apply(conn, _not_erased(conn, batch, secret_key, report), source, report)
        if dry_run:
            transaction.rollback()
    return report


def _records(stream: IO[bytes], report: ImportReport) -> Iterator[tuple[int, list[str] | None]]:
    """Yield (line number, cells) per line; cells None for a malformed line (its reason is in
    ``report``); a blank line yields no cells."""
    for number, raw in enumerate(_lines(stream), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            where = f"byte 0x{raw[err.start]:02x} at column {err.start + 1}"
            report.skip(number, f"not UTF-8 text ({where}); save the file as UTF-8")
            yield number, None
            continue
        try:
            cells = next(csv.reader([text], strict=True), [])
        except csv.Error as err:
            report.skip(number, f"unreadable CSV ({_csv_reason(str(err))})")
            yield number, None
            continue
        yield number, cells


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The file's lines without their ends (LF, CRLF or a lone CR), its BOM dropped."""
    for index, chunk in enumerate(stream):  # a binary file splits at LF only
        if index == 0:
            chunk = chunk.removeprefix(_BOM)
        yield from chunk.removesuffix(b"\n").removesuffix(b"\r").split(b"\r")


def _csv_reason(error: str) -> str:
    if "unexpected end of data" in error:
        return "a quote opened on this line is not closed on it"
    return error


def _header(records: Iterator[tuple[int, list[str] | None]]) -> _Columns:
    for line, cells in records:
        if cells is None:
            raise CsvError(f"line {line}: the header row cannot be read", line=line)
        if not any(cell.strip() for cell in cells):
            continue
        names = [cell.strip().lstrip("\ufeff").lower() for cell in cells]
        if "email" not in names:
            raise CsvError("the header row has no 'email' column", line=line)
        return _Columns(
            email=names.index("email"),
            name=names.index("name") if "name" in names else None,
            status=names.index("status") if "status" in names else None,
        )
    raise CsvError("the file is empty: expected a header row with an 'email' column")


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def _parse(
    line: int,
    cells: list[str] | None,
    columns: _Columns,
    seen: dict[str, int],
    report: ImportReport,
) -> _Row | None:
    if cells is None or not "".join(cells).strip():
        return None  # a blank line is not a row
    raw = _cell(cells, columns.email)
    if not raw.strip():
        report.skip(line, "no address")
        return None
    try:
        address = normalise(raw)
    except InvalidAddress as err:
        report.skip(line, str(err))
        return None
    status = (
        SubscriberStatus.ACTIVE if columns.status is None else _file_status(cells, columns.status)
    )
    if status is None:
        report.skip(line, f"unknown status {_cell(cells, columns.status).strip()[:40]!r}")
        return None
    if address.key in seen:
        report.skip(line, f"duplicate of line {seen[address.key]}")
        return None
    seen[address.key] = line
    name = clean_name(_unguard(_cell(cells, columns.name)))
    return _Row(line, address.email, address.key, name, status)


def _file_status(cells: list[str], index: int) -> SubscriberStatus | None:
    """The status a row asks for: active unless it carries a suppression; None if unknown."""
    status = _cell(cells, index).strip().lower()
    if status in ("", SubscriberStatus.ACTIVE):
        return SubscriberStatus.ACTIVE
    if status in lifecycle.SUPPRESSED:
        return SubscriberStatus(status)
    return None  # ``pending`` included: an import cannot vouch for an unconfirmed address


def _not_erased(
    conn: Connection, batch: list[_Row], secret_key: str | None, report: ImportReport
) -> list[_Row]:
    erased = erasure.erased_keys(conn, secret_key, [row.key for row in batch])
    for row in batch:
        if row.key in erased:
            report.skip(row.line, "erased at the person's request: never added again")
    return [row for row in batch if row.key not in erased]


def _apply(conn: Connection, batch: list[_Row], source: str, report: ImportReport) -> None:
    if not batch:
        return
    existing = _existing(conn, [row.key for row in batch])
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    stamp = now()
    for row in batch:
        found = existing.get(row.key)
        if found is None:
            inserts.append(_insert_values(row, source, stamp))
            continue
        change = _change(row, found, report)
        if change is not None:
            updates.append({"b_id": found[0], "b_updated_at": stamp, **change})
    if inserts:
        conn.execute(_t.insert(), inserts)
        report.imported += len(inserts)
    _update(conn, updates)
    report.updated += len(updates)


def _existing(conn: Connection, keys: list[str]) -> dict[str, tuple[int, str, str | None]]:
    query = select(_t.c.email_key, _t.c.id, _t.c.status, _t.c.name).where(_t.c.email_key.in_(keys))
    return {key: (sid, status, name) for key, sid, status, name in conn.execute(query)}


def _insert_values(row: _Row, source: str, stamp: object) -> dict[str, Any]:
    return {
        "email": row.email,
        "email_key": row.key,
        "name": row.name,
        "status": row.status,
        "source": source,
        "created_at": stamp,
        "updated_at": stamp,
        "status_reason": _IMPORTED,
        "status_changed_at": stamp,
    }


def _change(
    row: _Row, found: tuple[int, str, str | None], report: ImportReport
) -> dict[str, Any] | None:
    """What an existing subscriber's row should become, or None (and why) if nothing."""
    _id, status, name = found
    new_status = lifecycle.imported_status(SubscriberStatus(status), row.status)
    if new_status is None:
        report.skip(row.line, f"{row.email} is {status}: an import does not re-add it")
        return None
    new_name = row.name or name
    if (new_status, new_name) == (status, name):
        report.skip(row.line, f"{row.email} is already on the list")
        return None
    return {"b_status": new_status, "b_name": new_name}


def _update(conn: Connection, updates: list[dict[str, Any]]) -> None:
    if not updates:
        return
    moved = _t.c.status != bindparam("b_status")
    statement = (
        update(_t)
        .where(_t.c.id == bindparam("b_id"))
        .values(
            # A suppression carried in by the file says so; a name change keeps the reason.
            status_reason=case((moved, _IMPORTED), else_=_t.c.status_reason),
            status_changed_at=case(
                (moved, bindparam("b_updated_at")), else_=_t.c.status_changed_at
            ),
            status=bindparam("b_status"),
            name=bindparam("b_name"),
            updated_at=bindparam("b_updated_at"),
        )
    )
    conn.execute(statement, updates)


def export_csv(
    engine: Engine, stream: IO[str], *, status: SubscriberStatus | None = None
) -> int:
    """Write the list (or one status of it) as CSV, in id order; return the row count."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    return _write_rows(writer, iter_all(engine, status))


def _write_rows(writer: Any, rows: Iterable[Any]) -> int:
    written = 0
    for row in rows:
        created = row.created_at.isoformat() if row.created_at else ""
        changed = row.status_changed_at.isoformat() if row.status_changed_at else ""
        reason = _guard(row.status_reason or "")
        writer.writerow(
            [row.email, _guard(row.name or ""), row.status, row.source, created, reason, changed]
        )
        written += 1
    return written


def _guard(text: str) -> str:
    # A name is typed by strangers on the web form; a spreadsheet must not run it as a formula.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _unguard(text: str) -> str:
    if "'" not in text:
        return text
    stripped = text.strip()
    return stripped[1:] if stripped[:1] == "'" and stripped[1:2] in _FORMULA_START else text
