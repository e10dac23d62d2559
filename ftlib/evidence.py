"""Where the suite may write and delete, and how its evidence files are named.

A fault-injection tool must be the most careful thing on the machine, so every path is checked:

- `path_name` is the one rule for every name from a scenario that becomes part of a path (load
  names, service names): letters, digits, ``.``, ``_`` and ``-``, not starting with ``.``.
- `inside` is the one check every writer and remover calls before it touches a path: the path,
  resolved (symlinks followed, ``..`` folded), must lie inside a folder of this run: the
  scenario's evidence folder or the run's temporary folder (`allow` / `forget` register them).
- `EvidenceFolder` claims a scenario's evidence folder: it holds a lock (``flock``) so that a
  second run of the same scenario into the same folder refuses instead of deleting the first
  one's evidence, replaces only a folder that carries this tool's stamp (`STAMP_FILE`), and
  stamps the new one.
- `pod_file` and `parse_pod_log` are the one definition of the pod evidence file names:
  ``<Service>/<pod>_<stamp>.log``, ``.previous.log``, ``.metrics.log`` and ``.yaml``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from ftlib.errors import FtError, SpecError

TOOL = "dynamo-ft"
NAME_RULE = "letters, digits, '.', '_' and '-' only, not starting with '.'"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
STAMP_FILE = "dynamo-ft-evidence.json"
LOCK_DIR = ".dynamo-ft-locks"


class OutsideEvidence(FtError):
    """The suite was about to write or delete a path outside this run's folders; it did not."""


class EvidenceBusy(FtError):
    """Another run is writing the same scenario's evidence folder."""


def path_name(name: object, what: str) -> str:
    """``name`` if it may become one folder or file name, else `SpecError` naming it and the rule.

    ``what`` says what the name is (``load name``, ``service name``)."""
    if not isinstance(name, str) or len(name) > 200 or not _NAME.fullmatch(name):
        raise SpecError(f"{what} {name!r} cannot be used: it becomes a folder or file name, so it must be "
                        f"{NAME_RULE} (at most 200 characters)")
    return name


# -- the folders this run may touch -------------------------------------------------------------
_roots: list[Path] = []
_roots_lock = threading.Lock()


def allow(root: str | Path) -> Path:
    """Let writers and removers touch ``root`` and what lies inside it (until `forget`)."""
    resolved = Path(root).resolve()
    with _roots_lock:
        _roots.append(resolved)
    return resolved


def forget(root: str | Path) -> None:
    resolved = Path(root).resolve()
    with _roots_lock:
        if resolved in _roots:
            _roots.remove(resolved)


def allowed_roots() -> list[Path]:
    with _roots_lock:
        return list(_roots)


def inside(path: str | Path, root: str | Path | None = None, *, action: str = "write") -> Path:
    """``path`` resolved, if it lies strictly inside ``root`` (or, without one, inside a folder
    registered with `allow`); else `OutsideEvidence` and nothing is touched.

    Resolving first means ``..``, absolute names and symlinks pointing elsewhere are judged by
    where they really lead. A root itself is not inside itself: removing or replacing a whole
    evidence folder is `EvidenceFolder`'s job."""
    resolved = Path(path).resolve()
    roots = [Path(root).resolve()] if root is not None else allowed_roots()
    if not any(resolved != r and resolved.is_relative_to(r) for r in roots):
        shown = ", ".join(str(r) for r in roots) or "none registered"
        raise OutsideEvidence(f"refusing to {action} {path} (resolves to {resolved}): it is not inside "
                              f"this run's evidence or temporary folders ({shown})")
    return resolved


def make_dir(path: str | Path, root: str | Path | None = None) -> Path:
    checked = inside(path, root, action="create the folder")
    checked.mkdir(parents=True, exist_ok=True)
    return checked


def write_text(path: str | Path, text: str, root: str | Path | None = None) -> Path:
    checked = inside(path, root)
    checked.parent.mkdir(parents=True, exist_ok=True)
    checked.write_text(text)
    return checked


def open_file(path: str | Path, mode: str = "a", root: str | Path | None = None, **kwargs) -> IO:
    """``open(path, mode)`` for writing or appending, after `inside`."""
    checked = inside(path, root)
    checked.parent.mkdir(parents=True, exist_ok=True)
    return open(checked, mode, **kwargs)  # noqa: SIM115 - the caller closes it


def remove_tree(path: str | Path, root: str | Path | None = None) -> None:
    """Delete a folder (or file) inside this run's folders; a missing one is fine."""
    checked = inside(path, root, action="remove")
    if checked.is_dir() and not checked.is_symlink():
        shutil.rmtree(checked)
    elif checked.exists() or checked.is_symlink():
        checked.unlink()


