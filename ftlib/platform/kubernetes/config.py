"""Which cluster, which namespace, and whether the suite can work there, checked before anything
is created.

`load_api_client` finds credentials as kubectl does: ``$KUBECONFIG``, else the in-cluster service
account, else ``~/.kube/config``; ``-D kube_context`` picks a context. `check_cluster` then proves
the API answers, the DynamoGraphDeployment CRD is served and the namespace exists and may be used,
raising one `PlatformError` that names what was wrong and what to do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import urllib3.exceptions
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ftlib.errors import PlatformError, SpecError
from ftlib.platform.kubernetes.retry import ATTEMPTS, call_api, explain, short_reason

DGD_GROUP = "nvidia.com"
DGD_PLURAL = "dynamographdeployments"
DGD_CRD = f"{DGD_PLURAL}.{DGD_GROUP}"
PROTECTED_NAMESPACES = ("default", "kube-system")
DEFAULT_KUBECONFIG = Path("~/.kube/config")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class ClusterOptions:
    """The ``-D`` options of the kubernetes platform.

    namespace: where DGDs, load Jobs and the log PVC go (``default``/``kube-system`` refused
      unless ``allow_namespace`` names them).
    kube_context: kubeconfig context to use (the current context if unset).
    allow_namespace: lets the suite use a protected namespace when it names exactly that namespace.
    image: container image of every Dynamo service.
    load_image: image of the load Job (aiperf 0.13.0 inside; ``pip-install`` installs the pinned
      aiperf into ``python:3.12-slim`` at start, which needs egress to PyPI). Default: ``image``.
    storage_class: storage class of the shared ReadWriteMany log PVC (cluster default if unset).
    pvc_size: size of that PVC (``1Gi``).
    skip_service_restart: ``false`` restarts the platform's NATS and etcd before deploying.
    keep_resources: keep the run's Jobs and PVC after the run (prints how to delete them).
    kube_log_tee: mount the log PVC in every service and copy each service's output to it
      (`ftlib.platform.kubernetes.log_tee`); ``false`` turns that off.
    client_type: ``aiperf`` or ``legacy`` (the built-in client, run in the load Job).
    """

    namespace: str = "fault-tolerance-test"
    kube_context: str | None = None
    allow_namespace: str | None = None
    image: str | None = None
    load_image: str | None = None
    storage_class: str | None = None
    pvc_size: str = "1Gi"
    skip_service_restart: bool = True
    keep_resources: bool = False
    kube_log_tee: bool = True
    client_type: str = "aiperf"

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | object) -> "ClusterOptions":
        """From ``-D`` userdata (a mapping; other keys are left to their owners) or any object with
        these attributes (``RunOptions``)."""
        get = options.get if isinstance(options, Mapping) else (lambda key, default=None: getattr(options, key, default))
        values = {}
        for f in fields(cls):
            raw = get(f.name, None)
            if raw is None or raw == "":
                continue
            values[f.name] = parse_bool(f.name, raw) if f.type in ("bool", bool) else str(raw)
        return cls(**values)


def parse_bool(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise SpecError(f"option {key} takes true or false, got {raw!r}")


@dataclass(frozen=True)
class RbacRule:
    """Verbs the suite uses on one resource (``group`` "" is the core API), what for, and when:
    ``always``, ``restart`` (only with ``skip_service_restart=false``) or ``optional`` (the suite
    works without it and says what is missing)."""

    group: str
    resource: str
    verbs: tuple[str, ...]
    why: str
    when: str = "always"


SUITE_RBAC = (
    RbacRule(DGD_GROUP, DGD_PLURAL, ("get", "list", "watch", "create", "patch", "delete"),
             "apply, watch, upgrade and remove the deployment"),
    RbacRule("", "pods", ("get", "list", "watch", "delete"), "find pods, watch the timeline, delete pods"),
    RbacRule("", "pods/log", ("get",), "service logs (current and previous) and the load's output"),
    RbacRule("", "pods/exec", ("create",), "ps, kill and freeze in pods; stop the load; copy results back"),
    RbacRule("", "pods/exec", ("get",), "exec over websockets on API servers before 1.30, which authorize it as get",
             "optional"),
    RbacRule("", "pods/proxy", ("get",), "/metrics of each pod"),
    RbacRule("", "events", ("list",), "events of each pod, for evidence"),
    RbacRule("", "persistentvolumeclaims", ("get", "list", "create", "delete"),
             "the shared log PVC; NATS/etcd PVCs on a service restart"),
    RbacRule("batch", "jobs", ("get", "list", "create", "delete"), "the load Job and the PVC probe Job"),
    RbacRule("apps", "statefulsets/scale", ("get", "patch"), "restart NATS and etcd (skip_service_restart=false)",
             "restart"),
    RbacRule("metrics.k8s.io", "pods", ("list",), "CPU and memory of each pod (resource history)", "optional"),
)


def needed_rules(options: "ClusterOptions") -> tuple[RbacRule, ...]:
    """The rules a run with ``options`` cannot do without."""
    return tuple(r for r in SUITE_RBAC if r.when == "always" or r.when == "restart" and not options.skip_service_restart)


@dataclass(frozen=True)
class Access:
    """The API server's answer for one verb of one rule: allowed, denied, or None (could not ask)."""

    rule: RbacRule
    verb: str
    allowed: bool | None
    error: str = ""

    @property
    def name(self) -> str:
        return f"{self.verb} {self.rule.resource}" + (f".{self.rule.group}" if self.rule.group else "")


