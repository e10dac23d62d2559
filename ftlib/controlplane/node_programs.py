"""The programs of the node agent's image that touch a container's files, or run for a while with
output of their own: ``touch``, the suite's fixed ``python -c`` scripts, the load Job's wrapper
and the aiperf it starts. Nothing here runs a process on the host; files are read and written in
the container's simulated filesystem (`ftlib.controlplane.node_files`).

- ``touch FILE…`` creates each file (its folder must exist) or updates its times, as coreutils.
- ``python``/``python3`` ``-c SCRIPT ARGS…`` is recognised by the exact text of
  SCRIPT, imported from the suite: `jobs.PACK` packs a folder into a tar.gz and prints
  ``{"size", "sha256"}`` (folders mounted below the packed one are not followed), `jobs.CHUNK`
  prints a byte range in base64, `procs.PROC_SCRIPT` prints the ``/proc`` listing of the caller's
  PID namespace (itself included, its script's newlines kept, as ``/proc/*/cmdline`` shows them),
  `load_job.INTERRUPT`/`load_job.TERMINATE` send SIGINT/SIGTERM to PID 1 from inside, and
  `load_job.WRAPPER` is the long-running `LoadWrapper`. A failing script prints a Python-like
  traceback (the line shown is not the script's own) and exits 1. **Any other script**, and
  ``python -m``/``python FILE`` through exec, exits 1 with a ``NotImplementedError`` traceback
  naming what is simulated (`UNKNOWN_PYTHON`): nothing of it runs. As a container's command,
  ``python -m MODULE`` is an engine (`ftlib.controlplane.node_processes`), as before.
- `LoadWrapper` does what `load_job.WRAPPER` does, line by line: ``os.makedirs(out_dir)``; the
  ``DYNAMO_FT_REQUIRE`` check against the image's packages (`IMAGE_PACKAGES`: the image is taken
  to hold aiperf `load_job.AIPERF_VERSION`; another pin prints the two lines and ``load exited
  97``); the client started as a child process; every line of the client's output to the
  container log and appended to ``<out_dir>/load.out``; SIGINT/SIGTERM forwarded to the client;
  ``dynamo-ft: load exited N`` (``-SIG`` for a client killed by a signal, as ``Popen.wait``);
  then it idles for the copy-back until SIGINT/SIGTERM ends it with 0. A client that is not in
  the image (anything but ``aiperf``, ``python…`` and the commands of `node_processes`) is
  Popen's ``FileNotFoundError``: the wrapper dies with exit 1 before its handlers exist.
- `AiperfRun` is aiperf 0.13 failing to reach the frontend, which nothing can here (no cluster
  DNS, no Service routing, no engine answering HTTP). It follows what aiperf 0.13.0 did on this
  machine, in a network namespace of its own, with a local tokenizer and the in-cluster URL
  (measured: profiling after 2.7 s, one ``ClientConnectorDNSError`` record per request, exit 1
  after 4.9 s; with a tokenizer by hub name and no network it fails in 50 s before profiling):
  start-up lines, ``AIPerf System is PROFILING``, then per request one ``ERROR Error in aiohttp
  request`` line and one error record in ``profile_export.jsonl`` (``ClientConnectorDNSError``
  for a host name, ``ClientConnectorError``/``ConnectionRefusedError`` for an IP address), an
  ``inputs.json`` of the prompts, ``logs/aiperf.log``, no summary file, the "All N inference
  request(s) failed" box, exit 1. Simulated differences: the tokenizer is taken to be in the
  image (nothing is fetched), times are shorter (`AIPERF_PROFILING_AFTER`, `AIPERF_EXIT_AFTER`),
  prompts are made-up words, a ``--benchmark-duration`` load fails one request per concurrency
  slot every `AIPERF_RETRY_SECONDS` (a real aiperf fails them as fast as DNS answers), and SIGINT
  ends it as the all-failed run ends (records so far, exit 1; before profiling: no records).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Protocol
from urllib.parse import urlsplit

from ftlib.controlplane import node_processes as procs
from ftlib.controlplane.node_files import ContainerFiles, container_errors
from ftlib.controlplane.node_processes import ExecAnswer, Process, Program
from ftlib.platform.kubernetes import load_job
from ftlib.platform.kubernetes.jobs import CHUNK, PACK
from ftlib.platform.kubernetes.procs import PROC_SCRIPT

IMAGE_PACKAGES = {"aiperf": load_job.AIPERF_VERSION}
SCRIPTS = {PACK: "pack", CHUNK: "chunk", PROC_SCRIPT: "proc", load_job.INTERRUPT[2]: "interrupt",
           load_job.TERMINATE[2]: "terminate", load_job.WRAPPER: "wrapper"}
UNKNOWN_PYTHON = ("the dynamo-ft node agent runs no Python but the suite's own scripts (jobs.PACK, jobs.CHUNK, "
                  "procs.PROC_SCRIPT, load_job.WRAPPER, load_job.INTERRUPT, load_job.TERMINATE); this one is not "
                  "simulated")
AIPERF_PROFILING_AFTER = 1.0   # seconds from start to "AIPerf System is PROFILING" (measured: 2.7)
AIPERF_EXIT_AFTER = 0.6        # from the last failed request to the exit (measured: 0.6)
AIPERF_RETRY_SECONDS = 0.5     # a duration load: one failed request per concurrency slot this often
_POPEN_LINE = next(i for i, line in enumerate(load_job.WRAPPER.split("\n"), 1) if line.startswith("child = "))


# -- recognising programs ---------------------------------------------------------------------
def is_python(word: str) -> bool:
    return procs.basename(word) in ("python", "python3")


def python_script(argv: list[str]) -> str | None:
    """Which of the suite's scripts ``argv`` runs (``pack``, ``chunk``, ``proc``, ``interrupt``,
    ``terminate``, ``wrapper``), "" for another ``python -c``, None when it is no ``python -c``."""
    if len(argv) < 3 or not is_python(argv[0]) or argv[1] != "-c":
        return None
    return SCRIPTS.get(argv[2], "")


def traceback(error: BaseException, line: int = 1) -> str:
    """What Python prints for ``error`` escaping a ``-c`` script."""
    return (f'Traceback (most recent call last):\n  File "<string>", line {line}, in <module>\n'
            f"{type(error).__name__}: {error}\n")


# -- one-shot programs ------------------------------------------------------------------------
@dataclass(frozen=True)
class ExecContext:
    """What a one-shot program may use: the container's files and its PID namespace."""
    files: ContainerFiles
    processes: Callable[[], list[Process]]      # alive in the caller's PID namespace, itself included
    kill: Callable[[int, int], bool]            # (pid, signum) sent from inside; False: no such process