# -- pod evidence file names --------------------------------------------------------------------
POD_FILE_SUFFIXES = {"log": ".log", "previous": ".previous.log", "metrics": ".metrics.log", "description": ".yaml"}
_POD_LOG = re.compile(r"(?P<pod>.+)_(?P<stamp>\d{8}T\d{6})(?P<previous>\.previous)?\.log")


def pod_stamp(created_ns: int) -> str:
    """A pod's creation time as it appears in its file names (``20260127T101500``, UTC)."""
    return datetime.fromtimestamp(created_ns / 1e9, timezone.utc).strftime("%Y%m%dT%H%M%S")


def pod_file(directory: str | Path, pod: str, created_ns: int, kind: str, variant: str = "") -> Path:
    """``<directory>/<pod>_<stamp><variant><suffix>`` for ``kind`` ``log``, ``previous``,
    ``metrics`` or ``description`` (see `POD_FILE_SUFFIXES`); ``variant`` (``.before_delete``)
    tells apart snapshots of one pod taken at different moments."""
    return Path(directory) / f"{pod}_{pod_stamp(created_ns)}{variant}{POD_FILE_SUFFIXES[kind]}"


def parse_pod_log(file_name: str) -> tuple[str, bool] | None:
    """(pod, is previous log) for a pod log file name, None for any other file (metrics too)."""
    match = _POD_LOG.fullmatch(file_name)
    if match is None:
        return None
    return match.group("pod"), match.group("previous") is not None


# -- the evidence folder of one scenario --------------------------------------------------------
@dataclass(frozen=True)
class EvidenceStamp:
    """The contents of `STAMP_FILE`: which tool, run and scenario made an evidence folder."""

    tool: str
    run: str
    scenario: str
    pid: int
    started: str

    @classmethod
    def read(cls, folder: Path) -> "EvidenceStamp | None":
        try:
            data = json.loads((folder / STAMP_FILE).read_text())
            stamp = cls(**data)
        except (OSError, ValueError, TypeError):
            return None
        return stamp if stamp.tool == TOOL else None


class EvidenceFolder:
    """A scenario's evidence folder, claimed for this run.

    `claim` takes an exclusive lock on ``<output>/.dynamo-ft-locks/<folder>.lock`` (beside the
    folder, so replacing the folder never replaces the lock), refusing at once when another
    live run holds it; then it replaces an earlier run's folder, only if that folder carries
    `STAMP_FILE` (a folder without it is refused and left alone, whatever it holds), writes the
    stamp, and registers the folder with `allow`. `release` unregisters and unlocks (the kernel
    unlocks too if the process dies)."""

    def __init__(self, path: Path, lock_file: IO):
        self.path = path
        self._lock_file = lock_file

    @classmethod
    def claim(cls, path: str | Path, scenario: str, run: str = "") -> "EvidenceFolder":
        path = Path(path).resolve()
        lock_dir = path.parent / LOCK_DIR
        lock_dir.mkdir(parents=True, exist_ok=True)
        lock_file = open(lock_dir / f"{path.name}.lock", "a+")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "another process"
            lock_file.close()
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise EvidenceBusy(f"another run ({holder}) is writing the evidence of scenario {scenario!r} into "
                               f"{path}; two runs there would delete each other's evidence. Wait for it to end, "
                               "or give this run another -D output_dir") from None
        try:
            lock_file.truncate(0)
            lock_file.write(f"pid {os.getpid()}, run {run or '?'}, since {time.strftime('%H:%M:%S')}\n")
            lock_file.flush()
            cls._replace(path)
            stamp = EvidenceStamp(TOOL, run, scenario, os.getpid(), datetime.now(timezone.utc).isoformat())
            (path / STAMP_FILE).write_text(json.dumps(asdict(stamp), indent=1) + "\n")
        except BaseException:
            lock_file.close()
            raise
        allow(path)
        return cls(path, lock_file)

    @staticmethod
    def _replace(path: Path) -> None:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise SpecError(f"{path} is not a folder; refusing to use it as an evidence folder")
        if path.exists() and any(path.iterdir()):
            if EvidenceStamp.read(path) is None:
                raise SpecError(f"{path} exists and has no {STAMP_FILE} (the stamp of {TOOL} evidence); refusing to "
                                "delete it. Choose another -D output_dir, or remove the folder yourself")
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)

    def release(self) -> None:
        forget(self.path)
        if not self._lock_file.closed:
            self._lock_file.close()  # closing the file drops the flock
