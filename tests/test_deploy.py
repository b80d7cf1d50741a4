"""deploy/: the CloudFormation template, the systemd units and the Dockerfile pass their linters
and keep the properties the operator relies on (least privilege, hardening, no secrets)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TEMPLATE = DEPLOY / "template.yaml"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
DOCKERFILE = DEPLOY / "Dockerfile"
IN_CI = bool(os.environ.get("CI"))


def _tool(name: str) -> str:
    """The linter from the venv (dev extra) or PATH; missing fails in CI and skips elsewhere."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        if IN_CI:
            pytest.fail(f"{name} is missing: `pip install -e '.[dev]'` installs it")
        pytest.skip(f"{name} not installed")
    return found


# --- CloudFormation ------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub ...) as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict:  # type: ignore[type-arg]
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # a SafeLoader subclass


def test_cfn_lint_passes() -> None:
    done = subprocess.run(
        [_tool("cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _statements(template: dict, role: str) -> list[dict]:  # type: ignore[type-arg]
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def test_task_role_is_least_privilege(template: dict) -> None:  # type: ignore[type-arg]
    statements = _statements(template, "TaskRole")
    by_action = {a: s for s in statements for a in _list(s["Action"])}
    assert set(by_action) == {
        "ses:SendEmail",
        "ses:SendBulkEmail",
        "ses:GetAccount",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientWrite",
    }
    send = by_action["ses:SendBulkEmail"]["Resource"]
    assert [r["Sub"] for r in send] == [
        "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${DomainName}",
        "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}"
        ":configuration-set/${ConfigurationSet}",
    ]
    assert by_action["sqs:ReceiveMessage"]["Resource"] == {"GetAtt": "FeedbackQueue.Arn"}
    # GetAccount has no resource type: "*" is the only value IAM accepts for it.
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert [_list(s["Action"]) for s in wildcard] == [["ses:GetAccount"]]


def _list(value: object) -> list[str]:
    return value if isinstance(value, list) else [value]  # type: ignore[return-value]


def test_secrets_are_referenced_never_inline(template: dict) -> None:  # type: ignore[type-arg]
    container = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    assert secrets == {
        "MORNINGPOST_SECRET_KEY": {"Ref": "SecretKeySecretArn"},
        "MORNINGPOST_DATABASE_URL": {"Ref": "DatabaseUrlSecretArn"},
    }
    names = {e["Name"] for e in container["Environment"]}
    assert not names & {"MORNINGPOST_SECRET_KEY", "MORNINGPOST_DATABASE_URL"}
    assert not any("SECRET_ACCESS" in n or "PASSWORD" in n for n in names)


def test_feedback_flows_from_ses_to_the_queue(template: dict) -> None:  # type: ignore[type-arg]
    resources = template["Resources"]
    destination = resources["FeedbackEvents"]["Properties"]["EventDestination"]
    condition, tracked, untracked = destination["MatchingEventTypes"]["If"]
    assert condition == "TrackingOn"
    base = [
        "bounce", "complaint", "delivery", "deliveryDelay", "reject", "renderingFailure", "send",
    ]  # fmt: skip
    assert sorted(untracked) == base
    assert sorted(tracked) == sorted([*base, "open", "click"])
    assert destination["SnsDestination"]["TopicARN"] == {"Ref": "FeedbackTopic"}
    subscription = resources["FeedbackSubscription"]["Properties"]
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == {"GetAtt": "FeedbackQueue.Arn"}
    env = {
        e["Name"]: e["Value"]
        for e in resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"]
    }
    assert env["MORNINGPOST_BOUNCES_QUEUE_URL"] == {"Ref": "FeedbackQueue"}
    assert env["MORNINGPOST_SES_CONFIGURATION_SET"] == {"Ref": "ConfigurationSet"}


def test_schedules_run_the_commands_in_local_time(template: dict) -> None:  # type: ignore[type-arg]
    resources = template["Resources"]
    commands = {}
    for name in ("DraftSchedule", "SendSchedule", "BouncesSchedule"):
        target = resources[name]["Properties"]["Target"]
        commands[name] = re.search(r'"command": \["(\w+)"\]', target["Input"]).group(1)  # type: ignore[union-attr]
    assert commands == {
        "DraftSchedule": "draft",
        "SendSchedule": "run",
        "BouncesSchedule": "bounces",
    }
    for name in ("DraftSchedule", "SendSchedule"):
        props = resources[name]["Properties"]
        assert props["ScheduleExpressionTimezone"] == {"Ref": "TimeZone"}


def test_send_tasks_add_joining_workers_beside_the_run(template: dict) -> None:  # type: ignore[type-arg]
    resources = template["Resources"]
    param = template["Parameters"]["SendTasks"]
    assert (param["Default"], param["MinValue"], param["MaxValue"]) == (1, 1, 10)
    workers = resources["SendWorkersSchedule"]
    assert workers["Condition"] == "HasSendWorkers"
    assert template["Conditions"]["HasSendWorkers"] == {
        "Not": [{"Equals": [{"Ref": "SendTasks"}, 1]}]
    }
    props, run = workers["Properties"], resources["SendSchedule"]["Properties"]
    assert props["ScheduleExpression"] == run["ScheduleExpression"]
    assert '"command": ["send", "--join"]' in props["Target"]["Input"]
    # SendTasks - 1 of them: index n of the list is n - 1 for every allowed n.
    index, counts = props["Target"]["EcsParameters"]["TaskCount"]["Select"]
    assert index == {"Ref": "SendTasks"}
    assert [counts[n] for n in range(1, 11)] == list(range(10))
    assert "TaskCount" not in resources["SendSchedule"]["Properties"]["Target"]["EcsParameters"]


def test_the_web_service_is_health_checked_at_healthz(template: dict) -> None:  # type: ignore[type-arg]
    resources = template["Resources"]
    web = {k: v for k, v in resources.items() if v.get("Condition") == "HasWebService"}
    assert set(web) == {
        "WebSecurityGroup", "WebTargetGroup", "WebListenerRule", "WebTaskDefinition", "WebService"
    }
    group = resources["WebTargetGroup"]["Properties"]
    assert (group["HealthCheckPath"], group["Matcher"]["HttpCode"]) == ("/healthz", "200")
    container = resources["WebTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    command = container["Command"]
    assert command[0] == "serve"
    port = int(command[command.index("--port") + 1])
    assert [m["ContainerPort"] for m in container["PortMappings"]] == [port]
    assert group["Port"] == port
    service = resources["WebService"]["Properties"]
    assert service["LoadBalancers"][0]["ContainerPort"] == port
    assert container["HealthCheck"]["Command"][:2] == ["CMD", "python"]
    assert f"http://127.0.0.1:{port}/healthz" in container["HealthCheck"]["Command"][-1]
    secrets = {s["Name"] for s in container["Secrets"]}
    assert secrets == {"MORNINGPOST_SECRET_KEY", "MORNINGPOST_DATABASE_URL"}
    # The scheduled one-off tasks serve nothing: no health check that could only fail.
    task = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert "HealthCheck" not in task


def test_the_commands_the_deployment_runs_exist() -> None:
    from pipeline.cli import main

    ctx = click.Context(main)
    for command in ("draft", "run", "bounces", "schedule", "serve", "approve", "status"):
        assert main.get_command(ctx, command) is not None, command


# --- systemd -------------------------------------------------------------------------------

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/morningpost",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
}


def _unit(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.startswith("#")}


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_are_hardened_and_run_as_their_own_user(unit: Path) -> None:
    options = _unit(unit)
    for key, value in HARDENING.items():
        assert options.get(key) == value, key
    assert options["User"] == "morningpost"
    assert options["ExecStart"].startswith("/opt/morningpost/venv/bin/morningpost ")
    assert "SECRET" not in unit.read_text().replace("MORNINGPOST_SECRET_KEY", "")


def test_the_scheduler_unit_stops_on_sigterm_with_time_to_finish() -> None:
    options = _unit(DEPLOY / "systemd" / "morningpost-schedule.service")
    assert options["ExecStart"].endswith(" schedule")
    assert options["KillSignal"] == "SIGTERM"
    assert int(options["TimeoutStopSec"]) >= 60


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not available")
    # verify checks that ExecStart exists: point it at this checkout's console script.
    script = Path(sys.executable).with_name("morningpost")
    for unit in UNITS:
        text = unit.read_text().replace("/opt/morningpost/venv/bin/morningpost", str(script))
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "morningpost" not in done.stderr, done.stderr  # no warning about our units


# --- the container image -------------------------------------------------------------------


def test_hadolint_passes() -> None:
    done = subprocess.run(
        [_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_pins_its_base_runs_as_non_root_and_has_two_entrypoints() -> None:
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert bases
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", b) for b in bases)
    assert re.search(r"^USER 10001:10001$", text, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["morningpost", "--verbose"]' in text
    assert 'CMD ["schedule"]' in text
    assert "serve --host 0.0.0.0" in text  # the second entrypoint, documented
    assert not re.search(r"(SECRET|PASSWORD|AWS_ACCESS)\w*=", text)
