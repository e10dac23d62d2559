"""Calls to the Kubernetes API, retried only when trying again can help.

`call_api` retries a connection error, ``429 Too Many Requests`` and any ``5xx`` with
exponential backoff (honouring ``Retry-After``), and gives up after `ATTEMPTS` tries. It never
retries ``4xx`` answers such as 404 (not found), 409 (conflict) or 422 (invalid): those are
verdicts of the API server, and repeating the call changes nothing. `explain` turns an
`ApiException` into one sentence naming the verb, the resource and what to do (a 403 points at
``deploy/rbac.yaml``).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, TypeVar

import tenacity
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("ftlib.platform.kubernetes")
T = TypeVar("T")
ATTEMPTS = 6
MAX_WAIT_SECONDS = 8.0
FIRST_WAIT_SECONDS = 0.2
_CONNECTION_ERRORS = (ConnectionError, TimeoutError, urllib3.exceptions.HTTPError)


def is_transient(error: BaseException) -> bool:
    """True for errors worth trying again: no connection, throttling (429), server errors (5xx)."""
    if isinstance(error, ApiException):
        status = error.status or 0
        return status == 429 or status >= 500 or status == 0 and _is_connection_reason(error)
    return isinstance(error, _CONNECTION_ERRORS)


def _is_connection_reason(error: ApiException) -> bool:
    """A websocket (exec) call that could not connect; a refused handshake (the server answered
    4xx, e.g. the container is not running) is a verdict, not a connection error."""
    reason = str(error.reason or "")
    return "Handshake status" not in reason and "connection" in reason.lower()


def retry_after(error: BaseException | None) -> float | None:
    """The seconds a 429/503 answer's ``Retry-After`` header asks for, if any."""
    headers = getattr(error, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _wait(state: tenacity.RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome is not None else None
    asked = retry_after(error)
    backoff = FIRST_WAIT_SECONDS * 2 ** (state.attempt_number - 1)
    return min(MAX_WAIT_SECONDS, asked if asked is not None else backoff)


def _log_retry(state: tenacity.RetryCallState, attempts: int = ATTEMPTS) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning("kubernetes API call %s failed (%s); retrying (attempt %d of %d)",
                getattr(state.fn, "__name__", state.fn), short_reason(error), state.attempt_number, attempts)


def call_api(fn: Callable[..., T], *args: Any, attempts: int = ATTEMPTS, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, retried on connection errors, 429 and 5xx only (never on 4xx), up
    to ``attempts`` tries in all."""
    retrying = tenacity.Retrying(retry=tenacity.retry_if_exception(is_transient),
                                 stop=tenacity.stop_after_attempt(attempts), wait=_wait,
                                 before_sleep=lambda state: _log_retry(state, attempts), reraise=True)
    return retrying(fn, *args, **kwargs)


def status_of(error: ApiException) -> dict:
    """The ``Status`` object the API server sent with an error ({} if the body is not one)."""
    try:
        body = json.loads(error.body) if error.body else {}
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def short_reason(error: BaseException | None) -> str:
    if isinstance(error, ApiException):
        status = status_of(error)
        return f"{error.status} {status.get('reason') or error.reason}: {status.get('message') or ''}".rstrip(": ")
    return repr(error)


def explain(error: ApiException, verb: str, resource: str, namespace: str | None = None) -> str:
    """One sentence for the user: what was refused and what to do about it."""
    where = f" in namespace {namespace!r}" if namespace else ""
    reason = short_reason(error)
    if error.status == 401:
        return (f"the Kubernetes API refused the credentials to {verb} {resource}{where} ({reason}); "
                "check KUBECONFIG, -D kube_context and that the token has not expired")
    if error.status == 403:
        return (f"not allowed to {verb} {resource}{where} ({reason}); the suite needs the Role in "
                f"deploy/rbac.yaml: kubectl apply -n {namespace or '<namespace>'} -f deploy/rbac.yaml "
                "and bind it to your user or service account")
    if error.status == 404:
        return f"{resource}{where} was not found ({reason})"
    return f"could not {verb} {resource}{where}: {reason}"