def access_reviews(api: client.ApiClient, namespace: str, rules: tuple[RbacRule, ...] = SUITE_RBAC) -> list[Access]:
    """Ask the API server (SelfSubjectAccessReview: nothing is created) whether the credentials may
    use each verb of ``rules`` in ``namespace``."""
    auth = client.AuthorizationV1Api(api)
    answers = []
    for rule in rules:
        resource, _, subresource = rule.resource.partition("/")
        for verb in rule.verbs:
            attributes = {"namespace": namespace, "verb": verb, "group": rule.group, "resource": resource}
            if subresource:
                attributes["subresource"] = subresource
            body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes}}
            try:
                review = call_api(auth.create_self_subject_access_review, body)
            except ApiException as error:
                answers.append(Access(rule, verb, None, short_reason(error)))
                continue
            answers.append(Access(rule, verb, bool(review.status and review.status.allowed)))
    return answers


def require_access(api: client.ApiClient, namespace: str, rules: tuple[RbacRule, ...] = SUITE_RBAC) -> list[str]:
    """Raise one `PlatformError` naming every verb and resource the credentials lack, pointing at
    ``deploy/rbac.yaml``. Returns notes when the server would not answer the reviews."""
    answers = access_reviews(api, namespace, rules)
    denied = [a.name for a in answers if a.allowed is False]
    if denied:
        raise PlatformError(f"not allowed in namespace {namespace!r} to: {', '.join(denied)}. The suite needs the Role "
                            f"in deploy/rbac.yaml bound to you: sed -e 's/<namespace>/{namespace}/' -e "
                            "'s/<user-or-serviceaccount>/<you>/' deploy/rbac.yaml | kubectl apply -f - "
                            "(./run preflight shows every permission)")
    unknown = [a for a in answers if a.allowed is None]
    return [f"could not check permissions ({unknown[0].error}); a missing one fails when first used"] if unknown else []


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
NAME_RULES = {  # option -> (what Kubernetes accepts there, its pattern, its longest length)
    "namespace": ("a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, "
                  "at most 63 characters", re.compile(_LABEL), 63),
    "storage_class": ("a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each part starting and ending "
                      "with a letter or digit, at most 253 characters", re.compile(rf"{_LABEL}(\.{_LABEL})*"), 253),
}


