"""The run registry: what each run creates outside its evidence folders, so nothing outlives it.

`start_run` gives this process a run id and one temporary folder (``dft-<random part of the
id>`` in the system's temporary folder). Everything temporary of the run goes inside it: the process's
``tempfile`` folder and the ``TMPDIR`` its children inherit point there (deployments' runtime
folders, aiperf's ``aiperf_mmap_*`` folders…). It is recorded in ``<registry>/<id>.json``
(`REGISTRY`: ``~/.cache/dynamo-ft/runs``, or ``$FT_RUNS_DIR``) with the process id and start
time *before* anything is created, and every child process inherits ``DYNAMO_FT_RUN=<id>``.
`finish_run` removes the folder and the record.

A run killed with SIGKILL cannot clean up. The next run reports what such dead runs left
(`leftovers`: their folders and the processes still carrying their id), and ``./run clean``
(`clean`) removes exactly that: the recorded folders (only if they still lie in the system's
temporary folder under the recorded name) and those processes (through pidfds, after checking
again that each still carries the dead run's id). A run counts as dead when its process is gone
or its number now belongs to a process started at another time.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ftlib import evidence

RUN_ENV = "DYNAMO_FT_RUN"
TEMP_PREFIX = "dft-"  # short: aiperf puts Unix sockets (at most 107 bytes of path) a few levels below


def temp_folder_name(run: str) -> str:
    """The name of a run's temporary folder: ``dft-<the run id's random part>``."""
    return f"{TEMP_PREFIX}{run.rsplit('-', 1)[-1]}"


def registry_dir() -> Path:
    override = os.environ.get("FT_RUNS_DIR")
    return Path(override) if override else Path.home() / ".cache" / "dynamo-ft" / "runs"


def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass
class RunRecord:
    """One run as the registry holds it (``<registry>/<run>.json``)."""

    run: str
    pid: int
    started_ticks: int
    started: str
    argv: list[str]
    temp_root: str
    created: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return registry_dir() / f"{self.run}.json"

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(partial, self.path)

    @property
    def alive(self) -> bool:
        return process_start_ticks(self.pid) == self.started_ticks

    @classmethod
    def load_all(cls) -> list["RunRecord"]:
        records = []
        for path in sorted(registry_dir().glob("*.json")):
            try:
                records.append(cls(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):
                continue
        return records


_current: RunRecord | None = None
_saved_tempdir: tuple[str | None, str | None] = (None, None)


def start_run() -> RunRecord:
    """Register this process as a run (once) and move its temporary files into the run's folder."""
    global _current, _saved_tempdir
    if _current is not None:
        return _current
    run = time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    system_temp = tempfile.gettempdir()
    root = Path(system_temp) / temp_folder_name(run)
    record = RunRecord(run, os.getpid(), process_start_ticks(os.getpid()) or 0, time.strftime("%Y-%m-%dT%H:%M:%S"),
                       list(sys.argv), str(root), [str(root)])
    record.save()  # recorded before it is created: a SIGKILL in between leaves nothing unrecorded
    root.mkdir(mode=0o700)
    evidence.allow(root)
    _saved_tempdir = (tempfile.tempdir, os.environ.get("TMPDIR"))
    tempfile.tempdir = str(root)
    os.environ["TMPDIR"] = str(root)
    os.environ[RUN_ENV] = run
    _current = record
    return record


def finish_run() -> None:
    """Remove the run's temporary folder and its record; restore the temporary folder setting."""
    global _current
    record, _current = _current, None
    if record is None:
        return
    tempfile.tempdir, temp_env = _saved_tempdir
    if temp_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = temp_env
    os.environ.pop(RUN_ENV, None)
    evidence.forget(record.temp_root)
    problems = _remove_recorded(record)
    if not problems:
        record.path.unlink(missing_ok=True)
    for problem in problems:
        print(f"dynamo-ft: {problem}", file=sys.stderr)


atexit.register(finish_run)


