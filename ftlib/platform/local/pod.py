"""One emulated pod: a process group started from the service's command, with a Kubernetes-like
name, a log file per pod, a restart count and the logs of its terminated containers."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Run in the child before exec: new session, and SIGKILL if the supervising thread dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def spawn(argv: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``argv`` in its own session, output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class LocalPod:
    name: str
    service: str
    log_dir: Path
    created_ns: int = field(default_factory=time.time_ns)
    process: subprocess.Popen | None = None
    port: int = 0
    restart_count: int = 0
    ready: bool = False
    deleted: bool = False
    deleted_ns: int | None = None
    container_started_ns: int = 0
    exit_codes: list[int] = field(default_factory=list)
    next_start_at: float = 0.0
    argv: list[str] = field(default_factory=list)
    declared_command: str = ""

    @property
    def stamp(self) -> str:
        return datetime.fromtimestamp(self.created_ns / 1e9, timezone.utc).strftime("%Y%m%dT%H%M%S")

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}_{self.stamp}.log"

    @property
    def previous_log_path(self) -> Path:
        return self.log_dir / f"{self.name}_{self.stamp}.previous.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def phase(self) -> str:
        if self.deleted:
            return "Deleted"
        return "Running" if self.alive else "Pending"

    def start(self, argv: list[str], env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.argv = argv
        self.process = spawn(argv, env, self.log_path)
        self.container_started_ns = time.time_ns()

    def retire_container(self) -> int:
        """The main process has exited: keep its log as previous, count the restart."""
        code = self.process.returncode if self.process else -1
        kill_group(self.process) if self.process else None  # reap whatever it left behind
        self.exit_codes.append(code)
        header = f"===== container {len(self.exit_codes) - 1} of {self.name} exited with code {code} =====\n"
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        with open(self.previous_log_path, "a") as previous:
            previous.write(header + text)
        self.log_path.write_text("")
        self.restart_count += 1
        self.ready = False
        uptime = (time.time_ns() - self.container_started_ns) / 1e9
        backoff = 0.0 if uptime > 30 or self.restart_count == 1 else min(2 ** (self.restart_count - 2), 10)
        self.next_start_at = time.monotonic() + backoff
        self.process = None
        return code

    def stop(self, grace_seconds: float) -> None:
        """Terminate every process of the pod: SIGTERM, then SIGKILL after the grace period."""
        process = self.process
        if process is None:
            return
        if grace_seconds > 0 and process.poll() is None:
            kill_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                pass
        kill_group(process, signal.SIGKILL)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
