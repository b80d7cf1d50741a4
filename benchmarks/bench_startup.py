"""How long ``morningpost --help`` and ``morningpost status`` take to start, and what they import.

Each command runs as a fresh ``python`` process, as an operator's shell would start it;
the figure is the median wall time of N runs (the first ``status`` run, which creates and
migrates the store, is not counted), with the median CPU time (user + system) beside it,
which a machine busy with other work inflates less. The probe also names any of the heavy
libraries a command imported although it does not use them: none should appear.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 300
# Libraries that neither listing the commands nor `status` needs.
HEAVY = (
    "premailer", "mjml", "jinja2", "boto3", "botocore", "huggingface_hub", "httpx",
    "feedparser", "rich", "starlette", "cssutils", "lxml", "markdown_it", "email_validator",
)  # fmt: skip
# Runs the CLI as the console script does, then names the heavy modules it imported.
PROBE = (
    "import atexit, sys\n"
    f"heavy = {HEAVY!r}\n"
    "atexit.register(lambda: print('heavy:', *sorted(m for m in heavy if m in sys.modules),"
    " file=sys.stderr))\n"
    "from pipeline.cli import main\n"
    "main()\n"
)


def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """One run of ``morningpost *args``: wall and CPU seconds, the heavy modules it imported."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    heavy = done.stderr.strip().splitlines()[-1].removeprefix("heavy:").strip()
    return seconds, cpu, heavy


def main(quick: bool = False) -> None:
    repeat = 3 if quick else 21
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")}
        env.update(MORNINGPOST_DATA_DIR=str(here / "var"), PYTHONPATH=str(ROOT))
        run(["status"], env, here)  # creates and migrates the store: not a start-up cost
        for args in (["--help"], ["status"]):
            walls, cpus, heavy = [], [], ""
            for _ in range(repeat):
                wall, cpu, heavy = run(args, env, here)
                walls.append(wall)
                cpus.append(cpu)
            wall_ms, cpu_ms = statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3
            print(
                f"start-up `morningpost {' '.join(args)}`: median {wall_ms:.0f} ms wall"
                f" (target <= {TARGET_MS} ms), {cpu_ms:.0f} ms CPU, {repeat} runs;"
                f" heavy modules imported: {heavy or 'none'}"
            )
