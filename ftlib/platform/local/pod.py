"""One emulated pod: a process group started from the service's command, with a Kubernetes-like
name, a log file per pod, a restart count and the logs of its terminated containers."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ftlib import evidence
from ftlib.process import kill_group, spawn  # noqa: F401 - spawn is this module's launcher too


@dataclass
class LocalPod:
    name: str
    service: str
    log_dir: Path
    created_ns: int = field(default_factory=time.time_ns)
    process: subprocess.Popen | None = None
    port: int = 0
    restart_count: int = 0
    restarts_since_ready: int = 0  # container restarts since the pod was last ready (crash loops)
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
        return evidence.pod_stamp(self.created_ns)

    def evidence_file(self, kind: str, directory: Path | None = None) -> Path:
        """This pod's evidence file of ``kind`` (see `ftlib.evidence.pod_file`)."""
        return evidence.pod_file(directory or self.log_dir, self.name, self.created_ns, kind)

    @property
    def log_path(self) -> Path:
        return self.evidence_file("log")

    @property
    def previous_log_path(self) -> Path:
        return self.evidence_file("previous")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def phase(self) -> str:
        if self.deleted:
            return "Deleted"
        return "Running" if self.alive else "Pending"

    def start(self, argv: list[str], env: dict[str, str], launch: Callable[..., subprocess.Popen] = spawn) -> None:
        """Start a container: ``launch(argv, env, log_path)`` (the deployment's pod launcher)."""
        evidence.make_dir(self.log_dir)
        self.argv = argv
        self.process = launch(argv, env, self.log_path)
        self.container_started_ns = time.time_ns()

    def retire_container(self) -> int:
        """The main process has exited: keep its log as previous, count the restart."""
        code = self.process.returncode if self.process else -1
        kill_group(self.process) if self.process else None  # reap whatever it left behind
        self.exit_codes.append(code)
        header = f"===== container {len(self.exit_codes) - 1} of {self.name} exited with code {code} =====\n"
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        with evidence.open_file(self.previous_log_path, "a") as previous:
            previous.write(header + text)
        evidence.write_text(self.log_path, "")
        self.restart_count += 1
        self.restarts_since_ready += 1
        self.ready = False
        uptime = (time.time_ns() - self.container_started_ns) / 1e9
        backoff = 0.0 if uptime > 30 or self.restart_count == 1 else min(2 ** (self.restart_count - 2), 10)
        self.next_start_at = time.monotonic() + backoff
        self.process = None
        return code

    def terminate(self) -> None:
        """SIGTERM the pod's process group if its main process still runs."""
        if self.alive:
            kill_group(self.process, signal.SIGTERM)

    def stop(self, grace_seconds: float) -> bool:
        """Terminate every process of the pod: SIGTERM, then SIGKILL after the grace period.
        True when the main process ended within the grace period (or had already ended)."""
        process = self.process
        if process is None:
            return True
        graceful = process.poll() is not None
        if grace_seconds > 0 and not graceful:
            kill_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=grace_seconds)
                graceful = True
            except subprocess.TimeoutExpired:
                pass
        kill_group(process, signal.SIGKILL)  # whatever the main process left behind in its group
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return graceful
