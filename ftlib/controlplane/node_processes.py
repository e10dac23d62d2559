"""The simulated processes of the node agent's pods: programs, PID namespaces, signals, and the
few commands its image answers through exec (`ps`, `kill`, `sleep`, `true`, `false`; ``touch``
and ``python`` are `ftlib.controlplane.node_programs`, as are the long-running programs with a
`Process.script`).

Nothing here runs a process on the host: a "process" is a record in a `PidNamespace`. How each
program behaves is decided by `program_for` from its argv alone (the image is never looked at):

- ``/pause``: handles SIGINT and SIGTERM (exits 0), as the pause container does.
- ``sleep N`` (``Ns``/``Nm``/``Nh``/``Nd``/``infinity``, several summed): exits 0 after N s; no
  signal handlers. ``true`` and ``touch FILE`` exit 0 at once, ``false`` exits 1.
- ``tee``: no handlers, runs until signalled.
- ``/bin/sh -c SCRIPT NAME ARGS…`` (also ``sh``, ``bash``, ``dash``): `resolve_launch` follows
  the shell. A script whose last command is ``exec "$@"`` execs ARGS, so the process keeps the
  shell's PID and shows ARGS; when the script also runs ``exec tee -a`` (the suite's log-tee
  wrapper) a ``tee -a <stamp>.log`` child appears appending to `Launch.tee_file`, unless
  ``POD_NAME`` is unusable (then the wrapper's warning goes to the log and ARGS run without it;
  the agent does the same when the file cannot be written). A one-line simple command is
  exec'd as sh and bash do; any other script stays a shell with no handlers, until signalled.
- anything else is an *engine*: multi-threaded, handles SIGTERM and SIGINT by logging and
  exiting 0 after `GRACEFUL_EXIT_SECONDS`; other signals take their default action.

Signals follow Linux: SIGKILL ends a process (exit 137), a signal without a handler whose default
is to terminate ends it with 128+n, SIGSTOP/SIGTSTP stop it (state T), SIGCONT resumes it and
delivers what was held while it was stopped. PID 1 of a namespace only receives the signals it
has a handler for; SIGKILL and SIGSTOP reach it only from outside the namespace (the container
runtime), never from a ``kill`` run inside it.
"""
from __future__ import annotations

import re
import shlex
import signal as _signal
from dataclasses import dataclass, field

GRACEFUL_EXIT_SECONDS = 0.3
SHELLS = ("sh", "bash", "dash", "ash")
TERMINATING = {s.value for s in (_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGILL, _signal.SIGTRAP,
                                 _signal.SIGABRT, _signal.SIGBUS, _signal.SIGFPE, _signal.SIGKILL, _signal.SIGUSR1,
                                 _signal.SIGSEGV, _signal.SIGUSR2, _signal.SIGPIPE, _signal.SIGALRM, _signal.SIGTERM,
                                 _signal.SIGXCPU, _signal.SIGXFSZ, _signal.SIGVTALRM, _signal.SIGPROF, _signal.SIGSYS)}
STOPPING = {_signal.SIGSTOP.value, _signal.SIGTSTP.value, _signal.SIGTTIN.value, _signal.SIGTTOU.value}
SIGKILL, SIGSTOP, SIGCONT, SIGTERM, SIGINT = (_signal.SIGKILL.value, _signal.SIGSTOP.value, _signal.SIGCONT.value,
                                              _signal.SIGTERM.value, _signal.SIGINT.value)
IMAGE_COMMANDS = ("ps", "kill", "sleep", "true", "false", "touch", "sh", "python", "python3")
_SHELL_META = re.compile(r"[;&|<>$`()\\\n*?\[\]{}~]|(^|\s)#")  # quotes are fine: shlex reads them


# -- programs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Program:
    """How one simulated executable behaves (see the module docstring)."""
    kind: str                       # pause, sleep, oneshot, tee, shell, engine
    handles: frozenset[int] = frozenset()
    lifetime: float | None = None   # seconds until it exits by itself; None: until signalled
    exit_code: int = 0              # its code when it exits by itself
    threads: bool = False
    error: str = ""                 # what it prints on stderr when it exits by itself (bad arguments)


def basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def parse_duration(words: list[str]) -> float | None:
    """The seconds ``sleep WORDS…`` sleeps (GNU suffixes s, m, h, d and ``infinity``), None if invalid."""
    if not words:
        return None
    total = 0.0
    for word in words:
        if word in ("inf", "infinity"):
            return float("inf")
        match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", word)
        if not match:
            return None
        total += float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return total