def touch(args: list[str], files: ContainerFiles) -> ExecAnswer:
    """``touch FILE…`` (GNU wording)."""
    if not args:
        return ExecAnswer(stderr="touch: missing file operand\n", exit_code=1)
    errors = []
    for name in args:
        try:
            found = files.append(name)
            with container_errors(found):
                os.utime(found.host)
        except (OSError, ValueError) as error:
            errors.append(f"touch: cannot touch '{name}': {getattr(error, 'strerror', None) or error}\n")
    return ExecAnswer(stderr="".join(errors), exit_code=1 if errors else 0)


def run_python(argv: list[str], context: ExecContext) -> ExecAnswer:
    """A one-shot ``python`` (see the module docstring)."""
    script = python_script(argv)
    try:
        if script == "pack":
            return ExecAnswer(pack(argv[3], argv[4], context.files))
        if script == "chunk":
            return ExecAnswer(chunk(argv[3], int(argv[4]), int(argv[5]), context.files))
        if script == "proc":
            return ExecAnswer(proc_listing(context.processes()))
        if script in ("interrupt", "terminate"):
            signum = procs.SIGINT if script == "interrupt" else procs.SIGTERM
            if not context.kill(1, signum):
                raise ProcessLookupError(3, "No such process")
            return ExecAnswer()
    except IndexError:
        return ExecAnswer(stderr=traceback(IndexError("list index out of range")), exit_code=1)
    except (OSError, ValueError, tarfile.TarError) as error:
        return ExecAnswer(stderr=traceback(error), exit_code=1)
    return ExecAnswer(stderr=traceback(NotImplementedError(UNKNOWN_PYTHON)), exit_code=1)


def pack(folder: str, packed: str, files: ContainerFiles) -> str:
    """`jobs.PACK`: the folder (made if missing) as a tar.gz at ``packed``; its size and SHA-256."""
    source = files.make_dirs(folder)
    target = files.writable(packed)
    if not target.host.parent.is_dir():
        raise FileNotFoundError(2, "No such file or directory", packed)
    with container_errors(target):
        tar = tarfile.open(target.host, "w:gz")
    with tar, container_errors(source):
        tar.add(source.host, arcname=".")
    digest = hashlib.sha256(target.host.read_bytes()).hexdigest()
    return json.dumps({"size": target.host.stat().st_size, "sha256": digest}) + "\n"


