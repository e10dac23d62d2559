"""A node agent in place of a kubelet: it registers a Node, runs the pods kube-scheduler binds to
it as simulated processes, and serves the kubelet endpoints kube-apiserver calls for
``pods/log`` and ``pods/exec``. It talks to the API server only through its API.

    agent = NodeAgent(api, name="dft-node", port=10250, cert_file=..., key_file=..., ca_file=...,
                      folder=Path(".../node"))
    agent.start()    # the Node is registered and the kubelet server listens on 127.0.0.1:port
    ...
    agent.stop()     # every thread and the server stop (bounded waits)

**No process of a pod runs on the host**: not a command of a pod spec, not an exec. A pod's
processes are records (`ftlib.controlplane.node_processes`), its life is a state machine
(`ftlib.controlplane.node_pods`), its logs are files in ``folder``; what its programs read and
write is a simulated filesystem (`ftlib.controlplane.node_files`) over folders of the host that
the agent chose: the claims' PV folders, and per pod folders under ``folder``.

What it assumes of the control plane (`ftlib.controlplane.cluster` sets it up so):

- kube-apiserver calls kubelets with a client certificate signed by ``ca_file``
  (``--kubelet-client-certificate``/``--kubelet-client-key``) whose user may ``get`` and ``create``
  ``nodes/proxy`` (the agent asks with a SubjectAccessReview), and reaches them by InternalIP
  (``--kubelet-preferred-address-types=InternalIP``: the Hostname address, the node's name, would
  need DNS). ``cert_file`` is valid for 127.0.0.1 (checked with ``--kubelet-certificate-authority``).
- kube-controller-manager runs the node-lifecycle-controller: kube-apiserver's TaintNodesByCondition
  admission taints every new Node ``node.kubernetes.io/not-ready:NoSchedule``, and only that
  controller lifts it once the Node is Ready; without it kube-scheduler binds nothing here.
- ``api`` may do what the ``system:node`` ClusterRole allows (Nodes, Leases, pods and their status,
  events, reading PVCs and PVs, SubjectAccessReviews): ``system:node:<name>`` in ``system:nodes`` does.
- The PVs it mounts are ``hostPath`` folders inside ``volume_roots`` (by default
  ``<folder>/../volumes``, where `ftlib.controlplane.cluster` has the provisioner of
  `ftlib.controlplane.storage` make them); a PV anywhere else keeps its pod waiting.

What it does, as a kubelet does:

- **Node**: labels ``kubernetes.io/hostname``, ``kubernetes.io/os=linux``,
  ``kubernetes.io/arch``; capacity and allocatable ``cpu``, ``memory``, ``pods``,
  ``ephemeral-storage`` and ``nvidia.com/gpu`` (`CAPACITY`); addresses InternalIP 127.0.0.1 and
  Hostname (the node's name); ``daemonEndpoints.kubeletEndpoint.Port``; conditions Ready
  (``KubeletReady``), MemoryPressure, DiskPressure and PIDPressure, refreshed every
  `NODE_STATUS_SECONDS`; ``status.declaredFeatures: ["ExtendWebSocketsToKubelet"]``, so that
  kube-apiserver 1.37 passes an exec's WebSocket straight to this server instead of translating
  it to SPDY (`check_declared_features` reads it back). No taints. A Lease in
  ``kube-node-lease`` (40 s) renewed every `LEASE_RENEW_SECONDS`.
- **Pods**: watched with ``fieldSelector=spec.nodeName=<name>`` (a ``410 Gone`` lists again and
  pods deleted meanwhile are forgotten). A pod whose PVCs are not all ``Bound`` waits in
  ``ContainerCreating``; once they are, each claim's PV is read through the API and its
  ``hostPath`` folder is what the pod's mounts of that claim show. Then the sandbox (``/pause`` as PID 1 with ``shareProcessNamespace``),
  the pod IP, init containers in order, the containers. Status is patched (strategic merge, the
  pod's UID in the patch) as a kubelet writes it: phase, conditions PodReadyToStartContainers,
  Initialized, ContainersReady, Ready (PodScheduled stays the scheduler's), observedGeneration,
  podIP(s), hostIP(s), startTime, container statuses with image, imageID, containerID, state,
  ready, started, restartCount and lastState.terminated (exitCode, reason, signal, startedAt,
  finishedAt). Events Pulled, Created, Started, Killing, BackOff, Unhealthy.
- **Restarts**: a main process that ends restarts its container as ``restartPolicy`` says
  (Always; OnFailure when the code is not 0; Never), with the kubelet's crash-loop back-off (the
  first restart at once, then 10 s, 20 s, … 300 s, reset after 10 min; ``CrashLoopBackOff`` while
  waiting), restartCount + 1, lastState, new PIDs.
- **Probes**: readiness, liveness and startup probes pass while the main process runs and is not
  stopped (SIGSTOP) or shutting down; an exec probe running ``false`` always fails. Their
  ``initialDelaySeconds``, ``periodSeconds`` and thresholds count as on a kubelet; a failed
  liveness or startup probe stops and restarts the container. Without a readiness probe a running
  container is ready, stopped or not, as on a kubelet.
- **Graceful deletion**: a pod with ``deletionTimestamp`` gets preStop (``sleep`` actions and
  ``sleep`` commands take their time), then each container's stop signal (``lifecycle.stopSignal``
  or SIGTERM) from outside the container, then SIGKILL when ``deletionGracePeriodSeconds`` (at
  least 2 s, as the kubelet's minimum) has passed; once every container stopped, the terminal phase
  is written and the pod deleted with ``gracePeriodSeconds=0`` and a UID precondition.
- **Volumes and files** (`ftlib.controlplane.node_files`): a mount of a PVC volume is its PV's
  folder (read-only when the mount or the volume says so), an ``emptyDir`` a folder per pod, and
  everything else a scratch root per container instance under ``folder``, gone with the pod. Every
  path is checked to stay in its folder.
- **Job pods** (``restartPolicy: Never``/``OnFailure``): ``sleep N`` ends after N s with 0,
  ``true`` at once with 0, ``false`` with 1, ``touch FILE`` creates FILE (0, or 1 with coreutils'
  message); ``python -c`` of the suite's own scripts does their work (`ftlib.controlplane.node_programs`);
  the load Job's wrapper runs until signalled once its client ended; the phase becomes Succeeded
  or Failed.
- **Logs**: per container instance, ``folder/pods/<ns>_<pod>_<uid>/<container>/<n>.log`` in the
  CRI format; ``previous=true`` reads the instance before the current one. An engine (any program
  not listed in `ftlib.controlplane.node_processes`) logs that it started with its argv, that it is
  ready, that it received SIGTERM/SIGINT and its exit; the log-tee wrapper's warning when POD_NAME
  is unusable or its file cannot be written. Under the log-tee wrapper every line a container
  instance prints is also appended to ``${FT_LOG_ROOT:-/ft-logs}/$POD_NAME/<date -u
  +%Y%m%dT%H%M%S at its start>.log`` in the container's files (the log PVC's folder when it is
  mounted there), and the container log shows it as stdout, as the wrapper's ``2>&1`` does. The
  folder of a pod goes when the pod is deleted.
- **Kubelet server** on 127.0.0.1 (`ftlib.controlplane.node_server`): TLS with ``cert_file``,
  client certificates signed by ``ca_file`` required, requests authorized by SubjectAccessReview.

Where a real kubelet differs:

1. It runs containers; here nothing runs, and a program's behaviour is guessed from its argv (see
   `ftlib.controlplane.node_processes` and `ftlib.controlplane.node_programs`): an engine handles
   SIGTERM/SIGINT and exits 0 after 0.3 s, it never crashes, leaks, answers HTTP or writes a
   file; the load Job's aiperf fails every request (nothing can reach a frontend here) and writes
   the records aiperf 0.13 writes then. A tee killed by a fault stops the copy to the log PVC, but
   the engine gets no SIGPIPE.
2. The image is not pulled or read: ``imagePullPolicy`` and pull secrets are ignored, ``imageID``
   is made from the image's name, a container without ``command`` runs as the image's name, its
   filesystem holds only empty ``/tmp``, ``/etc``… (`ftlib.controlplane.node_files.IMAGE_FOLDERS`),
   every image has ``python``/``python3`` with aiperf 0.13.0 (a busybox has neither), and exec
   knows only ``ps``, ``kill``, ``sleep``, ``true``, ``false``, ``touch``, ``sh -c`` with one simple
   command and ``python -c`` with the suite's own scripts (any other Python exits 1 with a
   ``NotImplementedError``); anything else (``cat``, ``ls``…) is "executable file not found in
   $PATH". A path with ``..`` is refused (EACCES) where a kernel would resolve it.
3. Pod IPs are loopback addresses (``127.<n>.x.y``, never routed off the machine; kube-apiserver's
   status validation accepts them). kube-apiserver refuses to proxy to loopback, so ``pods/proxy``
   (the suite's ``/metrics`` reads) is **not exercised**, and the EndpointSlice controller refuses
   such addresses for Services. hostNetwork pods get 127.0.0.1.
4. Exec into a container that is not running (restarting, in back-off, ended) is refused before
   the upgrade with 500 ``container not found ("main")``, as a kubelet refuses it: a client sees
   "Handshake status 500". Exec is served over WebSocket only (``v5``/``v4.channel.k8s.io``, the node declares
   ExtendWebSocketsToKubelet); a real kubelet also takes SPDY, and ``tty``, stdin, attach and
   port-forward. stdin is read and dropped. An exec'd ``sleep`` ends when its stream closes.
5. Only PVCs bound to a ``hostPath`` PV inside the agent's volume roots and ``emptyDir`` volumes
   hold files; ConfigMap, Secret, projected, downwardAPI and a pod's own hostPath volumes are empty
   read-only folders (nothing of the host is mapped by a pod spec), ``subPath``,
   ``mountPropagation`` and volume devices are not handled, and a folder is packed without the
   mounts below it. Resources are not enforced (no OOMKilled, no eviction, no pressure conditions), ``activeDeadlineSeconds`` of a pod, in-place
   resize, container restart rules and ephemeral containers are not handled; a spec change never
   restarts a container. Sidecar init containers start with the app containers.
6. Node status is refreshed every 60 s (a kubelet reports every 5 min when nothing changed, and
   at once when something did); the Lease is renewed with a patch, not an update.
7. After an agent restart the pods it finds are started again, their restart counts raised by
   one but with no lastState (a kubelet finds its containers still running).
"""
from __future__ import annotations

