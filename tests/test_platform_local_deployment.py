"""ftlib.platform.local.deployment: the supervisor's Kubernetes semantics, with small stand-in
processes (tests/standin_pod.py, an HTTP server in place of Dynamo) so each test takes seconds.

The stand-ins are real processes started the way pods are (pod launcher, process group, private
network namespace where the machine allows it); only what runs inside the pod is not Dynamo.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftlib.errors import PlatformError
from ftlib.platform.local.deployment import LocalDeployment, http_get
from ftlib.spec import ServiceSpec, get_deployment_spec
from tests.procfs import gone

STANDIN = Path(__file__).resolve().parent / "standin_pod.py"
MODEL = "Qwen/Qwen3-0.6B"


def standin(behaviours: dict[str, str] | None = None):
    """A pod command: the stand-in serving, or behaving as ``behaviours[service]`` says."""
    def command(service: ServiceSpec, port: int) -> list[str]:
        behaviour = (behaviours or {}).get(service.name, "serve")
        return [sys.executable, str(STANDIN), str(port), MODEL, behaviour]
    return command


@pytest.fixture
def deploy(tmp_path):
    made: list[LocalDeployment] = []

    def make(command=None, workers: int = 1, **options) -> LocalDeployment:
        spec = get_deployment_spec("mocker", "agg", workers)
        deployment = LocalDeployment(spec, tmp_path / "out", tmp_path / "card", command=command or standin(), **options)
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        deployment.teardown()


def kinds(deployment: LocalDeployment, pod: str = "") -> list[str]:
    return [e.kind for e in deployment.timeline.entries if not pod or e.pod == pod]


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.05)


def test_a_deployment_becomes_ready_and_its_readiness_flips_on_the_timeline(deploy):
    deployment = deploy()
    deployment.wait_ready(20)
    worker = deployment.pods("decode")[0]
    assert kinds(deployment, worker.name)[:2] == ["pod_created", "pod_ready"]
    assert "deployment_ready" in kinds(deployment)
    deployment.signal_process(worker.name, deployment.processes(worker.name)[0].pid, "SIGKILL")
    wait_until(lambda: kinds(deployment)[-1] == "deployment_ready" and kinds(deployment).count("deployment_ready") == 2)
    after = kinds(deployment)[kinds(deployment).index("deployment_ready") + 1:]
    assert after[0] in ("pod_unready", "container_died") and "deployment_unready" in after


def test_a_killed_container_is_restarted_counted_and_its_log_kept_as_previous(deploy):
    deployment = deploy()
    deployment.wait_ready(20)
    worker = deployment.pods("decode")[0].name
    first_pid = deployment.processes(worker)[0].pid
    deployment.signal_process(worker, first_pid, "SIGKILL")
    wait_until(lambda: "container_restarted" in kinds(deployment, worker))
    deployment.wait_ready(20)
    info = deployment.pods("decode")[0]
    assert (info.name, info.restart_count) == (worker, 1)
    assert deployment.processes(worker)[0].pid != first_pid
    previous = deployment.logs(worker, previous=True)
    assert "exited with code -9" in previous and "standin ready" in previous
    assert "container_died" in kinds(deployment, worker) and "container_restarted" in kinds(deployment, worker)


def test_a_deleted_pod_is_replaced_by_a_new_one(deploy):
    deployment = deploy()
    deployment.wait_ready(20)
    old = deployment.pods("decode")[0].name
    deployment.delete_pod(old, force=True)
    wait_until(lambda: kinds(deployment).count("pod_created") == 3)
    deployment.wait_ready(20)
    new = deployment.pods("decode")
    assert len(new) == 1 and new[0].name != old and new[0].restart_count == 0
    assert [p.name for p in deployment.pods("decode", include_deleted=True) if p.deleted] == [old]


def test_the_proxy_refuses_connections_while_no_frontend_is_ready_and_forwards_when_one_is(deploy):
    deployment = deploy()
    host, port = deployment.frontend_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=2) as early:
        assert early.recv(100) == b""  # closed at once, unanswered: a Service without endpoints
    deployment.wait_ready(20)
    with socket.create_connection((host, int(port)), timeout=2) as client:
        client.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
        answer = b"".join(iter(lambda: client.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.0 200") and MODEL.encode() in answer


def test_a_container_restarting_in_a_loop_fails_the_wait_at_once_with_the_previous_log(deploy):
    deployment = deploy(standin({"decode": "crash"}))
    started = time.monotonic()
    with pytest.raises(PlatformError) as failure:
        deployment.wait_ready(300)
    assert time.monotonic() - started < 30
    message = str(failure.value)
    assert "CrashLoopBackOff" in message and "restarted 3 times" in message
    assert "Unknown arguments specified: --bogus" in message and "previous container" in message


def test_a_dead_supervisor_fails_every_wait_and_action_at_once(deploy):
    calls = []

    def command(service: ServiceSpec, port: int) -> list[str]:
        calls.append(service.name)
        if len(calls) > 1:
            raise RuntimeError("the command of the second pod could not be built")
        return standin()(service, port)

    deployment = deploy(command)
    started = time.monotonic()
    with pytest.raises(PlatformError) as failure:
        deployment.wait_ready(300)
    assert time.monotonic() - started < 5
    assert "supervisor" in str(failure.value) and "could not be built" in str(failure.value)
    assert "_start_container" in str(failure.value)  # the traceback summary names where it died
    for action in (deployment.is_ready, deployment.pods, lambda: deployment.delete_pod("any"),
                   lambda: deployment.update_service("decode", {"A": "1"})):
        with pytest.raises(PlatformError, match="supervisor"):
            action()
    assert deployment.pods(include_deleted=True)  # the record stays readable for evidence


def test_teardown_sends_sigterm_first_and_leaves_no_process(deploy):
    deployment = deploy()
    deployment.wait_ready(20)
    pods = deployment.pods()
    pids = [p.pid for pod in pods for p in deployment.processes(pod.name)]
    started = time.monotonic()
    deployment.teardown()
    assert time.monotonic() - started < 5
    for pod in pods:
        assert "standin got SIGTERM" in deployment.logs(pod.name)
    for pid in pids:
        assert gone(pid)
    assert not deployment.runtime_dir.exists()


def test_pods_survive_the_end_of_the_thread_that_created_the_deployment(deploy):
    import threading

    made = []
    thread = threading.Thread(target=lambda: made.append(deploy()))
    thread.start()
    thread.join()
    deployment = made[0]
    deployment.wait_ready(20)
    time.sleep(0.5)
    assert deployment.is_ready() and all(p.restart_count == 0 for p in deployment.pods())


def test_a_pod_that_ignores_sigterm_is_killed_after_the_teardown_grace(deploy, monkeypatch):
    import ftlib.platform.local.deployment as module

    monkeypatch.setattr(module, "TEARDOWN_GRACE_SECONDS", 1.0)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    deployment = deploy(lambda service, port: [sys.executable, "-c", stubborn])
    wait_until(lambda: len(deployment.pods()) == 2 and all("up" in deployment.logs(p.name) for p in deployment.pods()))
    process = next(p for p in deployment._pods if p.service == "decode").process
    started = time.monotonic()
    deployment.teardown()
    assert 0.9 < time.monotonic() - started < 4
    assert process.returncode == -signal.SIGKILL


def listeners_outside_loopback(pids: set[int]) -> list[str]:
    """``ss -ltnp`` lines of this machine's network where one of ``pids`` listens beyond loopback."""
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    return [line for line in lines if any(f"pid={pid}," in line for pid in pids)
            and not (line.split()[3].startswith("127.") or line.split()[3].startswith("[::1]"))]


