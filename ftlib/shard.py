"""Running the selected scenarios in N worker processes on one machine (``./run behave -j N``).

``python -m ftlib.shard -j N [behave arguments]`` first asks behave which scenarios the arguments
select (a dry run, which deploys nothing), then runs them as a queue over N slots: each scenario is
one ``behave <feature>:<line>`` child with the same arguments, so every scenario keeps its own
deployment, ports, discovery folder, runtime folder and evidence folder, and every child writes into
the one Allure results folder (``<output_dir>/allure-results``). Longest scenarios start first
(durations of the last run, else an estimate from the steps), so the slots finish together.
Scenarios tagged ``@serial`` (whose verdict depends on CPU headroom) run last, each alone.

Each slot gets its own range of loopback ports (``FT_PORT_RANGE``), so two deployments never race
for one port. Without ``-j`` the default is chosen from the machine: see `default_jobs`.

Ctrl-C or SIGTERM stops launching, passes one SIGINT to the running children (whose teardown keeps
their evidence) and waits for them; no child outlives this process (each child gets SIGTERM if it
dies), and none runs forever: past `child_deadline_seconds` it gets the same SIGINT. The closing
line is ``scenarios: N passed, N failed`` (``, N skipped`` when any were).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ftlib import console
from ftlib.options import RunOptions
from ftlib.reports.allure_results import clear_earlier_results, results_dir
from ftlib.scenario import slug

if TYPE_CHECKING:
    from behave.configuration import Configuration

MEMORY_PER_SCENARIO_GB = 1.5  # aiperf (~0.8 GB) + the graph + behave, with head room
PORTS = (20000, 32767)  # Dynamo 1.6.1 reads DYN_SYSTEM_PORT as i16: stay below 32768
STOP_GRACE_SECONDS = 120.0
CHILD_MIN_SECONDS = 1800.0  # a child run is stopped after max(this, CHILD_ESTIMATE_FACTOR x its estimate) per scenario
CHILD_ESTIMATE_FACTOR = 4
_SUMMARY = re.compile(r"(\d+) scenarios? passed, (\d+) failed, (\d+) skipped")
_LOAD_SECONDS = re.compile(r"for (\d+(?:\.\d+)?) (seconds?|minutes?)")
_SCENARIO_LINE = re.compile(r"\s+(\w+) in \d+(\.\d+)? s: ")  # ftlib.console.scenario_line: its status first
_PASS_SECONDS = re.compile(r"^(\d+(?:\.\d+)?) seconds? pass")
SERIAL_TAG = "serial"
DURATIONS = Path.home() / ".cache" / "dynamo-ft" / "durations.json"


def default_jobs(cores: int | None = None, available_gb: float | None = None) -> int:
    """Worker processes for this machine: one per core, and no more than the free memory allows
    at ``MEMORY_PER_SCENARIO_GB`` each (aiperf takes ~0.8 GB). Measured on 2 cores: at 3 or 4
    workers the frontend of a scenario restarts so slowly beside the others' aiperf start-ups that
    its frontend-kill error counts rise past their budgets (22-42 failed where 8-15 fail alone);
    at 2 every verdict held. Ask for more with ``-j N`` on a machine with headroom."""
    cores = cores or os.cpu_count() or 1
    if available_gb is None:
        import psutil

        available_gb = psutil.virtual_memory().available / 2**30
    return max(1, min(cores, int(available_gb // MEMORY_PER_SCENARIO_GB)))


def port_ranges(jobs: int, low: int = PORTS[0], high: int = PORTS[1]) -> list[tuple[int, int]]:
    """``jobs`` disjoint port ranges covering ``low``-``high``."""
    size = (high - low + 1) // jobs
    return [(low + k * size, low + (k + 1) * size - 1) for k in range(jobs)]


@dataclass
class Selected:
    """One scenario (or outline row) that the arguments select."""

    location: str  # features/x.feature:12
    name: str
    estimate: float
    serial: bool = False  # tagged @serial: runs with no other scenario beside it
    folder_name: str = ""  # what its evidence folder is named from (`console.evidence_name`), if not its name

    @property
    def evidence_name(self) -> str:
        return slug(self.folder_name or self.name)


@dataclass
class Outcome:
    """How one child run ended."""

    locations: list[str]
    names: list[str]
    code: int
    seconds: float
    passed: int = 0
    failed: int = 0
    errored: int = 0  # of the failed, those an error stopped rather than a check (their own line says so)
    skipped: int = 0
    log: str = ""
    lines: list[str] = field(default_factory=list)


def estimate_seconds(steps: list[str]) -> float:
    """A scenario's wall time from its steps: ~12 s of deploy and aiperf start-up, the longest
    load duration, the explicit waits; 30 s when nothing says more."""
    load = waits = 0.0
    for text in steps:
        for value, unit in _LOAD_SECONDS.findall(text):
            load = max(load, float(value) * (60 if unit.startswith("minute") else 1))
        match = _PASS_SECONDS.match(text)
        if match:
            waits += float(match.group(1))
    return 12.0 + max(load, waits) if load or waits else 30.0


def _without_formatting(args: list[str]) -> list[str]:
    """The behave arguments minus console/formatter choices and positional paths."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-f", "--format", "-o", "--outfile"):
            skip = True
            continue
        if arg.startswith(("--format=", "--outfile=")) or (arg.startswith(("-f", "-o")) and len(arg) > 2
                                                              and not arg.startswith("--")):
            continue
        kept.append(arg)
    return kept


