"""Child processes in a group of their own, signalled only while they are certainly ours.

`spawn` starts a command as the leader of a new session (so its process group id equals its
pid) and returns a `ProcessGroup`, a `subprocess.Popen` that never signals a stranger:

- The leader is signalled through a pidfd (``os.pidfd_open`` right after the fork, while the
  child cannot have been reaped): a pidfd names one process, never a later one that reuses its
  number.
- The group is signalled with ``killpg`` only while the leader has not been reaped. Why that is
  safe: a process id stays taken while the process exists, zombie included, and a running or
  zombie leader is a member of its own group, so no new process (and no new group) can get
  that number. Once the leader is reaped and its group empties, the kernel may hand the number
  to an unrelated process, which may lead a group of the same id: a ``killpg`` then would kill
  it. So once this object has a return code, it sends no signal at all.
- Hence `poll` and `wait` first notice that the leader exited *without* reaping it
  (``waitid(..., WNOWAIT)``), then SIGKILL what is left of its group (helpers it started, as a
  Kubernetes container's processes die with its main process), and only then reap the leader.

Every child gets ``PR_SET_PDEATHSIG`` (SIGKILL when the thread that spawned it ends) unless
``die_with_parent=False``; the child also inherits ``DYNAMO_FT_RUN`` (see `ftlib.runs`), by which
``./run clean`` finds the processes of a run that was killed.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

from ftlib import evidence

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the spawning thread ends."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class ProcessGroup(subprocess.Popen):
    """A `subprocess.Popen` whose process leads its own group; see the module's documentation."""

    def __init__(self, *args, **kwargs):
        self._group_lock = threading.RLock()
        self._pidfd: int | None = None
        super().__init__(*args, **kwargs)
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except OSError:  # very old kernels: signals then go by pid, still only before the reap
            self._pidfd = None

    # -- state ----------------------------------------------------------------------------------
    def _exited(self) -> bool | None:
        """True if the leader has exited and is a zombie (looking does not reap it), False while
        it runs, None if it was reaped already by someone else (its number is no longer ours)."""
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        return info is not None

    def poll(self) -> int | None:
        with self._group_lock:
            if self.returncode is None:
                exited = self._exited()
                if exited:
                    self._reap()
                elif exited is None:
                    super().poll()  # records the exit without signalling anything
                    self._close_pidfd()
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._wait_exit(0.05 if left is None else min(left, 0.05))
        return self.returncode

    def _wait_exit(self, seconds: float) -> None:
        if self._pidfd is not None:
            select.select([self._pidfd], [], [], seconds)  # readable once the process has exited
        else:
            time.sleep(seconds)

    def _reap(self) -> None:
        """The leader has exited: kill its group's leftovers while the number is still ours,
        then reap it (``super().poll`` sets ``returncode``)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        while super().poll() is None:  # the reap itself; exited already, so this is immediate
            time.sleep(0.001)
        self._close_pidfd()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    # -- signals --------------------------------------------------------------------------------
    def send_signal(self, sig: int) -> bool:
        """Signal the leader only; False (nothing sent) once it has exited and been reaped."""
        with self._group_lock:
            if self.poll() is not None:
                return False
            try:
                if self._pidfd is not None:
                    signal.pidfd_send_signal(self._pidfd, sig)
                else:
                    os.kill(self.pid, sig)
            except ProcessLookupError:
                return False
            return True

    def signal_group(self, sig: int) -> bool:
        """Signal every process of the group, only while the leader is not reaped (see the module
        documentation). False if nothing was sent."""
        with self._group_lock:
            if self.returncode is not None:
                return False
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                return False
            return True

    def signal_member(self, pid: int, sig: int) -> bool:
        """Signal one process of this group (a fault aimed at one process of a pod). A pidfd is
        opened first, then the process must still be in this group, whose leader is not reaped:
        a number reused between listing the processes and signalling is never hit. False if
        nothing was sent."""
        with self._group_lock:
            if self.returncode is not None:
                return False
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                return False
            try:
                if os.getpgid(pid) != self.pid:
                    return False
                signal.pidfd_send_signal(pidfd, sig)
                return True
            except OSError:
                return False
            finally:
                os.close(pidfd)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def stop(self, grace_seconds: float = 0.0) -> int | None:
        """SIGTERM the group, wait up to ``grace_seconds`` for the leader, then SIGKILL the group
        and reap. Returns the exit code (None only if the leader outlived SIGKILL for 10 s)."""
        if grace_seconds > 0 and self.signal_group(signal.SIGTERM):
            try:
                self.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)
        try:
            return self.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def __del__(self, *args, **kwargs):
        self._close_pidfd()
        super().__del__(*args, **kwargs)


def spawn(argv: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None,
          die_with_parent: bool = True) -> ProcessGroup:
    """Start ``argv`` (a list, never a shell string) in its own session, stdin closed, stdout and
    stderr appended to ``log_path`` (which must lie inside this run's folders: `evidence.inside`)."""
    with evidence.open_file(log_path, "ab") as log:
        return ProcessGroup(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent if die_with_parent else None)


def kill_group(process: subprocess.Popen | None, sig: int = signal.SIGKILL) -> bool:
    """Signal ``process``'s group if it is a `ProcessGroup` whose leader is not reaped yet (a
    plain Popen's group is never signalled: its reaping is not under our control)."""
    if isinstance(process, ProcessGroup):
        return process.signal_group(sig)
    return False