# -- what dead runs left ------------------------------------------------------------------------
@dataclass
class Leftover:
    """What one dead run left behind: folders that still exist and processes carrying its id."""

    record: RunRecord
    paths: list[Path]
    pids: list[int]

    def describe(self) -> str:
        parts = [str(p) for p in self.paths] + ([f"{len(self.pids)} processes ({', '.join(map(str, self.pids))})"]
                                                if self.pids else [])
        return f"run {self.record.run} (pid {self.record.pid}, started {self.record.started}): " + "; ".join(parts)


def _carries_run(pid: int, run: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{RUN_ENV}={run}".encode() in environ.split(b"\0")


def run_processes(run: str) -> list[int]:
    """Processes of this user that carry ``DYNAMO_FT_RUN=<run>`` (zombies carry nothing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and _carries_run(int(entry.name), run):
            found.append(int(entry.name))
    return sorted(found)


def leftovers() -> list[Leftover]:
    """What runs that died without cleaning up left behind (live runs are left alone)."""
    found = []
    for record in RunRecord.load_all():
        if record.alive or record.run == (_current.run if _current else None):
            continue
        paths = [Path(p) for p in record.created if Path(p).exists()]
        found.append(Leftover(record, paths, run_processes(record.run)))
    return found


def _checked_temp_path(record: RunRecord, raw: str) -> Path:
    """A recorded path, only if it still is the run's folder in the system's temporary folder."""
    path = evidence.inside(raw, tempfile.gettempdir(), action="remove")
    if path.name != temp_folder_name(record.run) or path.parent != Path(tempfile.gettempdir()).resolve():
        raise evidence.OutsideEvidence(f"refusing to remove {raw}: not a folder this tool names for run {record.run}")
    return path


def _remove_recorded(record: RunRecord) -> list[str]:
    problems = []
    for raw in record.created:
        try:
            path = _checked_temp_path(record, raw)
            if path.exists():
                shutil.rmtree(path)
        except (OSError, evidence.OutsideEvidence) as error:
            problems.append(f"removing {raw} of run {record.run}: {error}")
    return problems


def _kill(pid: int, run: str) -> bool:
    """SIGKILL ``pid`` through a pidfd, once the pidfd is open and the process still carries ``run``."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if not _carries_run(pid, run):  # the number may have been reused before the pidfd was opened
            return False
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)


def clean() -> list[str]:
    """Remove what dead runs left (their processes first, then their folders and records).
    Returns one line per action, for the user."""
    lines = []
    for leftover in leftovers():
        killed = [pid for pid in leftover.pids if _kill(pid, leftover.record.run)]
        if killed:
            lines.append(f"killed {len(killed)} processes of run {leftover.record.run}: {', '.join(map(str, killed))}")
            deadline = time.monotonic() + 5
            while run_processes(leftover.record.run) and time.monotonic() < deadline:
                time.sleep(0.1)
        problems = _remove_recorded(leftover.record)
        lines += [f"removed {p}" for p in leftover.paths if not p.exists()] + problems
        if not problems:
            leftover.record.path.unlink(missing_ok=True)
    return lines


def report_leftovers(stream=None) -> list[Leftover]:
    """Tell the user (on stderr) what dead runs left behind, and how to remove it."""
    stream = stream or sys.stderr
    found = [leftover for leftover in leftovers() if leftover.paths or leftover.pids]
    for leftover in found:
        print(f"dynamo-ft: an earlier run ended without cleaning up: {leftover.describe()}", file=stream)
    if found:
        print("dynamo-ft: remove it with ./run clean", file=stream)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run clean", description="remove what runs killed without cleanup left")
    parser.add_argument("command", choices=["clean", "list"], nargs="?", default="clean")
    args = parser.parse_args(argv)
    if args.command == "list":
        found = leftovers()
        for leftover in found:
            print(leftover.describe())
        print(f"{len(found)} dead runs left something behind")
        return 0
    lines = clean()
    for line in lines:
        print(line)
    print("nothing to clean" if not lines else f"clean: {len(lines)} actions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