def split_paths(args: list[str]) -> tuple[list[str], list[str]]:
    """(options, positional feature paths) of a behave argument list."""
    takes_value = {"-D", "--define", "-t", "--tags", "-n", "--name", "-i", "--include", "-e", "--exclude",
                   "-f", "--format", "-o", "--outfile", "-k", "--lang", "--logging-level", "--logging-format"}
    options, paths, expect = [], [], False
    for arg in args:
        if expect:
            options.append(arg)
            expect = False
        elif arg in takes_value:
            options.append(arg)
            expect = True
        elif arg.startswith("-"):
            options.append(arg)
        else:
            paths.append(arg)
    return options, paths


def collect(behave: list[str], args: list[str], folder_names: dict[str, str] | None = None) -> list[Selected]:
    """Ask behave (a dry run into a temporary folder) which scenarios ``args`` select;
    ``folder_names``: what each location's evidence folder is named from (`Checked`)."""
    with tempfile.TemporaryDirectory(prefix="dynamo-ft-collect-") as scratch:
        out = Path(scratch) / "plan.json"
        argv = behave + _without_formatting(args) + ["--dry-run", "--no-summary", "-f", "json", "-o", str(out),
                                                     "-D", f"output_dir={scratch}"]
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0 or not out.exists():
            raise SystemExit(f"collecting the scenarios failed (behave exit {done.returncode}):\n"
                             + "\n".join(done.stdout.splitlines()[-15:]))
        document = json.loads(out.read_text() or "[]")
    known = _load_durations()
    selected = []
    for feature in document:
        for element in feature.get("elements", []):
            if element.get("type") != "scenario":
                continue
            steps = [step.get("name", "") for step in element.get("steps", [])]
            location = element["location"]
            tags = set(feature.get("tags", [])) | set(element.get("tags", []))
            selected.append(Selected(location, element["name"], known.get(location, estimate_seconds(steps)),
                                     SERIAL_TAG in tags, (folder_names or {}).get(location, "")))
    return selected


def _load_durations() -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _save_durations(outcomes: list[Outcome]) -> None:
    known = _load_durations()
    for outcome in outcomes:
        if len(outcome.locations) == 1 and outcome.code in (0, 1):
            known[outcome.locations[0]] = round(outcome.seconds, 1)
    try:
        DURATIONS.parent.mkdir(parents=True, exist_ok=True)
        DURATIONS.write_text(json.dumps(known, indent=1, sort_keys=True))
    except OSError:
        pass


def batches(selected: list[Selected]) -> list[list[Selected]]:
    """Scenarios as child runs, longest first and @serial ones last (each then runs alone).
    Scenarios whose evidence folders would share a name run in one child, whose own numbering
    then keeps them apart."""
    groups: dict[str, list[Selected]] = {}
    for item in selected:
        groups.setdefault(item.evidence_name, []).append(item)
    return sorted(groups.values(), key=lambda group: (any(item.serial for item in group),
                                                      -sum(item.estimate for item in group)))