def program_for(argv: list[str]) -> Program:
    """The behaviour of the program ``argv`` runs (after `resolve_launch`)."""
    name = basename(argv[0]) if argv else ""
    if name == "pause":
        return Program("pause", frozenset({SIGINT, SIGTERM}))
    if name == "sleep":
        seconds = parse_duration(argv[1:])
        if seconds is None:
            bad = argv[1] if len(argv) > 1 else ""
            return Program("oneshot", lifetime=0.0, exit_code=1,
                           error=f"sleep: invalid time interval '{bad}'" if bad else "sleep: missing operand")
        return Program("sleep", lifetime=None if seconds == float("inf") else seconds)
    if name == "true":
        return Program("oneshot", lifetime=0.0)
    if name == "false":
        return Program("oneshot", lifetime=0.0, exit_code=1)
    if name == "touch":
        if len(argv) < 2:
            return Program("oneshot", lifetime=0.0, exit_code=1, error="touch: missing file operand")
        return Program("oneshot", lifetime=0.0)
    if name == "tee":
        return Program("tee")
    if name in SHELLS:
        return Program("shell")
    return Program("engine", frozenset({SIGINT, SIGTERM}), threads=True)


# -- what a container's command becomes -------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    """What a container's command runs as: the main process's argv after any ``exec``, the tee
    child the log-tee wrapper starts (or None), and lines the wrapper printed."""
    argv: list[str]
    tee: list[str] | None = None
    notes: tuple[str, ...] = ()
    tee_file: str = ""          # the container path the tee appends to: ${FT_LOG_ROOT:-/ft-logs}/$POD_NAME/<stamp>.log


def container_argv(command: list[str], args: list[str], image: str) -> list[str]:
    """The argv of a container: ``command + args``; without a command the image's own entrypoint
    is unknown here, so it runs as the image's name (``busybox:1.36`` → ``busybox``)."""
    if command:
        return list(command) + list(args)
    name = basename(image.split("@", 1)[0]).split(":", 1)[0] or "entrypoint"
    return [name] + list(args)


def _usable_pod_name(env: dict[str, str]) -> bool:
    value = env.get("POD_NAME", "")
    return value not in ("", ".", "..") and "/" not in value


def _simple_command(line: str) -> list[str]:
    """The words of a one-line simple command (``exec`` dropped), or [] when the shell would do
    more than exec it (variable assignments, unbalanced quotes)."""
    try:
        words = shlex.split(line)
    except ValueError:
        return []
    if words and words[0] == "exec":
        words = words[1:]
    return [] if not words or "=" in words[0] else words


def resolve_launch(argv: list[str], env: dict[str, str], stamp: str, depth: int = 0) -> Launch:
    """Follow a shell's ``exec`` (see the module docstring); ``stamp`` names the tee's log file."""
    if depth > 5 or len(argv) < 3 or basename(argv[0]) not in SHELLS or argv[1] != "-c":
        return Launch(list(argv))
    script, positional = argv[2], list(argv[4:])
    lines = [line.strip() for line in script.strip().splitlines() if line.strip()]
    if lines and lines[-1] == 'exec "$@"':
        if not positional:
            return Launch(list(argv))
        if "exec tee -a" not in script:
            return resolve_launch(positional, env, stamp, depth + 1)
        inner = resolve_launch(positional, env, stamp, depth + 1)
        if not _usable_pod_name(env):
            note = "ft-log-tee: no usable POD_NAME; output not copied to the log PVC"
            return Launch(inner.argv, inner.tee, (note,) + inner.notes)
        folder = f"{env.get('FT_LOG_ROOT') or '/ft-logs'}/{env['POD_NAME']}"
        return Launch(inner.argv, ["tee", "-a", f"{stamp}.log"], inner.notes, f"{folder}/{stamp}.log")
    if len(lines) == 1 and not _SHELL_META.search(lines[0]):
        words = _simple_command(lines[0])
        if words:
            return resolve_launch(words, env, stamp, depth + 1)
    return Launch(list(argv))


# -- processes and namespaces -----------------------------------------------------------------
@dataclass
class Process:
    """One simulated process. ``exit_at``: when it exits by itself (monotonic seconds), or None."""
    pid: int
    argv: list[str]
    program: Program
    role: str                  # pause, main, tee, exec
    session_leader: bool = False
    owner: str = ""            # the container it belongs to ("" for pause)
    state: str = "S"           # S running/sleeping, T stopped, R (the ps of an exec)
    exit_at: float | None = None
    exit_code: int | None = None
    pending: list[int] = field(default_factory=list)
    terminating: bool = False  # received a handled SIGTERM/SIGINT; exits at exit_at
    script: object | None = None  # a program with behaviour over time (`ftlib.controlplane.node_programs.Script`)

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    def stat(self) -> str:
        """The STAT column of ``ps`` (state, ``s`` for a session leader, ``l`` when multi-threaded)."""
        return self.state + ("s" if self.session_leader else "") + ("l" if self.program.threads else "")

    def args(self) -> str:
        """The ARGS column: argv joined by spaces, control characters shown as ``?``, as procps does."""
        return re.sub(r"[\x00-\x1f\x7f]", "?", " ".join(self.argv))


