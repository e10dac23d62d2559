"""Processes inside a pod, read and signalled through exec with argv lists (never a shell).

`PS_ARGV` lists them with ``ps``; images without ``ps`` (procps not installed) are read through
`PROC_ARGV`, a tiny script over ``/proc/*/cmdline`` and ``/proc/*/stat`` run by the image's own
``python3`` (its text is fixed here; nothing from a step goes into it). `kill_argv` sends a
signal by name: the signal asked for is the one sent, never another.

PID 1 of a PID namespace only receives signals it installed a handler for; SIGKILL and SIGSTOP
cannot have one, so sent from inside the container to PID 1 they do nothing. The suite deploys
with ``shareProcessNamespace: true`` so the engine is not PID 1; `pid1_note` explains a signal
that had no effect when the target was PID 1 anyway.
"""

from __future__ import annotations

import re

from ftlib.errors import SpecError
from ftlib.validate import normalize_signal
from ftlib.platform.base import ProcessInfo

PS_ARGV = ["ps", "-eo", "pid,stat,args"]
PROC_SCRIPT = (
    "import os\n"
    "for d in sorted(os.listdir('/proc'), key=lambda s: (len(s), s)):\n"
    "    if not d.isdigit(): continue\n"
    "    try:\n"
    "        args = open('/proc/%s/cmdline' % d, 'rb').read().replace(b'\\0', b' ').decode(errors='replace').strip()\n"
    "        state = open('/proc/%s/stat' % d).read().rsplit(')', 1)[1].split()[0]\n"
    "    except OSError: continue\n"
    "    print(d, state, args or '[kernel]')\n"
)
PROC_ARGV = ["python3", "-c", PROC_SCRIPT]
UNCATCHABLE = ("SIGKILL", "SIGSTOP")
_LINE = re.compile(r"^\s*(\d+)\s+(\S+)\s+(.*)$")
# exec exit codes that mean "this program is not in the image"
NOT_FOUND_CODES = (126, 127)


def parse_ps(text: str, exclude_pids: tuple[int, ...] = ()) -> list[ProcessInfo]:
    """Processes from ``ps -eo pid,stat,args`` (or `PROC_SCRIPT`) output; the header, the ``ps``
    itself and kernel threads are left out. ``is_main``: the container's first process (the
    lowest PID other than the pause container's ``/pause``)."""
    found = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue  # the header, or a blank line
        pid, stat, args = int(match.group(1)), match.group(2), match.group(3).strip()
        if pid in exclude_pids or args.startswith(("ps -eo", "python3 -c import os")) or args in ("[kernel]", ""):
            continue
        found.append(ProcessInfo(pid, args, False, stat[:1]))
    found.sort(key=lambda p: p.pid)
    main = next((p for p in found if not _is_pause(p.command)), None)
    return [ProcessInfo(p.pid, p.command, p is main, p.state) for p in found]


def _is_pause(command: str) -> bool:
    return command.split(" ", 1)[0].rsplit("/", 1)[-1] == "pause"


def kill_argv(pid: int, signal_name: str) -> list[str]:
    """``kill -s <SIG> <pid>`` as an argv list, for a positive pid and a signal the fault steps
    accept (`ftlib.validate.normalize_signal`: the plan and every platform, one rule)."""
    name = normalize_signal(signal_name)
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        raise SpecError(f"a process id is a positive whole number, got {pid!r}")
    return ["kill", "-s", name.removeprefix("SIG"), str(pid)]


def pid1_note(pid: int, signal_name: str) -> str:
    """Why ``signal_name`` sent to ``pid`` may have no effect ("" when nothing special applies)."""
    if pid != 1:
        return ""
    if signal_name in UNCATCHABLE:
        return (f"PID 1 of the container's PID namespace ignores {signal_name} sent from inside the container "
                "(it can have no handler for it): deploy the service with shareProcessNamespace: true in its pod "
                "spec, as the suite's DGDs do, so the engine is not PID 1")
    return (f"PID 1 of the container's PID namespace only receives {signal_name} if it installed a handler for it")
