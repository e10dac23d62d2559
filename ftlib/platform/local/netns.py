"""The thread that starts a deployment's pods, and the private network they share.

Every pod is started from one long-lived launcher thread per deployment, with a parent-death
signal (SIGKILL). Linux sends that signal when the *thread* that forked the pod ends, so tying it
to this thread (and not to the supervisor, which stops first at teardown) means:

- teardown stops pods gracefully (SIGTERM, a short grace, SIGKILL) before the launcher ends;
- a crashed supervisor leaves the pods running, so the error can be reported and the pods
  stopped gracefully;
- if the whole Python process dies (SIGKILL, a crash), the launcher dies with it and every pod's
  main process gets SIGKILL: no pod outlives the run.

Network isolation: Dynamo 1.6.1 binds its ZMQ event publishers to ``0.0.0.0`` whatever host it
is told to advertise. When the machine allows it (root, or CAP_SYS_ADMIN), the launcher thread
moves into a network namespace of its own holding only loopback, and every pod it starts
inherits it: the pods reach each other on 127.0.0.1 as before, and nothing they bind can be
reached from outside the namespace, not even from this machine's own loopback. The deployment
reaches them through `socket`, which creates sockets inside that namespace (the service proxy
and the readiness probes use it). ``FT_NETNS=off`` turns this off, ``FT_NETNS=on`` makes it
required (an error where the machine does not allow it); the default, ``auto``, falls back to
the host's loopback with a logged warning.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import queue
import socket
import struct
import subprocess
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from ftlib.errors import PlatformError

log = logging.getLogger("ftlib.platform.local")

ENV_VAR = "FT_NETNS"
CALL_TIMEOUT = 60.0  # a spawn or a socket never takes this long; bounds a call racing `close`
MODES = ("auto", "on", "off")
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_libc = ctypes.CDLL(None, use_errno=True)


def isolation_mode(value: str | None = None) -> str:
    """``FT_NETNS`` (or ``value``): auto (default), on or off."""
    mode = (value if value is not None else os.environ.get(ENV_VAR, "")).strip().lower() or "auto"
    if mode not in MODES:
        raise PlatformError(f"{ENV_VAR} must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _loopback_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace (a new one starts with it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


def _thread_netns() -> int:
    return os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)


def _private_network() -> int:
    """Move the calling thread into a new network namespace with loopback up; return an fd of it.
    On failure the thread is back in the network it started in."""
    host = _thread_netns()
    try:
        _check(_libc.unshare(_CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            _loopback_up()
        except OSError:
            _check(_libc.setns(host, _CLONE_NEWNET), "setns back to the host network")
            raise
        return _thread_netns()
    finally:
        os.close(host)


class PodLauncher:
    """One deployment's launcher thread: starts its pods and owns their network namespace.

    ``spawn`` is the function that starts a process (argv, env, log path) with a parent-death
    signal; it runs on the launcher thread. ``mode``: auto, on or off (see the module text).
    """

    def __init__(self, name: str, spawn: Callable[..., subprocess.Popen], mode: str | None = None):
        self.mode = isolation_mode(mode)
        self._spawn = spawn
        self._calls: "queue.Queue[tuple[Callable, tuple, Future] | None]" = queue.Queue()
        self._netns_fd: int | None = None
        self.isolation_problem = ""  # why the pods share the host's network ("" when isolated or off)
        started: Future = Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name=f"pod-launcher-{name}", daemon=True)
        self._thread.start()
        started.result()

    @property
    def isolated(self) -> bool:
        """The pods run in a private network namespace holding only loopback."""
        return self._netns_fd is not None

    def spawn(self, argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
        """Start a pod's process from the launcher thread (inside the private network, if any)."""
        return self._call(self._spawn, argv, env, log_path)

    def socket(self) -> socket.socket:
        """A TCP socket in the pods' network: ``connect(("127.0.0.1", port))`` reaches a pod."""
        if self._netns_fd is None:
            return socket.socket()
        return self._call(socket.socket)

    def close(self) -> None:
        """End the launcher thread. Pods still running then get their parent-death SIGKILL."""
        if self._thread.is_alive():
            self._calls.put(None)
            self._thread.join(timeout=10)

    def _call(self, function: Callable, *args):
        if not self._thread.is_alive():
            raise PlatformError(f"the pod launcher thread {self._thread.name} has ended")
        result: Future = Future()
        self._calls.put((function, args, result))
        return result.result(timeout=CALL_TIMEOUT)

    def _run(self, started: Future) -> None:
        try:
            self._isolate()
        except BaseException as error:  # noqa: BLE001 - handed to the constructor
            started.set_exception(error)
            return
        started.set_result(None)
        try:
            while (call := self._calls.get()) is not None:
                function, args, result = call
                try:
                    result.set_result(function(*args))
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    result.set_exception(error)
        finally:
            if self._netns_fd is not None:
                os.close(self._netns_fd)

    def _isolate(self) -> None:
        if self.mode == "off":
            return
        try:
            self._netns_fd = _private_network()
        except OSError as error:
            self.isolation_problem = (f"no private network namespace for the pods ({error.strerror or error}); "
                                      "Dynamo's event publishers, which bind 0.0.0.0, are reachable from the network "
                                      f"while the scenario runs. Run as root to isolate them, or set {ENV_VAR}=off "
                                      "to silence this warning")
            if self.mode == "on":
                raise PlatformError(f"{ENV_VAR}=on: {self.isolation_problem}") from error
            log.warning(self.isolation_problem)
