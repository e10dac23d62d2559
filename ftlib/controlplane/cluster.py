"""A Kubernetes control plane on 127.0.0.1, started as controller-runtime's envtest starts one.

`ControlPlane` starts etcd (``--unsafe-no-fsync``, data in its folder), kube-apiserver
(``--authorization-mode=RBAC``, client certificates made by `ftlib.controlplane.pki`,
service-account keys, ``--endpoint-reconciler-type=none``, ``--advertise-address=127.0.0.1``),
kube-controller-manager (``--leader-elect=false``, the controllers in `CONTROLLERS`, each with
its own service-account credentials) and kube-scheduler, every one bound to 127.0.0.1 on ports
chosen free at start. Then it applies the vendored Dynamo CRD (both versions, converted by the
webhook of `ftlib.controlplane.conversion`, which runs also without the stand-ins), creates the
namespace `NAMESPACE` and starts the stand-ins for what cannot run here: the node agent
(`ftlib.controlplane.node`), the storage provisioner (`ftlib.controlplane.storage`) and the Dynamo
operator (`ftlib.controlplane.operator`); ``stand_ins=False`` leaves them out.

Users (kubeconfigs in ``<folder>/kubeconfigs/``): ``admin`` (group ``system:masters``) and
``dynamo-ft-tester``, a user with no rights of its own: `grant_suite_role` binds it to the Role of
``deploy/rbac.yaml``. Stand-ins run as their own users: the node agent as ``system:node:<node>``
in ``system:nodes`` (bound to the bootstrap ``system:node`` ClusterRole, as clusters before the
Node authorizer did); the operator and the provisioner as admin (the real operator's chart grants
it broad cluster rights; a real provisioner has the ``system:persistent-volume-provisioner`` role).

From the shell::

    python -m ftlib.controlplane.cluster up      # build once, start, print the kubeconfig and versions
    python -m ftlib.controlplane.cluster down    # stop it; nothing of it remains
    python -m ftlib.controlplane.cluster up --bare   # no node agent, provisioner or operator

``up`` leaves a supervisor process running in the background (its pid and folder are in
``~/.cache/dynamo-ft/cluster.json``); every component dies with it. From Python::

    with ControlPlane() as cp:
        api = cp.api_client()          # admin
        ...
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ftlib import evidence
from ftlib.controlplane import build, pki
from ftlib.controlplane.conversion import ConversionWebhook
from ftlib.process import ProcessGroup, spawn

log = logging.getLogger("ftlib.controlplane")

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "tests" / "data" / "crd" / "nvidia.com_dynamographdeployments.yaml"
RBAC_FILE = REPO / "deploy" / "rbac.yaml"
NAMESPACE = "fault-tolerance-test"
NODE_NAME = "dft-node"
TESTER = "dynamo-ft-tester"
STATE_FILE = Path(os.environ.get("FT_CLUSTER_STATE", Path.home() / ".cache" / "dynamo-ft" / "cluster.json"))
CONTROLLERS = ("job-controller", "replicaset-controller", "deployment-controller", "statefulset-controller",
               "garbage-collector-controller", "namespace-controller", "serviceaccount-controller",
               "serviceaccount-token-controller", "persistentvolume-binder-controller",
               "persistentvolume-protection-controller", "persistentvolumeclaim-protection-controller",
               "ttl-after-finished-controller", "root-ca-certificate-publisher-controller",
               "endpointslice-controller", "node-lifecycle-controller", "pod-garbage-collector-controller")
START_TIMEOUT = 60.0


class ControlPlaneError(RuntimeError):
    """The control plane could not start: the message names the component and its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one control plane, chosen free at start."""
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kubelet: int

    @classmethod
    def choose(cls) -> "Ports":
        chosen: list[int] = []
        while len(chosen) < 6:  # six distinct ports; the kernel hands out each at most a few times in a row
            port = free_port()
            if port not in chosen:
                chosen.append(port)
        return cls(*chosen)


def kubeconfig(server: str, ca: Path, user: str, pair: pki.KeyPair, namespace: str | None = None) -> dict:
    context = {"cluster": "dynamo-ft", "user": user}
    if namespace:
        context["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Config", "current-context": "dynamo-ft",
            "clusters": [{"name": "dynamo-ft", "cluster": {"server": server, "certificate-authority": str(ca)}}],
            "users": [{"name": user, "user": {"client-certificate": str(pair.cert), "client-key": str(pair.key)}}],
            "contexts": [{"name": "dynamo-ft", "context": context}]}


@dataclass
class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the stand-ins (see the module docstring)."""

    folder: Path | None = None
    stand_ins: bool = True
    namespace: str = NAMESPACE
    progress: object = print
    apiserver_args: tuple[str, ...] = ()  # added to kube-apiserver's flags (a test's variation)
    ports: Ports | None = None
    binaries: build.Binaries | None = None
    started_seconds: float = 0.0
    _processes: dict[str, ProcessGroup] = field(default_factory=dict)
    _stand_ins: list = field(default_factory=list)
    _own_folder: bool = False

    # -- paths ----------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def kubeconfig_path(self, user: str = "admin") -> Path:
        return self.folder / "kubeconfigs" / f"{user}.yaml"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kubeconfig_path("admin")

    @property
    def tester_kubeconfig(self) -> Path:
        return self.kubeconfig_path(TESTER)

    def api_client(self, user: str = "admin"):
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig_path(user)))

    def log_file(self, component: str) -> Path:
        return self.folder / "logs" / f"{component}.log"

    # -- start and stop -------------------------------------------------------------------
    def __enter__(self) -> "ControlPlane":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "ControlPlane":
        self.binaries = self.binaries or build.build(progress=self.progress)
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="dft-cluster-"))
            self._own_folder = True
        evidence.allow(self.folder)
        for sub in ("pki", "kubeconfigs", "logs", "etcd", "volumes", "node"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self.ports = self.ports or Ports.choose()
            self._make_pki()
            self._start_etcd()
            self._start_apiserver()
            self._bootstrap()
            self._start_component("kube-controller-manager", self._controller_manager_argv(), self.ports.controller_manager)
            self._start_component("kube-scheduler", self._scheduler_argv(), self.ports.scheduler)
            if self.stand_ins:
                self._start_stand_ins()
            self._wait_namespace_ready()
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop the stand-ins and every component (SIGTERM, then SIGKILL after 10 s) and remove
        the folder this object made. Safe to call twice."""
        for stand_in in reversed(self._stand_ins):
            try:
                stand_in.stop()
            except Exception as error:  # one stand-in's trouble must not keep the rest running
                log.warning("stopping %s: %s", type(stand_in).__name__, error)
        self._stand_ins.clear()
        for name in reversed(list(self._processes)):
            self._processes.pop(name).stop(grace_seconds=10.0)
        if self.folder is not None:
            evidence.forget(self.folder)
            if self._own_folder:
                shutil.rmtree(self.folder, ignore_errors=True)

    # -- certificates and kubeconfigs -----------------------------------------------------
    def _make_pki(self) -> None:
        folder = self.folder / "pki"
        self.ca = pki.Authority(folder)
        self.serving = self.ca.issue("apiserver", "kube-apiserver", server=True)
        self.kubelet_client = self.ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                            ("system:masters",), client=True)
        self.kubelet_serving = self.ca.issue("kubelet", f"system:node:{NODE_NAME}", ("system:nodes",), server=True)
        self.service_accounts = pki.service_account_keys(folder)
        users = {"admin": ("dynamo-ft-admin", ("system:masters",)),
                 TESTER: (TESTER, ()),
                 "node": (f"system:node:{NODE_NAME}", ("system:nodes",)),
                 "kube-controller-manager": ("system:kube-controller-manager", ()),
                 "kube-scheduler": ("system:kube-scheduler", ())}
        for user, (common_name, groups) in users.items():
            pair = self.ca.issue(f"user-{user}", common_name, groups, client=True)
            namespace = self.namespace if user in ("admin", TESTER) else None
            self.kubeconfig_path(user).write_text(yaml.safe_dump(
                kubeconfig(self.server, self.ca.ca.cert, user, pair, namespace)))

    # -- components -----------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> ProcessGroup:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "ETCD"))}
        process = spawn(argv, env, self.log_file(name), cwd=self.folder)
        self._processes[name] = process
        return process

    def _start_etcd(self) -> None:
        p = self.ports
        client, peer = f"http://127.0.0.1:{p.etcd_client}", f"http://127.0.0.1:{p.etcd_peer}"
        self._spawn("etcd", [str(self.binaries.path("etcd")), "--name=default", f"--data-dir={self.folder / 'etcd'}",
                             f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                             f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                             f"--initial-cluster=default={peer}", "--unsafe-no-fsync=true",
                             "--log-level=warn"])
        self._wait("etcd", lambda: _http_ok(f"{client}/health"))

    def _apiserver_argv(self) -> list[str]:
        p, pk = self.ports, self.folder / "pki"
        return [str(self.binaries.path("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={p.apiserver}",
                f"--cert-dir={pk}", f"--tls-cert-file={self.serving.cert}", f"--tls-private-key-file={self.serving.key}",
                f"--client-ca-file={self.ca.ca.cert}", "--authorization-mode=RBAC",
                f"--service-account-issuer=https://127.0.0.1:{p.apiserver}",
                f"--service-account-key-file={self.service_accounts.cert}",
                f"--service-account-signing-key-file={self.service_accounts.key}",
                "--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none",
                "--allow-privileged=true", "--profiling=false",
                f"--kubelet-client-certificate={self.kubelet_client.cert}",
                f"--kubelet-client-key={self.kubelet_client.key}",
                f"--kubelet-certificate-authority={self.ca.ca.cert}",
                "--kubelet-preferred-address-types=InternalIP", *self.apiserver_args]

    def _start_apiserver(self) -> None:
        self._spawn("kube-apiserver", self._apiserver_argv())
        self._wait("kube-apiserver", lambda: self._api_get("/readyz") is not None)

    def _controller_manager_argv(self) -> list[str]:
        return [str(self.binaries.path("kube-controller-manager")),
                f"--kubeconfig={self.kubeconfig_path('kube-controller-manager')}",
                "--bind-address=127.0.0.1", f"--secure-port={self.ports.controller_manager}",
                f"--cert-dir={self.folder / 'pki' / 'kcm'}", "--leader-elect=false",
                f"--controllers={','.join(CONTROLLERS)}", "--use-service-account-credentials=true",
                f"--root-ca-file={self.ca.ca.cert}",
                f"--service-account-private-key-file={self.service_accounts.key}"]

    def _scheduler_argv(self) -> list[str]:
        return [str(self.binaries.path("kube-scheduler")),
                f"--kubeconfig={self.kubeconfig_path('kube-scheduler')}",
                "--bind-address=127.0.0.1", f"--secure-port={self.ports.scheduler}",
                f"--cert-dir={self.folder / 'pki' / 'scheduler'}", "--leader-elect=false"]

    def _start_component(self, name: str, argv: list[str], port: int) -> None:
        self._spawn(name, argv)
        self._wait(name, lambda: _http_ok(f"https://127.0.0.1:{port}/healthz", insecure=True))

    def _wait(self, name: str, ready, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        process = self._processes.get(name)
        while not ready():
            if process is not None and process.poll() is not None:
                raise ControlPlaneError(f"{name} exited with code {process.returncode} while starting; "
                                        f"its log ({self.log_file(name)}) ends:\n{_tail(self.log_file(name))}")
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{name} was not ready after {timeout:g} s; its log "
                                        f"({self.log_file(name)}) ends:\n{_tail(self.log_file(name))}")
            time.sleep(0.1)

    def _api_get(self, path: str) -> bytes | None:
        """GET ``path`` from the API server as admin (None while it does not answer 200)."""
        context = ssl.create_default_context(cafile=str(self.ca.ca.cert))
        context.load_cert_chain(self.ca.folder / "user-admin.crt", self.ca.folder / "user-admin.key")
        try:
            with urllib.request.urlopen(self.server + path, context=context, timeout=2) as answer:
                return answer.read() if answer.status == 200 else None
        except (OSError, ValueError):
            return None

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (as the API server does every 5
        minutes, and etcd's own retention does); returns that revision."""
        base = f"http://127.0.0.1:{self.ports.etcd_client}/v3/kv"
        revision = int(_post_json(f"{base}/range", {"key": "AA=="})["header"]["revision"])
        _post_json(f"{base}/compaction", {"revision": str(revision), "physical": True})
        return revision

    def versions(self) -> dict[str, str]:
        """What /version of the API server and etcd report."""
        api = json.loads(self._api_get("/version") or b"{}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports.etcd_client}/version", timeout=2) as answer:
            etcd = json.loads(answer.read())
        return {"kubernetes": api.get("gitVersion", "?"), "etcd": etcd.get("etcdserver", "?")}

    # -- objects the cluster starts with --------------------------------------------------
    def _bootstrap(self) -> None:
        from kubernetes import client

        api = self.api_client()
        crd = yaml.load(CRD_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        crd["metadata"] = {"name": crd["metadata"]["name"]}
        extensions = client.ApiextensionsV1Api(api)
        extensions.create_custom_resource_definition(crd)
        rbac = client.RbacAuthorizationV1Api(api)
        rbac.create_cluster_role_binding({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "dynamo-ft:nodes"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}]})
        client.CoreV1Api(api).create_namespace({"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": self.namespace}})
        self._wait("the DynamoGraphDeployment CRD", lambda: _established(extensions, crd["metadata"]["name"]))
        self._stand_ins.append(ConversionWebhook(api).start())  # v1beta1 DGDs need it to be stored whole

    def _wait_namespace_ready(self) -> None:
        """Wait until the namespace's default service account exists (pods are refused before)."""
        from kubernetes import client

        core = client.CoreV1Api(self.api_client())

        def has_default() -> bool:
            return any(sa.metadata.name == "default"
                       for sa in core.list_namespaced_service_account(self.namespace).items)
        self._wait("the default service account", has_default)

    def grant_suite_role(self, user: str = TESTER, namespace: str | None = None,
                         leave_out: tuple[str, str] | None = None) -> None:
        """Apply deploy/rbac.yaml's Role in ``namespace`` and bind ``user`` to it; ``leave_out``
        (verb, resource) removes one permission, to show what the suite says without it."""
        from kubernetes import client

        namespace = namespace or self.namespace
        rbac = client.RbacAuthorizationV1Api(self.api_client())
        documents = [d for d in yaml.safe_load_all(RBAC_FILE.read_text().replace("<namespace>", namespace)
                                                   .replace("<user-or-serviceaccount>", user)) if d]
        for document in documents:
            if document["kind"] == "Role" and leave_out:
                verb, resource = leave_out
                for rule in document["rules"]:
                    if resource in rule["resources"] and verb in rule["verbs"]:
                        rule["verbs"] = [v for v in rule["verbs"] if v != verb]
                document["rules"] = [r for r in document["rules"] if r["verbs"]]
            create = {"Role": rbac.create_namespaced_role, "RoleBinding": rbac.create_namespaced_role_binding}
            replace = {"Role": rbac.replace_namespaced_role, "RoleBinding": rbac.replace_namespaced_role_binding}
            try:
                create[document["kind"]](namespace, document)
            except client.ApiException as error:
                if error.status != 409:
                    raise
                replace[document["kind"]](document["metadata"]["name"], namespace, document)

    def _start_stand_ins(self) -> None:
        from ftlib.controlplane.node import NodeAgent
        from ftlib.controlplane.operator import OperatorStandIn
        from ftlib.controlplane.storage import Provisioner

        node = NodeAgent(self.api_client("node"), name=NODE_NAME, port=self.ports.kubelet,
                         cert_file=self.kubelet_serving.cert, key_file=self.kubelet_serving.key,
                         ca_file=self.ca.ca.cert, folder=self.folder / "node",
                         volume_roots=(self.folder / "volumes",))
        for stand_in in (Provisioner(self.api_client(), folder=self.folder / "volumes"), node,
                         OperatorStandIn(self.api_client())):
            stand_in.start()
            self._stand_ins.append(stand_in)

    def describe(self) -> str:
        versions = self.versions()
        return (f"control plane up in {self.started_seconds:.1f} s: kubernetes {versions['kubernetes']}, "
                f"etcd {versions['etcd']}, API server {self.server}\n"
                f"admin kubeconfig:  {self.admin_kubeconfig}\n"
                f"tester kubeconfig: {self.tester_kubeconfig} (no rights until deploy/rbac.yaml is bound)\n"
                f"namespace: {self.namespace}")


