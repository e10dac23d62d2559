"""Deployment specs: a DynamoGraphDeployment (DGD) read from YAML, edited in memory, applied by a
platform.

Both schemas of the custom resource are understood: ``v1alpha1`` (``spec.services``, a map of
service name to ``componentType``/``subComponentType``/``extraPodSpec.mainContainer``) and
``v1beta1`` (``spec.components``, a list with ``type`` and a ``podTemplate`` whose main container
is named ``main``). Services are addressed by their exact name or by a role word (``frontend``,
``worker``, ``decode worker``, ``prefill worker``, ``decode``, ``prefill``) resolved from their
component types, so upstream examples whose names differ work unchanged.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ftlib import evidence, validate
from ftlib.errors import SpecError
from ftlib.validate import MAX_REPLICAS

BACKENDS = ("vllm", "trtllm", "sglang", "mocker")
TOPOLOGIES = ("agg", "disagg")
ROLE_WORDS = ("frontend", "worker", "decode worker", "prefill worker", "decode", "prefill")
GROUP = "nvidia.com"
KIND = "DynamoGraphDeployment"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DEFAULT_FRONTEND_COMMAND = ["python3", "-m", "dynamo.frontend"]


@dataclass
class ServiceSpec:
    """One service of a DGD, a view onto the YAML that edits it in place."""

    name: str
    raw: dict[str, Any]
    schema: str  # "v1alpha1" or "v1beta1"

    # -- identity -------------------------------------------------------------------------
    @property
    def component_type(self) -> str:
        key = "componentType" if self.schema == "v1alpha1" else "type"
        return str(self.raw.get(key) or "").lower()

    @property
    def sub_component_type(self) -> str:
        if self.schema == "v1beta1":
            kind = self.component_type
            return kind if kind in ("prefill", "decode") else ""
        return str(self.raw.get("subComponentType") or "").lower()

    @property
    def is_frontend(self) -> bool:
        return self.component_type == "frontend"

    @property
    def is_worker(self) -> bool:
        return self.component_type in ("worker", "prefill", "decode")

    @property
    def role(self) -> str:
        """``frontend``, ``prefill``, ``decode``, ``worker`` (aggregated) or the raw type."""
        if self.is_frontend:
            return "frontend"
        if not self.is_worker:
            return self.component_type or "unknown"
        mode = self.arg_value("--disaggregation-mode")
        return self.sub_component_type or (mode if mode in ("prefill", "decode") else "worker")

    @property
    def engine(self) -> str:
        """The Dynamo module the container runs: ``frontend``, ``vllm``, ``mocker``…"""
        for word in self.command + self.args[:1]:
            match = re.fullmatch(r"dynamo\.(\w+)", word)
            if match:
                return match.group(1)
        return "frontend" if self.is_frontend else "unknown"

    # -- replicas -------------------------------------------------------------------------
    @property
    def replicas(self) -> int:
        return int(self.raw.get("replicas", 1))

    @replicas.setter
    def replicas(self, count: int) -> None:
        self.raw["replicas"] = validate.count(count, f"replicas of service {self.name!r}", high=MAX_REPLICAS)

    # -- container ------------------------------------------------------------------------
    def _container(self, create: bool = False) -> dict[str, Any]:
        if self.schema == "v1alpha1":
            pod = self.raw.setdefault("extraPodSpec", {}) if create else self.raw.get("extraPodSpec") or {}
            return pod.setdefault("mainContainer", {}) if create else pod.get("mainContainer") or {}
        template = self.raw.setdefault("podTemplate", {}) if create else self.raw.get("podTemplate") or {}
        spec = template.setdefault("spec", {}) if create else template.get("spec") or {}
        containers = spec.setdefault("containers", []) if create else spec.get("containers") or []
        for container in containers:
            if container.get("name") == "main":
                return container
        if not create:
            return {}
        containers.append({"name": "main"})
        return containers[-1]

    @property
    def image(self) -> str | None:
        return self._container().get("image")

    @image.setter
    def image(self, image: str) -> None:
        self._container(create=True)["image"] = image

    @property
    def command(self) -> list[str]:
        command = [str(c) for c in self._container().get("command") or []]
        return command or (list(_DEFAULT_FRONTEND_COMMAND) if self.is_frontend else [])

    @property
    def args(self) -> list[str]:
        return [str(a) for a in self._container().get("args") or []]

    @args.setter
    def args(self, args: list[str]) -> None:
        self._container(create=True)["args"] = [str(a) for a in args]

    @property
    def declared_command_line(self) -> list[str]:
        """The command line the deployment declares for the main container."""
        return self.command + self.args

    def arg_value(self, flag: str) -> str | None:
        args = self.args
        for i, arg in enumerate(args):
            if arg == flag and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
        return None

    def set_arg(self, flag: str, value: str | None = None) -> None:
        """Set ``flag`` to ``value`` (replacing an existing value) or append a bare flag."""
        args = [a for a in self.args if not (a.startswith(flag + "=") and value is not None)] \
            + ([flag] if any(a.startswith(flag + "=") for a in self.args) and value is not None
               and flag not in self.args else [])
        if flag in args:
            index = args.index(flag)
            if value is not None and index + 1 < len(args) and not args[index + 1].startswith("--"):
                args[index + 1] = str(value)
            elif value is not None:
                args.insert(index + 1, str(value))
        else:
            args += [flag] + ([str(value)] if value is not None else [])
        self.args = args

    def add_args(self, extra: list[str]) -> None:
        self.args = self.args + [str(a) for a in extra]

    # -- environment ----------------------------------------------------------------------
    def _env_list(self, create: bool = False) -> list[dict[str, Any]]:
        if self.schema == "v1alpha1":
            return self.raw.setdefault("envs", []) if create else self.raw.get("envs") or []
        container = self._container(create=create)
        return container.setdefault("env", []) if create else container.get("env") or []

    @property
    def envs(self) -> dict[str, str]:
        return {e["name"]: str(e.get("value", "")) for e in self._env_list() if "name" in e}

    def set_env_var(self, name: str, value: str) -> None:
        validate.env_name(name)
        entries = self._env_list(create=True)
        for entry in entries:
            if entry.get("name") == name:
                entry["value"] = str(value)
                entry.pop("valueFrom", None)
                return
        entries.append({"name": name, "value": str(value)})


class DeploymentSpec:
    """A DynamoGraphDeployment, loaded from YAML and edited before a platform applies it.

    >>> spec = DeploymentSpec.from_backend("vllm", "disagg")
    >>> spec.set_worker_replicas(2)
    >>> spec.resolve_service("decode worker").name
    'VllmDecodeWorker'
    """

    def __init__(self, document: dict[str, Any], source: str = "<memory>"):
        self.source = source
        self.document = copy.deepcopy(document)
        self._validate()

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> "DeploymentSpec":
        path = Path(path)
        if not path.is_file():
            raise SpecError(f"deployment file {str(path)!r} does not exist")
        try:
            document = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise SpecError(f"deployment file {str(path)!r} is not valid YAML: {error}") from None
        return cls(document, source=str(path))

    @classmethod
    def from_backend(cls, backend: str, deployment_type: str = "agg") -> "DeploymentSpec":
        """The DGD this project ships for ``backend`` x ``deployment_type``."""
        if backend not in BACKENDS:
            raise SpecError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
        if deployment_type not in TOPOLOGIES:
            raise SpecError(f"unknown topology {deployment_type!r}; allowed: {', '.join(TOPOLOGIES)}")
        resource = resources.files("ftlib") / "specs" / f"{backend}-{deployment_type}.yaml"
        return cls(yaml.safe_load(resource.read_text()), source=f"ftlib/specs/{backend}-{deployment_type}.yaml")

    def copy(self) -> "DeploymentSpec":
        return DeploymentSpec(self.document, self.source)

    # -- validation -----------------------------------------------------------------------
    def _validate(self) -> None:
        doc = self.document
        where = f"deployment {self.source!r}"
        if not isinstance(doc, dict):
            raise SpecError(f"{where} must be a YAML mapping (a DynamoGraphDeployment), got {type(doc).__name__}")
        if doc.get("kind") != KIND:
            raise SpecError(f"{where} has kind {doc.get('kind')!r}; expected {KIND!r}")
        api = str(doc.get("apiVersion", ""))
        if api not in (f"{GROUP}/v1alpha1", f"{GROUP}/v1beta1"):
            raise SpecError(f"{where} has apiVersion {api!r}; allowed: {GROUP}/v1alpha1, {GROUP}/v1beta1")
        name = (doc.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not _DNS_LABEL.match(name):
            raise SpecError(f"{where} needs metadata.name, a DNS label (lower-case letters, digits, '-'); got {name!r}")
        key = "spec.services" if self.schema == "v1alpha1" else "spec.components"
        spec = doc.get("spec")
        entries = spec.get("services" if self.schema == "v1alpha1" else "components") if isinstance(spec, dict) else None
        if self.schema == "v1alpha1" and isinstance(entries, dict):
            bad = [name for name, raw in entries.items() if not isinstance(raw, dict)]
        elif self.schema == "v1beta1" and isinstance(entries, list):
            bad = [str(raw) for raw in entries if not isinstance(raw, dict) or "name" not in raw]
        else:
            bad = [] if entries is None else [f"{key} itself ({type(entries).__name__})"]
        if bad or (spec is not None and not isinstance(spec, dict)):
            raise SpecError(f"{where}: these entries under {key} are not service mappings: {', '.join(bad) or 'spec'}")
        if not self.services:
            raise SpecError(f"{where} declares no services under {key}")
        for service in self.services.values():
            evidence.path_name(service.name, f"{where}: service name")  # it names the folder of its pods' logs
            validate.count(service.raw.get("replicas", 1), f"{where}: replicas of service {service.name!r}",
                           high=MAX_REPLICAS)
        frontends = [s.name for s in self.services.values() if s.is_frontend]
        if len(frontends) != 1:
            raise SpecError(f"{where} must have exactly one frontend service (componentType: frontend); found {frontends}")

    # -- identity -------------------------------------------------------------------------
    @property
    def schema(self) -> str:
        return str(self.document.get("apiVersion", "")).rpartition("/")[2]

    @property
    def name(self) -> str:
        return self.document["metadata"]["name"]

    @name.setter
    def name(self, value: str) -> None:
        if not _DNS_LABEL.match(value or ""):
            raise SpecError(f"deployment name {value!r} must be a DNS label (lower-case letters, digits, '-')")
        self.document["metadata"]["name"] = value

    @property
    def services(self) -> dict[str, ServiceSpec]:
        spec = self.document.get("spec") or {}
        if self.schema == "v1alpha1":
            return {n: ServiceSpec(n, raw, "v1alpha1") for n, raw in (spec.get("services") or {}).items()}
        return {c["name"]: ServiceSpec(c["name"], c, "v1beta1") for c in spec.get("components") or [] if "name" in c}

    @property
    def frontend(self) -> ServiceSpec:
        return next(s for s in self.services.values() if s.is_frontend)

    @property
    def workers(self) -> list[ServiceSpec]:
        return [s for s in self.services.values() if s.is_worker]

    @property
    def backend(self) -> str:
        engines = {s.engine for s in self.workers} & set(BACKENDS)
        return engines.pop() if len(engines) == 1 else "unknown"

    @property
    def topology(self) -> str:
        return "disagg" if any(s.role == "prefill" for s in self.workers) else "agg"

    @property
    def model_name(self) -> str:
        """The model name the workers serve (``--served-model-name``, ``--model-name``, ``--model``…)."""
        for service in self.workers:
            for flag in ("--served-model-name", "--model-name", "--model", "--model-path"):
                value = service.arg_value(flag)
                if value:
                    return value
        return "dynamo-ft-tiny"

    @property
    def global_envs(self) -> dict[str, str]:
        spec = self.document.get("spec") or {}
        entries = spec.get("envs" if self.schema == "v1alpha1" else "env") or []
        return {e["name"]: str(e.get("value", "")) for e in entries if "name" in e}

    # -- service lookup -------------------------------------------------------------------
    def get_service(self, name: str) -> ServiceSpec:
        try:
            return self.services[name]
        except KeyError:
            raise SpecError(f"deployment {self.name!r} has no service {name!r}; services: {', '.join(self.services)}") from None

    def resolve_services(self, word: str) -> list[ServiceSpec]:
        """Every service ``word`` names: an exact service name or a role word."""
        word = " ".join(word.strip().strip('"').split())
        services = self.services
        if word in services:
            return [services[word]]
        folded = [s for n, s in services.items() if n.lower() == word.lower()]
        if folded:
            return folded
        role = word.lower().removesuffix(" service")
        if role == "frontend":
            return [self.frontend]
        if role == "worker":
            return self.workers
        if role in ("decode", "decode worker"):
            decode = [s for s in self.workers if s.role == "decode"]
            return decode or [s for s in self.workers if s.role == "worker"]
        if role in ("prefill", "prefill worker"):
            return [s for s in self.workers if s.role == "prefill"]
        raise SpecError(self._unknown(word))

    def resolve_service(self, word: str) -> ServiceSpec:
        """The one service ``word`` names; an error if it names none or several."""
        matches = self.resolve_services(word)
        if len(matches) != 1:
            found = "no service" if not matches else "several services (" + ", ".join(s.name for s in matches) + ")"
            raise SpecError(f"{word!r} matches {found} in deployment {self.name!r}; name one of: {self._listing()}")
        return matches[0]

    def _listing(self) -> str:
        return ", ".join(f"{s.name} ({s.role})" for s in self.services.values())

    def _unknown(self, word: str) -> str:
        return (f"deployment {self.name!r} has no service {word!r}; services: {self._listing()}; "
                f"role words: {', '.join(ROLE_WORDS)}")

    # -- edits ----------------------------------------------------------------------------
    def set_service_replicas(self, service: str, replicas: int) -> None:
        self.resolve_service(service).replicas = replicas

    def set_worker_replicas(self, replicas: int) -> None:
        for service in self.workers:
            service.replicas = replicas

    def set_image(self, image: str) -> None:
        for service in self.services.values():
            service.image = image

    def set_env_var(self, name: str, value: str) -> None:
        """Set an environment variable for every service (top-level ``envs``)."""
        validate.env_name(name)
        spec = self.document.setdefault("spec", {})
        entries = spec.setdefault("envs" if self.schema == "v1alpha1" else "env", [])
        entries[:] = [e for e in entries if e.get("name") != name] + [{"name": name, "value": str(value)}]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.document, sort_keys=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_yaml())
        return path

    def describe(self) -> str:
        parts = [f"{s.name}({s.role}) x{s.replicas}" for s in self.services.values()]
        return f"{self.name} [{self.backend} {self.topology}]: " + ", ".join(parts)


def get_deployment_spec(backend: str, deployment_type: str = "agg", worker_replicas: int = 1) -> DeploymentSpec:
    """The shipped DGD for ``backend`` x ``deployment_type`` with every worker at ``worker_replicas``."""
    spec = DeploymentSpec.from_backend(backend, deployment_type)
    spec.set_worker_replicas(worker_replicas)
    return spec