def test_pods_run_in_a_private_network_holding_only_loopback_and_are_reached_through_the_proxy(deploy):
    deployment = deploy()
    if not deployment.network_isolated:
        pytest.skip("this machine allows no private network namespace (run as root)")
    deployment.wait_ready(20)
    pods = {pod.name: deployment.processes(pod.name)[0].pid for pod in deployment.pods()}
    for pid in pods.values():
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        interfaces = [line.split(":")[0].strip() for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]]
        assert interfaces == ["lo"]
    # the stand-ins bind 0.0.0.0 as Dynamo's publishers do: nothing of it shows on this machine's network
    assert listeners_outside_loopback(set(pods.values())) == []
    worker = deployment._pod(deployment.pods("decode")[0].name)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", worker.port), timeout=1).close()
    assert deployment.metrics(worker.name) == "standin_up 1\n"


def test_without_network_isolation_pods_share_this_machines_loopback(deploy):
    deployment = deploy(network_isolation="off")
    deployment.wait_ready(20)
    worker = deployment._pod(deployment.pods("decode")[0].name)
    assert not deployment.network_isolated
    socket.create_connection(("127.0.0.1", worker.port), timeout=1).close()
    assert listeners_outside_loopback({worker.process.pid})  # the stand-in's 0.0.0.0 listener is visible


