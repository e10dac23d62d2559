"""Which Kubernetes API errors are retried: connection errors, 429 and 5xx, never 4xx verdicts."""

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from ftlib.platform.kubernetes import retry


@pytest.fixture(autouse=True)
def fast_waits(monkeypatch):
    monkeypatch.setattr(retry, "FIRST_WAIT_SECONDS", 0.001)


def failing(errors):
    calls = []

    def call():
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"
    return call, calls


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried(status):
    call, calls = failing([ApiException(status=status), ApiException(status=status)])
    assert retry.call_api(call) == "ok"
    assert len(calls) == 3


def test_a_refused_connection_is_retried():
    call, calls = failing([urllib3.exceptions.MaxRetryError(None, "/api", "refused")])
    assert retry.call_api(call) == "ok"
    assert len(calls) == 2


@pytest.mark.parametrize("status", [400, 403, 404, 409, 410, 422])
def test_client_errors_are_raised_at_once(status):
    call, calls = failing([ApiException(status=status)])
    with pytest.raises(ApiException):
        retry.call_api(call)
    assert len(calls) == 1


def test_retries_stop_after_the_last_attempt():
    call, calls = failing([ApiException(status=503)] * 10)
    with pytest.raises(ApiException):
        retry.call_api(call)
    assert len(calls) == retry.ATTEMPTS


def test_retry_after_header_is_honoured_up_to_the_cap():
    error = ApiException(status=429)
    error.headers = {"Retry-After": "2"}
    assert retry.retry_after(error) == 2.0


def test_a_403_is_explained_with_the_verb_resource_and_the_role_to_apply():
    error = ApiException(status=403, reason="Forbidden")
    error.body = ('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,'
                  '"message":"pods \\"x\\" is forbidden: User \\"u\\" cannot create resource \\"pods/exec\\""}')
    text = retry.explain(error, "exec into", "pods/exec", "ft")
    assert "not allowed to exec into pods/exec in namespace 'ft'" in text
    assert "deploy/rbac.yaml" in text and "cannot create resource" in text


def test_a_refused_exec_handshake_is_a_verdict_and_a_failed_websocket_connection_is_retried():
    refused = ApiException(status=0, reason="Handshake status 400 Bad Request -+-+- {'connection': 'close'}")
    unreachable = ApiException(status=0, reason="[Errno 111] Connection refused")

    assert not retry.is_transient(refused)
    assert retry.is_transient(unreachable)