@dataclass(frozen=True)
class SignalOutcome:
    """What a signal did: ``exited`` with ``exit_code``, ``stopped``, ``continued``, ``handled``
    (the process exits gracefully soon), ``ignored`` or ``held`` (pending while stopped)."""
    effect: str
    exit_code: int | None = None


@dataclass
class PidNamespace:
    """The processes of one PID namespace (a pod's shared one, or one container's)."""
    processes: dict[int, Process] = field(default_factory=dict)
    next_pid: int = 1

    def spawn(self, argv: list[str], program: Program, role: str, now: float, session_leader: bool = False,
              skip: int = 0, owner: str = "") -> Process:
        """A new process with the next free PID (after ``skip`` PIDs used by short-lived children)."""
        self.next_pid += skip
        process = Process(self.next_pid, list(argv), program, role, session_leader, owner)
        self.next_pid += 1
        if program.lifetime is not None:
            process.exit_at = now + program.lifetime
        self.processes[process.pid] = process
        return process

    def alive(self) -> list[Process]:
        return sorted((p for p in self.processes.values() if p.alive), key=lambda p: p.pid)

    def find(self, pid: int) -> Process | None:
        process = self.processes.get(pid)
        return process if process is not None and process.alive else None

    def reap(self) -> None:
        """Forget processes that exited."""
        self.processes = {pid: p for pid, p in self.processes.items() if p.alive}


def exit_process(process: Process, code: int) -> SignalOutcome:
    process.exit_code = code
    process.state = "Z"
    process.exit_at = None
    return SignalOutcome("exited", code)


def deliver(process: Process, signum: int, now: float, from_inside: bool) -> SignalOutcome:
    """Deliver ``signum`` to ``process`` (see the module docstring for the rules)."""
    if not process.alive:
        return SignalOutcome("ignored")
    if process.pid == 1 and signum not in process.program.handles:
        if from_inside or signum not in (SIGKILL, SIGSTOP):
            return SignalOutcome("ignored")
    if signum == SIGKILL:
        return exit_process(process, 128 + SIGKILL)
    if signum == SIGCONT:
        return _continue(process, now)
    if process.state == "T":
        process.pending.append(signum)
        return SignalOutcome("held")
    if signum in STOPPING and signum not in process.program.handles:
        process.state = "T"
        return SignalOutcome("stopped")
    if signum in process.program.handles:
        if signum in (SIGTERM, SIGINT) and not process.terminating and process.script is None:
            process.terminating = True
            process.exit_at = now + GRACEFUL_EXIT_SECONDS
        return SignalOutcome("handled")
    if signum in TERMINATING:
        return exit_process(process, 128 + signum)
    return SignalOutcome("ignored")


def _continue(process: Process, now: float) -> SignalOutcome:
    if process.state != "T":
        return SignalOutcome("ignored")
    process.state = "S"
    held, process.pending = process.pending, []
    for signum in held:
        outcome = deliver(process, signum, now, from_inside=False)
        if outcome.effect == "exited":
            return outcome
    return SignalOutcome("continued")


def due_exit(process: Process, now: float) -> int | None:
    """The exit code of ``process`` if it ends by itself at ``now`` (a stopped process does not)."""
    if not process.alive or process.exit_at is None or process.state == "T" or now < process.exit_at:
        return None
    return 0 if process.terminating else process.program.exit_code


# -- commands run through exec ----------------------------------------------------------------
@dataclass(frozen=True)
class ExecAnswer:
    """What an exec'd command printed and its exit code; ``missing``: the executable is not in
    the image (the runtime's error, not an exit code); ``sleep``: a ``sleep`` that runs that long."""
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    missing: str = ""
    sleep: float | None = None


PS_COLUMNS = {"pid": ("PID", ">", lambda p: str(p.pid)), "stat": ("STAT", "<", Process.stat),
              "state": ("S", "<", lambda p: p.state), "args": ("COMMAND", "", Process.args),
              "cmd": ("CMD", "", Process.args), "command": ("COMMAND", "", Process.args),
              "comm": ("COMMAND", "<", lambda p: basename(p.argv[0])[:15])}
PS_WIDTHS = {"pid": 5, "stat": 4, "state": 1, "comm": 15}


