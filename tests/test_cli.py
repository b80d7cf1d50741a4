from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from pipeline.settings import SAMPLE_SECRET_KEY
from subscribers.tokens import read_token
from tests.drafts import draft_from_recordings

DATE = "2026-11-27"
ACTIVE_DEMO_SUBSCRIBERS = 5
UNSUBSCRIBE = re.compile(r"http://127\.0\.0\.1:8080/unsubscribe/([A-Za-z0-9_.-]+)")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    help_text = result.output.split("\n\n", 2)[1].strip()
    assert len(help_text) > 10, f"{' '.join(path)} has no help text"


def test_bad_usage_exits_2(env_settings: Path) -> None:
    assert invoke("run", "--date", "27/11/2026").exit_code == 2
    assert invoke("no-such-command").exit_code == 2


def test_missing_secret_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke("send", "--date", DATE)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: MORNINGPOST_SECRET_KEY is not set")


def test_bad_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORNINGPOST_FEEDS", "not json")
    result = invoke("status")
    assert (result.exit_code, result.stderr.count("\n")) == (1, 1)
    assert "MORNINGPOST_FEEDS" in result.stderr


def _outbox(data_dir: Path) -> list[email.message.EmailMessage]:
    files = sorted((data_dir / "outbox" / DATE).glob("*.eml"))
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    return [m for m in parsed if isinstance(m, email.message.EmailMessage)]


def test_run_sample_delivers_one_personal_message_per_active_subscriber(
    env_settings: Path,
) -> None:
    result = invoke("run", "--sample", "--date", DATE)
    assert result.exit_code == 0, result.output + result.stderr
    assert "Issue #1 of 2026-11-27" in result.output
    assert f"Delivered {ACTIVE_DEMO_SUBSCRIBERS} " in result.output
    sample = env_settings / "sample"  # sample runs keep to their own data directory
    assert (sample / "issues" / DATE / "email.html").exists()
    assert (sample / "issues" / DATE / "issue.json").exists()
    assert sorted(p.name for p in env_settings.iterdir()) == ["sample"]

    messages = _outbox(sample)
    assert len(messages) == ACTIVE_DEMO_SUBSCRIBERS
    recipients, tokens = set(), set()
    for message in messages:
        text, html = message.iter_parts()
        assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
        header_token = UNSUBSCRIBE.search(message["List-Unsubscribe"])
        assert header_token is not None
        token = header_token.group(1)
        assert token in html.get_content()
        assert token in text.get_content()
        assert "{{" not in html.get_content()
        assert "{{" not in text.get_content()
        recipients.add(message["To"].addresses[0].addr_spec)
        tokens.add(token)
        assert read_token(SAMPLE_SECRET_KEY, token) is not None  # never the operator's key
    assert len(recipients) == len(tokens) == ACTIVE_DEMO_SUBSCRIBERS
    assert "left.last.week@example.com" not in recipients


def test_run_twice_delivers_nothing_the_second_time(env_settings: Path) -> None:
    assert invoke("run", "--sample", "--date", DATE).exit_code == 0
    again = invoke("run", "--sample", "--date", DATE)
    assert again.exit_code == 0, again.stderr
    assert "Delivered 0 " in again.output
    assert f"already sent {ACTIVE_DEMO_SUBSCRIBERS}" in again.output
    assert len(_outbox(env_settings / "sample")) == ACTIVE_DEMO_SUBSCRIBERS


def test_status_json_after_a_run(env_settings: Path) -> None:
    invoke("run", "--sample", "--date", DATE)
    assert json.loads(invoke("status", "--date", DATE, "--json").output)["state"] is None
    result = invoke("status", "--sample", "--date", DATE, "--json")
    assert result.exit_code == 0
    status = json.loads(result.output)
    rate = status.pop("rate_per_second")  # measured, so only its kind is known
    assert rate is None or rate > 0
    send = status.pop("send")
    assert (send["live"], send["workers"], send["lost"]) == (False, [], [])
    assert send["progress"] == {"done": 5, "total": 5}
    assert send["started_at"] <= send["ended_at"]
    assert status == {
        "date": DATE,
        "state": "sent",
        "number": 1,
        "approved_by": None,
        "approved_at": None,
        "waiting_for_approval": None,
        "deliveries": {"pending": 0, "sent": 5, "failed": 0, "skipped": 0, "unknown": 0},
        "in_flight": 0,
        "errors": [],
        "lock": None,
        "writer": None,  # no AI desk wrote this issue
    }


