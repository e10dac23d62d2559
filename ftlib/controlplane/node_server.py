"""The node agent's kubelet server: the endpoints kube-apiserver calls for ``pods/log`` and
``pods/exec``, on 127.0.0.1 over TLS with client certificates (see `ftlib.controlplane.node`).

- ``GET /containerLogs/{namespace}/{pod}/{container}``: ``previous``, ``follow``, ``tailLines``,
  ``sinceSeconds``, ``sinceTime``, ``timestamps``, ``limitBytes`` and ``stream`` as the kubelet
  reads them; errors as the kubelet words them (404 for a pod or container it does not know, 400
  for "previous terminated container … not found" and "… is waiting to start").
- ``GET|POST /exec/{namespace}/{pod}/{container}?command=…``: a WebSocket speaking
  ``v5.channel.k8s.io`` or ``v4.channel.k8s.io``: an empty frame on the first output channel once
  the stream is up, then channel 1 stdout, 2 stderr, 3 a ``Status`` (``Success``; ``Failure`` with
  reason ``NonZeroExitCode`` and an ``ExitCode`` cause; ``InternalError`` when the executable is
  missing), then the close. Channel 0 (stdin) is read and dropped; v5's close signal (255, channel)
  is accepted. A container that is not running answers 500 ``container not found ("main")``
  before the upgrade, as the kubelet does.
- ``GET /healthz``: ``ok``.

Every request is authenticated by its client certificate (CN user, O groups) and authorized with a
SubjectAccessReview (``nodes/proxy``, verb ``get`` or ``create`` by method), as a kubelet with
``--authorization-mode=Webhook`` does; answers are cached (allowed 5 min, denied 30 s).
"""
from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Protocol

import aiohttp
from aiohttp import web

from ftlib.controlplane import node_processes
from ftlib.controlplane.node_pods import LogLine, PodRuntime, utc_now

log = logging.getLogger("ftlib.controlplane.node")

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
FOLLOW_POLL_SECONDS = 0.2
EXEC_POLL_SECONDS = 0.05
STDOUT, STDERR, ERROR = 1, 2, 3
STREAM_CLOSE = 255


@dataclass(frozen=True)
class Caller:
    """Who a request comes from, by its client certificate."""
    user: str
    groups: tuple[str, ...]


class Backend(Protocol):
    """What the server needs of the agent (`ftlib.controlplane.node.NodeAgent` provides it)."""

    def pod(self, namespace: str, name: str) -> PodRuntime | None: ...

    def locked(self, action: Callable): ...

    def authorize(self, caller: Caller, verb: str, subresource: str) -> bool: ...


def tls_context(cert_file: Path, key_file: Path, ca_file: Path) -> ssl.SSLContext:
    """TLS that requires a client certificate signed by ``ca_file``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_file))
    context.load_cert_chain(str(cert_file), str(key_file))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def caller_of(request: web.Request) -> Caller | None:
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    if not cert:
        return None
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    groups = tuple(value for rdn in cert.get("subject", ()) for key, value in rdn if key == "organizationName")
    return Caller(names[0], groups) if names else None


def _error(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


# -- logs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogQuery:
    previous: bool = False
    follow: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since: datetime | None = None
    limit_bytes: int | None = None
    stream: str = "All"

    @classmethod
    def parse(cls, query) -> "LogQuery":
        def flag(name: str) -> bool:
            return query.get(name, "").lower() in ("true", "1")

        def number(name: str) -> int | None:
            value = query.get(name)
            return int(value) if value not in (None, "") else None
        since = None
        if number("sinceSeconds") is not None:
            since = utc_now() - timedelta(seconds=number("sinceSeconds"))
        elif query.get("sinceTime"):
            since = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00"))
        return cls(flag("previous"), flag("follow"), flag("timestamps"), number("tailLines"), since,
                   number("limitBytes"), query.get("stream") or "All")

    def keep(self, line: LogLine) -> bool:
        if self.since is not None and line.when < self.since:
            return False
        return self.stream == "All" or line.stream == self.stream.lower()

    def render(self, line: LogLine) -> str:
        if self.timestamps:
            return f"{line.when.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z {line.text}\n"
        return line.text + "\n"


def log_instance_error(pod: PodRuntime, container: str, previous: bool) -> str:
    """The kubelet's refusal for a log that does not exist yet (or any more), or ""."""
    run = pod.runs[container]
    name = pod.spec.name
    if previous:
        if run.current is not None and run.last is None or run.current is None and run.earlier is None:
            return f'previous terminated container "{container}" in pod "{name}" not found'
        return ""
    if run.current is None and run.last is None:
        return f'container "{container}" in pod "{name}" is waiting to start: {run.waiting or "ContainerCreating"}'
    return ""