def missing_executable(word: str) -> str:
    """The container runtime's message for an exec of a program the image lacks."""
    if "/" in word:
        return (f'failed to exec in container: OCI runtime exec failed: exec failed: unable to start container '
                f'process: exec: "{word}": stat {word}: no such file or directory: unknown')
    return (f'failed to exec in container: OCI runtime exec failed: exec failed: unable to start container '
            f'process: exec: "{word}": executable file not found in $PATH: unknown')


def format_ps(processes: list[Process], columns: list[str]) -> str:
    """``ps -o COLUMNS`` output as procps-ng prints it (right-aligned PID, the last column free)."""
    rows = [[PS_COLUMNS[c][2](p) for c in columns] for p in processes]
    header = [PS_COLUMNS[c][0] for c in columns]
    widths = [max([PS_WIDTHS.get(c, 0), len(h)] + [len(r[i]) for r in rows]) for i, (c, h) in enumerate(zip(columns, header))]

    def line(cells: list[str]) -> str:
        out = []
        for i, (column, cell) in enumerate(zip(columns, cells)):
            last = i == len(columns) - 1
            align = PS_COLUMNS[column][1]
            out.append(cell if last and align != ">" else f"{cell:{align or '<'}{widths[i]}}")
        return " ".join(out).rstrip()
    return "\n".join(line(cells) for cells in [header] + rows) + "\n"


def _option_value(word: str, words: list[str]) -> str:
    for prefix in ("-eo", "-Ao", "-o"):
        if word.startswith(prefix) and len(word) > len(prefix):
            return word[len(prefix):]
    return words.pop(0) if words else ""


def ps_columns(args: list[str]) -> list[str] | str:
    """The columns ``ps ARGS`` asks for, or the error procps prints."""
    columns: list[str] = []
    words = list(args)
    while words:
        word = words.pop(0)
        if word in ("-e", "-A", "ax", "aux", "-ef"):
            if word in ("aux", "-ef"):
                columns = ["pid", "stat", "args"]
        elif word in ("-o", "o", "-eo", "-Ao") or word.startswith(("-o", "-eo")):
            for name in _option_value(word, words).replace(" ", ",").split(","):
                name = name.split("=", 1)[0].strip().lower()
                if name and name not in PS_COLUMNS:
                    return f"error: unknown user-defined format specifier \"{name}\""
                if name:
                    columns.append(name)
        else:
            return f"error: unsupported option {word!r} (the node agent's ps knows -e/-A and -o)"
    if not columns:
        columns = ["pid", "stat", "args"]
    return columns


def parse_signal(word: str) -> int | None:
    """A signal by name (``KILL``, ``SIGKILL``, ``kill``) or number."""
    if word.isdigit():
        number = int(word)
        return number if 0 <= number < 65 else None
    name = word.upper().removeprefix("SIG")
    try:
        return _signal.Signals[f"SIG{name}"].value
    except KeyError:
        return None


@dataclass(frozen=True)
class KillRequest:
    """``kill`` parsed: the signal and the PIDs, or the error and exit code kill answers with."""
    signum: int = SIGTERM
    pids: tuple[int, ...] = ()
    error: str = ""
    listing: bool = False


def parse_kill(args: list[str]) -> KillRequest:
    """``kill [-s SIG | -SIG | -n NUM] PID…`` and ``kill -l``, as procps-ng's kill reads them."""
    words = list(args)
    signum = SIGTERM
    if words and words[0] in ("-l", "-L", "--list"):
        return KillRequest(listing=True)
    if words and words[0] in ("-s", "-n", "--signal"):
        if len(words) < 2:
            return KillRequest(error=f"kill: option requires an argument -- '{words[0].lstrip('-')}'")
        parsed = parse_signal(words[1])
        if parsed is None:
            return KillRequest(error=f"kill: unknown signal name {words[1]}")
        signum, words = parsed, words[2:]
    elif words and re.fullmatch(r"-[A-Za-z0-9]+", words[0]) and (not words[0][1:].isdigit() or len(words) > 1):
        parsed = parse_signal(words[0][1:])
        if parsed is None:
            return KillRequest(error=f"kill: unknown signal name {words[0][1:]}")
        signum, words = parsed, words[1:]
    if words and words[0] == "--":
        words = words[1:]
    if not words:
        return KillRequest(error="kill: not enough arguments")
    pids = []
    for word in words:
        if not word.lstrip("-").isdigit():
            return KillRequest(error=f"kill: failed to parse argument: '{word}'")
        pids.append(int(word))
    return KillRequest(signum, tuple(pids))


def signal_listing() -> str:
    names = [s.name.removeprefix("SIG") for s in sorted(_signal.Signals, key=lambda s: s.value)
             if 0 < s.value < 32 and s.name.startswith("SIG") and not s.name.startswith("SIG_")]
    return " ".join(dict.fromkeys(names)) + "\n"