def child_deadline_seconds(group: list[Selected]) -> float:
    """How long one child run may take before it is stopped as Ctrl-C would (its teardown keeps the
    evidence), then killed after `STOP_GRACE_SECONDS`: the queue never waits on a child forever."""
    return sum(max(CHILD_MIN_SECONDS, CHILD_ESTIMATE_FACTOR * item.estimate) for item in group)


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ShardRunner:
    """The queue of child runs over ``jobs`` slots."""

    def __init__(self, behave: list[str], args: list[str], jobs: int, log_dir: Path):
        self.behave, self.jobs, self.log_dir = behave, jobs, log_dir
        options, self.paths = split_paths(args)
        self.options = options
        self.running: dict[int, tuple[subprocess.Popen, list[Selected], float, Path]] = {}
        self.free_slots = list(range(jobs))
        self.ranges = port_ranges(jobs)
        self.stopping = False
        self.overdue: dict[int, float] = {}  # pid of a child past its deadline -> when it was sent SIGINT

    def _start(self, group: list[Selected]) -> None:
        slot = self.free_slots.pop(0)
        low, high = self.ranges[slot]
        log = self.log_dir / f"{slug(group[0].location)}.log"
        env = dict(os.environ, FT_PORT_RANGE=f"{low}-{high}", FT_SHARD=str(slot), FT_KEEP_RESULTS="1",
                   PYTHONUNBUFFERED="1")
        argv = self.behave + [item.location for item in group] + self.options
        with open(log, "wb") as out:
            child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True, preexec_fn=_die_with_parent)
        self.running[slot] = (child, group, time.monotonic(), log)

    def _reap(self) -> list[Outcome]:
        done = []
        for slot, (child, group, started, log) in list(self.running.items()):
            if child.poll() is None:
                continue
            del self.running[slot]
            self.free_slots.append(slot)
            done.append(self._outcome(child.returncode, group, time.monotonic() - started, log))
        return done

    def _stop_overdue(self) -> None:
        """SIGINT to a child past `child_deadline_seconds`, SIGKILL `STOP_GRACE_SECONDS` later."""
        now = time.monotonic()
        for child, group, started, _ in self.running.values():
            signalled = self.overdue.get(child.pid)
            if signalled is None and now - started > child_deadline_seconds(group):
                print(f"dynamo-ft: {' '.join(item.location for item in group)} still running after "
                      f"{now - started:.0f} s: stopping it", file=sys.stderr, flush=True)
                self.overdue[child.pid] = now
                child.send_signal(signal.SIGINT)
            elif signalled is not None and now - signalled > STOP_GRACE_SECONDS:
                child.kill()

    @staticmethod
    def _outcome(code: int, group: list[Selected], seconds: float, log: Path) -> Outcome:
        text = log.read_text(errors="replace") if log.exists() else ""
        outcome = Outcome([g.location for g in group], [g.name for g in group], code, seconds, log=str(log))
        match = None
        for match in _SUMMARY.finditer(text):
            pass
        if match is not None:  # behave also counts the feature's other scenarios, not selected, as skipped
            outcome.passed, outcome.failed = int(match.group(1)), int(match.group(2))
        if code != 0 and outcome.failed == 0:
            outcome.failed = max(1, len(group) - outcome.passed)
        outcome.skipped = max(0, len(group) - outcome.passed - outcome.failed)
        outcome.lines = [line for line in text.splitlines() if _SCENARIO_LINE.match(line)]
        errors = [line for line in outcome.lines if _SCENARIO_LINE.match(line).group(1) not in ("passed", "failed")]
        outcome.errored = min(outcome.failed, len(errors))
        return outcome

    def interrupt(self, signum, frame) -> None:  # noqa: ARG002 - a signal handler
        if self.stopping:
            print("dynamo-ft: still stopping the running scenarios (their teardown keeps the evidence)…",
                  file=sys.stderr, flush=True)
            return
        self.stopping = True
        print(f"\ndynamo-ft: interrupted: no new scenarios; stopping {len(self.running)} running",
              file=sys.stderr, flush=True)
        for child, *_ in self.running.values():
            try:
                child.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def _may_start(self, group: list[Selected]) -> bool:
        """A @serial scenario starts only when nothing runs, and nothing starts beside it."""
        if any(item.serial for _, running, *_ in self.running.values() for item in running):
            return False
        return not self.running if any(item.serial for item in group) else True

    def run(self, todo: list[list[Selected]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        queue = list(todo)
        total = sum(len(group) for group in todo)
        stop_deadline = None
        while queue or self.running:
            while queue and self.free_slots and not self.stopping and self._may_start(queue[0]):
                self._start(queue.pop(0))
            self._stop_overdue()
            for outcome in self._reap():
                outcomes.append(outcome)
                self._print(outcome, sum(len(o.locations) for o in outcomes), total)
            if self.stopping:
                queue.clear()
                stop_deadline = stop_deadline or time.monotonic() + STOP_GRACE_SECONDS
                if time.monotonic() > stop_deadline:
                    for child, *_ in self.running.values():
                        child.kill()
            time.sleep(0.2)
        return outcomes

    @staticmethod
    def _print(outcome: Outcome, done: int, total: int) -> None:
        state = "passed" if outcome.code == 0 and outcome.failed == 0 else "FAILED"
        if outcome.code == 0 and outcome.passed == 0 and outcome.skipped:
            state = "skipped"
        print(f"[{done}/{total}] {state:7} {outcome.seconds:6.1f} s  {' '.join(outcome.locations)}  "
              f"{outcome.names[0][:70]}", flush=True)
        for line in outcome.lines:  # the child's own line: every verdict with its numbers, the evidence
            print(f"           {line.strip()}", flush=True)
        if state == "FAILED":
            print(f"           console output: {outcome.log}", flush=True)


def output_dir(args: list[str], repo: Path) -> Path:
    """The ``-D output_dir`` the arguments give, else behave.ini's default."""
    value = "test_outputs"
    for index, arg in enumerate(args):
        if arg in ("-D", "--define") and index + 1 < len(args) and args[index + 1].startswith("output_dir="):
            value = args[index + 1].split("=", 1)[1]
        elif arg.startswith("--define=output_dir="):
            value = arg.split("=", 2)[2]
    path = Path(value)
    return path if path.is_absolute() else repo / path


@dataclass
class Checked:
    """The arguments as `refuse_bad_arguments` found them good: behave's configuration, the run's
    options, and what each selected scenario's evidence folder is named from, by location."""

    config: "Configuration"
    options: RunOptions
    folder_names: dict[str, str]

    @property
    def plans_only(self) -> bool:
        return bool(self.options.dry_run or self.config.dry_run)


def refuse_bad_arguments(args: list[str]) -> Checked:
    """What every child would refuse, refused once here, before any child starts, with the same
    one message and exit code 2 as a run without ``-j`` (`ftlib.console`): the ``-D`` options, the
    output folder, the selection (``--tags``, ``-n``, paths; none selected is an error) and what the
    platform needs (no cluster, a bad ``FT_PORT_RANGE``…). behave's own argument errors exit as
    behave would."""
    from behave.configuration import Configuration
    from behave.runner import Runner
    from behave.runner_util import parse_features

    config = Configuration(args)
    runner = Runner(config)
    with runner.path_manager:  # the features as behave's runner finds and parses them
        runner.setup_paths()
        locations = [location for location in runner.feature_locations() if not config.exclude(location)]
        features = parse_features(locations, language=config.lang)
    options = console.checked_options(config.userdata, Path(config.base_dir).resolve().parent)
    selected = console.check_selection(features, config)
    console.check_platform(options)
    return Checked(config, options, {str(scenario.location): console.evidence_name(scenario) for scenario in selected})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ftlib.shard", description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("-j", "--jobs", default="auto")
    ours, args = parser.parse_known_args(argv)
    if ours.jobs == "auto":
        jobs = default_jobs()
    elif ours.jobs.isdigit() and 1 <= int(ours.jobs) <= 16:
        jobs = int(ours.jobs)
    else:
        print(f"dynamo-ft: -j takes a whole number from 1 to 16 or 'auto', got {ours.jobs!r}", file=sys.stderr)
        return 2
    repo = Path.cwd()
    behave = [sys.executable, "-m", "behave"]
    checked = refuse_bad_arguments(args)
    selected = collect(behave, args, checked.folder_names)
    if not selected:
        print("dynamo-ft: the arguments select no scenario (check --tags, -n and the feature paths)",
              file=sys.stderr)
        return 2
    out = output_dir(args, repo)
    results = results_dir(checked.config.userdata, checked.config.base_dir)
    if not checked.plans_only:  # ./run's runs start from empty results: only now that scenarios are to run
        clear_earlier_results(results)
    log_dir = out / "shard-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    todo = batches(selected)
    jobs = min(jobs, len(todo))
    print(f"dynamo-ft: {len(selected)} scenarios in {jobs} worker processes (console output of each: "
          f"{log_dir}/)", flush=True)
    runner = ShardRunner(behave, args, jobs, log_dir)
    signal.signal(signal.SIGINT, runner.interrupt)
    signal.signal(signal.SIGTERM, runner.interrupt)
    started = time.monotonic()
    outcomes = runner.run(todo)
    wall = time.monotonic() - started
    _save_durations(outcomes)
    tally = tally_of(outcomes)
    not_run = len(selected) - sum(len(o.locations) for o in outcomes)
    (out / "shards.json").write_text(json.dumps({"jobs": jobs, "wall_seconds": round(wall, 1),
                                                 "outcomes": [asdict(o) for o in outcomes]}, indent=1))
    print("\n".join(console.run_summary(tally, wall, out, results, repo, workers=jobs, not_run=not_run)), flush=True)
    if runner.stopping:
        return 130
    return 0 if tally.failed == 0 and not_run == 0 else 1


def tally_of(outcomes: list[Outcome]) -> console.RunTally:
    """The run's counts over its child runs, and the scenarios of each child that did not pass."""
    tally = console.RunTally(passed=sum(o.passed for o in outcomes), failed=sum(o.failed for o in outcomes),
                             errored=sum(o.errored for o in outcomes), skipped=sum(o.skipped for o in outcomes))
    for outcome in outcomes:
        if outcome.failed:
            status = next((_SCENARIO_LINE.match(line).group(1) for line in outcome.lines
                           if _SCENARIO_LINE.match(line).group(1) != "passed"), "failed")
            tally.not_passed += [f"{status}  {location}  {name}" for location, name in zip(outcome.locations,
                                                                                           outcome.names)]
    return tally


if __name__ == "__main__":
    sys.exit(main())