def test_stages_one_by_one(env_settings: Path) -> None:
    draft_from_recordings(DATE)
    rendered = invoke("render", "--date", DATE)
    assert rendered.exit_code == 0
    assert re.search(r"email\.html [\d,]+ bytes", rendered.output)
    assert invoke("subscribers", "add", "Reader@Example.com", "--name", "Rea").exit_code == 0
    dry = invoke("send", "--date", DATE, "--dry-run")
    assert (dry.exit_code, dry.output.strip()) == (0, "Dry run: 1 messages built, none sent")
    assert not (env_settings / "outbox" / DATE).exists()
    sent = invoke("send", "--date", DATE)
    assert sent.exit_code == 0
    assert len(_outbox(env_settings)) == 1
    assert invoke("subscribers", "count", "--status", "active").output.strip() == "1"


def test_sample_stages_one_by_one_keep_to_the_sample_directory(env_settings: Path) -> None:
    for stage in ("assemble", "render", "approve", "send"):
        result = invoke(stage, "--sample", "--date", DATE)
        assert result.exit_code == 0, (stage, result.stderr)
    sent = json.loads(invoke("status", "--sample", "--date", DATE, "--json").output)
    assert sent["state"] == "sent"
    assert sorted(p.name for p in env_settings.iterdir()) == ["sample"]


def test_render_without_a_draft_fails_in_one_line(env_settings: Path) -> None:
    result = invoke("render", "--date", DATE)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no issue for 2026-11-27")
    assert result.stderr.count("\n") == 1


def test_the_installed_console_script_runs_the_sample(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("morningpost")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")}
    # A one-character key is refused for real work; a sample run signs with its own key.
    env |= {"MORNINGPOST_DATA_DIR": str(tmp_path / "data"), "MORNINGPOST_SECRET_KEY": "k"}
    done = subprocess.run(
        [str(script), "run", "--sample"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Delivered 5 via outbox" in done.stdout


def test_a_sent_issue_is_neither_reassembled_nor_rerendered(env_settings: Path) -> None:
    assert invoke("run", "--sample", "--date", DATE).exit_code == 0
    draft = (env_settings / "sample" / "issues" / DATE / "issue.json").read_bytes()
    for command in ("assemble", "render"):
        result = invoke(command, "--sample", "--date", DATE)
        assert result.exit_code == 1
        assert "is being sent or was sent" in result.stderr
        assert result.stderr.count("\n") == 1
    assert (env_settings / "sample" / "issues" / DATE / "issue.json").read_bytes() == draft


def test_help_works_even_when_settings_are_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORNINGPOST_TIMEZONE", "Nowhere/Nothing")
    assert invoke("run", "--help").exit_code == 0
    assert invoke("status").exit_code == 1


def test_reassembling_an_approved_draft_withdraws_the_approval(env_settings: Path) -> None:
    def state() -> str:
        status = invoke("status", "--sample", "--date", DATE, "--json")
        return str(json.loads(status.output)["state"])

    assert invoke("assemble", "--sample", "--date", DATE).exit_code == 0
    assert invoke("render", "--sample", "--date", DATE).exit_code == 0
    assert invoke("approve", "--sample", "--date", DATE).exit_code == 0
    assert state() == "approved"
    assert invoke("render", "--sample", "--date", DATE).exit_code == 0  # same email: stands
    assert state() == "approved"
    assert invoke("assemble", "--sample", "--date", DATE).exit_code == 0
    assert state() == "draft"


def test_a_subject_with_braces_is_no_template_for_ses(env_settings: Path) -> None:
    from pipeline.context import Context
    from pipeline.settings import load_settings

    draft_from_recordings(DATE)
    draft = env_settings / "issues" / DATE / "issue.json"
    issue = json.loads(draft.read_text())
    issue["subject"] = "Templates {{view_url}} in the wild"
    draft.write_text(json.dumps(issue))
    assert invoke("render", "--date", DATE).exit_code == 0
    with Context(load_settings()) as ctx:
        rendered = ctx.issue(dt.date(2026, 11, 27)).rendered
    assert "{{" not in rendered.subject  # SES substitutes the subject too
    assert rendered.subject.replace("\u2060", "") == "Templates {{view_url}} in the wild"
