"""Interrupt real runs and check that nothing of them is left, and that their evidence is kept.

    flock /tmp/ft/e2e.lock .venv/bin/python scripts/interrupted_runs.py [--rounds 4] [--kinds sigint,...]

Each run is ``./run behave features/smoke.feature -n "mocker aggregated"`` (or behave itself),
interrupted once its load is sending requests, by one of:

- ``sigint``: SIGINT to behave (Ctrl-C);   ``sigterm``: SIGTERM to behave;
- ``run-sigterm``: SIGTERM to ``./run`` (which must not orphan behave);
- ``double-sigint``: a second SIGINT one second later, during cleanup;
- ``sigkill-clean``: SIGKILL to behave, then ``./run clean``.

After each run: no process carries the run's id (``DYNAMO_FT_RUN``), the run's temporary folder
and any new ``aiperf_mmap_*`` folder in the system's temporary folder are gone, no port of its
pods is listening, and ``events.txt`` and ``timeline.json`` (a JSON list) are in the evidence.
Prints one line per run and the totals; exits 1 if any run left something.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ftlib import runs  # noqa: E402

KINDS = ("sigint", "sigterm", "run-sigterm", "double-sigint", "sigkill-clean")
SCENARIO = "mocker aggregated deployment serves 50 requests"
SCENARIO_DIR = "mocker_aggregated_deployment_serves_50_requests"


@dataclass
class Outcome:
    kind: str
    seconds: float
    exit_code: int | None
    left: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    deferred_message: bool = False
    leftovers_before_clean: str = ""

    @property
    def clean(self) -> bool:
        return not self.left and len(self.kept) == 2


def _mmap_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("aiperf_mmap_*")}


def _load_started(scenario: Path) -> bool:
    try:
        lines = (scenario / "events.txt").read_text().splitlines()
    except OSError:
        return False
    return any(" StartLoad:" in line and line.split()[1] != "0" for line in lines)


def _ports(scenario: Path) -> set[int]:
    ports = set()
    for path in scenario.glob("*/*.yaml"):
        text = path.read_text(errors="replace")
        for line in text.splitlines():
            if line.strip().startswith("port:"):
                try:
                    ports.add(int(line.split(":", 1)[1]))
                except ValueError:
                    pass
    return ports


def _listening(ports: set[int]) -> list[int]:
    if not ports:
        return []
    lines = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout.splitlines()
    return sorted(p for p in ports if any(line.split()[3].endswith(f":{p}") for line in lines if len(line.split()) > 3))


def interrupted_run(kind: str, output_dir: Path, timeout: float = 180.0) -> Outcome:
    """One run of ``kind`` (see `KINDS`); what it left and what it kept."""
    scenario = output_dir / SCENARIO_DIR
    before_mmap = _mmap_folders()
    behave_args = ["features/smoke.feature", "-n", "mocker aggregated", "-f", "plain", "-D", f"output_dir={output_dir}"]
    argv = ["./run", "behave", *behave_args] if kind == "run-sigterm" else [str(REPO / ".venv/bin/behave"), *behave_args]
    started = time.monotonic()
    log = output_dir.parent / f"{output_dir.name}.log"
    with open(log, "w") as out:
        child = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not _load_started(scenario) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # requests flowing
    stamp = json.loads((scenario / "dynamo-ft-evidence.json").read_text()) if scenario.exists() else {}
    run = stamp.get("run", "")
    first = {"sigint": signal.SIGINT, "double-sigint": signal.SIGINT, "sigkill-clean": signal.SIGKILL}.get(kind, signal.SIGTERM)
    child.send_signal(first)
    if kind == "double-sigint":
        time.sleep(1.0)
        child.send_signal(signal.SIGINT)
    try:
        code = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        code = None
    outcome = Outcome(kind, time.monotonic() - started, code)
    if kind == "sigkill-clean":
        time.sleep(1.0)
        found = [leftover for leftover in runs.leftovers() if leftover.record.run == run]
        outcome.leftovers_before_clean = found[0].describe() if found else "(none reported)"
        subprocess.run(["./run", "clean"], cwd=REPO, capture_output=True, text=True, timeout=120)
    time.sleep(0.5)
    text = log.read_text(errors="replace")
    outcome.deferred_message = "received during cleanup" in text
    pids = runs.run_processes(run) if run else []
    if not run:
        outcome.left.append("no evidence stamp: the run never started its scenario")
    if pids:
        outcome.left.append(f"processes {pids}")
    run_folder = Path(tempfile.gettempdir()) / runs.temp_folder_name(run) if run else None
    if run_folder is not None and run_folder.exists():
        outcome.left.append(f"temporary folder {run_folder}")
    new_mmap = _mmap_folders() - before_mmap
    if new_mmap:
        outcome.left.append(f"aiperf folders {sorted(new_mmap)}")
    listening = _listening(_ports(scenario))
    if listening:
        outcome.left.append(f"ports listening {listening}")
    if run and any(record.run == run for record in runs.RunRecord.load_all()):
        outcome.left.append("its run record")
    for name in ("events.txt", "timeline.json"):
        try:
            content = (scenario / name).read_text()
            if name == "timeline.json" and not isinstance(json.loads(content), list):
                continue
        except (OSError, ValueError):
            continue
        outcome.kept.append(name)
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="runs of each kind (default 4: 20 runs)")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--output", default=str(Path(tempfile.gettempdir()) / "ft-interrupted-runs"))
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    root = Path(args.output)
    root.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for round_ in range(args.rounds):
        for kind in kinds:
            outcome = interrupted_run(kind, root / f"{kind}-{round_}")
            outcomes.append(outcome)
            extra = f"; before ./run clean: {outcome.leftovers_before_clean}" if outcome.leftovers_before_clean else ""
            print(f"{kind:14} {outcome.seconds:5.1f} s exit {outcome.exit_code}  left: {', '.join(outcome.left) or 'nothing'}; "
                  f"kept: {', '.join(outcome.kept) or 'NOTHING'}"
                  f"{'; deferred a 2nd signal' if outcome.deferred_message else ''}{extra}", flush=True)
    bad = [o for o in outcomes if not o.clean]
    print(f"{len(outcomes)} interrupted runs: {len(bad)} left something or lost evidence")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
