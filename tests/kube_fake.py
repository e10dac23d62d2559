"""A fake Kubernetes API at the HTTP boundary, for tests of the kubernetes platform without a cluster.

`FakeApi` serves `kmock`'s `KubernetesEmulator` (objects stored in memory, created, patched and
deleted over real HTTP on 127.0.0.1) from a background thread, with the shims kmock 0.8 needs.
Each shim states what it assumes of a real API server:

- resource versions: every change gets the next number in ``metadata.resourceVersion``; a list
  answers the current one; a watch from version N first replays every change after N, then
  follows live changes (a real API server keeps a window of history the same way). Versions
  older than `FakeApi.expire_before` are answered with an ``ERROR`` event carrying a ``410 Gone``
  Status, as a real server does once its history has been compacted.
- ``/version/``, ``/apis/``: the official client asks with a trailing slash, which a real server answers.
- ``?watch=True``: the official Python client sends the boolean capitalised; a real server
  accepts it as ``true``; kmock only knows ``true``.
- ``GET /api/v1/namespaces/<name>``: kmock reads it as a namespace prefix; served here (``ft``
  exists, any other namespace is a 404).
- ``SelfSubjectAccessReview``: allowed, unless (verb, resource) is in `FakeApiServer.denied`.
- ``labelSelector`` (equality terms ``k=v`` joined by commas) and ``fieldSelector``
  ``involvedObject.name=`` / ``metadata.name=`` filter lists and watches, as a real server does.
- ``pods/exec``: a websocket speaking ``v4.channel.k8s.io``: channel 1 stdout, 2 stderr, 3 a
  ``Status`` (``Success``, or ``NonZeroExitCode`` with the code in ``details.causes``). A
  program missing from the image gives a ``Failure`` Status whose message says "executable file
  not found", as the container runtime reports it.
- ``pods/log`` (current or ``previous=true``) and ``pods/<pod>:<port>/proxy/metrics`` answer
  text the test scripted; a missing previous log is a 400, as on a real kubelet.
- scripted failures: `FakeApi.fail` answers the next matching requests with a ``Status`` of the
  given code (429 with ``Retry-After``, 403 Forbidden, 500…), as a real server would.

`FakeOperator` plays the Dynamo operator and the kubelet over the same HTTP API: it creates the
pods of each DGD service (labelled as the operator labels them), makes them Ready, replaces a
deleted pod with a new name, restarts a killed container, rolls a service whose spec changed and
moves the DGD's status (``state``, the ``Ready`` condition, ``observedGeneration``, per-service
replicas) on a schedule. Switches reproduce known operator behaviours: `premature_success`
(ai-dynamo/dynamo #3567), `hide_faults` (the DGD never reports the fault), `stuck_terminating`.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import aiobus, enums, rendering
from kubernetes import client, config

NAMESPACE = "ft"
DGD_VERSIONS = ("v1alpha1", "v1beta1")
GRAPH_LABEL = "nvidia.com/dynamo-graph-deployment-name"
COMPONENT_LABEL = "nvidia.com/dynamo-component"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RecordingBus(aiobus.Bus):
    """A kmock event bus that stamps each change with the next resource version and records it."""


@attrs.define(kw_only=True)
class FakeApiServer(kmock.KubernetesEmulator):
    """kmock's emulator with the shims listed in the module docstring."""

    rv: int = 0
    history: list = attrs.field(factory=list)
    expire_before: int = 0
    failures: list = attrs.field(factory=list)
    exec_handler: Any = None
    exec_calls: list = attrs.field(factory=list)
    logs: dict = attrs.field(factory=dict)
    metrics: dict = attrs.field(factory=dict)
    pod_metrics: Any = None
    denied: set = attrs.field(factory=set)  # (verb, resource) a SelfSubjectAccessReview refuses

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        server = self

        class Buses(collections.defaultdict):
            def __missing__(self, resource):
                bus = self[resource] = _Recording(server, resource)
                return bus

        self._buses = Buses()

    # -- requests -------------------------------------------------------------------------
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        for failure in list(self.failures):
            if failure.matches(request):
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.remove(failure)
                return status_response(failure.code, failure.reason, failure.message, failure.headers)
        if request.method == enums.method.GET and request.params.get("watch") in ("True", "true", "1"):
            return await self._stream_watch(request)
        if request.url.path == "/version/":  # the official client asks with a trailing slash
            return aiohttp.web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake",
                                              "gitCommit": "0" * 40, "gitTreeState": "clean",
                                              "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                                              "compiler": "gc", "platform": "linux/amd64"})
        if request.url.path in ("/apis/", "/apis"):  # discovery: the groups that serve DGDs
            versions = [{"groupVersion": f"nvidia.com/{v}", "version": v} for v in DGD_VERSIONS]
            return aiohttp.web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "nvidia.com", "versions": versions, "preferredVersion": versions[-1]}]})
        if request.url.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            review = dict(request.data or {})
            attributes = (review.get("spec") or {}).get("resourceAttributes") or {}
            denied = (attributes.get("verb"), attributes.get("resource")) in self.denied
            review["status"] = {"allowed": not denied, **({"reason": "scripted denial"} if denied else {})}
            return aiohttp.web.json_response(review, status=201)
        match = re.fullmatch(r"/api/v1/namespaces/([^/]+)", request.url.path)
        if match and request.method == enums.method.GET:  # kmock reads this path as a namespace prefix
            if match.group(1) != NAMESPACE:
                return status_response(404, "NotFound", f'namespaces "{match.group(1)}" not found')
            return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE},
                                              "status": {"phase": "Active"}})
        match = re.fullmatch(r"/apis/nvidia.com/(v1alpha1|v1beta1)/?", request.url.path)
        if match:
            return aiohttp.web.json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                              "groupVersion": f"nvidia.com/{match.group(1)}", "resources": [
                {"name": "dynamographdeployments", "singularName": "dynamographdeployment", "namespaced": True,
                 "kind": "DynamoGraphDeployment", "shortNames": ["dgd"],
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]})
        sub = request.subresource or ""
        if sub == "exec":
            return await self._serve_exec(request)
        if sub == "log":
            return self._serve_log(request)
        if sub.startswith("proxy"):
            text = self.metrics.get(request.name)
            return (aiohttp.web.Response(text=text, content_type="text/plain") if text is not None
                    else status_response(503, "ServiceUnavailable", f"no endpoints for {request.name}"))
        if request.resource is not None and request.resource.group == "metrics.k8s.io":
            if self.pod_metrics is None:
                return status_response(404, "NotFound", "the server could not find the requested resource")
            return aiohttp.web.json_response(self.pod_metrics)
        return await super()._handle(request)

    async def _serve_exec(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        argv = raw.query.getall("command")
        self.exec_calls.append({"pod": request.name, "argv": argv, "container": raw.query.get("container")})
        ws = aiohttp.web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(raw)
        # the fake kubelet calls the API itself: run it off the server's event loop
        out, err, code = await asyncio.to_thread(self.exec_handler, request.name, argv) if self.exec_handler \
            else ("", "", 0)
        if out:
            await ws.send_bytes(b"\x01" + out.encode())
        if err:
            await ws.send_bytes(b"\x02" + err.encode())
        await ws.send_bytes(b"\x03" + json.dumps(exec_status(code, argv)).encode())
        await ws.close()
        return ws

    def _serve_log(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        previous = request.params.get("previous") in ("True", "true")
        text = self.logs.get((request.name, previous))
        if text is None:
            if previous:
                return status_response(400, "BadRequest", f'previous terminated container "main" in pod '
                                                          f'"{request.name}" not found')
            return status_response(404, "NotFound", f'pods "{request.name}" not found')
        return aiohttp.web.Response(text=text, content_type="text/plain")

    # -- lists and watches ----------------------------------------------------------------
    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        listing = await super()._serve_list(request)
        listing["items"] = [o for o in listing["items"] if selected(o, request.params)]
        listing["metadata"] = {"resourceVersion": str(self.rv)}
        return listing

    async def _stream_watch(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)
        try:
            async for event in self._serve_watch(request):
                if event != b"":
                    await response.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        await response.write_eof()
        return response

    async def _serve_watch(self, request: rendering.Request):
        yield b""
        since = int(request.params.get("resourceVersion") or 0)
        if since and since < self.expire_before:
            yield {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                               "code": 410, "reason": "Expired",
                                               "message": f"too old resource version: {since} ({self.expire_before})"}}
            return
        deadline = time.monotonic() + float(request.params.get("timeoutSeconds") or 3600)
        if not since:
            listing = await self._serve_list(request)
            for item in listing["items"]:
                yield {"type": "ADDED", "object": item}
            since = int(listing["metadata"]["resourceVersion"])
        while time.monotonic() < deadline:
            fresh = self.history[since:]  # history[i] holds resource version i + 1
            for version, resource, event in fresh:
                if resource == request.resource and selected(event["object"], request.params):
                    yield event
            since += len(fresh)
            await asyncio.sleep(0.02)


class _Recording(aiobus.Bus):
    def __init__(self, server: FakeApiServer, resource):
        super().__init__()
        self._fake_server = server
        self._fake_resource = resource

    async def put(self, item):
        server = self._fake_server
        server.rv += 1
        item = copy.deepcopy(item)
        item["object"].setdefault("metadata", {})["resourceVersion"] = str(server.rv)
        server.history.append((server.rv, self._fake_resource, item))
        return await super().put(item)


def selected(obj: dict, params: dict) -> bool:
    """Whether ``obj`` matches the request's ``labelSelector`` and ``fieldSelector`` (equality terms)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (params.get("labelSelector") or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    for term in filter(None, (params.get("fieldSelector") or "").split(",")):
        key, _, value = term.partition("=")
        current: Any = obj
        for part in key.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if current != value:
            return False
    return True


def exec_status(code: int | str, argv: list[str]) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    if code == "not found":
        return {"metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
                "message": f'failed to exec in container: exec: "{argv[0]}": executable file not found in $PATH',
                "details": {"causes": [{"message": f'exec: "{argv[0]}": executable file not found in $PATH'}]}}
    return {"metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def status_response(code: int, reason: str, message: str, headers: dict | None = None) -> aiohttp.web.Response:
    return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": message, "reason": reason, "code": code}, status=code,
                                     headers=headers or {})


@dataclass
class Failure:
    """Answer the next ``times`` requests matching ``method`` and ``path`` (a regex) with ``code``."""

    method: str
    path: str
    code: int
    reason: str = "Failure"
    message: str = "scripted failure"
    times: int = 1
    headers: dict = field(default_factory=dict)

    def matches(self, request: rendering.Request) -> bool:
        return request.method.value.upper() == self.method.upper() and re.search(self.path, request.url.path) is not None


class FakeApi:
    """The fake API server on 127.0.0.1 in a background thread, and clients configured for it."""

    def __init__(self):
        self.server: FakeApiServer | None = None
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fake-kube-api", daemon=True)

    def __enter__(self) -> "FakeApi":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake API server did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with FakeApiServer() as handler, kmock.Server(handler, host="127.0.0.1") as server:
            handler.resources["nvidia.com/v1alpha1/dynamographdeployments"] = {
                "kind": "DynamoGraphDeployment", "namespaced": True, "verbs": {"get", "list", "watch", "create", "patch", "delete"}}
            handler.resources["nvidia.com/v1beta1/dynamographdeployments"] = {
                "kind": "DynamoGraphDeployment", "namespaced": True, "verbs": {"get", "list", "watch", "create", "patch", "delete"}}
            handler.resources.load_bundled()
            self.server = handler
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    # -- clients and scripting ------------------------------------------------------------
    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "dummy"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": NAMESPACE}}]}))
        return path

    def api_client(self, tmp_path: Path) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.write_kubeconfig(tmp_path / "kubeconfig")))

    def fail(self, method: str, path: str, code: int, times: int = 1, reason: str = "Failure",
             message: str = "scripted failure", headers: dict | None = None) -> None:
        self.server.failures.append(Failure(method, path, code, reason, message, times, headers or {}))

    def requests(self, method: str | None = None, path: str = "") -> list[rendering.Request]:
        """The requests served so far (method upper-case; ``path`` a regex)."""
        return [r for r in list(self.server._requests) if (method is None or r.method.value.upper() == method)
                and re.search(path, r.url.path)]

    def objects(self, resource: kmock.resource) -> list[dict]:
        return [obj.raw for key, obj in list(self.server.objects.items())
                if key[0] == resource and not obj.deleted]


PODS = kmock.resource("", "v1", "pods")
JOBS = kmock.resource("batch", "v1", "jobs")


def dgd_resource(version: str) -> kmock.resource:
    return kmock.resource("nvidia.com", version, "dynamographdeployments")


@dataclass
class FakeProcess:
    pid: int
    args: str
    state: str = "Sl"


@dataclass
class FakePod:
    """The fake kubelet's view of one pod: its processes, restarts and log."""

    name: str
    service: str
    processes: list[FakeProcess]
    restarts: int = 0
    last_exit: int | None = None


class FakeOperator:
    """Plays the Dynamo operator and the kubelet over HTTP (see the module docstring).

    ``start_delay``: seconds from pod creation to Ready; ``ps``: False makes ``ps`` missing from
    the image (the /proc fallback answers); ``engine_pid1``: the engine runs as PID 1 (no
    ``shareProcessNamespace``), so SIGKILL/SIGSTOP sent to it do nothing.
    """

    def __init__(self, api: FakeApi, api_client: client.ApiClient, namespace: str = NAMESPACE,
                 start_delay: float = 0.2, premature_success: bool = False, hide_faults: bool = False,
                 stuck_terminating: bool = False, ps: bool = True, engine_pid1: bool = False):
        self.api, self.namespace = api, namespace
        own = client.ApiClient(api_client.configuration)  # never share a client with the code under test
        self.core = client.CoreV1Api(own)
        self.custom = client.CustomObjectsApi(own)
        self.batch = client.BatchV1Api(own)
        self.start_delay, self.premature_success, self.hide_faults = start_delay, premature_success, hide_faults
        self.stuck_terminating, self.has_ps, self.engine_pid1 = stuck_terminating, ps, engine_pid1
        self.pods: dict[str, FakePod] = {}
        self.generations: dict[str, int] = {}
        self.templates: dict[tuple[str, str], str] = {}  # (dgd, service) -> template hash
        self._names = itertools.count(1)
        self._pids = itertools.count(40)
        self._due: list[tuple[float, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-operator", daemon=True)
        api.server.exec_handler = self.exec

    def __enter__(self) -> "FakeOperator":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        with self._lock:
            self._due.append((time.monotonic() + seconds, action))

    # -- the reconcile loop ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due = [a for t, a in self._due if t <= time.monotonic()]
                self._due = [(t, a) for t, a in self._due if t > time.monotonic()]
            for action in due:
                action()
            names = set()
            for version in ("v1alpha1", "v1beta1"):
                for dgd in self.api.objects(dgd_resource(version)):
                    names.add(dgd["metadata"]["name"])
                    try:
                        self._reconcile(version, dgd)
                    except client.ApiException as error:  # deleted meanwhile: a real operator requeues
                        if error.status != 404:
                            raise
            for job in self.api.objects(JOBS):  # the PVC bind probe: mounts the claim and succeeds
                labels = job["metadata"].get("labels") or {}
                if labels.get("dynamo-ft/part") == "pvc-probe" and not (job.get("status") or {}).get("succeeded"):
                    self.batch.patch_namespaced_job_status(job["metadata"]["name"], self.namespace,
                                                           {"status": {"succeeded": 1}})
            for pod in self.api.objects(PODS):  # the garbage collector: pods of a deleted DGD go
                if pod["metadata"]["labels"].get(GRAPH_LABEL) not in names and not pod["metadata"].get("deletionTimestamp"):
                    try:
                        self.core.delete_namespaced_pod(pod["metadata"]["name"], self.namespace)
                    except client.ApiException as error:  # gone meanwhile
                        if error.status != 404:
                            raise
            self._stop.wait(0.03)

    def _services(self, dgd: dict) -> dict[str, dict]:
        spec = dgd.get("spec") or {}
        if "services" in spec:
            return spec["services"]
        return {c["name"]: c for c in spec.get("components") or []}

    def _live_pods(self, dgd_name: str, service: str | None = None) -> list[dict]:
        return [p for p in self.api.objects(PODS) if p["metadata"]["labels"].get(GRAPH_LABEL) == dgd_name
                and (service is None or p["metadata"]["labels"].get(COMPONENT_LABEL) == service)]

    def _reconcile(self, version: str, dgd: dict) -> None:
        name = dgd["metadata"]["name"]
        spec_hash = json.dumps(dgd.get("spec"), sort_keys=True)
        generation = self.generations.get(name)
        if generation is None or self.templates.get((name, "*")) != spec_hash:
            generation = self.generations[name] = (generation or 0) + 1
            self.templates[(name, "*")] = spec_hash
            self.custom.patch_namespaced_custom_object(
                "nvidia.com", version, self.namespace, "dynamographdeployments", name,
                {"metadata": {"generation": generation}})
        all_ready = True
        services_status = {}
        for service, raw in self._services(dgd).items():
            template = json.dumps(raw, sort_keys=True)
            key = (name, service)
            pods = self._live_pods(name, service)
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if key in self.templates and self.templates[key] != template:
                outdated = [p for p in live if p["metadata"]["labels"].get("pod-template-hash") != _short(template)]
                if outdated and len(live) <= int(raw.get("replicas", 1)):
                    self.create_pod(name, service, template)  # surge one
                    return
                ready_new = [p for p in live if p["metadata"]["labels"].get("pod-template-hash") == _short(template)
                             and _ready(p)]
                if outdated and ready_new:
                    self.core.delete_namespaced_pod(outdated[0]["metadata"]["name"], self.namespace)
                    return
                if not outdated:
                    self.templates[key] = template
            self.templates.setdefault(key, template)
            for _ in range(int(raw.get("replicas", 1)) - len(live)):
                self.create_pod(name, service, template)
            updated = len([p for p in live if p["metadata"]["labels"].get("pod-template-hash") == _short(template)])
            ready = len([p for p in live if _ready(p)])
            services_status[service] = {"componentKind": "Deployment", "replicas": int(raw.get("replicas", 1)),
                                        "updatedReplicas": updated, "readyReplicas": ready}
            all_ready = all_ready and ready == int(raw.get("replicas", 1)) == len(live) and len(pods) == len(live)
            all_ready = all_ready and updated == len(live)
        if self.premature_success or self.hide_faults and (dgd.get("status") or {}).get("state") == "successful":
            all_ready = True
        state = "successful" if all_ready else "pending"
        status = {"state": state, "observedGeneration": generation,
                  "conditions": [{"type": "Ready", "status": "True" if all_ready else "False",
                                  "reason": "all_resources_are_ready" if all_ready else "some_resources_are_not_ready",
                                  "message": "" if all_ready else "pods not ready", "lastTransitionTime": now_iso()}],
                  ("services" if version == "v1alpha1" else "components"): services_status}
        old = dgd.get("status") or {}
        comparable = lambda s: json.dumps({k: v for k, v in s.items() if k != "conditions"}, sort_keys=True) + \
            str([(c.get("status"), c.get("reason")) for c in s.get("conditions") or []])
        if comparable(old) != comparable(status):
            self.custom.patch_namespaced_custom_object_status("nvidia.com", version, self.namespace,
                                                              "dynamographdeployments", name, {"status": status})

    # -- pods -----------------------------------------------------------------------------
    def create_pod(self, dgd: str, service: str, template: str) -> str:
        name = f"{dgd}-{service.lower()}-{_short(template)[:6]}-{next(self._names):05d}"
        pid = 1 if self.engine_pid1 else next(self._pids)
        processes = ([] if self.engine_pid1 else [FakeProcess(1, "/pause", "Ss")]) + \
            [FakeProcess(pid, f"python3 -m dynamo.{'frontend' if service == 'Frontend' else 'mocker'} --model-path Qwen/Qwen3-0.6B")]
        self.pods[name] = FakePod(name, service, processes)
        metadata = {"name": name, "namespace": self.namespace, "creationTimestamp": now_iso(),
                    "labels": {GRAPH_LABEL: dgd, COMPONENT_LABEL: service, "pod-template-hash": _short(template)}}
        if self.stuck_terminating:
            metadata["finalizers"] = ["example.com/stuck"]
        self.core.create_namespaced_pod(self.namespace, {
            "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"shareProcessNamespace": not self.engine_pid1, "containers": [{"name": "main", "image": "img"}]},
            "status": pod_status(False, 0)})
        self.api.server.logs[(name, False)] = f"{name} starting\n"
        self.later(self.start_delay, lambda: self.set_ready(name, True))
        return name

    def set_ready(self, name: str, ready: bool, restarts: int | None = None, last_exit: int | None = None,
                  waiting: str | None = None) -> None:
        pod = self.pods[name]
        if restarts is not None:
            pod.restarts = restarts
        if last_exit is not None:
            pod.last_exit = last_exit
        try:
            self.core.patch_namespaced_pod_status(name, self.namespace, {
                "status": pod_status(ready, pod.restarts, pod.last_exit, waiting)})
        except client.ApiException as error:
            if error.status != 404:
                raise
        if ready:
            self.api.server.logs[(name, False)] = f"{name} serving\n"

    # -- exec: ps, /proc, kill ------------------------------------------------------------
    def exec(self, pod: str, argv: list[str]) -> tuple[str, str, int | str]:
        fake = self.pods.get(pod)
        if fake is None:
            return "", f"pod {pod} not found", 1
        if argv[0] == "ps":
            if not self.has_ps:
                return "", "", "not found"
            lines = ["    PID STAT COMMAND"] + [f"{p.pid:7d} {p.state:4s} {p.args}" for p in fake.processes] + \
                [f"{999:7d} R+   ps -eo pid,stat,args"]
            return "\n".join(lines) + "\n", "", 0
        if argv[:2] == ["python3", "-c"]:
            return "".join(f"{p.pid} {p.state[0]} {p.args}\n" for p in fake.processes), "", 0
        if argv[0] == "kill" and argv[1] == "-s":
            return self._kill(fake, argv[2], int(argv[3]))
        return "", f"{argv[0]}: not scripted", 126

    def _kill(self, pod: FakePod, signal_name: str, pid: int) -> tuple[str, str, int]:
        target = next((p for p in pod.processes if p.pid == pid), None)
        if target is None:
            return "", f"kill: ({pid}) - No such process\n", 1
        if pid == 1 and signal_name in ("KILL", "STOP"):
            return "", "", 0  # PID 1 ignores what it has no handler for: kill succeeds, nothing happens
        if signal_name == "STOP":
            target.state = "Tl"
        elif signal_name == "CONT":
            target.state = "Sl"
        elif signal_name in ("KILL", "TERM", "INT"):
            code = 137 if signal_name == "KILL" else 0
            pod.processes.remove(target)
            self.api.server.logs[(pod.name, True)] = self.api.server.logs.get((pod.name, False), "")
            self.set_ready(pod.name, False, last_exit=code, waiting="terminated")
            self.later(0.1, lambda: self._restart(pod, target))
        return "", "", 0

    def _restart(self, pod: FakePod, process: FakeProcess) -> None:
        pod.processes.append(FakeProcess(next(self._pids), process.args))
        self.set_ready(pod.name, True, restarts=pod.restarts + 1)


def _short(template: str) -> str:
    import hashlib

    return hashlib.sha256(template.encode()).hexdigest()[:10]


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pod_status(ready: bool, restarts: int, last_exit: int | None = None, waiting: str | None = None) -> dict:
    """A pod status as the kubelet writes it: phase, conditions, the main container's status."""
    if waiting == "terminated":
        state = {"terminated": {"exitCode": last_exit, "reason": "Error", "finishedAt": now_iso()}}
        last_exit = None
    elif waiting:
        state = {"waiting": {"reason": waiting}}
    else:
        state =  ({"running": {"startedAt": now_iso()}} if ready else {"waiting": {"reason": "ContainerCreating"}})
    container = {"name": "main", "ready": ready, "restartCount": restarts, "image": "img", "state": state,
                 "imageID": "registry.example/dynamo@sha256:0123456789abcdef"}
    if last_exit is not None:
        container["lastState"] = {"terminated": {"exitCode": last_exit, "reason": "Error" if last_exit else "Completed",
                                                 "finishedAt": now_iso()}}
    return {"phase": "Running" if ready or restarts else "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "True" if ready else "False"},
                           {"type": "ContainersReady", "status": "True" if ready else "False"}],
            "containerStatuses": [container]}
