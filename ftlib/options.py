"""Run options, from behave's userdata (``-D key=value``) or keyword arguments."""

from __future__ import annotations

import difflib
import errno
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Mapping

from ftlib.errors import SpecError
from ftlib.validate import MAX_SEED
from ftlib.load import CLIENT_TYPES
from ftlib.platform import PLATFORMS

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# userdata keys that belong to other tools (allure-behave's formatter options)
FOREIGN_PREFIXES = ("AllureFormatter.",)


@dataclass(frozen=True)
class RunOptions:
    """How scenarios run.

    platform: ``local`` (processes on this machine) or ``kubernetes``.
    namespace: Kubernetes namespace for deployments, loads and PVCs.
    image: container image for every service (kubernetes).
    storage_class: storage class of the log PVC (kubernetes; cluster default if unset).
    skip_service_restart: do not restart NATS/etcd before a deployment (kubernetes).
    kube_context: kubeconfig context to use (kubernetes; the current context if unset).
    allow_namespace: lets the suite use ``default`` or ``kube-system`` when it names exactly that namespace.
    load_image: image of the load Job (kubernetes; default: ``image``).
    keep_resources: keep the run's DGD, Jobs and PVC after the run, for debugging (kubernetes; it
    prints how to delete them later).
    kube_log_tee: ``false`` stops copying each service's output to the run's log PVC (kubernetes;
    the copy is what keeps the logs of deleted pods for the evidence).
    client_type: ``aiperf`` or ``legacy`` (a small built-in streaming client).
    output_dir: where each scenario's evidence goes (``<output_dir>/<scenario>/``).
    dry_run: resolve every scenario and print its plan; deploy nothing. ``server`` (kubernetes)
    also sends every manifest the plan holds to the cluster with ``dryRun=All``: its CRD schema,
    admission webhooks and your permissions judge each one, nothing is created, and a manifest
    refused or with fields pruned fails the run (`ftlib.platform.kubernetes.server_dry_run`).
    seed: the loads' random seed (prompts and request schedule); when not given, each scenario
    chooses one and records it (``scenario.log``, ``load/<name>/seed.txt``): ``-D seed=N`` reproduces it.
    """

    platform: str = "local"
    namespace: str = "fault-tolerance-test"
    image: str | None = None
    storage_class: str | None = None
    skip_service_restart: bool = True
    kube_context: str | None = None
    allow_namespace: str | None = None
    load_image: str | None = None
    keep_resources: bool = False
    kube_log_tee: bool = True
    client_type: str = "aiperf"
    output_dir: str = "test_outputs"
    dry_run: bool | str = False  # True, False or "server"
    seed: int | None = None

    @classmethod
    def from_userdata(cls, userdata: Mapping[str, str]) -> "RunOptions":
        known = {f.name: f for f in fields(cls)}
        values = {}
        for key, raw in userdata.items():
            if key.startswith(FOREIGN_PREFIXES):
                continue
            if key not in known:
                raise SpecError(f"unknown option -D {key}{did_you_mean(key, known, '-D ')}; "
                                f"allowed: {', '.join(known)}")
            if key == "seed":
                values[key] = parse_seed(raw)
                continue
            if key == "dry_run":
                values[key] = parse_dry_run(raw)
                continue
            values[key] = _parse_bool(key, raw) if known[key].type in ("bool", bool) else (str(raw) or None)
        options = cls(**values)
        options.validate()
        return options

    def validate(self) -> None:
        if self.platform not in PLATFORMS:
            raise SpecError(f"unknown platform {self.platform!r}{did_you_mean(self.platform, PLATFORMS)}; "
                            f"allowed: {', '.join(PLATFORMS)}")
        if self.platform == "kubernetes":
            from ftlib.platform.kubernetes.config import check_cluster_options

            check_cluster_options(self)
        if self.dry_run == "server" and self.platform != "kubernetes":
            raise SpecError("-D dry_run=server asks a Kubernetes API server to judge the manifests: "
                            "it needs -D platform=kubernetes (-D dry_run=true plans on any platform)")
        if self.client_type not in CLIENT_TYPES:
            raise SpecError(f"unknown client_type {self.client_type!r}{did_you_mean(self.client_type, CLIENT_TYPES)}; "
                            f"allowed: {', '.join(CLIENT_TYPES)}")
        if not self.output_dir:
            raise SpecError("output_dir must not be empty")

    def output_path(self, repo_root: Path) -> Path:
        """The folder the evidence goes into: ``output_dir``, relative to ``repo_root`` unless absolute."""
        root = Path(self.output_dir).expanduser()
        return root if root.is_absolute() else repo_root / root

    def check_output_dir(self, repo_root: Path, create: bool = True) -> Path:
        """Create the evidence folder if missing and prove it writable; an error naming the
        option if it is a file, lies under one, or cannot be written. With ``create=False`` (a
        run that only plans) nothing is created: the nearest folder that exists must be writable."""
        root = self.output_path(repo_root)
        existing = next(path for path in (root, *root.parents) if path.exists())
        if not existing.is_dir():
            raise SpecError(f"-D output_dir={self.output_dir}: {existing} is a file, not a folder; give a folder for "
                            "the evidence (it is created if missing)")
        try:
            if not create:
                if not os.access(existing, os.W_OK | os.X_OK):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(existing))
                return root
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=root):
                pass
        except OSError as error:
            raise SpecError(f"-D output_dir={self.output_dir}: cannot write evidence into {root} "
                            f"({error.strerror or error}); give a folder that can be created and written") from None
        return root


def did_you_mean(word: str, known: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean <prefix>platform?)`` when one of ``known`` is close to ``word`` (a typo:
    ``platfrom``, ``outputdir``), else nothing."""
    nearest = difflib.get_close_matches(str(word), list(known), n=1, cutoff=0.75)
    return f" (did you mean {prefix}{nearest[0]}?)" if nearest else ""


def parse_dry_run(raw: object) -> bool | str:
    """``-D dry_run``: true, false (the usual words for them) or ``server``."""
    if str(raw).strip().lower() == "server":
        return "server"
    try:
        return _parse_bool("dry_run", raw)
    except SpecError:
        raise SpecError(f"option dry_run takes true, false or server, got {raw!r}") from None


def parse_seed(raw: object) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1."""
    text = str(raw).strip()
    if not text.isdigit() or int(text) > MAX_SEED:
        raise SpecError(f"option seed takes a whole number from 0 to {MAX_SEED}, got {raw!r}")
    return int(text)


def _parse_bool(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SpecError(f"option {key} takes true or false, got {raw!r}")
