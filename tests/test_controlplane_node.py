"""The node agent (ftlib.controlplane.node) against a real kube-apiserver, kube-scheduler and
kube-controller-manager: the Node it registers, the pods the real scheduler binds to it, exec and
logs going through the API server to its kubelet server, graceful deletion and Job pods."""

from __future__ import annotations

import json
import socket
import ssl
import time
import uuid

import pytest
from kubernetes import client

from tests.polling import eventually
from ftlib.controlplane import node_pods, node_processes as procs
from ftlib.controlplane.cluster import NAMESPACE
from ftlib.controlplane.node import check_declared_features, pod_grace, restarts_in
from ftlib.controlplane.node_server import exec_status
from ftlib.platform.kubernetes.deployment import exit_status
from ftlib.platform.kubernetes.jobs import exec_in_pod
from ftlib.platform.kubernetes.log_tee import wrap_command
from ftlib.platform.kubernetes.procs import PS_ARGV, parse_ps

from tests.controlplane_standins import NODE, agent, plane  # noqa: F401 - fixtures

ENGINE = ["python3", "-m", "dynamo.mocker", "--model-path", "Qwen/Qwen3-0.6B"]


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def core(plane, agent):
    return client.CoreV1Api(plane.api_client())


def pod_body(name: str, command: list[str], *, share: bool = True, grace: int | None = None, restart: str = "Always",
             wrap: bool = True, **container) -> dict:
    main = {"name": "main", "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.9.0",
            "command": wrap_command(command) if wrap else command,
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}], **container}
    spec = {"containers": [main], "shareProcessNamespace": share, "restartPolicy": restart,
            "automountServiceAccountToken": False}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"test": "node-agent"}}, "spec": spec}


def wait_for(what: str, check, timeout: float = 30.0, every: float = 0.2):
    return eventually(check, timeout, every, what)


def ready(core, name: str) -> client.V1Pod | None:
    pod = core.read_namespaced_pod(name, NAMESPACE)
    conditions = {c.type: c.status for c in pod.status.conditions or []}
    return pod if conditions.get("Ready") == "True" else None


def make_pod(core, body: dict) -> str:
    name = body["metadata"]["name"] = f"{body['metadata']['name']}-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_pod(NAMESPACE, body)
    return name


def gone(core, name: str) -> bool:
    try:
        core.read_namespaced_pod(name, NAMESPACE)
    except client.ApiException as error:
        return error.status == 404
    return False


def processes(core, name: str):
    result = exec_in_pod(core, NAMESPACE, name, PS_ARGV, "main", timeout=20)
    return parse_ps(result.stdout), result


# -- the Node -----------------------------------------------------------------------------------
def test_the_node_registers_with_gpus_its_kubelet_port_and_the_websocket_feature_and_renews_its_lease(plane, agent, core):
    node = wait_for("the node-lifecycle-controller to lift the not-ready taint",
                    lambda: (n := json.loads(core.read_node(NODE, _preload_content=False).data))
                    and not n["spec"].get("taints") and n)
    status = node["status"]
    assert status["capacity"]["nvidia.com/gpu"] == "8" and status["allocatable"]["nvidia.com/gpu"] == "8"
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == agent.port
    assert {a["type"]: a["address"] for a in status["addresses"]} == {"InternalIP": "127.0.0.1", "Hostname": NODE}
    assert check_declared_features(node) and agent.declared_features_kept
    assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"
    assert not node["spec"].get("taints")
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    lease = client.CoordinationV1Api(plane.api_client()).read_namespaced_lease(NODE, "kube-node-lease")
    assert lease.spec.holder_identity == NODE and lease.spec.lease_duration_seconds == 40
    assert lease.metadata.owner_references[0].kind == "Node"


def test_the_kubelet_server_listens_on_loopback_and_refuses_a_client_without_a_certificate(agent):
    context = ssl.create_default_context(cafile=str(agent.ca_file))
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if not tls.recv(100):
                    raise ConnectionResetError("closed")