def chunk(name: str, offset: int, length: int, files: ContainerFiles) -> str:
    """`jobs.CHUNK`: ``length`` bytes of the file from ``offset``, in base64."""
    found = files.resolve(name)
    with container_errors(found), found.host.open("rb") as source:
        source.seek(offset)
        return base64.b64encode(source.read(length)).decode()


def proc_listing(processes: list[Process]) -> str:
    """`procs.PROC_SCRIPT`'s output: ``pid state args`` per process, PIDs in its order."""
    rows = sorted(processes, key=lambda p: (len(str(p.pid)), str(p.pid)))
    return "".join(f"{p.pid} {p.state} {' '.join(p.argv).strip() or '[kernel]'}\n" for p in rows)


# -- long-running programs --------------------------------------------------------------------
@dataclass
class ProcessIO:
    """What a long-running program may use: output to its container's stdout/stderr, its files
    and environment, and starting a child in its PID namespace."""
    files: ContainerFiles
    env: dict[str, str]
    write: Callable[[str, str], None]            # (text, stream)
    spawn: Callable[[list[str], Program], Process]


class Script(Protocol):
    """A simulated program with behaviour over time (attached to its `Process`)."""

    def step(self, now: float, io: ProcessIO) -> int | None:
        """Advance to ``now``; the exit code once the program ends by itself."""

    def signal(self, signum: int, now: float, io: ProcessIO) -> int | None:
        """A handled signal arrived; the exit code if it ends the program now."""


def script_for(argv: list[str], now: float) -> Script | None:
    """The long-running program ``argv`` runs, if it is one (the load wrapper)."""
    return LoadWrapper(argv[3] if len(argv) > 3 else "", list(argv[4:]), now) \
        if python_script(argv) == "wrapper" else None


WRAPPER_PROGRAM = Program("script", frozenset({procs.SIGINT, procs.SIGTERM}))
CLIENT_PROGRAM = Program("script", frozenset({procs.SIGINT, procs.SIGTERM}), threads=True)


@dataclass
class ClientSignals:
    """The load client's process: signals reach its simulation, which its wrapper drives."""
    client: "AiperfRun"

    def step(self, now: float, io: ProcessIO) -> int | None:
        return None

    def signal(self, signum: int, now: float, io: ProcessIO) -> int | None:
        self.client.interrupt(now)
        return None


@dataclass
class LoadWrapper:
    """`load_job.WRAPPER` (see the module docstring)."""
    out_dir: str
    argv: list[str]
    started: float
    begun: bool = False
    done: bool = False
    client: "AiperfRun | None" = None
    child: Process | None = None

    def step(self, now: float, io: ProcessIO) -> int | None:
        if not self.begun:
            self.begun = True
            return self._begin(now, io)
        if self.child is None or self.done:
            return None
        for line in self.client.advance(now, io.files):
            self._relay(line, io)
        code = self.client.exit_code if self.child.alive else self.child.exit_code
        if code is None:
            return None
        procs.exit_process(self.child, code)
        self._finish(code, io)
        return None

    def signal(self, signum: int, now: float, io: ProcessIO) -> int | None:
        if self.done:
            return 0  # sys.exit(0) in its handler: the copy-back is over
        if self.child is not None and self.child.alive:
            self.child.script.signal(signum, now, io)
        return None

    def _begin(self, now: float, io: ProcessIO) -> int | None:
        try:
            io.files.make_dirs(self.out_dir)
        except (OSError, ValueError) as error:
            io.write(traceback(error, 3), "stderr")
            return 1
        if not self._required(io):
            return None
        if not self.argv:
            self.done = True
            return None
        if procs.basename(self.argv[0]) != "aiperf":
            return self._not_in_image(io)
        self.client = AiperfRun(self.argv, now)
        self.child = io.spawn(self.argv, CLIENT_PROGRAM)
        self.child.script = ClientSignals(self.client)
        return None

    def _required(self, io: ProcessIO) -> bool:
        need = io.env.get("DYNAMO_FT_REQUIRE", "")
        if not need:
            return True
        package, _, version = need.partition("==")
        found = IMAGE_PACKAGES.get(package, "not installed")
        if found == version:
            return True
        io.write(f"dynamo-ft: this image has {package} {found}; the suite needs {need}", "stdout")
        io.write(f"{load_job.DONE_MARKER} 97", "stdout")
        self.argv = []
        return True

    def _not_in_image(self, io: ProcessIO) -> int:
        """Popen of a program the image lacks: the wrapper dies before it installs its handlers."""
        error = FileNotFoundError(2, "No such file or directory")
        text = traceback(error, _POPEN_LINE).replace(f"{type(error).__name__}: {error}",
                                                     f"FileNotFoundError: [Errno 2] No such file or directory: "
                                                     f"'{self.argv[0]}'")
        io.write(text, "stderr")
        return 1

    def _relay(self, line: str, io: ProcessIO) -> None:
        io.write(line, "stdout")
        try:
            io.files.append(f"{self.out_dir}/load.out", (line + "\n").encode())
        except (OSError, ValueError):
            pass  # the real wrapper would die writing; its out_dir was made at start, so this is a vanished volume

    def _finish(self, code: int, io: ProcessIO) -> None:
        shown = -(code - 128) if code > 128 else code  # Popen.wait(): -N for a child killed by signal N
        io.write(f"{load_job.DONE_MARKER} {shown}", "stdout")
        self.done = True


