"""List-then-watch over the raw JSON API, for the stand-ins (objects stay JSON: the official
client's models would drop fields it does not know, such as the Node's ``declaredFeatures``).

`ListWatch` lists a collection, hands every object to its callback, then watches from the list's
``resourceVersion``. A watch that ends (server timeout) resumes from the last version seen; a
``410 Gone`` (the version was compacted away) lists again, and the callback sees the fresh list as
``SYNC`` events so nothing is missed; other errors are retried after `RETRY_SECONDS`. `stop`
closes the open response, so a blocked read ends at once.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Callable

from kubernetes import client

RETRY_SECONDS = 1.0
WATCH_SECONDS = 60


@dataclass(frozen=True)
class WatchEvent:
    """``type``: SYNC (one object of a list), LISTED (after a list: ``object["items"]`` holds all
    of them, so objects gone meanwhile can be forgotten), ADDED, MODIFIED or DELETED; ``object``:
    the object as JSON."""
    type: str
    object: dict


def request_json(api: client.ApiClient, method: str, path: str, query: list | None = None, body=None,
                 content_type: str = "application/json") -> dict:
    """One API call answered with JSON (raises `kubernetes.client.ApiException` on an error status)."""
    response = api.call_api(path, method, query_params=query or [], body=body,
                            header_params={"Accept": "application/json", "Content-Type": content_type},
                            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                            _request_timeout=30)
    data = response.data
    return json.loads(data) if data else {}


class ListWatch:
    """Watch ``path`` (a collection, e.g. ``/api/v1/pods``) with ``query`` (selectors) in a thread."""

    def __init__(self, api: client.ApiClient, path: str, query: list, on_event: Callable[[WatchEvent], None],
                 name: str, log: logging.Logger):
        self.api, self.path, self.query, self.on_event, self.log = api, path, list(query), on_event, log
        self._stop = threading.Event()
        self._response = None
        self._lock = threading.Lock()
        self.synced = threading.Event()
        self.relists = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # noqa: BLE001 - already closed
                pass
        self._thread.join(timeout)

    def _run(self) -> None:
        version = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
            except client.ApiException as error:
                if self._stop.is_set():
                    return
                if error.status == 410:
                    self.log.info("watch of %s: 410 Gone, listing again", self.path)
                    self.relists += 1
                    version = None
                    continue
                self.log.warning("watch of %s: %s %s", self.path, error.status, error.reason)
                self._stop.wait(RETRY_SECONDS)
            except Exception as error:  # noqa: BLE001 - a dropped connection: try again
                if self._stop.is_set():
                    return
                self.log.debug("watch of %s: %s", self.path, error)
                self._stop.wait(RETRY_SECONDS)

    def _list(self) -> str:
        listing = request_json(self.api, "GET", self.path, self.query)
        items = listing.get("items") or []
        for item in items:
            self.on_event(WatchEvent("SYNC", item))
        self.on_event(WatchEvent("LISTED", {"items": items}))
        self.synced.set()
        return listing["metadata"]["resourceVersion"]

    def _watch(self, version: str) -> str:
        query = self.query + [("watch", "true"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
                              ("timeoutSeconds", str(WATCH_SECONDS))]
        response = self.api.call_api(self.path, "GET", query_params=query, header_params={"Accept": "application/json"},
                                     auth_settings=["BearerToken"], _preload_content=False,
                                     _return_http_data_only=True, _request_timeout=(10, WATCH_SECONDS + 15))
        with self._lock:
            self._response = response
            stopping = self._stop.is_set()  # stop() ran before the response existed: it could not shut it
        try:
            buffer = b""
            if stopping:
                return version
            for chunk in response.stream(4096, decode_content=True):
                if self._stop.is_set():
                    break
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        version = self._event(json.loads(line), version)
        finally:
            with self._lock:
                self._response = None
            response.release_conn()
        return version

    def _event(self, event: dict, version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise client.ApiException(status=obj.get("code") or 500, reason=obj.get("message") or "watch error")
        new_version = (obj.get("metadata") or {}).get("resourceVersion") or version
        if kind != "BOOKMARK":
            self.on_event(WatchEvent(kind, obj))
        return new_version