import logging
import platform
import shutil
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client

from ftlib.controlplane import node_pods
from ftlib.controlplane.node_pods import RUNTIME, PodEvent, PodRuntime, parse_pod, pod_status, rfc3339, utc_now
from ftlib.controlplane.node_server import Caller, KubeletServer, tls_context
from ftlib.controlplane.watching import ListWatch, WatchEvent, request_json

log = logging.getLogger("ftlib.controlplane.node")

CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti", "nvidia.com/gpu": "8",
            "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
DECLARED_FEATURES = ["ExtendWebSocketsToKubelet"]
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
LEASE_RENEW_SECONDS = 10.0
NODE_STATUS_SECONDS = 60.0
TICK_SECONDS = 0.1
VOLUME_CHECK_SECONDS = 1.0
MIN_GRACE_SECONDS = 2
AUTHZ_ALLOWED_TTL, AUTHZ_DENIED_TTL = 300.0, 30.0
STOP_TIMEOUT = 5.0
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


class NodeAgentError(RuntimeError):
    """The node agent could not start: the message says which step failed."""


# -- the Node object ----------------------------------------------------------------------------
def node_conditions(stamp: str, since: str) -> list[dict]:
    """The conditions a healthy kubelet reports (heartbeat ``stamp``, transitions at ``since``)."""
    rows = [("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status")]
    return [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": stamp,
             "lastTransitionTime": since} for t, s, r, m in rows]


def architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@dataclass(frozen=True)
class NodeIdentity:
    """What the agent says about itself in the Node object."""
    name: str
    port: int
    kubelet_version: str
    boot_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def metadata(self) -> dict:
        return {"name": self.name,
                "labels": {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                           "kubernetes.io/arch": architecture(), "beta.kubernetes.io/os": "linux",
                           "beta.kubernetes.io/arch": architecture()},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}}

    def status(self, stamp: str, since: str) -> dict:
        machine = zlib.crc32(self.name.encode()).to_bytes(4, "big").hex() * 4
        return {"capacity": dict(CAPACITY), "allocatable": dict(CAPACITY),
                "conditions": node_conditions(stamp, since),
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
                "nodeInfo": {"machineID": machine, "systemUUID": str(uuid.UUID(machine)), "bootID": self.boot_id,
                             "kernelVersion": platform.release(), "osImage": "dynamo-ft node agent (simulated)",
                             "containerRuntimeVersion": f"{RUNTIME}://0.1.0", "kubeletVersion": self.kubelet_version,
                             "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": architecture()},
                "declaredFeatures": list(DECLARED_FEATURES)}


def check_declared_features(node: dict) -> bool:
    """Whether the API server kept ``status.declaredFeatures`` (NodeDeclaredFeatures is GA in 1.37)."""
    return DECLARED_FEATURES[0] in ((node.get("status") or {}).get("declaredFeatures") or [])


