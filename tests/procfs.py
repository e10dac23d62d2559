"""What /proc says of a process, for the tests that check a process is gone (a zombie counts)."""

from __future__ import annotations

from pathlib import Path


def process_state(pid: int) -> str:
    """The state letter of ``pid`` (R, S, T, Z…), or ``gone`` when /proc no longer has it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def gone(pid: int) -> bool:
    """The process has exited: absent from /proc, or a zombie left for its parent to reap."""
    return process_state(pid) in ("gone", "Z")