def test_an_unknown_network_isolation_setting_is_refused_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_NETNS", "maybe")
    with pytest.raises(PlatformError, match="FT_NETNS must be one of auto, on, off"):
        LocalDeployment(get_deployment_spec("mocker", "agg", 1), tmp_path, tmp_path, command=standin())


HOLDER = """
import sys, time
from pathlib import Path
from ftlib import evidence
from ftlib.platform.local.deployment import LocalDeployment, http_get
from ftlib.spec import get_deployment_spec
sys.path.insert(0, {tests!r})
from test_platform_local_deployment import standin
out = evidence.allow(Path({out!r}))
deployment = LocalDeployment(get_deployment_spec("mocker", "agg", 1), out, out, command=standin())
deployment.wait_ready(20)
print(" ".join(str(pod.process.pid) for pod in deployment._pods), flush=True)
if {linger}:
    time.sleep(60)
"""


def run_holder(tmp_path: Path, linger: bool) -> tuple[subprocess.Popen, list[int]]:
    """A Python process that deploys stand-ins and prints their pids (then lingers or just exits)."""
    code = HOLDER.format(tests=str(Path(__file__).parent), out=str(tmp_path / "held"), linger=linger)
    env = dict(os.environ, TMPDIR=str(tmp_path))  # a killed holder cannot remove its runtime folder
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    return holder, [int(pid) for pid in holder.stdout.readline().split()]


def test_no_pod_outlives_a_killed_python_process(tmp_path):
    holder, pids = run_holder(tmp_path, linger=True)
    assert len(pids) == 2 and not any(gone(pid) for pid in pids)
    holder.kill()
    holder.wait()
    wait_until(lambda: all(gone(pid) for pid in pids), timeout=5)


def test_a_python_process_that_exits_without_teardown_stops_its_pods_gracefully(tmp_path):
    holder, pids = run_holder(tmp_path, linger=False)
    assert holder.wait(timeout=20) == 0
    assert all(gone(pid) for pid in pids)
    logs = [path.read_text() for path in (tmp_path / "held").rglob("*.log")]
    assert len(logs) == 2 and all("standin got SIGTERM" in text for text in logs)


@pytest.mark.e2e
def test_a_running_dynamo_deployment_listens_on_nothing_beyond_loopback(tmp_path):
    """Real frontend and mocker workers: Dynamo's ZMQ publishers bind 0.0.0.0, but only inside the
    deployment's private network; on this machine's network only the proxy listens, on loopback."""
    from ftlib.platform.local import LocalPlatform

    deployment = LocalPlatform().deploy(get_deployment_spec("mocker", "agg", 2), tmp_path)
    try:
        if not deployment.network_isolated:
            pytest.skip("this machine allows no private network namespace (run as root)")
        deployment.wait_ready(120)
        pids = {p.pid for pod in deployment.pods() for p in deployment.processes(pod.name)}
        assert listeners_outside_loopback(pids | {os.getpid()}) == []
        inside = subprocess.run(["nsenter", f"--net=/proc/{min(pids)}/ns/net", "ss", "-ltnH"],
                                capture_output=True, text=True, check=True).stdout
        assert "0.0.0.0:" in inside  # what the namespace hides: Dynamo's publishers
        status, _ = http_get(int(deployment.frontend_url.rsplit(":", 1)[1]), "/v1/models", timeout=5)
        assert status == 200  # through the proxy on this machine's loopback
    finally:
        deployment.teardown()