# -- aiperf that cannot reach its frontend ----------------------------------------------------
def _flag(argv: list[str], name: str, default: str = "") -> str:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else default


def _extra_inputs(argv: list[str]) -> dict:
    found = {}
    for index, word in enumerate(argv[:-1]):
        if word == "--extra-inputs":
            key, _, value = argv[index + 1].partition(":")
            found[key] = _json_value(value)
    return found


def _json_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class ConnectFailure:
    """How each request fails: aiohttp's error for the URL's host."""
    type: str
    message: str
    cause: str
    cause_type: str

    @classmethod
    def for_url(cls, url: str) -> "ConnectFailure":
        parts = urlsplit(url)
        host, port = parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)
        key = (f"ConnectionKey(host='{host}', port={port}, is_ssl={parts.scheme == 'https'}, ssl=True, proxy=None, "
               f"proxy_auth=None, proxy_headers_hash=None, server_hostname=None)")
        if re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", host):
            cause = f"ConnectionRefusedError(111, \"Connect call failed ('{host}', {port})\")"
            return cls("ClientConnectorError", f"ClientConnectorError({key}, {cause})", cause, "ConnectionRefusedError")
        cause = "gaierror(-2, 'Name or service not known')"
        return cls("ClientConnectorDNSError", f"ClientConnectorDNSError({key}, {cause})", cause, "gaierror")