def pod_ip_base(name: str) -> int:
    """The second octet of this node's loopback pod addresses (127.<base>.x.y)."""
    return 100 + zlib.crc32(name.encode()) % 100


def micro_time() -> str:
    return utc_now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ClaimFolder:
    """Where a claim's volume is on the host, or why the pod still waits for it."""
    folder: Path | None = None
    waiting: str = ""


def volume_folder(name: str, pv: dict, roots: tuple[Path, ...]) -> ClaimFolder:
    """The folder of PersistentVolume ``pv`` if it is a ``hostPath`` inside one of ``roots``
    (made if missing, as ``DirectoryOrCreate``); any other volume is not mounted here."""
    path = ((pv.get("spec") or {}).get("hostPath") or {}).get("path")
    if not path:
        return ClaimFolder(waiting=f'persistentvolume "{name}" is not a hostPath volume: the node agent mounts no other')
    folder = Path(path).resolve()
    if not any(root.resolve() in folder.parents for root in roots):
        return ClaimFolder(waiting=f'persistentvolume "{name}": {path} is not inside the node\'s volume folders '
                                   f'({", ".join(str(r) for r in roots)})')
    folder.mkdir(parents=True, exist_ok=True)
    return ClaimFolder(folder)


def pod_grace(pod: dict) -> int:
    """The grace period the kubelet gives a pod being deleted (at least `MIN_GRACE_SECONDS`)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", node_pods.DEFAULT_GRACE)
    return max(int(grace), MIN_GRACE_SECONDS)


def restarts_in(pod: dict) -> dict[str, int]:
    """The restart counts a pod's status already shows (a previous agent ran it)."""
    statuses = ((pod.get("status") or {}).get("containerStatuses") or []) + \
        ((pod.get("status") or {}).get("initContainerStatuses") or [])
    return {s["name"]: int(s.get("restartCount") or 0) for s in statuses if s.get("containerID")}