# -- pods -----------------------------------------------------------------------------------------
def test_a_pod_bound_by_the_real_scheduler_runs_and_becomes_ready_with_a_kubelet_status(core):
    name = make_pod(core, pod_body("ready", ENGINE))
    pod = wait_for("the pod to be Ready", lambda: ready(core, name))
    assert pod.spec.node_name == NODE  # bound by kube-scheduler: the body had no nodeName
    assert pod.status.phase == "Running" and pod.status.start_time is not None
    assert pod.status.pod_ip.startswith("127.") and pod.status.host_ip == "127.0.0.1"
    types = {c.type for c in pod.status.conditions}
    assert {"PodScheduled", "Initialized", "ContainersReady", "Ready", "PodReadyToStartContainers"} <= types
    main = pod.status.container_statuses[0]
    assert main.ready and main.started and main.restart_count == 0 and main.state.running.started_at
    assert main.image == "nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.9.0" and "@sha256:" in main.image_id
    assert main.container_id.startswith("simulated://")
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_ps_through_the_api_server_shows_pause_the_engine_the_wrapper_execd_and_its_tee(core):
    name = make_pod(core, pod_body("ps", ENGINE))
    wait_for("Ready", lambda: ready(core, name))
    found, result = processes(core, name)
    assert result.returncode == 0 and result.stdout.startswith("  PID STAT COMMAND\n")
    commands = {p.command: p for p in found}
    assert commands["/pause"].pid == 1
    engine = commands[" ".join(ENGINE)]
    assert engine.is_main and engine.pid > 1 and engine.state == "S"
    assert any(c.startswith("tee -a ") and c.endswith(".log") for c in commands)
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_kill_s_kill_through_the_api_server_restarts_the_container_with_restart_count_1_and_last_state_137(core):
    name = make_pod(core, pod_body("kill", ENGINE))
    wait_for("Ready", lambda: ready(core, name))
    before, _ = processes(core, name)
    engine = next(p for p in before if p.is_main)
    result = exec_in_pod(core, NAMESPACE, name, ["kill", "-s", "KILL", str(engine.pid)], "main")
    assert result.returncode == 0
    pod = wait_for("the restart", lambda: (p := ready(core, name)) and p.status.container_statuses[0].restart_count == 1 and p)
    status = pod.status.container_statuses[0]
    assert status.last_state.terminated.exit_code == 137 and status.last_state.terminated.reason == "Error"
    assert status.last_state.terminated.started_at and status.last_state.terminated.finished_at
    after, _ = processes(core, name)
    assert next(p for p in after if p.is_main).pid != engine.pid
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_pods_log_previous_is_a_400_before_a_restart_and_the_dead_containers_log_after_it(core):
    name = make_pod(core, pod_body("logs", ENGINE))
    wait_for("Ready", lambda: ready(core, name))
    with pytest.raises(client.ApiException) as refused:
        core.read_namespaced_pod_log(name, NAMESPACE, container="main", previous=True)
    assert refused.value.status == 400 and "previous terminated container" in refused.value.body
    engine = next(p for p in processes(core, name)[0] if p.is_main)
    exec_in_pod(core, NAMESPACE, name, ["kill", "-s", "TERM", str(engine.pid)], "main")
    pod = wait_for("the restart", lambda: (p := ready(core, name)) and p.status.container_statuses[0].restart_count == 1 and p)
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 0  # graceful: the engine exits 0
    previous = core.read_namespaced_pod_log(name, NAMESPACE, container="main", previous=True)
    assert f"[{engine.pid}]: simulated process started: {' '.join(ENGINE)}" in previous
    assert "received SIGTERM" in previous and "exited with code 0" in previous
    current = core.read_namespaced_pod_log(name, NAMESPACE, container="main", timestamps=True, tail_lines=1)
    assert current.count("\n") == 1 and current[:4].isdigit() and f"[{engine.pid}]" not in current
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_sigstop_and_sigcont_through_exec_show_the_engine_stopped_then_running(core):
    name = make_pod(core, pod_body("freeze", ENGINE))
    wait_for("Ready", lambda: ready(core, name))
    engine = next(p for p in processes(core, name)[0] if p.is_main)
    exec_in_pod(core, NAMESPACE, name, ["kill", "-s", "STOP", str(engine.pid)], "main")
    assert next(p for p in processes(core, name)[0] if p.pid == engine.pid).state == "T"
    exec_in_pod(core, NAMESPACE, name, ["kill", "-s", "CONT", str(engine.pid)], "main")
    assert next(p for p in processes(core, name)[0] if p.pid == engine.pid).state == "S"
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_pid_1_ignores_sigkill_sent_from_inside_its_namespace(core):
    name = make_pod(core, pod_body("pid1", ENGINE, share=False, wrap=False))
    wait_for("Ready", lambda: ready(core, name))
    found, _ = processes(core, name)
    assert [p.pid for p in found if p.is_main] == [1]
    assert exec_in_pod(core, NAMESPACE, name, ["kill", "-s", "KILL", "1"], "main").returncode == 0
    time.sleep(1.0)
    pod = core.read_namespaced_pod(name, NAMESPACE)
    assert pod.status.container_statuses[0].restart_count == 0 and pod.status.container_statuses[0].ready
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_exec_of_a_program_missing_from_the_image_fails_as_the_container_runtime_says(core):
    name = make_pod(core, pod_body("missing", ENGINE))
    wait_for("Ready", lambda: ready(core, name))
    from kubernetes.stream import stream

    ws = stream(core.connect_get_namespaced_pod_exec, name, NAMESPACE, command=["cat", "/etc/hostname"],
                container="main", stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    ws.run_forever(timeout=20)
    code, message = exit_status(ws.read_channel(3))
    ws.close()
    assert code == 127 and "executable file not found in $PATH" in message
    failed = exec_in_pod(core, NAMESPACE, name, ["kill", "-s", "TERM", "4242"], "main")
    assert failed.returncode == 1 and "No such process" in failed.stderr
    unknown = exec_in_pod(core, NAMESPACE, name, ["python3", "-c", "print(1)"], "main")
    assert unknown.returncode == 1 and "NotImplementedError: the dynamo-ft node agent runs no Python" in unknown.stderr
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


# -- deletion -----------------------------------------------------------------------------------
def test_graceful_deletion_of_a_pid_1_that_ignores_sigterm_takes_the_whole_termination_grace_period(core):
    name = make_pod(core, pod_body("grace", ["sleep", "3600"], share=False, wrap=False, grace=3))
    wait_for("Ready", lambda: ready(core, name))
    started = time.monotonic()
    core.delete_namespaced_pod(name, NAMESPACE)
    wait_for("the pod to go", lambda: gone(core, name), timeout=20, every=0.1)
    took = time.monotonic() - started
    assert 3.0 <= took < 6.0, took


def test_graceful_deletion_of_an_engine_ends_soon_after_sigterm_and_writes_the_terminal_status(core):
    name = make_pod(core, pod_body("term", ENGINE, grace=30))
    wait_for("Ready", lambda: ready(core, name))
    seen = []
    started = time.monotonic()
    core.delete_namespaced_pod(name, NAMESPACE)

    def watch_it():
        try:
            pod = core.read_namespaced_pod(name, NAMESPACE)
        except client.ApiException:
            return True
        seen.append(pod.status.phase)
        return False
    wait_for("the pod to go", watch_it, timeout=20, every=0.05)
    assert time.monotonic() - started < 5.0
    assert seen and seen[-1] in ("Running", "Succeeded")


def test_a_job_whose_pod_runs_sleep_1_is_marked_complete_by_the_real_job_controller(plane, core):
    batch = client.BatchV1Api(plane.api_client())
    name = f"sleep-{uuid.uuid4().hex[:6]}"
    batch.create_namespaced_job(NAMESPACE, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "automountServiceAccountToken": False,
            "containers": [{"name": "c", "image": "busybox:1.36.1", "command": ["sleep", "1"]}]}}}})
    started = time.monotonic()
    job = wait_for("the Job to complete", lambda: (j := batch.read_namespaced_job(name, NAMESPACE)).status.succeeded and j,
                   timeout=60)
    assert time.monotonic() - started >= 1.0
    assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)
    pod = core.list_namespaced_pod(NAMESPACE, label_selector=f"job-name={name}").items[0]
    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Succeeded" and terminated.exit_code == 0 and terminated.reason == "Completed"
    assert pod.status.container_statuses[0].image == "docker.io/library/busybox:1.36.1"
    batch.delete_namespaced_job(name, NAMESPACE, propagation_policy="Background")


