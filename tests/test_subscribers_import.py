"""CSV import and export, and the list commands, through the CLI and the library."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from emails.errors import SubscriberError
from pipeline.cli import main
from subscribers.csvio import export_csv, import_csv
from subscribers.store import schema
from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber, count
from subscribers.store.states import SubscriberStatus


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)  # SQLite, and PostgreSQL when configured (conftest)


def load(engine: Engine, text: str) -> tuple[int, int, list[tuple[int, str]]]:
    report = import_csv(engine, io.BytesIO(text.encode("utf-8")))
    return report.imported, report.updated, report.skipped


def statuses(engine: Engine) -> dict[str, str]:
    t = schema.subscribers
    with engine.connect() as conn:
        return {email: status for email, status in conn.execute(select(t.c.email, t.c.status))}


def test_import_handles_bom_crlf_extra_columns_blank_lines_and_duplicates(
    tmp_path: Path, env_settings: Path
) -> None:
    text = (
        "\ufeffSignup,Email,Name,Extra\r\n"
        "2026-01-01,ada@example.com,Ada Lovelace,x\r\n"
        "\r\n"
        "2026-01-02,grace@example.com,,y\r\n"
        ",,,\r\n"
        "2026-01-03,ADA@EXAMPLE.COM,Ada again,z\r\n"
        "2026-01-04,not an address,Bad,z\r\n"
        "2026-01-05,,No address,z\r\n"
        '2026-01-06,"quoted@example.com","Surname, Given",z\r\n'
    )
    path = tmp_path / "list.csv"
    path.write_bytes(text.encode("utf-8"))
    result = invoke("subscribers", "import", str(path))
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip() == "imported 3, updated 0, skipped 3"
    assert result.stderr.splitlines() == [
        "line 6: duplicate of line 2",
        "line 7: 'not an address' is not a valid address: An email address must have an @-sign.",
        "line 8: no address",
    ]
    assert invoke("subscribers", "count", "--status", "active").stdout.strip() == "3"
    exported = invoke("subscribers", "export").stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["email"], r["name"]) for r in rows] == [
        ("ada@example.com", "Ada Lovelace"),
        ("grace@example.com", ""),
        ("quoted@example.com", "Surname, Given"),
    ]


def test_import_never_resurrects_and_updates_names(engine: Engine) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "left@example.com", status=SubscriberStatus.UNSUBSCRIBED)
        add_subscriber(conn, "gone@example.com", status=SubscriberStatus.BOUNCED)
        add_subscriber(conn, "angry@example.com", status=SubscriberStatus.COMPLAINED)
        add_subscriber(conn, "waiting@example.com", status=SubscriberStatus.PENDING)
        add_subscriber(conn, "ada@example.com", name="Ada")
    text = (
        "email,name\n"
        "LEFT@example.com,\ngone@example.com,\nangry@example.com,\n"
        "waiting@example.com,\nada@example.com,Ada L.\nnew@example.com,New\n"
    )
    imported, updated, skipped = load(engine, text)
    assert (imported, updated) == (1, 1)
    assert [line for line, _ in skipped] == [2, 3, 4, 5]
    assert skipped[0][1] == "LEFT@example.com is unsubscribed: an import does not re-add it"
    assert statuses(engine) == {
        "left@example.com": SubscriberStatus.UNSUBSCRIBED,
        "gone@example.com": SubscriberStatus.BOUNCED,
        "angry@example.com": SubscriberStatus.COMPLAINED,
        "waiting@example.com": SubscriberStatus.PENDING,  # an import cannot confirm for them
        "ada@example.com": SubscriberStatus.ACTIVE,
        "new@example.com": SubscriberStatus.ACTIVE,
    }


def test_export_then_import_into_a_new_store_keeps_suppressions(
    engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "ada@example.com", name='=HYPERLINK("http://x")')
        add_subscriber(conn, "left@example.com", status=SubscriberStatus.UNSUBSCRIBED)
        add_subscriber(conn, "angry@example.com", status=SubscriberStatus.COMPLAINED)
        add_subscriber(conn, "waiting@example.com", status=SubscriberStatus.PENDING)
    out = io.StringIO()
    assert export_csv(engine, out) == 4
    assert "'=HYPERLINK" in out.getvalue()  # a spreadsheet shows it, does not run it
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    imported, _updated, skipped = load(fresh, out.getvalue())
    assert imported == 3
    assert [reason for _line, reason in skipped] == ["unknown status 'pending'"]
    assert statuses(fresh) == {
        "ada@example.com": SubscriberStatus.ACTIVE,
        "left@example.com": SubscriberStatus.UNSUBSCRIBED,
        "angry@example.com": SubscriberStatus.COMPLAINED,
    }
    with fresh.connect() as conn:
        assert conn.scalar(select(schema.subscribers.c.name)) == '=HYPERLINK("http://x")'


def test_a_status_column_can_suppress_but_never_lift(engine: Engine) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "ada@example.com")
        add_subscriber(conn, "left@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    text = "email,status\nada@example.com,unsubscribed\nleft@example.com,active\n"
    imported, updated, skipped = load(engine, text)
    assert (imported, updated, len(skipped)) == (0, 1, 1)
    assert statuses(engine) == {
        "ada@example.com": SubscriberStatus.UNSUBSCRIBED,
        "left@example.com": SubscriberStatus.UNSUBSCRIBED,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"name,address\nAda,ada@example.com\n", "no 'email' column"),
        (b"\xffemail\nada@example.com\n", "line 1: the header row cannot be read"),
        (b'"email\nada@example.com\n', "line 1: the header row cannot be read"),
    ],
)
def test_unreadable_files_fail_in_one_line_and_change_nothing(
    tmp_path: Path, env_settings: Path, content: bytes, message: str
) -> None:
    assert invoke("subscribers", "add", "kept@example.com").exit_code == 0
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = invoke("subscribers", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert invoke("subscribers", "count").stdout.strip() == "1"


def test_a_huge_cell_is_refused_cleanly(tmp_path: Path, env_settings: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text('email\n"' + "a" * 200_000 + '"\nada@example.com\n', encoding="utf-8")
    result = invoke("subscribers", "import", str(path))
    assert result.exit_code == 0
    assert result.stderr.startswith("line 2: unreadable CSV (field larger than field limit")
    assert result.stdout.strip() == "imported 1, updated 0, skipped 1"


def test_many_skipped_rows_are_summarised(tmp_path: Path, env_settings: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("email\n" + "nope\n" * 150, encoding="utf-8")
    result = invoke("subscribers", "import", str(path))
    assert result.exit_code == 0
    assert result.stdout.strip() == "imported 0, updated 0, skipped 150"
    lines = result.stderr.splitlines()
    assert len(lines) == 101
    assert lines[-1] == "... and 50 more skipped rows"


def test_batches_see_duplicates_across_their_boundaries(engine: Engine) -> None:
    rows = [f"reader{i}@example.com" for i in range(25)] + ["READER3@example.com"]
    text = "email\n" + "\n".join(rows)
    report = import_csv(engine, io.BytesIO(text.encode()), batch_size=4)
    assert (report.imported, [line for line, _ in report.skipped]) == (25, [27])
    with engine.connect() as conn:
        assert count(conn) == 25


_cell = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(["ada@example.com", "ADA@example.com", "x@y", "", "\ufeff", '"', ",", "\r"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(_cell, min_size=0, max_size=4), max_size=30), st.booleans())
def test_a_hostile_csv_never_crashes_and_never_loses_anyone(
    tmp_path: Path, rows: list[list[str]], with_header: bool
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'hostile.db'}")
    with engine.begin() as conn:
        if count(conn) == 0:
            add_subscriber(conn, "kept@example.com", name="Kept")
            add_subscriber(conn, "left@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    before = statuses(engine)
    out = io.StringIO()
    writer = csv.writer(out)
    if with_header:
        writer.writerow(["email", "name", "status"])
    writer.writerows(rows)
    try:
        report = import_csv(engine, io.BytesIO(out.getvalue().encode("utf-8")))
    except SubscriberError as err:
        failure: SubscriberError | None = err
    else:
        failure = None
    if failure is not None:
        assert "\n" not in str(failure)
        assert statuses(engine) == before
        return
    after = statuses(engine)
    assert set(before) <= set(after), "an import never deletes anyone"
    assert after["left@example.com"] == SubscriberStatus.UNSUBSCRIBED
    assert after["kept@example.com"] in (SubscriberStatus.ACTIVE, *tuple(SubscriberStatus)[2:])
    assert all("\n" not in reason and "\r" not in reason for _, reason in report.skipped)
    assert report.imported == len(after) - len(before)


# -- the other list commands ----------------------------------------------------------------


def test_remove_unsubscribes_and_keeps_the_row(env_settings: Path) -> None:
    assert invoke("subscribers", "add", "ada@example.com").exit_code == 0
    result = invoke("subscribers", "remove", "ADA@example.com")
    assert (result.exit_code, result.stdout.strip()) == (0, "unsubscribed ada@example.com")
    assert invoke("subscribers", "count", "--status", "unsubscribed").stdout.strip() == "1"
    assert invoke("subscribers", "count", "--status", "active").stdout.strip() == "0"
    again = invoke("subscribers", "remove", "ada@example.com")
    assert again.stdout.strip() == "ada@example.com was already unsubscribed"
    missing = invoke("subscribers", "remove", "nobody@example.com")
    assert (missing.exit_code, missing.stderr) == (
        1,
        "error: nobody@example.com is not on the list\n",
    )


def test_export_to_a_file_by_status(tmp_path: Path, env_settings: Path) -> None:
    invoke("subscribers", "add", "ada@example.com", "--name", "Ada")
    invoke("subscribers", "add", "grace@example.com")
    invoke("subscribers", "remove", "grace@example.com")
    target = tmp_path / "active.csv"
    result = invoke("subscribers", "export", "--status", "active", "--output", str(target))
    assert result.exit_code == 0
    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [
        ("ada@example.com", "Ada", "active")
    ]
    assert rows[0]["created_at"].startswith("20")


# -- strict, line-aware parsing; --dry-run --------------------------------------------------


def emails_of(engine: Engine) -> set[str]:
    return set(statuses(engine))


def test_an_unterminated_quote_swallows_no_rows(engine: Engine) -> None:
    text = (
        "email,name\n"
        'ada@example.com,"Ada\n'  # the quote is never closed
        "grace@example.com,Grace\n"
        "alan@example.com,Alan\n"
        "edsger@example.com,Edsger\n"
    )
    imported, _, skipped = load(engine, text)
    assert imported == 3
    assert skipped == [(2, "unreadable CSV (a quote opened on this line is not closed on it)")]
    assert emails_of(engine) == {"grace@example.com", "alan@example.com", "edsger@example.com"}


def test_a_bad_byte_is_reported_on_its_own_line(tmp_path: Path, env_settings: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"email,name\r\nada@example.com,Ada\r\nrene@example.com,Ren\xe9\r\ngrace@example.com,G\r\n"
    )
    result = invoke("subscribers", "import", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "line 3: not UTF-8 text (byte 0xe9 at column 21); save the file as UTF-8\n"
    )
    assert result.stdout.strip() == "imported 2, updated 0, skipped 1"


_CORRUPTIONS = {
    "open quote": lambda email: f'{email},"Name',
    "stray quote": lambda email: f'"{email}"x,Name',
    "bad byte": lambda email: f"{email},Nam\udcff",
}


@settings(max_examples=80, deadline=None)
@given(
    st.integers(min_value=1, max_value=30),
    st.dictionaries(
        st.integers(min_value=0, max_value=29), st.sampled_from(sorted(_CORRUPTIONS)), max_size=8
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_every_malformed_row_is_reported_on_its_line_and_no_other_row_is_lost(
    rows: int, corrupt: dict[int, str], newline: str
) -> None:
    lines = ["email,name"]
    for i in range(rows):
        email = f"reader{i}@example.com"
        lines.append(_CORRUPTIONS[corrupt[i]](email) if i in corrupt else f"{email},Name {i}")
    raw = newline.join(lines).encode("utf-8", "surrogateescape")
    engine = open_store("sqlite://")
    report = import_csv(engine, io.BytesIO(raw))
    bad = {i for i in corrupt if i < rows}
    assert sorted(line for line, _ in report.skipped) == sorted(i + 2 for i in bad)
    assert emails_of(engine) == {f"reader{i}@example.com" for i in range(rows) if i not in bad}
    assert report.imported == rows - len(bad)


def test_a_dry_run_reports_what_the_import_would_do_and_stores_nothing(
    tmp_path: Path, env_settings: Path
) -> None:
    assert invoke("subscribers", "add", "kept@example.com").exit_code == 0
    assert invoke("subscribers", "remove", "kept@example.com").exit_code == 0
    path = tmp_path / "list.csv"
    path.write_text(
        "email\nnew@example.com\nkept@example.com\nnot-an-address\n'\"open\nnew@example.com\n",
        encoding="utf-8",
    )
    dry = invoke("subscribers", "import", "--dry-run", str(path))
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout == "dry run: would have imported 1, updated 0, skipped 4; nothing stored\n"
    assert invoke("subscribers", "count").stdout.strip() == "1"
    assert invoke("subscribers", "count", "--status", "active").stdout.strip() == "0"
    real = invoke("subscribers", "import", str(path))
    assert real.stderr == dry.stderr
    assert real.stdout == "imported 1, updated 0, skipped 4\n"
    assert invoke("subscribers", "count", "--status", "active").stdout.strip() == "1"
