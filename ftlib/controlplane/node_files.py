"""The simulated filesystem of the node agent's containers: where a path a simulated program
reads or writes lands on the host (see `ftlib.controlplane.node`).

Each container sees:

- its ``volumeMounts``: a ``persistentVolumeClaim`` volume is the ``hostPath`` folder of the
  PersistentVolume its claim is bound to (the agent reads the claim and the PV through the API,
  and mounts only folders inside its volume roots); an ``emptyDir`` is
  ``<pod folder>/.volumes/<volume>/`` (shared by the pod's containers, kept across container
  restarts, gone with the pod); every other kind (``configMap``, ``secret``, ``projected``,
  ``downwardAPI``, a pod's own ``hostPath``…) is an empty read-only folder there: nothing of the
  host is mapped into a pod by its spec, and a ConfigMap's or Secret's keys are not written.
- everything else (``/tmp``, ``/results`` when nothing is mounted there…): its own scratch root
  ``<pod folder>/.rootfs/<container>/``, the container's writable layer. Each container instance
  gets a new empty one (a restarted container starts from its image again); it goes with the pod.
  Nothing of the image is in it but empty `IMAGE_FOLDERS` (``/tmp``, ``/etc``…): reading
  ``/etc/hostname`` finds no file.

Path rules (`ContainerFiles.resolve`): a relative path is taken from ``/`` (the working directory
of every simulated process); a path with a ``..`` component is refused with EACCES (a kernel would
resolve it; refusing it keeps every path in its folder by construction); the longest mount prefix
picks the folder; the host path is then resolved (symbolic links followed) and must still lie in
that folder, else EACCES again. A write under a read-only mount fails with EROFS. Errors are
`OSError`\\ s with the container's path as ``filename``, so a program prints them as it would.
"""
from __future__ import annotations

import errno
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SCRATCH = ".rootfs"   # in a pod's folder: one scratch root per container (container names never start with ".")
VOLUMES = ".volumes"  # in a pod's folder: emptyDir and the empty stand-ins of other volume kinds
IMAGE_FOLDERS = ("tmp", "var/tmp", "root", "home", "etc", "opt", "run")  # empty, as every image has them
DOTDOT_REFUSED = "the node agent refuses '..' in a path"
LINK_REFUSED = "a symbolic link leads out of the volume"


@dataclass(frozen=True)
class Mount:
    """One folder a container sees at ``path``."""
    path: PurePosixPath
    folder: Path
    read_only: bool = False


@dataclass(frozen=True)
class HostPath:
    """Where a container path lands: ``host`` inside ``mount.folder``."""
    path: PurePosixPath
    host: Path
    mount: Mount


def container_path(path: str) -> PurePosixPath:
    """``path`` as an absolute, normalized container path; `PermissionError` if it has ``..``."""
    parts = PurePosixPath("/", str(path)).parts[1:]
    if ".." in parts:
        raise PermissionError(errno.EACCES, DOTDOT_REFUSED, str(path))
    return PurePosixPath("/", *[p for p in parts if p not in (".", "/")])


@contextmanager
def container_errors(found: HostPath):
    """Report an `OSError` of a host operation on ``found`` with container paths: a program in
    the pod never sees where its files are on the host."""
    try:
        yield
    except OSError as error:
        name, host = str(error.filename or ""), str(found.host)
        shown = str(found.path) + name[len(host):] if name.startswith(host) else str(found.path)
        if not error.errno:
            raise
        raise type(error)(error.errno, error.strerror, shown) from None


def inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies in it (both taken as they are: resolve them first)."""
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class ContainerFiles:
    """What one container instance sees: its mounts over its scratch root (see the module docstring)."""
    mounts: tuple[Mount, ...]
    root: Path

    def _mount_of(self, path: PurePosixPath) -> Mount:
        for mount in sorted(self.mounts, key=lambda m: len(m.path.parts), reverse=True):
            if path == mount.path or mount.path in path.parents:
                return mount
        return Mount(PurePosixPath("/"), self.root)

    def resolve(self, path: str) -> HostPath:
        """The host path of container path ``path`` (checked to stay in its folder)."""
        wanted = container_path(path)
        mount = self._mount_of(wanted)
        base = mount.folder.resolve()
        host = base.joinpath(*wanted.relative_to(mount.path).parts).resolve()
        if not inside(base, host):
            raise PermissionError(errno.EACCES, LINK_REFUSED, str(path))
        return HostPath(wanted, host, mount)

    def writable(self, path: str) -> HostPath:
        """`resolve`, for a write: `OSError` EROFS under a read-only mount."""
        found = self.resolve(path)
        if found.mount.read_only:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return found

    def make_dirs(self, path: str) -> HostPath:
        """``mkdir -p`` / ``os.makedirs(exist_ok=True)``: an existing folder is fine even read-only."""
        found = self.resolve(path)
        if found.host.is_dir():
            return found
        if found.host.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        found = self.writable(path)
        with container_errors(found):
            found.host.mkdir(parents=True, exist_ok=True)
        return found

    def append(self, path: str, data: bytes = b"") -> HostPath:
        """Open ``path`` for appending (its folder must exist, as for ``>>``) and write ``data``."""
        found = self.writable(path)
        if not found.host.parent.is_dir():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        with container_errors(found), found.host.open("ab") as out:
            out.write(data)
        return found


def fresh_root(root: Path) -> Path:
    """A new scratch root (a container instance's writable layer): the `IMAGE_FOLDERS`, empty."""
    shutil.rmtree(root, ignore_errors=True)
    for folder in IMAGE_FOLDERS:
        (root / folder).mkdir(parents=True)
    return root
