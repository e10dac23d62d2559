"""A DynamoGraphDeployment applied on a cluster: the `Deployment` the events and evidence use.

Decisions live in pure modules (`dgd`, `readiness`, `timeline`, `procs`, `selectors`); this class
is the thin I/O between them and the API (`CustomObjectsApi`, `CoreV1Api`, `kubernetes.stream`),
every call through `call_api` (retries on connection errors, 429 and 5xx only).

Blast radius: the DGD carries the suite's labels (managed-by and run id); its pods are found by
the DGD's own labels; teardown deletes the DGD and the run's Jobs/PVCs (selected by the run
id) and nothing else.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from ftlib.errors import PlatformError, TargetError
from ftlib.platform.base import Deployment, PodInfo, ProcessInfo, ResourceSample, Timeline
from ftlib.platform.kubernetes import dgd as dgd_module
from ftlib.platform.kubernetes.config import ClusterOptions
from ftlib.platform.kubernetes.jobs import MANAGED_BY, MANAGED_BY_LABEL, RUN_ID_LABEL, exit_status
from ftlib.platform.kubernetes.procs import NOT_FOUND_CODES, PROC_ARGV, PS_ARGV, kill_argv, parse_ps, pid1_note
from ftlib.platform.kubernetes.readiness import Readiness, is_terminating, pod_ready, service_status, verdict
from ftlib.platform.kubernetes.retry import call_api, explain, short_reason
from ftlib.platform.kubernetes.selectors import graph_selector, service_of
from ftlib.platform.kubernetes.timeline import (MAIN_CONTAINER, PodState, PodWatch, main_container, parse_time_ns,
                                                pod_state, transitions)
from ftlib.spec import GROUP, DeploymentSpec

log = logging.getLogger("ftlib.platform.kubernetes")
FRONTEND_PORT = 8000
SYSTEM_PORT = 9090  # workers' metrics and health (DYN_SYSTEM_PORT in the operator's pods)
EXEC_TIMEOUT = 30.0
GONE_TIMEOUT = 300.0


class KubernetesDeployment(Deployment):
    """One DGD of one run, in one namespace, watched from `apply` until `teardown`."""

    def __init__(self, spec: DeploymentSpec, output_dir: Path, api: client.ApiClient, options: ClusterOptions,
                 run_id: str, poll_seconds: float = 1.0, watch_seconds: int = 2):
        self.spec = spec.copy()
        if options.image:
            self.spec.set_image(options.image)
        self.output_dir = Path(output_dir)
        self.api, self.options, self.run_id = api, options, run_id
        self.namespace = options.namespace
        self.body = dgd_module.dgd_body(spec, run_id, self.namespace, options.image, options.kube_log_tee)
        self.version = dgd_module.api_version(self.body)
        self.custom, self.core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        # kubernetes.stream swaps the request method of the client it is given while an exec
        # runs: exec gets a client of its own, one exec at a time, so other calls stay plain HTTP.
        self._exec_core = client.CoreV1Api(client.ApiClient(api.configuration))
        self._exec_lock = threading.Lock()
        self.timeline = Timeline()
        self.poll_seconds = poll_seconds
        self.last_status: dict | None = None
        self._lock = threading.RLock()
        self._pods: dict[str, dict] = {}  # name -> latest pod JSON (live or terminating)
        self._states: dict[str, PodState] = {}
        self._first_seen: dict[str, int] = {}
        self._gone: dict[str, int] = {}  # name -> ns it was seen deleted
        self._deleted_noted: set[str] = set()
        self._saved_logs: dict[str, str] = {}  # logs of pods the suite deleted, read just before
        self._rolling: dict[str, set[str]] = {}  # service -> its pod names when its rollout started
        self._verdict = Readiness(False, ["not applied yet"])
        self._ready = False
        self._applied = False
        self._torn_down = False
        self.watch = PodWatch(self.core, self.namespace, graph_selector(self.spec.name), self._on_pod_event,
                              self._evaluate, watch_seconds)

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def frontend_url(self) -> str:
        """The frontend Service inside the cluster (loads run there, as Jobs)."""
        return (f"http://{self.name}-{self.spec.frontend.name.lower()}.{self.namespace}.svc.cluster.local:"
                f"{FRONTEND_PORT}")

    # -- apply ----------------------------------------------------------------------------
    def _dgd_args(self) -> tuple[str, str, str, str]:
        return GROUP, self.version, self.namespace, dgd_module.PLURAL

    def read_dgd(self) -> dict | None:
        try:
            return call_api(self.custom.get_namespaced_custom_object, *self._dgd_args(), self.name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise PlatformError(explain(error, "get", f"DynamoGraphDeployment {self.name}", self.namespace)) from error

    def apply(self, gone_timeout: float = GONE_TIMEOUT) -> None:
        """Create the DGD, after an earlier run's DGD of the same name is gone; start watching."""
        self._wait_earlier_gone(gone_timeout)
        try:
            created = call_api(self.custom.create_namespaced_custom_object, GROUP, self.version, self.namespace,
                               dgd_module.PLURAL, self.body)
        except ApiException as error:
            raise PlatformError(explain(error, "create", f"DynamoGraphDeployment {self.name}", self.namespace)) from error
        self._applied = True
        self.last_status = created
        log.info("applied DynamoGraphDeployment %s/%s (%s/%s, run %s)", self.namespace, self.name, GROUP, self.version,
                 self.run_id)
        self.watch.start()

    def _wait_earlier_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (earlier := self.read_dgd()) is not None:
            labels = (earlier.get("metadata") or {}).get("labels") or {}
            where = f"DynamoGraphDeployment {self.name!r} in namespace {self.namespace!r}"
            if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
                raise PlatformError(f"{where} exists and was not created by dynamo-ft (no label "
                                    f"{MANAGED_BY_LABEL}={MANAGED_BY}); the suite will not touch it. Use another "
                                    "namespace, or rename the deployment")
            if not (earlier.get("metadata") or {}).get("deletionTimestamp"):
                run = labels.get(RUN_ID_LABEL, "?")
                raise PlatformError(f"{where} of an earlier run ({run}) is still there. Delete it first: "
                                    f"kubectl -n {self.namespace} delete dynamographdeployment {self.name}")
            if time.monotonic() > deadline:
                raise PlatformError(f"{where} of an earlier run is still being deleted after {timeout:g} s")
            log.info("waiting for the earlier %s to be gone", where)
            time.sleep(self.poll_seconds)

    # -- readiness ------------------------------------------------------------------------
    def _replicas(self) -> dict[str, int]:
        return {name: service.replicas for name, service in self.spec.services.items()}

    def evaluate(self) -> Readiness:
        """Read the DGD and judge it with the pods the watch knows."""
        dgd = self.read_dgd()
        with self._lock:
            pods = list(self._pods.values())
        self.last_status = dgd if dgd is not None else self.last_status
        return verdict(dgd, pods, self._replicas())

    def _evaluate(self) -> Readiness:
        """Judge now; keep the verdict for `is_ready` and note changes on the timeline."""
        if self._torn_down:
            return self._verdict
        current = self.evaluate()
        with self._lock:
            if not self.watch.relists:
                current = Readiness(False, current.reasons + ["the pod watch has not listed the pods yet"], current.failure)
            self._verdict = current
            changed = current.ready != self._ready
            self._ready = current.ready
            finished = [s for s, old in self._rolling.items() if self._rollout_done(s, old)]
            for service in finished:
                del self._rolling[service]
        if changed:
            self.timeline.add("deployment_ready" if current.ready else "deployment_unready",
                              detail="; ".join(current.reasons[:3]))
        for service in finished:
            self.timeline.add("rollout_complete", service=service)
        return current

    def _rollout_done(self, service: str, old: set[str]) -> bool:
        mine = [p for p in self._pods.values() if service_of(p) == service]
        if any(p["metadata"]["name"] in old for p in mine):
            return False
        live = [p for p in mine if not is_terminating(p)]
        return len(live) == self.spec.services[service].replicas and all(pod_ready(p) for p in live)

    def is_ready(self) -> bool:
        return self._ready

    def wait_ready(self, timeout: float) -> float:
        start = time.monotonic()
        while True:
            if self._torn_down:
                raise PlatformError(f"deployment {self.name!r} was torn down while waiting for it")
            current = self._evaluate()
            if current.failure:
                raise PlatformError(f"deployment {self.name!r} will not become ready: {current.failure}\n"
                                    + self._look_further())
            if current.ready:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                reasons = "\n".join(f"  {r}" for r in current.reasons) or "  (the watch has not listed the pods yet)"
                raise PlatformError(f"deployment {self.name!r} was not ready within {timeout:g} s:\n{reasons}\n"
                                    + self._look_further())
            self.timeline.wait_for_change(self.poll_seconds)

    def _look_further(self) -> str:
        return (f"  look further: kubectl -n {self.namespace} describe dynamographdeployment {self.name}; "
                f"kubectl -n {self.namespace} get pods -l {graph_selector(self.name)}")

    # -- the pod watch --------------------------------------------------------------------
    def _on_pod_event(self, kind: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        now = time.time_ns()
        with self._lock:
            old = self._states.get(name)
            if kind == "DELETED":
                self._pods.pop(name, None)
                self._states.pop(name, None)
                self._gone.setdefault(name, now)
                new = None
                service = old.service if old else service_of(pod)
            else:
                self._pods[name] = pod
                new = self._states[name] = pod_state(pod)
                service = new.service
                if name not in self._first_seen:
                    created = parse_time_ns((pod.get("metadata") or {}).get("creationTimestamp"))
                    self._first_seen[name] = created if not self.watch.relists and created else now
            entries = transitions(old, new)
            if any(k == "pod_deleted" for k, _ in entries):
                if name in self._deleted_noted:
                    entries = [(k, d) for k, d in entries if k != "pod_deleted"]
                self._deleted_noted.add(name)
        for entry_kind, detail in entries:
            self.timeline.add(entry_kind, name, service, detail)

    # -- pods -----------------------------------------------------------------------------
    def pods(self, service: str | None = None, include_deleted: bool = False) -> list[PodInfo]:
        with self._lock:
            infos = [self._info(p) for p in self._pods.values()
                     if (service is None or service_of(p) == service) and (include_deleted or not is_terminating(p))]
            if include_deleted:
                infos += [self._gone_info(name, ns) for name, ns in self._gone.items()
                          if name not in self._pods and (service is None or self._service_of_gone(name) == service)]
        return sorted(infos, key=lambda info: info.name)

    def _info(self, pod: dict) -> PodInfo:
        name = pod["metadata"]["name"]
        labels = pod["metadata"].get("labels") or {}
        phase = "Terminating" if is_terminating(pod) else (pod.get("status") or {}).get("phase", "Pending")
        revision = labels.get("nvidia.com/dynamo-worker-hash") or labels.get("pod-template-hash") or ""
        return PodInfo(name, service_of(pod), pod_ready(pod), int(main_container(pod).get("restartCount") or 0),
                       phase, self._first_seen.get(name, 0), is_terminating(pod), revision)

    def _service_of_gone(self, name: str) -> str:
        return next((e.service for e in self.timeline.since(0) if e.pod == name and e.service), "")

    def _gone_info(self, name: str, gone_ns: int) -> PodInfo:
        return PodInfo(name, self._service_of_gone(name), False, 0, "Deleted", self._first_seen.get(name, 0), True)

    def _require_pod(self, pod: str) -> dict:
        with self._lock:
            found = self._pods.get(pod)
            known = ", ".join(sorted(self._pods))
        if found is None:
            raise TargetError(f"no pod {pod!r} in deployment {self.name!r}; pods: {known or 'none'}")
        return found

    def delete_pod(self, pod: str, force: bool = True) -> None:
        """Delete a pod of this DGD (``gracePeriodSeconds=0`` when forced); its controller
        creates a replacement with a new name. The pod's log is read first, for the evidence."""
        target = self._require_pod(pod)
        if is_terminating(target):
            raise TargetError(f"pod {pod!r} is already being deleted")
        self._saved_logs[pod] = self.logs(pod)
        kwargs = {"grace_period_seconds": 0} if force else {}
        with self._lock:
            self._deleted_noted.add(pod)  # the watch may see the deletion before the call returns
        self.timeline.add("pod_deleted", pod, service_of(target), "force" if force else "graceful")
        try:
            call_api(self.core.delete_namespaced_pod, pod, self.namespace, _preload_content=False, **kwargs)
        except ApiException as error:
            if error.status == 404:
                raise TargetError(f"pod {pod!r} no longer exists") from error
            raise PlatformError(explain(error, "delete", f"pod {pod}", self.namespace)) from error
        with self._lock:  # terminating from now on, whenever the watch reports it
            if pod in self._pods:
                marked = dict(self._pods[pod], metadata=dict(self._pods[pod]["metadata"]))
                marked["metadata"].setdefault("deletionTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                self._pods[pod] = marked

    # -- rolling upgrade ------------------------------------------------------------------
    def update_service(self, service: str, env: dict[str, str]) -> str:
        """Set ``env`` on the service's pod template (a merge patch for v1alpha1, a JSON patch for
        v1beta1); the operator rolls the pods. Returns the DGD's new generation."""
        target = self.spec.get_service(service)
        if all(target.envs.get(k) == str(v) for k, v in env.items()):
            return str((self.last_status or {}).get("metadata", {}).get("generation", ""))
        patch = dgd_module.env_patch(self.body, service, env)
        with self._lock:
            self._rolling[service] = {p["metadata"]["name"] for p in self._pods.values() if service_of(p) == service}
        path = f"/apis/{GROUP}/{self.version}/namespaces/{self.namespace}/{dgd_module.PLURAL}/{self.name}"
        try:
            updated = call_api(self.api.call_api, path, "PATCH", body=patch.body, response_type="object",
                               header_params={"Content-Type": patch.content_type, "Accept": "application/json"},
                               auth_settings=["BearerToken"], _return_http_data_only=True)
        except ApiException as error:
            with self._lock:
                self._rolling.pop(service, None)
            raise PlatformError(explain(error, "patch", f"DynamoGraphDeployment {self.name}", self.namespace)) from error
        self.body = dgd_module.apply_env(self.body, service, env)
        for name, value in env.items():
            target.set_env_var(name, value)
        generation = str(((updated or {}).get("metadata") or {}).get("generation", ""))
        changes = ", ".join(f"{k}={v}" for k, v in env.items())
        self.timeline.add("rollout_started", service=service, detail=f"generation {generation}: {changes}")
        with self._lock:
            self._ready = False
        return generation

    # -- processes ------------------------------------------------------------------------
    def run_in_pod(self, pod: str, argv: list[str], timeout: float = EXEC_TIMEOUT) -> tuple[str, str, int | None, str]:
        """Run ``argv`` in the pod's main container: (stdout, stderr, exit code or None, error)."""
        with self._exec_lock:
            return self._run_in_pod(pod, argv, timeout)

    def _run_in_pod(self, pod: str, argv: list[str], timeout: float) -> tuple[str, str, int | None, str]:
        try:
            ws = call_api(stream, self._exec_core.connect_get_namespaced_pod_exec, pod, self.namespace,
                          command=list(argv), container=MAIN_CONTAINER, stderr=True, stdin=False, stdout=True,
                          tty=False, _preload_content=False)
        except ApiException as error:
            if error.status in (400, 404) or _refused_handshake(error, ("400", "404")) or _container_not_found(error):
                raise ContainerNotRunning(f"pod {pod!r}: its main container is not running ({short_reason(error)})") \
                    from error
            raise PlatformError(explain(error, "exec into", f"pod {pod}", self.namespace)) from error
        try:
            ws.run_forever(timeout=timeout)
            out, err = ws.read_stdout() or "", ws.read_stderr() or ""
            if ws.is_open():
                return out, err, None, f"{argv[0]} did not finish within {timeout:g} s"
            code, message = exit_status(ws.read_channel(3))
            return out, err, code, message
        finally:
            ws.close()

    def processes(self, pod: str) -> list[ProcessInfo]:
        """Processes of the pod's main container; none while that container is not running (just
        killed, restarting) or the pod is going away."""
        self._require_pod(pod)
        try:
            return self._processes(pod)
        except ContainerNotRunning as error:
            log.info("%s: no processes", error)
            return []

    def _processes(self, pod: str) -> list[ProcessInfo]:
        out, err, code, message = self.run_in_pod(pod, PS_ARGV)
        if code != 0 and (code in NOT_FOUND_CODES or "not found" in (message + err).lower()):
            out, err, code, message = self.run_in_pod(pod, PROC_ARGV)
            if code != 0:
                raise PlatformError(f"cannot list the processes of pod {pod!r}: neither ps nor python3 ran there "
                                    f"({message or err.strip() or f'exit code {code}'})")
        elif code != 0:
            raise PlatformError(f"ps failed in pod {pod!r}: {message or err.strip() or f'exit code {code}'}")
        return parse_ps(out)

    def signal_process(self, pod: str, pid: int, signal_name: str) -> None:
        argv = kill_argv(pid, signal_name)
        running = {p.pid for p in self.processes(pod)}
        if pid not in running:
            raise TargetError(f"process {pid} is not running in pod {pod!r}; running: {sorted(running)}")
        out, err, code, message = self.run_in_pod(pod, argv)
        if code != 0:
            note = pid1_note(pid, signal_name)
            raise TargetError(f"{' '.join(argv)} failed in pod {pod!r}: {message or err.strip() or f'exit code {code}'}"
                              + (f"; {note}" if note else ""))
        if pid1_note(pid, signal_name):
            log.warning("sent %s to PID 1 in pod %s: %s", signal_name, pod, pid1_note(pid, signal_name))

    # -- logs, metrics, descriptions ------------------------------------------------------
    def logs(self, pod: str, previous: bool = False) -> str:
        if pod in self._saved_logs and not previous and pod not in self._pods:
            return self._saved_logs[pod]
        try:
            return call_api(self.core.read_namespaced_pod_log, pod, self.namespace, container=MAIN_CONTAINER,
                            previous=previous, _request_timeout=30) or ""
        except ApiException as error:
            if error.status in (400, 404):  # no previous container, or the pod is gone
                return self._saved_logs.get(pod, "") if not previous else ""
            raise PlatformError(explain(error, "read the log of", f"pod {pod}", self.namespace)) from error

    def metrics(self, pod: str) -> str | None:
        """``/metrics`` through the pods proxy subresource (8000 frontend, 9090 workers)."""
        with self._lock:
            found = self._pods.get(pod)
        if found is None:
            return None
        port = FRONTEND_PORT if service_of(found) == self.spec.frontend.name else SYSTEM_PORT
        try:  # not retried: a 5xx through the proxy is the pod's own answer (it is not serving)
            return self.core.connect_get_namespaced_pod_proxy_with_path(f"{pod}:{port}", self.namespace, "metrics",
                                                                        _request_timeout=10)
        except ApiException as error:
            log.debug("metrics of %s: %s", pod, short_reason(error))
            return None
        except Exception as error:  # noqa: BLE001 - no metrics is an answer, not an error
            log.debug("metrics of %s: %s", pod, error)
            return None

    def describe_pod(self, pod: str) -> dict:
        with self._lock:
            manifest = dict(self._pods.get(pod) or {"metadata": {"name": pod}, "status": {"phase": "Deleted"}})
        try:
            events = call_api(self.core.list_namespaced_event, self.namespace,
                              field_selector=f"involvedObject.name={pod}", _preload_content=False)
            manifest["events"] = [{k: e.get(k) for k in ("type", "reason", "message", "count", "lastTimestamp")}
                                  for e in json.loads(events.data).get("items") or []]
        except ApiException as error:
            manifest["events"] = f"not readable: {short_reason(error)}"
        return manifest

    def sample_resources(self) -> list[ResourceSample] | None:
        """CPU and working-set memory of each pod from the metrics API (``metrics.k8s.io``); None
        when the cluster has no metrics server."""
        try:
            listing = call_api(self.custom.list_namespaced_custom_object, "metrics.k8s.io", "v1beta1", self.namespace,
                               "pods", label_selector=graph_selector(self.name))
        except ApiException as error:
            if error.status in (403, 404, 503):
                log.info("no pod metrics API (metrics.k8s.io): %s", short_reason(error))
                return None
            raise
        from ftlib.platform.kubernetes.evidence import resource_samples

        return resource_samples(listing, {p.name: p.service for p in self.pods()})

    def collect_evidence(self, directory: Path) -> None:
        from ftlib.platform.kubernetes.evidence import write_evidence

        write_evidence(self, Path(directory))
        self._copy_pvc_logs(Path(directory))

    def _copy_pvc_logs(self, directory: Path) -> None:
        """The services' logs kept on the log PVC (every container of every pod, deleted ones
        too) as ``<Service>/<pod>_<stamp>.pvc.log``; a failure is logged, never a verdict."""
        if not self.options.kube_log_tee or self._torn_down or not self._applied:
            return
        from ftlib.platform.kubernetes.pvc import log_pvc_name
        from ftlib.platform.kubernetes.pvc_logs import copy_pvc_logs

        image = self.options.image or next((s.image for s in self.spec.services.values() if s.image), None)
        services = {p.name: p.service or "unknown" for p in self.pods(include_deleted=True)}
        try:
            copy_pvc_logs(client.ApiClient(self.api.configuration), self.namespace, self.run_id,
                          log_pvc_name(self.run_id), image, directory, services)
        except Exception as error:  # noqa: BLE001 - evidence is collected whatever state the cluster is in
            log.warning("evidence problem: the service logs on the log PVC were not copied back: %s", error)

    # -- load -----------------------------------------------------------------------------
    def load_runner(self, name, config, client_type, model, tokenizer, output_dir):
        """aiperf (or the legacy client) as a Job in the namespace, aimed at the frontend Service."""
        from ftlib.platform.kubernetes.load_job import load_runner

        own = client.ApiClient(self.api.configuration)  # its exec calls must not swap the watch's client
        return load_runner(self.options, own, self.run_id, name, config, client_type, self.frontend_url, model,
                           tokenizer, output_dir)

    # -- teardown -------------------------------------------------------------------------
    def teardown(self, timeout: float = GONE_TIMEOUT) -> None:
        """Delete the DGD (only if it carries this run's labels), then the run's Jobs and PVCs,
        and wait until the DGD and its pods are gone. ``keep_resources`` keeps them all."""
        if self._torn_down:
            return
        self._torn_down = True
        self.watch.stop()
        from ftlib.platform.kubernetes.jobs import run_selector, teardown_run_objects

        if not self._applied:  # only the run's Jobs and PVC (if any) exist
            teardown_run_objects(self.core, client.BatchV1Api(self.api), self.namespace, self.run_id,
                                 keep=self.options.keep_resources, timeout=timeout)
            return

        if self.options.keep_resources:
            log.warning("keep_resources=true: kept DynamoGraphDeployment %s and the Jobs/PVCs of run %s in namespace "
                        "%s. Delete them later with: kubectl -n %s delete dynamographdeployment,job,pvc -l %s",
                        self.name, self.run_id, self.namespace, self.namespace, run_selector(self.run_id))
            return
        current = self.read_dgd()
        labels = ((current or {}).get("metadata") or {}).get("labels") or {}
        if current is not None and labels.get(RUN_ID_LABEL) == self.run_id and labels.get(MANAGED_BY_LABEL) == MANAGED_BY:
            try:
                call_api(self.custom.delete_namespaced_custom_object, *self._dgd_args(), self.name)
            except ApiException as error:
                if error.status != 404:
                    raise PlatformError(explain(error, "delete", f"DynamoGraphDeployment {self.name}",
                                                self.namespace)) from error
        elif current is not None:
            log.error("DynamoGraphDeployment %s is no longer this run's (labels %s); not deleting it", self.name, labels)
        teardown_run_objects(self.core, client.BatchV1Api(self.api), self.namespace, self.run_id, keep=False,
                             timeout=timeout)
        self._wait_gone(timeout)

    def _wait_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            dgd = self.read_dgd()
            pods = call_api(self.core.list_namespaced_pod, self.namespace, label_selector=graph_selector(self.name),
                            _preload_content=False)
            left = [p["metadata"]["name"] for p in json.loads(pods.data).get("items") or []]
            if dgd is None and not left:
                return
            if time.monotonic() > deadline:
                raise PlatformError(f"after {timeout:g} s, still there in namespace {self.namespace}: "
                                    + ("the DGD, " if dgd is not None else "") + f"pods {left}. Look: kubectl -n "
                                    f"{self.namespace} get dynamographdeployment,pods -l {graph_selector(self.name)}")
            time.sleep(self.poll_seconds)


class ContainerNotRunning(TargetError):
    """Exec was refused because the container is not running (or the pod is gone)."""


def _container_not_found(error: ApiException) -> bool:
    """A kubelet refuses exec into a container that is not running (just killed, restarting, in
    back-off) with 500 ``container not found``."""
    return (error.status == 500 or _refused_handshake(error, ("500",))) and "container not found" in \
        f"{error.reason} {error.body}"


def _refused_handshake(error: ApiException, statuses: tuple[str, ...]) -> bool:
    reason = str(error.reason or "")
    return error.status == 0 and any(f"Handshake status {code}" in reason for code in statuses)
