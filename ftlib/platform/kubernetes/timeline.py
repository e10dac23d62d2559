"""The timeline of a DGD's pods, from a pod watch: the same entry kinds as the local platform,
so `WaitForRecovery`, the recovery checks and the fault tolerance report work unchanged.

`transitions` is pure: what changed between two observations of one pod. `PodWatch` is the thin
I/O around it: a list (keeping its ``resourceVersion``), then a watch from there; when the API
server answers ``410 Gone`` (the version is too old) it lists again and diffs, so nothing seen
in between is lost.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import urllib3.exceptions
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from ftlib.platform.kubernetes.readiness import is_terminating, pod_ready
from ftlib.platform.kubernetes.retry import call_api, short_reason
from ftlib.platform.kubernetes.selectors import service_of

log = logging.getLogger("ftlib.platform.kubernetes")
MAIN_CONTAINER = "main"


@dataclass(frozen=True)
class PodState:
    """What the timeline compares between two observations of a pod."""

    name: str
    service: str
    ready: bool
    restarts: int
    dead: bool  # the main container is not running (terminated, or waiting after a termination)
    last_exit: str  # "exit code 137 (Error)" of the last terminated container, or ""
    terminating: bool


def main_container(pod: dict) -> dict:
    """The status of the pod's main container (the one named ``main``, else the first)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((c for c in statuses if c.get("name") == MAIN_CONTAINER), statuses[0] if statuses else {})


def pod_state(pod: dict) -> PodState:
    container = main_container(pod)
    state = container.get("state") or {}
    terminated = state.get("terminated") or (container.get("lastState") or {}).get("terminated") or {}
    last_exit = f"exit code {terminated.get('exitCode')} ({terminated.get('reason') or 'no reason'})" if terminated else ""
    dead = bool(state.get("terminated")) or (bool(state.get("waiting")) and int(container.get("restartCount") or 0) > 0)
    return PodState(pod["metadata"]["name"], service_of(pod), pod_ready(pod), int(container.get("restartCount") or 0),
                    dead, last_exit, is_terminating(pod))


def transitions(old: PodState | None, new: PodState | None) -> list[tuple[str, str]]:
    """Timeline entries (kind, detail) for a pod going from ``old`` to ``new`` (None: absent)."""
    if new is None:
        return [] if old is None or old.terminating else [("pod_deleted", "gone")]
    if old is None:
        entries = [("pod_created", "")]
        if new.terminating:
            return entries + [("pod_deleted", "terminating")]
        return entries + ([("pod_ready", "")] if new.ready else [])
    entries = []
    if new.terminating and not old.terminating:
        return [("pod_deleted", "terminating")]
    if new.terminating:
        return []
    restarted = new.restarts > old.restarts
    if (new.dead and not old.dead) or (restarted and not old.dead):
        entries.append(("container_died", new.last_exit))
    if restarted and not new.dead:
        entries.append(("container_restarted", f"restart {new.restarts}"))
    if new.ready != old.ready:
        entries.append(("pod_ready" if new.ready else "pod_unready", ""))
    return entries


def parse_time_ns(text: str | None) -> int | None:
    """An RFC 3339 timestamp of the API (``2026-11-27T05:40:00Z``) in ns since the epoch."""
    if not text:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e9)


class PodWatch:
    """Watches the pods a label selector picks and calls ``on_event(type, pod)`` for each change:
    ``ADDED``/``MODIFIED``/``DELETED`` as the API sends them, and after a re-list, ``ADDED`` or
    ``MODIFIED`` for every pod listed and ``DELETED`` for every known pod no longer there.
    ``on_tick()`` runs after every batch and at least every ``watch_seconds``."""

    def __init__(self, core: client.CoreV1Api, namespace: str, selector: str,
                 on_event: Callable[[str, dict], None], on_tick: Callable[[], None], watch_seconds: int = 2):
        self.core, self.namespace, self.selector = core, namespace, selector
        self.on_event, self.on_tick = on_event, on_tick
        self.watch_seconds = watch_seconds
        self.resource_version: str | None = None
        self.relists = 0
        self.known: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"pod-watch-{self.selector}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()  # ends the blocked read of a watch at once (urllib3 >= 2.3)
            except Exception:  # noqa: BLE001 - the watch ends by its own timeout anyway
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.watch_seconds + 10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self.relist()
                self.watch_once()
            except ApiException as error:
                if error.status == 410:
                    log.info("pod watch: resourceVersion %s expired (410 Gone); listing again", self.resource_version)
                    self.resource_version = None
                else:
                    log.warning("pod watch: %s", short_reason(error))
                    self._stop.wait(1.0)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                log.debug("pod watch ended: %s", error)  # a read timeout ends a watch; go on from the version
            except Exception:  # noqa: BLE001 - the watch must keep running; the tick reports state
                log.exception("pod watch failed")
                self._stop.wait(1.0)
            try:
                self.on_tick()
            except Exception:  # noqa: BLE001
                log.exception("pod watch: evaluating readiness failed")

    def relist(self) -> None:
        response = call_api(self.core.list_namespaced_pod, self.namespace, label_selector=self.selector,
                            _preload_content=False, _request_timeout=30)
        listing = json.loads(response.data)
        seen = set()
        for pod in listing.get("items") or []:
            name = pod["metadata"]["name"]
            seen.add(name)
            self.on_event("MODIFIED" if name in self.known else "ADDED", pod)
        for name in sorted(self.known - seen):
            self.on_event("DELETED", {"metadata": {"name": name}})
        self.known = seen
        self.relists += 1
        self.resource_version = (listing.get("metadata") or {}).get("resourceVersion")

    def watch_once(self) -> None:
        kwargs = {"label_selector": self.selector, "watch": True, "timeout_seconds": self.watch_seconds,
                  "allow_watch_bookmarks": True, "_preload_content": False,
                  "_request_timeout": (5, self.watch_seconds + 3)}
        if self.resource_version:
            kwargs["resource_version"] = self.resource_version
        response = self._response = call_api(self.core.list_namespaced_pod, self.namespace, **kwargs)
        try:
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    return
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise ApiException(status=410, reason=obj.get("message") or "Gone")
                    raise ApiException(status=obj.get("code") or 500, reason=obj.get("message") or "watch error")
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if version:
                    self.resource_version = version
                if kind == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if kind == "DELETED":
                    self.known.discard(name)
                else:
                    self.known.add(name)
                self.on_event(kind, obj)
                self.on_tick()
        finally:
            self._response = None
            response.release_conn()