def test_a_pod_whose_claim_is_not_bound_waits_in_container_creating(core):
    claim = f"unbound-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_persistent_volume_claim(NAMESPACE, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "no-such-class",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    body = pod_body("waits", ENGINE)
    body["spec"]["nodeName"] = NODE  # the scheduler would keep it: its claim is unbound
    body["spec"]["volumes"] = [{"name": "logs", "persistentVolumeClaim": {"claimName": claim}}]
    name = make_pod(core, body)
    time.sleep(2.0)
    pod = core.read_namespaced_pod(name, NAMESPACE)
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    core.delete_namespaced_pod(name, NAMESPACE)
    wait_for("the waiting pod to go", lambda: gone(core, name), timeout=20)
    core.delete_namespaced_persistent_volume_claim(claim, NAMESPACE)


# -- pure functions -------------------------------------------------------------------------------
def test_the_exec_status_of_a_non_zero_exit_is_what_the_suite_and_the_python_client_parse():
    status = exec_status(["kill", "-s", "KILL", "7"], 1)
    assert exit_status(json.dumps(status)) == (1, "")
    assert int(status["details"]["causes"][0]["message"]) == 1
    assert exit_status(json.dumps(exec_status(["ps"], 0))) == (0, "")
    code, message = exit_status(json.dumps(exec_status(["cat"], 0, procs.missing_executable("cat"))))
    assert code == 127 and 'exec: "cat": executable file not found in $PATH' in message


def test_the_grace_period_is_the_deletion_grace_at_least_two_seconds_and_restart_counts_survive_an_agent_restart():
    assert pod_grace({"metadata": {"deletionGracePeriodSeconds": 7}, "spec": {"terminationGracePeriodSeconds": 30}}) == 7
    assert pod_grace({"metadata": {"deletionGracePeriodSeconds": 0}}) == 2
    assert pod_grace({"metadata": {}, "spec": {}}) == 30
    assert restarts_in({"status": {"containerStatuses": [{"name": "main", "restartCount": 2, "containerID": "x://1"},
                                                         {"name": "side", "restartCount": 0}]}}) == {"main": 2}