def log_instance(pod: PodRuntime, container: str, previous: bool):
    run = pod.runs[container]
    if previous:
        return run.last if run.current is not None else run.earlier
    return run.current or run.last


@dataclass(frozen=True)
class ExecOptions:
    """The streams an exec asks for, by the parameters kube-apiserver passes on (``input``,
    ``output``, ``error``, ``tty``: ``1`` when wanted)."""
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def parse(cls, query) -> "ExecOptions":
        return cls(*(query.get(k) == "1" for k in ("input", "output", "error", "tty")))

    def problem(self) -> str:
        """Why the kubelet would refuse these options ("" when it would not)."""
        if not (self.stdin or self.stdout or self.stderr):
            return "you must specify at least 1 of stdin, stdout, stderr"
        if self.tty and self.stderr:
            return "stdout and stderr cannot both be set with tty"
        return ""

    def first_channel(self) -> int:
        """The channel the kubelet's "stream is up" empty frame goes to: the lowest output one."""
        return STDOUT if self.stdout else STDERR if self.stderr else ERROR


class KubeletServer:
    """The aiohttp application and its routes (see the module docstring)."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.app = web.Application()
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self.container_logs)
        self.app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self.exec)
        self.app.router.add_route("*", "/exec/{namespace}/{pod}/{uid}/{container}", self.exec)
        self.app.router.add_route("*", "/{tail:.*}", self.unknown)

    async def _authorized(self, request: web.Request) -> web.Response | None:
        caller = caller_of(request)
        if caller is None:
            return _error(401, "Unauthorized")
        verb = "get" if request.method in ("GET", "HEAD") else "create"
        allowed = await asyncio.to_thread(self.backend.authorize, caller, verb, "proxy")
        if not allowed:
            return _error(403, f"Forbidden (user={caller.user}, verb={verb}, resource=nodes, subresource=proxy)")
        return None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def unknown(self, request: web.Request) -> web.Response:
        refused = await self._authorized(request)
        return refused or _error(404, "404 page not found: the node agent serves /containerLogs, /exec and /healthz")

    # -- /containerLogs -----------------------------------------------------------------
    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        refused = await self._authorized(request)
        if refused:
            return refused
        namespace, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        try:
            query = LogQuery.parse(request.query)
        except ValueError as error:
            return _error(400, f"invalid log options: {error}")
        pod = self.backend.pod(namespace, name)
        if pod is None:
            return _error(404, f'pod "{name}" does not exist')
        if container not in pod.runs:
            return _error(404, f'container "{container}" not found in pod "{name}"')
        instance, refusal = self.backend.locked(lambda: (log_instance(pod, container, query.previous),
                                                         log_instance_error(pod, container, query.previous)))
        if refusal or instance is None:
            return _error(400, refusal or f'previous terminated container "{container}" in pod "{name}" not found')
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await self._write_log(response, instance, query)
        await response.write_eof()
        return response

    async def _write_log(self, response: web.StreamResponse, instance, query: LogQuery) -> None:
        lines = [line for line in instance.log.lines() if query.keep(line)]
        if query.tail_lines is not None:
            lines = lines[-query.tail_lines:] if query.tail_lines > 0 else []
        sent = 0
        budget = query.limit_bytes
        seen = len(instance.log.lines())
        for line in lines:
            sent = await self._send(response, query.render(line), budget, sent)
            if budget is not None and sent >= budget:
                return
        while query.follow and instance.exit_code is None:
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            fresh = instance.log.lines()
            for line in fresh[seen:]:
                if query.keep(line):
                    sent = await self._send(response, query.render(line), budget, sent)
                    if budget is not None and sent >= budget:
                        return
            seen = len(fresh)
        if query.follow:
            for line in instance.log.lines()[seen:]:
                if query.keep(line):
                    sent = await self._send(response, query.render(line), budget, sent)

    @staticmethod
    async def _send(response: web.StreamResponse, text: str, budget: int | None, sent: int) -> int:
        data = text.encode()
        if budget is not None:
            data = data[:max(0, budget - sent)]
        await response.write(data)
        return sent + len(data)

    # -- /exec --------------------------------------------------------------------------
    async def exec(self, request: web.Request) -> web.StreamResponse:
        refused = await self._authorized(request)
        if refused:
            return refused
        namespace, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        argv = request.query.getall("command", [])
        pod = self.backend.pod(namespace, name)
        if pod is None:
            return _error(404, "pod does not exist")
        options = ExecOptions.parse(request.query)
        if not argv:
            return _error(400, "you must specify at least 1 command")
        if options.problem():
            return _error(400, options.problem())
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return _error(400, "the node agent serves exec over WebSocket only (v5.channel.k8s.io, "
                               "v4.channel.k8s.io); SPDY is not supported")
        if not self.backend.locked(lambda: pod.container_running(container)):
            return _error(500, f'container not found ("{container}")')
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if not any(p in PROTOCOLS for p in offered):
            return _error(400, f"unable to upgrade: none of the requested subprotocols {offered} is supported "
                               f"(the node agent speaks {', '.join(PROTOCOLS)})")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True)
        await ws.prepare(request)
        log.debug("exec in %s/%s/%s: %s (%s)", namespace, name, container, argv, ws.ws_protocol)
        reader = asyncio.create_task(self._drain(ws))
        try:
            await self._run_exec(ws, pod, container, argv, options, reader)
        finally:
            reader.cancel()
            await ws.close()
        return ws

    async def _drain(self, ws: web.WebSocketResponse) -> None:
        """Read (and drop) what the client sends: stdin, resize, v5 close signals; return at its close."""
        async for message in ws:
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                return

    async def _run_exec(self, ws: web.WebSocketResponse, pod: PodRuntime, container: str, argv: list[str],
                        options: ExecOptions, reader: asyncio.Task) -> None:
        await ws.send_bytes(bytes([options.first_channel()]))  # the kubelet's "stream is up" frame
        answer, process = self.backend.locked(lambda: pod.exec(container, argv, time.monotonic()))
        code = answer.exit_code
        if process is not None:
            code = await self._wait_process(pod, process, reader)
            if code is None:
                return
        if answer.stdout and options.stdout:
            await ws.send_bytes(bytes([STDOUT]) + answer.stdout.encode())
        if answer.stderr and (options.stderr or options.tty):
            await ws.send_bytes(bytes([STDOUT if options.tty else STDERR]) + answer.stderr.encode())
        await ws.send_bytes(bytes([ERROR]) + json.dumps(exec_status(argv, code, answer.missing)).encode())

    async def _wait_process(self, pod: PodRuntime, process, reader: asyncio.Task) -> int | None:
        while process.alive:
            if reader.done():  # the client went away: the exec'd process goes with its stream
                self.backend.locked(lambda: process.alive and _kill(process))
                return None
            await asyncio.sleep(EXEC_POLL_SECONDS)
        return process.exit_code


def _kill(process) -> None:
    node_processes.exit_process(process, 128 + node_processes.SIGKILL)


def exec_status(argv: list[str], code: int, missing: str = "") -> dict:
    """The ``Status`` the kubelet writes on the error channel at the end of an exec."""
    if missing:
        message = f"error executing command in container: {missing}"
        return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
                "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command {_go_list(argv)}, "
                       f"exit code {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _go_list(argv: list[str]) -> str:
    return "[" + " ".join(argv) + "]"