def check_cluster_options(options: "ClusterOptions | Any") -> None:
    """The ``-D`` options of the kubernetes platform that can be judged without a cluster: names
    Kubernetes would refuse, a protected namespace, and an image for the load Job that holds its client."""
    for option, (rule, pattern, longest) in NAME_RULES.items():
        value = getattr(options, option, None)
        if value is not None and (len(value) > longest or not pattern.fullmatch(value)):
            raise SpecError(f"-D {option}={value}: Kubernetes refuses this name; give {rule}")
    check_namespace_allowed(options.namespace, options.allow_namespace)
    from ftlib.platform.kubernetes.load_job import AIPERF_VERSION, PIP_BASE_IMAGE, PIP_INSTALL

    if getattr(options, "load_image", None) == PIP_INSTALL and getattr(options, "client_type", None) == "legacy":
        raise SpecError(f"-D load_image={PIP_INSTALL} installs aiperf only, but -D client_type=legacy runs dynamo-ft's "
                        "own client in the load Job: give -D load_image=<an image with dynamo-ft installed>, or use "
                        "-D client_type=aiperf")
    if not (getattr(options, "load_image", None) or getattr(options, "image", None)):
        raise SpecError(f"-D platform=kubernetes runs each load as a Job, which needs an image with aiperf "
                        f"{AIPERF_VERSION}: set -D load_image=<image> (or -D image=<image> for every service and the "
                        f"load, or -D load_image={PIP_INSTALL} to pip install it in {PIP_BASE_IMAGE}, which needs "
                        "egress to PyPI)")


def check_namespace_allowed(namespace: str, allow_namespace: str | None) -> None:
    """Refuse ``default`` and ``kube-system`` unless ``-D allow_namespace`` names that namespace."""
    if namespace in PROTECTED_NAMESPACES and allow_namespace != namespace:
        raise SpecError(f"namespace {namespace!r} is refused: the suite creates and deletes deployments, Jobs and "
                        f"PVCs there. Use a namespace of its own (kubectl create namespace ft; -D namespace=ft), or "
                        f"name it explicitly with -D allow_namespace={namespace}")


def kubeconfig_source(environ: Mapping[str, str] | None = None) -> str:
    """Where credentials come from, as kubectl picks them: ``kubeconfig:<path>`` or ``in-cluster``."""
    environ = os.environ if environ is None else environ
    if environ.get("KUBECONFIG"):
        return f"kubeconfig:{environ['KUBECONFIG']}"
    if environ.get("KUBERNETES_SERVICE_HOST") and environ.get("KUBERNETES_SERVICE_PORT"):
        return "in-cluster"
    return f"kubeconfig:{DEFAULT_KUBECONFIG.expanduser()}"


def load_api_client(options: ClusterOptions | Mapping[str, Any] | object) -> client.ApiClient:
    """One API client for the run, configured as kubectl would be."""
    if not isinstance(options, ClusterOptions):
        options = ClusterOptions.from_options(options)
    source = kubeconfig_source()
    if source == "in-cluster":
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as error:
            raise PlatformError(f"running inside a pod but the service account's credentials are unusable "
                                f"({error}); set KUBECONFIG to a kubeconfig file instead") from error
        return client.ApiClient(configuration)
    path = source.removeprefix("kubeconfig:")
    files = [p for p in path.split(os.pathsep) if p]
    if not any(Path(p).expanduser().is_file() for p in files):
        raise PlatformError(f"no kubeconfig: {path} does not exist and this is not a pod. Point KUBECONFIG at "
                            "your cluster's kubeconfig (kubectl config view --raw > ft.kubeconfig; "
                            "export KUBECONFIG=$PWD/ft.kubeconfig) or run inside the cluster")
    try:
        return config.new_client_from_config(config_file=path, context=options.kube_context)
    except ConfigException as error:
        context = f" with context {options.kube_context!r}" if options.kube_context else ""
        raise PlatformError(f"cannot use kubeconfig {path}{context}: {error}. "
                            "List the contexts with: kubectl config get-contexts") from error


def server_version(api: client.ApiClient, attempts: int = ATTEMPTS, timeout: float = 10) -> str:
    """The API server's version; a `PlatformError` saying where it looked when it does not answer."""
    host = api.configuration.host
    try:
        info = call_api(client.VersionApi(api).get_code, attempts=attempts, _request_timeout=timeout)
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise PlatformError(f"the Kubernetes API at {host} is unreachable ({connection_reason(error)}); "
                            "check the cluster is up and your kubeconfig/context (kubectl cluster-info)") from error
    except ApiException as error:
        raise PlatformError(f"the Kubernetes API at {host} answered {short_reason(error)}; "
                            "check your credentials (kubectl auth whoami)") from error
    return info.git_version


