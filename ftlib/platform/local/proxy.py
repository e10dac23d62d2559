"""A loopback TCP proxy standing in for a Kubernetes Service in front of the frontend pods.

Each new client connection goes to the next ready backend (round robin). When no backend is
ready the connection is closed at once, as a Service without endpoints refuses it. When a
backend dies, the connections it carried are cut, as they would be in a cluster.

The proxy listens on this machine's loopback; it reaches the backends through sockets made by
``connect_socket`` (by default plain ones), so the pods may live in a network namespace of their
own (see `ftlib.platform.local.netns`).
"""

from __future__ import annotations

import itertools
import socket
import threading
from typing import Callable


def connect(make_socket: Callable[[], socket.socket], port: int, timeout: float) -> socket.socket:
    """A socket from ``make_socket`` connected to ``127.0.0.1:port`` (closed again on failure)."""
    sock = make_socket()
    try:
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


class ServiceProxy:
    def __init__(self, backends: Callable[[], list[int]], host: str = "127.0.0.1",
                 connect_socket: Callable[[], socket.socket] = socket.socket):
        self._backends = backends
        self._connect_socket = connect_socket
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._counter = itertools.count()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        ports = self._backends()
        upstream = None
        if ports:
            port = ports[next(self._counter) % len(ports)]
            try:
                upstream = connect(self._connect_socket, port, timeout=2)
                upstream.settimeout(None)
            except OSError:
                upstream = None
        if upstream is None:
            client.close()
            return
        with self._lock:
            self._sockets.update((client, upstream))
        pump = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        pump.start()
        self._pump(client, upstream)
        pump.join()
        with self._lock:
            self._sockets.difference_update((client, upstream))
        for sock in (client, upstream):
            sock.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=2)
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