def test_the_log_tee_wrapper_execs_the_engine_and_starts_a_tee_unless_pod_name_is_unusable():
    launch = procs.resolve_launch(wrap_command(ENGINE), {"POD_NAME": "p"}, "20260101T000000")
    assert launch.argv == ENGINE and launch.tee == ["tee", "-a", "20260101T000000.log"]
    bare = procs.resolve_launch(wrap_command(ENGINE), {}, "s")
    assert bare.argv == ENGINE and bare.tee is None and "no usable POD_NAME" in bare.notes[0]
    assert procs.resolve_launch(["/bin/sh", "-c", "exec sleep 5"], {}, "s").argv == ["sleep", "5"]
    assert procs.resolve_launch(["sh", "-c", "while true; do sleep 1; done"], {}, "s").argv[0] == "sh"
    operator_style = wrap_command(["/bin/sh", "-c"]) + ["python3 -m dynamo.vllm --model=Qwen 'a b'"]
    assert procs.resolve_launch(operator_style, {"POD_NAME": "p"}, "s").argv == ["python3", "-m", "dynamo.vllm",
                                                                               "--model=Qwen", "a b"]
    assert procs.resolve_launch(["/bin/sh", "-c", "X=1 python3 app.py"], {}, "s").argv[0] == "/bin/sh"


def test_signals_follow_the_pid_1_rule_defaults_and_stop_hold_continue():
    namespace = procs.PidNamespace()
    init = namespace.spawn(["sleep", "100"], procs.program_for(["sleep", "100"]), "main", 0.0)
    assert procs.deliver(init, procs.SIGKILL, 0.0, from_inside=True).effect == "ignored"
    assert procs.deliver(init, procs.SIGTERM, 0.0, from_inside=False).effect == "ignored"  # no handler, PID 1
    child = namespace.spawn(["sleep", "100"], procs.program_for(["sleep", "100"]), "exec", 0.0)
    assert procs.deliver(child, procs.SIGSTOP, 0.0, True).effect == "stopped" and child.stat() == "T"
    assert procs.deliver(child, procs.SIGTERM, 0.0, True).effect == "held" and child.alive
    assert procs.deliver(child, procs.SIGCONT, 0.0, True) == procs.SignalOutcome("exited", 143)
    engine = namespace.spawn(ENGINE, procs.program_for(ENGINE), "main", 0.0, session_leader=True)
    assert procs.deliver(engine, procs.SIGTERM, 1.0, True).effect == "handled"
    assert procs.due_exit(engine, 1.0) is None and procs.due_exit(engine, 2.0) == 0
    assert procs.deliver(init, procs.SIGKILL, 0.0, from_inside=False).exit_code == 137


def test_ps_prints_as_procps_and_kill_reads_its_usual_forms():
    namespace = procs.PidNamespace()
    namespace.spawn(["/pause"], procs.program_for(["/pause"]), "pause", 0.0, session_leader=True)
    namespace.spawn(ENGINE, procs.program_for(ENGINE), "main", 0.0, session_leader=True, skip=5)
    text = procs.format_ps(namespace.alive(), ["pid", "stat", "args"])
    assert text == f"  PID STAT COMMAND\n    1 Ss   /pause\n    7 Ssl  {' '.join(ENGINE)}\n"
    assert procs.parse_kill(["-s", "KILL", "7"]) == procs.KillRequest(9, (7,))
    assert procs.parse_kill(["-9", "7"]) == procs.KillRequest(9, (7,))
    assert procs.parse_kill(["-STOP", "7"]).signum == procs.SIGSTOP
    assert procs.parse_kill(["7"]).signum == procs.SIGTERM
    assert procs.parse_kill(["-s", "NOPE", "7"]).error


def test_the_crash_loop_back_off_lets_the_first_restart_go_at_once_then_doubles():
    backoff = node_pods.Backoff()
    assert backoff.remaining(0.0, 0.0) == 0.0
    backoff.next(0.0, 0.0)
    assert backoff.remaining(1.0, 1.0) == 10.0
    backoff.next(1.0, 11.0)
    assert backoff.duration == 20.0
    assert backoff.remaining(1000.0, 1000.0) == 0.0  # more than 10 minutes later: reset


def test_images_are_reported_as_containerd_normalizes_them():
    assert node_pods.normalize_image("busybox:1.36.1") == "docker.io/library/busybox:1.36.1"
    assert node_pods.normalize_image("user/app") == "docker.io/user/app:latest"
    assert node_pods.normalize_image("nvcr.io/nvidia/x:1") == "nvcr.io/nvidia/x:1"
    assert node_pods.image_id("busybox:1.36.1").startswith("docker.io/library/busybox@sha256:")