def connection_reason(error: BaseException) -> str:
    """Why a connection failed, in a few words: urllib3's innermost reason (``Failed to establish a
    new connection: [Errno 111] Connection refused``) without the connection's repr (the address is
    named beside it) and the retry wrapping."""
    reason = getattr(error, "reason", None)
    while isinstance(reason, urllib3.exceptions.HTTPError) and getattr(reason, "reason", None) is not None:
        reason = reason.reason
    text = str(reason or error)
    return re.sub(r"^(<[^>]*>|\w+\([^)]*\)): ", "", text) or error.__class__.__name__


def dgd_served_versions(api: client.ApiClient) -> list[str]:
    """The versions of ``nvidia.com`` that serve ``dynamographdeployments`` (API discovery, which
    every authenticated user may read). [] when the CRD is not installed."""
    try:
        group = call_api(client.ApisApi(api).get_api_versions)
    except ApiException as error:
        raise PlatformError(explain(error, "discover", "API groups")) from error
    versions = [v.version for g in group.groups if g.name == DGD_GROUP for v in g.versions]
    served = []
    for version in versions:
        resources = _discover(api, f"/apis/{DGD_GROUP}/{version}")
        if any(r.get("name") == DGD_PLURAL for r in resources.get("resources", [])):
            served.append(version)
    return served


def _discover(api: client.ApiClient, path: str) -> dict:
    try:
        data = call_api(api.call_api, path, "GET", auth_settings=["BearerToken"], response_type="object", header_params={"Accept": "application/json"},
                        _return_http_data_only=True, _request_timeout=10)
    except ApiException as error:
        if error.status == 404:
            return {}
        raise PlatformError(explain(error, "discover", path)) from error
    return data if isinstance(data, dict) else {}


def require_dgd_version(served: list[str], wanted: str | None = None) -> None:
    """The CRD is installed (and serves ``wanted`` when given); else say what to install."""
    if not served:
        raise PlatformError(f"the CRD {DGD_CRD} is not installed on this cluster: install the Dynamo platform "
                            "(operator and CRDs) first, see the Dynamo docs; kubectl get crd | grep nvidia.com")
    if wanted and wanted not in served:
        raise PlatformError(f"the CRD {DGD_CRD} serves {', '.join(served)} but the spec is {DGD_GROUP}/{wanted}; "
                            "upgrade the Dynamo operator or write the spec in a served version")


def namespace_exists(api: client.ApiClient, namespace: str) -> bool | None:
    """True/False, or None when the credentials may not read namespaces (a namespaced Role)."""
    try:
        call_api(client.CoreV1Api(api).read_namespace, namespace)
        return True
    except ApiException as error:
        if error.status == 404:
            return False
        if error.status == 403:
            return None
        raise PlatformError(explain(error, "get", f"namespace {namespace}")) from error


def check_cluster(api: client.ApiClient, options: ClusterOptions, dgd_version: str | None = None) -> list[str]:
    """Everything a run needs from the cluster before it creates anything; raise one
    `PlatformError`/`SpecError` for the first thing missing. Returns notes for the log."""
    check_namespace_allowed(options.namespace, options.allow_namespace)
    notes = [f"Kubernetes {server_version(api)} at {api.configuration.host}"]
    served = dgd_served_versions(api)
    require_dgd_version(served, dgd_version)
    notes.append(f"{DGD_CRD} serves {', '.join(served)}")
    exists = namespace_exists(api, options.namespace)
    if exists is False:
        raise PlatformError(f"namespace {options.namespace!r} does not exist: kubectl create namespace "
                            f"{options.namespace} (then apply deploy/rbac.yaml in it), or pick another with -D namespace=")
    if exists is None:
        notes.append(f"namespace {options.namespace}: not allowed to read namespaces; assuming it exists")
    notes += require_access(api, options.namespace, needed_rules(options))
    return notes
