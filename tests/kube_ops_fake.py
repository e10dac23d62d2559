"""A fake Kubernetes API at the HTTP boundary for the operational tests (load Job, PVC, preflight,
config): kmock's `KubernetesEmulator` served on 127.0.0.1 from a background thread, so the real,
synchronous ``kubernetes`` client talks to it over HTTP exactly as it would to a cluster.

What it assumes of a real API server (kmock does not emulate these; tests script them):
- ``pods/exec`` is a websocket speaking ``v4.channel.k8s.io``: frames start with the channel byte
  (1 stdout, 2 stderr, 3 a ``Status`` JSON whose ``status`` is ``Success`` or ``Failure`` with an
  ``ExitCode`` cause). `KubeOpsFake.exec_reply` answers each exec.
- ``pods/log`` returns plain text (unscripted, kmock would return the Pod's JSON).
- Label selectors are not applied by kmock: tests assert the ``labelSelector`` that was sent.
- Nothing runs Jobs: tests set a Job's pod and status themselves, like a controller would.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp.web
import kmock
from kubernetes import client


@dataclass
class Seen:
    """One request as it went over the wire."""

    method: str
    path: str
    params: dict[str, Any]
    data: Any
    content_type: str = ""
    exec_argv: list[str] = field(default_factory=list)
    headers_authorization: str = ""


VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.4", "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
           "gitTreeState": "clean", "buildDate": "2024-12-10T18:05:15Z", "goVersion": "go1.22.9",
           "compiler": "gc", "platform": "linux/amd64"}
Reply = tuple[int, Any]  # (HTTP status, JSON-able body or text)


class _Emulator(kmock.KubernetesEmulator):
    fake: "KubeOpsFake"

    async def _handle(self, request):  # noqa: D401 - kmock's private hook (see the module docstring)
        raw = request._raw_request
        params = {k: v for k, v in raw.query.items() if k != "command"}
        seen = Seen(raw.method, raw.path, params, request.data, raw.headers.get("Content-Type", ""),
                    list(raw.query.getall("command", [])), raw.headers.get("Authorization", ""))
        self.fake.seen.append(seen)
        if request.subresource == "exec":
            return await self._exec(raw, request.name, seen.exec_argv)
        for (method, path), reply in list(self.fake.routes.items()):
            if method == raw.method and path == raw.path:
                status, body = reply(seen) if callable(reply) else reply
                if isinstance(body, str):
                    return aiohttp.web.Response(status=status, text=body, content_type="text/plain")
                return aiohttp.web.json_response(body, status=status)
        return await super()._handle(request)

    async def _exec(self, raw, pod: str, argv: list[str]):
        ws = aiohttp.web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(raw)
        stdout, stderr, code = self.fake.exec_reply(pod, argv)
        if stdout:
            await ws.send_bytes(b"\x01" + stdout.encode())
        if stderr:
            await ws.send_bytes(b"\x02" + stderr.encode())
        status = {"metadata": {}, "status": "Success"} if code == 0 else {
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
        return ws


class KubeOpsFake:
    """The fake API server. ``routes[(METHOD, path)]`` scripts an answer (a `Reply` or a function
    of the `Seen` request returning one); ``exec_reply(pod, argv) -> (stdout, stderr, code)``
    answers exec; ``seen`` lists every request; ``emulator`` holds the stored objects."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.routes: dict[tuple[str, str], Reply | Callable[[Seen], Reply]] = {("GET", "/version/"): (200, VERSION)}
        self.exec_reply: Callable[[str, list[str]], tuple[str, str, int]] = lambda pod, argv: ("", "no script", 126)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake Kubernetes API did not start")

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        emulator = _Emulator()
        emulator.fake = self
        emulator.resources.load_bundled()
        self.emulator = emulator
        async with kmock.Server(emulator, host="127.0.0.1") as server:
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration(host=self.url)
        configuration.api_key = {"authorization": "dummy"}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)

    def put(self, resource: str, namespace: str | None, obj: dict) -> None:
        """Store an object as if a controller had created or changed it (``resource`` like
        ``v1/pods`` or ``batch/v1/jobs``)."""
        self.emulator.objects[kmock.resource(resource), namespace, obj["metadata"]["name"]] = obj

    def requests(self, method: str, path_part: str = "") -> list[Seen]:
        return [s for s in self.seen if s.method == method and path_part in s.path]

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def running_fake(monkeypatch, sleep_cap: float = 0.02):
    """A fixture body: a started fake, with the client's retry backoff and every poll sleep cut
    short (to ``sleep_cap`` seconds), closed afterwards."""
    import time

    from ftlib.platform.kubernetes import retry

    monkeypatch.setattr(retry, "FIRST_WAIT_SECONDS", 0.001)
    monkeypatch.setattr(retry, "MAX_WAIT_SECONDS", 0.01)
    monkeypatch.setattr(time, "sleep", lambda s: threading.Event().wait(min(s, sleep_cap)))
    server = KubeOpsFake()
    yield server
    server.close()


def status_body(code: int, reason: str, message: str) -> dict:
    """A Kubernetes ``Status`` error body, as the API server sends with 4xx/5xx answers."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def serve_dgd_crd(fake: KubeOpsFake, versions: tuple[str, ...] = ("v1alpha1", "v1beta1")) -> None:
    """API discovery as a cluster with the Dynamo CRD installed serving ``versions`` answers it
    (``()``: a cluster without it)."""
    groups = [{"name": "batch", "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
               "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"}}]
    if versions:
        listed = [{"groupVersion": f"nvidia.com/{v}", "version": v} for v in versions]
        groups.append({"name": "nvidia.com", "versions": listed, "preferredVersion": listed[-1]})
    fake.routes[("GET", "/apis/")] = (200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    for version in versions:
        resources = [{"name": "dynamographdeployments", "singularName": "dynamographdeployment", "namespaced": True,
                      "kind": "DynamoGraphDeployment", "shortNames": ["dgd"],
                      "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]},
                     {"name": "dynamographdeployments/status", "singularName": "", "namespaced": True,
                      "kind": "DynamoGraphDeployment", "verbs": ["get", "patch", "update"]}]
        fake.routes[("GET", f"/apis/nvidia.com/{version}")] = (
            200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"nvidia.com/{version}",
                  "resources": resources})


SSAR = ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")


def serve_access_reviews(fake: KubeOpsFake, denied=()) -> None:
    """SelfSubjectAccessReview answers allowing everything but the (verb, resource[/subresource])
    pairs in ``denied``, as a real API server answers them (the review echoed with a status)."""
    def answer(seen: Seen) -> Reply:
        attributes = seen.data["spec"]["resourceAttributes"]
        resource = attributes["resource"] + (f"/{attributes['subresource']}" if attributes.get("subresource") else "")
        allowed = (attributes["verb"], resource) not in denied
        return 201, {**seen.data, "status": {"allowed": allowed, **({} if allowed else {"reason": ""})}}
    fake.routes[SSAR] = answer


def write_kubeconfig(fake: KubeOpsFake, path, context: str = "fake") -> str:
    """A kubeconfig file pointing at the fake (a dummy bearer token), as kubectl would read it."""
    import yaml

    config = {"apiVersion": "v1", "kind": "Config", "current-context": context,
              "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
              "users": [{"name": "tester", "user": {"token": "dummy"}}],
              "contexts": [{"name": context, "context": {"cluster": "fake", "user": "tester"}}]}
    path.write_text(yaml.safe_dump(config))
    return str(path)