def _established(extensions, name: str) -> bool:
    crd = extensions.read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))


def _http_ok(url: str, insecure: bool = False) -> bool:
    context = ssl._create_unverified_context() if insecure else None  # self-signed health endpoints
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as answer:
            return answer.status == 200
    except (OSError, ValueError):
        return False


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- the shell commands: up, down, serve -------------------------------------------------------

def _serve(bare: bool, ready_file: Path) -> int:
    """The background supervisor of ``up``: start, write ``ready_file``, run until SIGTERM/SIGINT."""
    from ftlib import runs

    runs.start_run()  # its folder is the run's temporary folder; ./run clean finds a killed one
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    plane = ControlPlane(folder=Path(tempfile.gettempdir()) / "cluster", stand_ins=not bare)
    try:
        plane.start()
        ready_file.write_text(json.dumps({"pid": os.getpid(), "folder": str(plane.folder),
                                          "kubeconfig": str(plane.admin_kubeconfig),
                                          "tester_kubeconfig": str(plane.tester_kubeconfig),
                                          "server": plane.server, "describe": plane.describe()}))
        while not stop.wait(1.0):
            pass
    finally:
        plane.stop()
    return 0


def up(bare: bool = False) -> int:
    if STATE_FILE.exists():
        state = json.loads(STATE_FILE.read_text())
        if _alive(state.get("pid")):
            print(f"a control plane is already up (pid {state['pid']}): {state['kubeconfig']}")
            return 0
        STATE_FILE.unlink()
    build.build()  # in the foreground: its progress lines are the user's
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    log_path = STATE_FILE.with_suffix(".log")
    pending = STATE_FILE.with_suffix(".starting")
    pending.unlink(missing_ok=True)
    with open(log_path, "wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "ftlib.controlplane.cluster", "serve", str(pending)]
                                 + (["--bare"] if bare else []), cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT * 3
    while not pending.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            if child.poll() is None:
                child.kill()
            print(f"the control plane did not start; {log_path} ends:\n{_tail(log_path, 30)}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    time.sleep(0.05)  # the supervisor writes the file in one call; let it finish
    pending.rename(STATE_FILE)
    state = json.loads(STATE_FILE.read_text())
    print(state["describe"])
    print(f"use it:  KUBECONFIG={state['kubeconfig']} ./run behave -D platform=kubernetes "
          "-D image=<image> --tags @contract")
    return 0


def down() -> int:
    if not STATE_FILE.exists():
        print("no control plane is up")
        return 0
    state = json.loads(STATE_FILE.read_text())
    pid = state.get("pid")
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 90  # the supervisor gives each component 10 s to stop
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):  # its components die with it (parent-death signal)
            print(f"the control plane's supervisor {pid} did not stop within 90 s: killed", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
    STATE_FILE.unlink(missing_ok=True)
    left = Path(state.get("folder", "")).parent
    print("control plane stopped" + (f"; its folder {left} is still there" if left.name.startswith("dft-") and left.exists() else ""))
    return 0


def _alive(pid) -> bool:
    """``pid`` is a running control-plane supervisor (not gone, not a zombie, not a stranger)."""
    if not isinstance(pid, int):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return state != "Z" and b"ftlib.controlplane.cluster" in cmdline


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    try:
        if command == "up":
            return up(bare="--bare" in argv)
        if command == "down":
            return down()
        if command == "serve":
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
            return _serve("--bare" in argv, Path(argv[1]))
        if command == "build":
            ready = build.installed()
            binaries = ready or build.build()
            print(f"control plane binaries: {binaries.folder} (kubernetes {binaries.kubernetes}, etcd {binaries.etcd}"
                  + ("; built earlier on this machine)" if ready else ")"))
            return 0
    except (build.BuildError, ControlPlaneError) as error:
        print(f"control plane: {error}", file=sys.stderr)
        return 1
    print("usage: ./run cluster up [--bare] | down | build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