# -- the agent ----------------------------------------------------------------------------------
class NodeAgent:
    """The node agent (see the module docstring)."""

    def __init__(self, api: client.ApiClient, *, name: str, port: int, cert_file: Path, key_file: Path,
                 ca_file: Path, folder: Path, volume_roots: tuple[Path, ...] | None = None):
        self.api, self.node_name, self.port = api, name, port
        self.cert_file, self.key_file, self.ca_file = Path(cert_file), Path(key_file), Path(ca_file)
        self.folder = Path(folder)
        # the hostPath PVs it mounts lie in these: by default the control plane's volumes folder
        # beside ``folder`` (`ftlib.controlplane.cluster` lays out <folder>/../volumes for the provisioner)
        self.volume_roots = tuple(Path(r) for r in volume_roots) if volume_roots else (self.folder.parent / "volumes",)
        self.core = client.CoreV1Api(api)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._pods: dict[tuple[str, str], PodRuntime] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._wake = threading.Condition(self._lock)
        self._next_ip = 0
        self._authz: dict[tuple, tuple[bool, float]] = {}  # SubjectAccessReview answers and when they expire
        self._deletions: list[tuple[str, str, str]] = []
        self._threads: list[threading.Thread] = []
        self._watch: ListWatch | None = None
        self._server: _ServerThread | None = None
        self._identity: NodeIdentity | None = None
        self._registered_at = ""
        self.declared_features_kept = False

    # -- start and stop -------------------------------------------------------------------
    def start(self) -> None:
        """Register the Node, start the kubelet server, the Lease, the pod watch; return once all are up."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "pods").mkdir(exist_ok=True)
        self._stop.clear()
        try:
            self._server = _ServerThread(KubeletServer(self), self.port, tls_context(self.cert_file, self.key_file,
                                                                                  self.ca_file))
            self._server.start()
            self._register()
            self._renew_lease()
            self._watch = ListWatch(self.api, "/api/v1/pods", [("fieldSelector", f"spec.nodeName={self.node_name}")],
                                    self._on_pod_event, f"node-{self.node_name}-pods", log)
            self._watch.start()
            for target, label in ((self._tick_loop, "tick"), (self._status_loop, "status"),
                                  (self._heartbeat_loop, "heartbeat")):
                thread = threading.Thread(target=target, name=f"node-{self.node_name}-{label}", daemon=True)
                thread.start()
                self._threads.append(thread)
            if not self._watch.synced.wait(30):
                raise NodeAgentError(f"node {self.node_name}: the pod watch did not list within 30 s")
        except BaseException:
            self.stop()
            raise
        log.info("node %s registered, kubelet server on 127.0.0.1:%d", self.node_name, self.port)

    def stop(self) -> None:
        """Stop the watch, the threads and the server; the pods' simulated processes end with them.
        The Node stays registered (it turns NotReady once its Lease expires), as when a kubelet stops."""
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        if self._watch is not None:
            self._watch.stop(STOP_TIMEOUT)
        for thread in self._threads:
            thread.join(STOP_TIMEOUT)
        self._threads.clear()
        if self._server is not None:
            self._server.stop(STOP_TIMEOUT)
            self._server = None
        with self._lock:
            for pod in self._pods.values():
                pod.kill_everything()
            self._pods.clear()

    # -- what the kubelet server asks -----------------------------------------------------
    def pod(self, namespace: str, name: str) -> PodRuntime | None:
        with self._lock:
            return self._pods.get((namespace, name))

    def locked(self, action):
        with self._lock:
            return action()

    def authorize(self, caller: Caller, verb: str, subresource: str) -> bool:
        """Ask the API server whether ``caller`` may ``verb`` ``nodes/<subresource>`` of this node."""
        key = (caller.user, caller.groups, verb, subresource)
        cached = self._authz.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": caller.user, "groups": list(caller.groups),
                           "resourceAttributes": {"verb": verb, "resource": "nodes", "subresource": subresource,
                                                  "name": self.node_name}}}
        try:
            answer = request_json(self.api, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=review)
        except client.ApiException as error:
            log.warning("SubjectAccessReview for %s failed: %s %s", caller.user, error.status, error.reason)
            return False
        allowed = bool((answer.get("status") or {}).get("allowed"))
        self._authz[key] = (allowed, time.monotonic() + (AUTHZ_ALLOWED_TTL if allowed else AUTHZ_DENIED_TTL))
        if not allowed:
            log.warning("kubelet request of %s refused: %s nodes/%s", caller.user, verb, subresource)
        return allowed

    # -- the Node and its Lease -----------------------------------------------------------
    def _register(self) -> None:
        version = request_json(self.api, "GET", "/version").get("gitVersion", "v0.0.0")
        self._identity = NodeIdentity(self.node_name, self.port, version)
        stamp = rfc3339(utc_now())
        self._registered_at = stamp
        body = {"apiVersion": "v1", "kind": "Node", "metadata": self._identity.metadata(), "spec": {},
                "status": self._identity.status(stamp, stamp)}
        try:
            request_json(self.api, "POST", "/api/v1/nodes", body=body)
        except client.ApiException as error:
            if error.status != 409:
                raise NodeAgentError(f"registering node {self.node_name}: {error.status} {error.reason}") from error
            request_json(self.api, "PATCH", f"/api/v1/nodes/{self.node_name}",
                         body={"metadata": self._identity.metadata()}, content_type=STRATEGIC)
        node = self._patch_node_status()
        self.declared_features_kept = check_declared_features(node)
        if not self.declared_features_kept:
            log.warning("node %s: the API server dropped status.declaredFeatures; exec WebSockets will be "
                        "translated to SPDY, which this agent does not serve", self.node_name)

    def _patch_node_status(self) -> dict:
        status = self._identity.status(rfc3339(utc_now()), self._registered_at)
        return request_json(self.api, "PATCH", f"/api/v1/nodes/{self.node_name}/status", body={"status": status},
                            content_type=STRATEGIC)

    def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.node_name}"
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro_time()}
        try:
            request_json(self.api, "PATCH", path, body={"spec": spec}, content_type=MERGE)
        except client.ApiException as error:
            if error.status != 404:
                raise
            owner = request_json(self.api, "GET", f"/api/v1/nodes/{self.node_name}")["metadata"]
            request_json(self.api, "POST", f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases", body={
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node_name, "namespace": LEASE_NAMESPACE,
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                                  "uid": owner["uid"]}]},
                "spec": spec})

    def _heartbeat_loop(self) -> None:
        next_status = time.monotonic() + NODE_STATUS_SECONDS
        while not self._stop.wait(LEASE_RENEW_SECONDS):
            try:
                self._renew_lease()
                if time.monotonic() >= next_status:
                    self._patch_node_status()
                    next_status = time.monotonic() + NODE_STATUS_SECONDS
            except Exception as error:  # noqa: BLE001 - a missed heartbeat is retried at the next one
                log.warning("node %s heartbeat: %s", self.node_name, error)

    # -- pods from the watch --------------------------------------------------------------
    def _on_pod_event(self, event: WatchEvent) -> None:
        if event.type == "LISTED":
            present = {((p.get("metadata") or {}).get("namespace"), (p.get("metadata") or {}).get("name"))
                       for p in event.object["items"]}
            with self._lock:
                for key in [k for k in self._pods if k not in present]:
                    self._forget(key)
            return
        pod = event.object
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        with self._lock:
            runtime = self._pods.get(key)
            if runtime is not None and runtime.spec.uid != meta.get("uid"):
                self._forget(key)
                runtime = None
            if event.type == "DELETED":
                if runtime is not None:
                    self._forget(key)
                return
            if runtime is None:
                runtime = self._admit(pod)
                if runtime is None:
                    return
            if meta.get("deletionTimestamp"):
                runtime.terminate(time.monotonic(), pod_grace(pod))
                self._mark(key)

    def _admit(self, pod: dict) -> PodRuntime | None:
        spec = parse_pod(pod)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                self._deletions.append((spec.namespace, spec.name, spec.uid))
                self._wake.notify_all()
            return None
        runtime = PodRuntime(spec, self._pod_folder(spec), self._allocate_ip(spec), restarts_before=restarts_in(pod))
        if not spec.claims:
            runtime.volumes_bound(time.monotonic())
        self._pods[runtime.key] = runtime
        log.info("pod %s/%s admitted (ip %s)", spec.namespace, spec.name, runtime.pod_ip)
        self._mark(runtime.key)
        return runtime

    def _pod_folder(self, spec) -> Path:
        return self.folder / "pods" / f"{spec.namespace}_{spec.name}_{spec.uid}"

    def _allocate_ip(self, spec) -> str:
        if spec.host_network:
            return "127.0.0.1"
        self._next_ip += 1
        return f"127.{pod_ip_base(self.node_name)}.{self._next_ip // 250}.{self._next_ip % 250 + 2}"

    def _forget(self, key: tuple[str, str]) -> None:
        runtime = self._pods.pop(key, None)
        if runtime is None:
            return
        runtime.kill_everything()
        self._dirty.discard(key)
        folder = runtime.folder.resolve()
        if folder.is_relative_to((self.folder / "pods").resolve()):
            shutil.rmtree(folder, ignore_errors=True)
        log.info("pod %s/%s forgotten", *key)

    def _mark(self, key: tuple[str, str]) -> None:
        self._dirty.add(key)
        self._wake.notify_all()

    # -- time passing and volumes ---------------------------------------------------------
    def _tick_loop(self) -> None:
        next_volumes = 0.0
        while not self._stop.wait(TICK_SECONDS):
            now = time.monotonic()
            with self._lock:
                for key, runtime in list(self._pods.items()):
                    runtime.tick(now)
                    if runtime.changed or runtime.events:
                        runtime.changed = False
                        self._mark(key)
                waiting = [r for r in self._pods.values() if not r.volumes_ready and not r.terminating]
            if waiting and now >= next_volumes:
                next_volumes = now + VOLUME_CHECK_SECONDS
                for runtime in waiting:
                    self._check_volumes(runtime)

    def _check_volumes(self, runtime: PodRuntime) -> None:
        """Mount the pod's claims once they are all Bound: each PVC volume is its PV's folder."""
        folders = {}
        for volume in runtime.spec.volumes:
            if not volume.claim:
                continue
            found = self._claim_folder(runtime.spec.namespace, volume.claim)
            if found.folder is None:
                with self._lock:
                    runtime.waiting_on(found.waiting)
                return
            folders[volume.name] = found.folder
        with self._lock:
            runtime.volumes_bound(time.monotonic(), folders)

    def _claim_folder(self, namespace: str, claim: str) -> "ClaimFolder":
        """The host folder of the PV ``claim`` is bound to, read through the API."""
        try:
            pvc = request_json(self.api, "GET", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")
        except client.ApiException as error:
            return ClaimFolder(waiting=f'persistentvolumeclaim "{claim}" is '
                                       f'{"missing" if error.status == 404 else f"unreadable ({error.status})"}')
        phase, volume = (pvc.get("status") or {}).get("phase"), (pvc.get("spec") or {}).get("volumeName")
        if phase != "Bound" or not volume:
            return ClaimFolder(waiting=f'persistentvolumeclaim "{claim}" is {phase or "Pending"}')
        try:
            pv = request_json(self.api, "GET", f"/api/v1/persistentvolumes/{volume}")
        except client.ApiException as error:
            return ClaimFolder(waiting=f'persistentvolume "{volume}" is unreadable ({error.status})')
        return volume_folder(volume, pv, self.volume_roots)

    # -- writing status -------------------------------------------------------------------
    def _status_loop(self) -> None:
        while not self._stop.is_set():
            job = self._next_job()
            if job is not None:
                job()

    def _next_job(self):
        """The next API write: a pending deletion, or the status (and events) of a changed pod."""
        with self._lock:
            while not self._dirty and not self._deletions and not self._stop.is_set():
                self._wake.wait(1.0)
            if self._stop.is_set():
                return None
            if self._deletions:
                namespace, name, uid = self._deletions.pop(0)
                return lambda: self._delete_pod(namespace, name, uid)
            runtime = self._pods.get(self._dirty.pop())
            if runtime is None:
                return None
            status, events, spec = pod_status(runtime), runtime.events, runtime.spec
            runtime.events = []
            delete = runtime.finished and runtime.terminating
        return lambda: self._write(spec, status, events, delete)

    def _write(self, spec, status: dict, events: list[PodEvent], delete: bool) -> None:
        for event in events:
            self._record(spec, event)
        path = f"/api/v1/namespaces/{spec.namespace}/pods/{spec.name}/status"
        try:
            request_json(self.api, "PATCH", path, body={"metadata": {"uid": spec.uid}, "status": status},
                         content_type=STRATEGIC)
        except client.ApiException as error:
            if error.status not in (404, 409, 422):
                log.warning("status of pod %s/%s: %s %s", spec.namespace, spec.name, error.status, error.reason)
                with self._lock:
                    self._mark((spec.namespace, spec.name))
                self._stop.wait(0.5)
            return
        if delete:
            self._delete_pod(spec.namespace, spec.name, spec.uid)

    def _delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete a pod whose containers all stopped: grace 0 and a UID precondition, as the kubelet does."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            request_json(self.api, "DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", body=body)
            log.info("pod %s/%s deleted after its containers stopped", namespace, name)
        except client.ApiException as error:
            if error.status not in (404, 409):
                log.warning("deleting pod %s/%s: %s %s", namespace, name, error.status, error.reason)

    def _record(self, spec, event: PodEvent) -> None:
        stamp = rfc3339(utc_now())
        involved = {"apiVersion": "v1", "kind": "Pod", "namespace": spec.namespace, "name": spec.name, "uid": spec.uid}
        if event.field_path:
            involved["fieldPath"] = event.field_path
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{spec.name}.{uuid.uuid4().hex[:16]}", "namespace": spec.namespace},
                "involvedObject": involved, "reason": event.reason, "message": event.message, "type": event.type,
                "source": {"component": "kubelet", "host": self.node_name}, "firstTimestamp": stamp,
                "lastTimestamp": stamp, "count": 1, "reportingComponent": "kubelet",
                "reportingInstance": self.node_name}
        try:
            request_json(self.api, "POST", f"/api/v1/namespaces/{spec.namespace}/events", body=body)
        except client.ApiException as error:
            log.debug("event %s of pod %s: %s", event.reason, spec.name, error.status)


class _ServerThread:
    """The kubelet server's asyncio loop, in a thread of its own."""

    def __init__(self, server: KubeletServer, port: int, context):
        import asyncio

        self.server, self.port, self.context = server, port, context
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner = None
        self._thread = threading.Thread(target=self._run, name=f"node-kubelet-{port}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise NodeAgentError(f"the kubelet server could not listen on 127.0.0.1:{self.port}: {self._error}")

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - reported by start()
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        self._runner = web.AppRunner(self.server.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.context).start()

    def stop(self, timeout: float) -> None:
        import asyncio

        if self.loop.is_running() and self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop)
            try:
                future.result(timeout)
            except Exception as error:  # noqa: BLE001 - stopping anyway
                log.warning("kubelet server cleanup: %s", error)
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