# -- probes, follow, stop -----------------------------------------------------------------------
def test_a_frozen_engine_fails_its_readiness_probe_and_its_liveness_probe_gets_it_killed_and_restarted(core):
    probe = {"httpGet": {"path": "/health", "port": 9090}, "periodSeconds": 1, "failureThreshold": 2}
    name = make_pod(core, pod_body("frozen", ENGINE, grace=2, readinessProbe=probe,
                                   livenessProbe={**probe, "failureThreshold": 3}))
    wait_for("Ready", lambda: ready(core, name))
    engine = next(p for p in processes(core, name)[0] if p.is_main)
    exec_in_pod(core, NAMESPACE, name, ["kill", "-s", "STOP", str(engine.pid)], "main")
    wait_for("the readiness probe to fail", lambda: not ready(core, name), timeout=10)
    pod = wait_for("the liveness restart", lambda: (p := ready(core, name)) and p.status.container_statuses[0].restart_count == 1
                   and p, timeout=20)
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 137  # SIGTERM held, then SIGKILL
    events = core.list_namespaced_event(NAMESPACE, field_selector=f"involvedObject.name={name}").items
    assert {"Unhealthy", "Killing", "Started"} <= {e.reason for e in events}
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_a_followed_log_streams_until_the_container_ends(core):
    import threading

    name = make_pod(core, pod_body("follow", ENGINE, restart="Never"))
    wait_for("Ready", lambda: ready(core, name))
    engine = next(p for p in processes(core, name)[0] if p.is_main)
    threading.Timer(1.0, exec_in_pod, (core, NAMESPACE, name, ["kill", "-s", "INT", str(engine.pid)], "main")).start()
    started = time.monotonic()
    text = core.read_namespaced_pod_log(name, NAMESPACE, container="main", follow=True, _request_timeout=20)
    assert time.monotonic() - started >= 0.9
    assert "received SIGINT" in text and text.rstrip().endswith("exited with code 0")
    wait_for("Succeeded", lambda: core.read_namespaced_pod(name, NAMESPACE).status.phase == "Succeeded")
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_stop_ends_every_thread_of_the_agent_and_closes_its_port_within_seconds(plane, core):
    import threading

    from ftlib.controlplane.cluster import free_port
    from ftlib.controlplane.node import NodeAgent

    port = free_port()
    other = NodeAgent(plane.api_client(), name="dft-node-stop", port=port, cert_file=plane.kubelet_serving.cert,
                      key_file=plane.kubelet_serving.key, ca_file=plane.ca.ca.cert, folder=plane.folder / "node-stop")
    other.start()
    try:
        assert any(t.name.startswith("node-dft-node-stop") for t in threading.enumerate())
    finally:
        started = time.monotonic()
        other.stop()
        took = time.monotonic() - started
        core.delete_node("dft-node-stop")
    assert took < 6.0, took
    assert not any(t.name.startswith(("node-dft-node-stop", f"node-kubelet-{port}")) for t in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_watch_that_gets_410_gone_lists_again_and_forgets_what_went_meanwhile():
    import logging

    from ftlib.controlplane.watching import ListWatch, WatchEvent

    seen: list[WatchEvent] = []
    lists = [[{"metadata": {"name": "a", "resourceVersion": "5"}}], []]
    watch = ListWatch(None, "/api/v1/pods", [], seen.append, "test-watch", logging.getLogger("test"))

    def fake_list():
        items = lists.pop(0)
        for item in items:
            watch.on_event(WatchEvent("SYNC", item))
        watch.on_event(WatchEvent("LISTED", {"items": items}))
        if not lists:
            watch._stop.set()
        return "5"

    def fake_watch(version):
        watch._event({"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}, version)

    watch._list, watch._watch = fake_list, fake_watch
    watch._run()
    assert [e.type for e in seen] == ["SYNC", "LISTED", "LISTED"] and watch.relists == 1
    assert seen[-1].object["items"] == []


def test_a_v5_websocket_exec_passes_through_the_api_server_to_the_agent_and_accepts_the_stdin_close_signal(plane, core):
    import websocket

    name = make_pod(core, pod_body("v5", ENGINE))
    wait_for("Ready", lambda: ready(core, name))
    admin = plane.api_client().configuration
    url = (f"wss://127.0.0.1:{plane.ports.apiserver}/api/v1/namespaces/{NAMESPACE}/pods/{name}/exec?"
           "command=ps&command=-eo&command=pid,stat,args&container=main&stdin=true&stdout=true&stderr=true")
    ws = websocket.create_connection(url, subprotocols=["v5.channel.k8s.io", "v4.channel.k8s.io"], timeout=10,
                                     sslopt={"ca_certs": admin.ssl_ca_cert, "certfile": admin.cert_file,
                                             "keyfile": admin.key_file})
    assert ws.subprotocol == "v5.channel.k8s.io"  # translated to SPDY, the agent would have refused the upgrade
    ws.send_binary(bytes([255, 0]))  # v5: the client closes stdin
    frames = []
    while True:
        try:
            frames.append(ws.recv())
        except websocket.WebSocketConnectionClosedException:
            break
        if frames[-1][:1] == b"\x03":
            break
    ws.close()
    stdout = b"".join(f[1:] for f in frames if f[:1] == b"\x01").decode()
    assert frames[0] == b"\x01" and "/pause" in stdout and " ".join(ENGINE) in stdout
    assert json.loads(frames[-1][1:]) == {"metadata": {}, "status": "Success"}
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_pods_proxy_to_a_loopback_pod_ip_is_refused_by_the_api_server_so_no_traffic_leaves(core):
    name = make_pod(core, pod_body("proxy", ENGINE))
    wait_for("Ready", lambda: ready(core, name))
    with pytest.raises(client.ApiException) as refused:
        core.connect_get_namespaced_pod_proxy_with_path(f"{name}:9090", NAMESPACE, "metrics", _request_timeout=10)
    assert refused.value.status == 400 and "address not allowed" in refused.value.body
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def test_exec_into_a_container_waiting_in_crash_loop_back_off_is_refused_with_500_container_not_found(core):
    name = make_pod(core, pod_body("crash", ["false"], wrap=False))
    pod = wait_for("CrashLoopBackOff", lambda: (p := core.read_namespaced_pod(name, NAMESPACE)).status.container_statuses
                   and (w := p.status.container_statuses[0].state.waiting) and w.reason == "CrashLoopBackOff" and p,
                   timeout=20)
    status = pod.status.container_statuses[0]
    assert status.restart_count == 1 and status.last_state.terminated.exit_code == 1 and pod.status.phase == "Running"
    from kubernetes.stream import stream

    with pytest.raises(client.ApiException) as refused:
        stream(core.connect_get_namespaced_pod_exec, name, NAMESPACE, command=["ps"], container="main", stderr=True,
               stdin=False, stdout=True, tty=False, _preload_content=False)
    assert refused.value.status == 0 and "Handshake status 500" in str(refused.value.reason)
    assert 'container not found ("main")' in str(refused.value.reason)
    core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


# -- a pod's files and the suite's programs (pure) -------------------------------------------------
def files_with(tmp_path, read_only: bool = False):
    from ftlib.controlplane.node_files import ContainerFiles, Mount, fresh_root
    from pathlib import PurePosixPath

    volume = tmp_path / "pv"
    volume.mkdir()
    return ContainerFiles((Mount(PurePosixPath("/ft-logs"), volume, read_only),), fresh_root(tmp_path / "root")), volume


def test_a_container_path_lands_in_its_mount_or_the_scratch_root_and_never_leaves_its_folder(tmp_path):
    import errno

    files, volume = files_with(tmp_path)
    assert files.resolve("/ft-logs/pod/x.log").host == volume.resolve() / "pod" / "x.log"
    assert files.resolve("ft-logs/./pod//x.log").host == volume.resolve() / "pod" / "x.log"  # relative: from /
    assert files.resolve("/ft-logsx/a").host == (tmp_path / "root").resolve() / "ft-logsx" / "a"
    assert files.resolve("/tmp/p.tar.gz").host == (tmp_path / "root").resolve() / "tmp" / "p.tar.gz"
    for path in ("/ft-logs/../etc/passwd", "/tmp/../../x", "../x"):
        with pytest.raises(PermissionError) as refused:
            files.resolve(path)
        assert refused.value.errno == errno.EACCES and refused.value.filename == path
    (volume / "out").symlink_to(tmp_path)  # a link out of the volume
    with pytest.raises(PermissionError, match="symbolic link"):
        files.resolve("/ft-logs/out/secret")
    (volume / "in").symlink_to(volume / "pod", target_is_directory=True)
    assert files.resolve("/ft-logs/in/x").host == volume.resolve() / "pod" / "x"  # a link that stays is fine


def test_a_read_only_mount_refuses_writes_with_erofs_but_an_existing_folder_is_made_without_error(tmp_path):
    import errno

    files, volume = files_with(tmp_path, read_only=True)
    assert files.make_dirs("/ft-logs").host == volume.resolve()
    with pytest.raises(OSError) as refused:
        files.append("/ft-logs/x.log")
    assert refused.value.errno == errno.EROFS
    assert files.append("/tmp/x", b"1").host.read_bytes() == b"1"  # the scratch root stays writable


def test_touch_creates_its_file_in_the_pv_folder_and_fails_as_coreutils_does(tmp_path):
    from ftlib.controlplane.node_programs import touch

    files, volume = files_with(tmp_path)
    assert touch(["/ft-logs/.dynamo-ft-bound"], files).exit_code == 0 and (volume / ".dynamo-ft-bound").is_file()
    failed = touch(["/ft-logs/no/such/x", "/ft-logs/../x"], files)
    assert failed.exit_code == 1 and failed.stderr.splitlines() == [
        "touch: cannot touch '/ft-logs/no/such/x': No such file or directory",
        "touch: cannot touch '/ft-logs/../x': the node agent refuses '..' in a path"]
    assert touch([], files).stderr == "touch: missing file operand\n"


def test_python_knows_the_suites_scripts_by_their_exact_text_and_nothing_else(tmp_path):
    from ftlib.controlplane.node_programs import ExecContext, python_script, run_python
    from ftlib.platform.kubernetes import load_job
    from ftlib.platform.kubernetes.jobs import CHUNK, PACK
    from ftlib.platform.kubernetes.procs import PROC_ARGV, PROC_SCRIPT

    assert [python_script(["python3", "-c", s]) for s in (PACK, CHUNK, PROC_SCRIPT, load_job.WRAPPER)] == \
        ["pack", "chunk", "proc", "wrapper"]
    assert python_script(load_job.INTERRUPT) == "interrupt" and python_script(load_job.TERMINATE) == "terminate"
    assert python_script(["python", "-c", PACK + " "]) == "" and python_script(["/usr/bin/python3", "-c", "print(1)"]) == ""
    assert python_script(["python3", "-m", "dynamo.frontend"]) is None and python_script(["perl", "-c", PACK]) is None

    files, volume = files_with(tmp_path)
    (volume / "pod").mkdir()
    (volume / "pod" / "20260101T000000.log").write_text("line\n")
    namespace = procs.PidNamespace()
    namespace.spawn(["/pause"], procs.program_for(["/pause"]), "pause", 0.0)
    context = ExecContext(files, namespace.alive, lambda pid, signum: False)
    packed = run_python(["python3", "-c", PACK, "/ft-logs", "/tmp/p.tar.gz"], context)
    expected = json.loads(packed.stdout)
    chunks = [run_python(["python3", "-c", CHUNK, "/tmp/p.tar.gz", str(o), "100"], context).stdout
              for o in range(0, expected["size"], 100)]
    import base64
    import hashlib

    data = b"".join(base64.b64decode(c) for c in chunks)
    assert len(data) == expected["size"] and hashlib.sha256(data).hexdigest() == expected["sha256"]
    listing = run_python(PROC_ARGV, context)
    assert [(p.pid, p.command) for p in parse_ps(listing.stdout)] == [(1, "/pause")]
    missing = run_python(["python3", "-c", CHUNK, "/tmp/none", "0", "1"], context)
    assert missing.exit_code == 1 and missing.stderr.endswith(
        "FileNotFoundError: [Errno 2] No such file or directory: '/tmp/none'\n")
    unknown = run_python(["python3", "-c", "import os; os.system('rm -rf /')"], context)
    assert unknown.exit_code == 1 and "NotImplementedError: the dynamo-ft node agent runs no Python" in unknown.stderr
    no_one = run_python(load_job.INTERRUPT, context)
    assert no_one.exit_code == 1 and "ProcessLookupError" in no_one.stderr


def pod_runtime(tmp_path, containers: list[dict], volumes: list[dict], folders: dict | None = None):
    pod = {"metadata": {"name": "p-1", "namespace": "ns", "uid": "u1"},
           "spec": {"containers": containers, "volumes": volumes, "restartPolicy": "Never"}}
    runtime = node_pods.PodRuntime(node_pods.parse_pod(pod), tmp_path / "pod", "127.1.0.2")
    runtime.volumes_bound(0.0, folders)
    return runtime


def run_for(runtime, seconds: float, start: float = 0.0) -> float:
    now = start
    while now < start + seconds:
        now += 0.1
        runtime.tick(now)
    return now


def test_the_log_tee_appends_each_container_instances_output_to_the_mounted_pv_and_says_so_when_it_cannot(tmp_path):
    pv = tmp_path / "pv"
    pv.mkdir()
    env = [{"name": "POD_NAME", "value": "p-1"}]
    mount = [{"name": "logs", "mountPath": "/ft-logs"}]
    runtime = pod_runtime(tmp_path, [{"name": "main", "image": "i", "command": wrap_command(ENGINE), "env": env,
                                      "volumeMounts": mount}],
                          [{"name": "logs", "persistentVolumeClaim": {"claimName": "c"}}], {"logs": pv})
    run_for(runtime, 1.0)
    instance = runtime.runs["main"].current
    copies = list((pv / "p-1").glob("*.log"))
    assert [c.name for c in copies] == [instance.started.strftime("%Y%m%dT%H%M%S") + ".log"]
    assert copies[0].read_text().splitlines() == [line.text for line in instance.log.lines()]  # what the agent logged

    read_only = pod_runtime(tmp_path / "ro", [{"name": "main", "image": "i", "command": wrap_command(ENGINE),
                                               "env": env, "volumeMounts": [{**mount[0], "readOnly": True}]}],
                            [{"name": "logs", "persistentVolumeClaim": {"claimName": "c"}}], {"logs": pv})
    run_for(read_only, 0.5)
    lines = [(line.stream, line.text) for line in read_only.runs["main"].current.log.lines()]
    assert lines[0][0] == "stderr" and lines[0][1].startswith("ft-log-tee: cannot write /ft-logs/p-1/")
    assert read_only.runs["main"].current.tee is None and "simulated process started" in lines[1][1]


def test_the_load_wrapper_relays_its_client_to_load_out_prints_its_exit_and_refuses_another_aiperf(tmp_path):
    from ftlib.platform.kubernetes.load_job import LoadJobImage, load_argv, load_job_manifest
    from ftlib.load.config import LoadConfig

    argv = load_argv("aiperf", "d", LoadConfig(concurrency=2, request_count=3), "http://10.0.0.1:8000", "m", "m")
    spec = load_job_manifest("j", "ns", "r", LoadJobImage("img"), argv)["spec"]["template"]["spec"]
    runtime = pod_runtime(tmp_path, spec["containers"], spec["volumes"])
    run_for(runtime, 2.5)
    run = runtime.runs["load"]
    log = [line.text for line in run.current.log.lines()]
    assert run.running and log[-1] == "dynamo-ft: load exited 1"  # held for the copy-back
    results = tmp_path / "pod" / ".volumes" / "results"
    assert (results / "load.out").read_text().splitlines() == log[:-1]
    records = [json.loads(line) for line in (results / "aiperf" / "profile_export.jsonl").read_text().splitlines()]
    assert [r["error"]["type"] for r in records] == ["ClientConnectorError"] * 3  # an IP address: refused, not DNS
    spec["containers"][0]["env"][-1]["value"] = "aiperf==0.12.0"
    pinned = pod_runtime(tmp_path / "pinned", spec["containers"], spec["volumes"])
    run_for(pinned, 0.5)
    assert [line.text for line in pinned.runs["load"].current.log.lines()] == [
        "dynamo-ft: this image has aiperf 0.13.0; the suite needs aiperf==0.12.0", "dynamo-ft: load exited 97"]


def test_a_claims_volume_is_mounted_only_when_its_pv_is_a_host_path_inside_the_nodes_volume_folders(tmp_path):
    from ftlib.controlplane.node import volume_folder

    roots = (tmp_path / "volumes",)
    inside = volume_folder("pvc-1", {"spec": {"hostPath": {"path": str(tmp_path / "volumes" / "pvc-1")}}}, roots)
    assert inside.folder == (tmp_path / "volumes" / "pvc-1").resolve() and inside.folder.is_dir()
    for path in ("/etc", str(tmp_path / "volumes"), str(tmp_path / "volumes" / ".." / "x")):
        refused = volume_folder("pvc-2", {"spec": {"hostPath": {"path": path}}}, roots)
        assert refused.folder is None and "is not inside the node's volume folders" in refused.waiting
    assert "not a hostPath volume" in volume_folder("pvc-3", {"spec": {"nfs": {"path": "/x"}}}, roots).waiting


def test_a_python_c_container_does_its_script_at_once_and_an_unknown_one_fails_as_a_python_error(tmp_path):
    from ftlib.platform.kubernetes.jobs import PACK

    pv = tmp_path / "pv"
    pv.mkdir()
    (pv / "a.log").write_text("x\n")
    containers = [{"name": "pack", "image": "i", "command": ["python3", "-c", PACK, "/data", "/data/../x"],
                   "volumeMounts": [{"name": "d", "mountPath": "/data"}]},
                  {"name": "other", "image": "i", "command": ["python3", "-c", "print(1)"]},
                  {"name": "engine", "image": "i", "command": ["python3", "-m", "dynamo.frontend"]}]
    runtime = pod_runtime(tmp_path, containers, [{"name": "d", "persistentVolumeClaim": {"claimName": "c"}}],
                          {"d": pv})
    run_for(runtime, 1.0)
    pack, other, engine = (runtime.runs[n] for n in ("pack", "other", "engine"))
    assert pack.last.exit_code == 1 and "PermissionError: [Errno 13] the node agent refuses '..' in a path: " \
        "'/data/../x'" in [line.text for line in pack.last.log.lines()]
    assert other.last.exit_code == 1 and any("NotImplementedError" in line.text for line in other.last.log.lines())
    assert engine.running and "simulated process started" in engine.current.log.lines()[0].text