@dataclass
class AiperfRun:
    """``aiperf profile …`` against a frontend it cannot reach (see the module docstring)."""
    argv: list[str]
    started: float
    sent: int = 0
    profiling_at: float | None = None
    last_sent: float = 0.0
    stopped: bool = False
    exit_at: float | None = None
    exit_code: int | None = None
    said: list[str] = field(default_factory=list)
    worker: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def out_dir(self) -> str:
        return _flag(self.argv, "--output-artifact-dir", "artifacts")

    @property
    def concurrency(self) -> int:
        return max(1, int(_flag(self.argv, "--concurrency", "1")))

    def interrupt(self, now: float) -> None:
        self.stopped = True

    def advance(self, now: float, files: ContainerFiles) -> list[str]:
        """The lines aiperf prints by ``now`` (its files written as it goes)."""
        lines: list[str] = []
        if not self.said:
            lines += self._log(files, "INFO", "Starting AIPerf System (_single_run.py:81)",
                               f"[OK] Tokenizer {_flag(self.argv, '--tokenizer')} detected (tokenizer_display.py:297)")
        if self.exit_code is not None:
            return lines
        if self.exit_at is not None:
            return lines + (self._exit(files) if now >= self.exit_at else [])
        if self.profiling_at is not None:
            return lines + self._send(now, files)
        if self.stopped:  # SIGINT before profiling: no records
            self.exit_at = now + AIPERF_EXIT_AFTER
        elif now >= self.started + AIPERF_PROFILING_AFTER:
            lines += self._profile(now, files)
        return lines

    def _profile(self, now: float, files: ContainerFiles) -> list[str]:
        self.profiling_at = self.last_sent = now
        files.make_dirs(self.out_dir)
        files.append(f"{self.out_dir}/inputs.json", self._inputs().encode())
        target = _flag(self.argv, "--request-count") or "0"
        return self._log(files, "INFO", "AIPerf System is PROFILING (system_controller.py:548)") + \
            self._log(files, "NOTICE", f"Phase profiling (profiling) started | phase_index=0 | profiling_index=0 | "
                                       f"target: {target} requests (runner.py:660)") + self._send(now, files)

    def _finished(self, now: float) -> bool:
        count = _flag(self.argv, "--request-count")
        if count:
            return self.sent >= int(count)
        return self.stopped or now - self.profiling_at >= float(_flag(self.argv, "--benchmark-duration", "0"))

    def _due(self, now: float) -> int:
        """How many requests go (and fail) now."""
        count = _flag(self.argv, "--request-count")
        if count:
            return int(count) - self.sent
        if self._finished(now):
            return 0
        return self.concurrency if now - self.last_sent >= AIPERF_RETRY_SECONDS or not self.sent else 0

    def _send(self, now: float, files: ContainerFiles) -> list[str]:
        due = self._due(now)
        failure = ConnectFailure.for_url(_flag(self.argv, "--url"))
        lines = []
        for _ in range(due):
            files.append(f"{self.out_dir}/profile_export.jsonl", (json.dumps(self._record(failure)) + "\n").encode())
            lines += self._log(files, "ERROR", f"Error in aiohttp request: {failure.message} (aiohttp_client.py:300)")
            self.sent += 1
            self.last_sent = now
        if self._finished(now):
            lines += self._log(files, "INFO", f"Processed 0 valid requests and {self.sent} errors ({self.sent} total). "
                                              f"(records_manager.py:1207)")
            self.exit_at = now + AIPERF_EXIT_AFTER
        return lines

    def _exit(self, files: ContainerFiles) -> list[str]:
        self.exit_code = 1
        n = self.sent
        lines = self._log(files, "ERROR", f"All {n} inference request(s) failed; no successful responses were "
                                          f"collected. (system_controller.py:2370)")
        return lines + ["", "╭─ AIPerf System Exit Errors ─╮", "│ • Service: system_controller",
                        "│    Operation: export_results", "│    Error: Unknown",
                        f"│    Reason: All {n} inference request(s) failed. No successful responses were collected — "
                        "check the server URL, endpoint path, and response format. See prior log output for "
                        "per-request error details.", "╰─────────────────────────────╯",
                        f"Log File: {self.out_dir}/logs/aiperf.log", ""]

    def _log(self, files: ContainerFiles, level: str, *messages: str) -> list[str]:
        """Lines as aiperf prints them, also appended to its ``logs/aiperf.log``."""
        stamp = datetime.now()
        shown = [f"{stamp.strftime('%H:%M:%S.%f')[:-3]} {level:<8} {m}" for m in messages]
        plain = "".join(f"{stamp.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} - aiperf - {level} - "
                        f"{m.rsplit(' (', 1)[0]}\n" for m in messages)
        try:
            files.make_dirs(f"{self.out_dir}/logs")
            files.append(f"{self.out_dir}/logs/aiperf.log", plain.encode())
        except (OSError, ValueError):
            pass  # aiperf goes on printing when its log file cannot be written
        self.said += shown
        return shown

    def _inputs(self) -> str:
        isl = int(_flag(self.argv, "--isl", "8"))
        count = int(_flag(self.argv, "--request-count", "0")) or self.concurrency
        payload = {"model": _flag(self.argv, "--model"), "stream": "--streaming" in self.argv, **_extra_inputs(self.argv)}
        sessions = [{"session_id": f"session_{i:06d}", "payloads": [{
            "messages": [{"role": "user", "content": " ".join(f"w{i * isl + j}" for j in range(isl))}], **payload}]}
            for i in range(count)]
        return json.dumps({"data": sessions}, indent=2)

    def _record(self, failure: ConnectFailure) -> dict:
        now_ns = time.time_ns()
        correlation = str(uuid.uuid4())
        meta = {"session_num": self.sent, "x_request_id": str(uuid.uuid4()), "x_correlation_id": correlation,
                "conversation_id": f"session_{self.sent:06d}", "turn_index": 0, "credit_issued_ns": now_ns - 2_000_000,
                "request_start_ns": now_ns - 1_000_000, "request_end_ns": now_ns, "worker_id": f"worker_{self.worker}",
                "record_processor_id": f"record_processor_{self.worker[::-1]}", "benchmark_phase": "profiling",
                "phase_index": 0, "profiling_index": 0, "phase_name": "profiling", "phase_kind": "profiling",
                "was_cancelled": False, "context_overflow_skip": False, "agent_depth": 0,
                "root_correlation_id": correlation}
        return {"metadata": meta, "metrics": {"error_isl": {"value": int(_flag(self.argv, "--isl", "8")), "unit": "tokens"}},
                "error": {"type": failure.type, "message": failure.message, "cause": failure.cause,
                          "cause_chain": [failure.type, failure.cause_type]}}

