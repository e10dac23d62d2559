"""KubernetesDeployment against a fake Kubernetes API at the HTTP boundary (kmock on 127.0.0.1,
tests/kube_fake.py): each test asserts what went over the wire."""

from __future__ import annotations

import json
import time

import pytest

from ftlib.errors import PlatformError, TargetError
from ftlib.platform.kubernetes import KubernetesPlatform
from ftlib.platform.kubernetes import retry
from ftlib.platform.kubernetes.config import ClusterOptions
from ftlib.platform.kubernetes.deployment import KubernetesDeployment
from ftlib.spec import DeploymentSpec, get_deployment_spec
from tests.kube_fake import NAMESPACE, PODS, FakeApi, FakeOperator

IMAGE = "registry.example/dynamo:1.6.1"
DGD_PATH = f"/apis/nvidia.com/v1alpha1/namespaces/{NAMESPACE}/dynamographdeployments"


@pytest.fixture
def fake_api():  # a fresh server per test: kmock keeps every request and object version it saw
    with FakeApi() as api:
        yield api


@pytest.fixture
def api_client(fake_api, tmp_path):
    fake_api.server.failures.clear()
    return fake_api.api_client(tmp_path)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(retry, "FIRST_WAIT_SECONDS", 0.01)


def deploy(fake_api, api_client, tmp_path, spec=None, name="ft-agg", **operator):
    spec = spec or get_deployment_spec("mocker", "agg")
    spec.name = name
    options = ClusterOptions(namespace=NAMESPACE, image=IMAGE)
    operator_ = FakeOperator(fake_api, api_client, **operator).__enter__()
    deployment = KubernetesDeployment(spec, tmp_path, api_client, options, run_id="run-1", poll_seconds=0.05,
                                      watch_seconds=1)
    deployment.apply(gone_timeout=5)
    return deployment, operator_


@pytest.fixture
def cleanup():
    things = []
    yield things
    for deployment, operator in things:
        try:
            deployment.teardown(timeout=10)
        finally:
            operator.__exit__(None, None, None)


def test_apply_posts_the_dgd_with_our_labels_and_waits_until_ready_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, operator = deploy(fake_api, api_client, tmp_path)
    cleanup.append((deployment, operator))

    seconds = deployment.wait_ready(10)

    post = fake_api.requests("POST", DGD_PATH + "$")[-1]
    assert post.data["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dynamo-ft"
    assert post.data["metadata"]["labels"]["dynamo-ft/run-id"] == "run-1"
    assert post.data["spec"]["services"]["decode"]["extraPodSpec"]["shareProcessNamespace"] is True
    assert post.data["spec"]["services"]["decode"]["extraPodSpec"]["mainContainer"]["image"] == IMAGE
    lists = fake_api.requests("GET", f"/api/v1/namespaces/{NAMESPACE}/pods$")
    assert {r.params.get("labelSelector") for r in lists} == {"nvidia.com/dynamo-graph-deployment-name=ft-agg"}
    assert seconds < 10
    assert {p.service for p in deployment.pods()} == {"Frontend", "decode"}
    kinds = [e.kind for e in deployment.timeline.since(0)]
    assert kinds.count("pod_created") == 2 and "deployment_ready" in kinds


def ready_deployment(fake_api, api_client, tmp_path, cleanup, **kwargs):
    deployment, operator = deploy(fake_api, api_client, tmp_path, **kwargs)
    cleanup.append((deployment, operator))
    deployment.wait_ready(10)
    return deployment, operator


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_a_forced_pod_delete_sends_grace_period_zero_and_a_replacement_with_a_new_name_becomes_ready_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, _ = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-del")
    victim = deployment.pods("decode")[0].name

    deployment.delete_pod(victim, force=True)
    wait_for(lambda: any(p.name != victim and p.ready for p in deployment.pods("decode")))
    deployment.wait_ready(10)

    delete = fake_api.requests("DELETE", f"/pods/{victim}$")[-1]
    assert delete.params["gracePeriodSeconds"] == "0"
    kinds = [(e.kind, e.pod) for e in deployment.timeline.since(0)]
    assert ("pod_deleted", victim) in kinds
    assert kinds.count(("pod_deleted", victim)) == 1
    assert victim not in {p.name for p in deployment.pods()}
    assert victim in {p.name for p in deployment.pods(include_deleted=True)}


def test_premature_success_of_the_dgd_does_not_make_the_deployment_ready_before_its_pods_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, operator = deploy(fake_api, api_client, tmp_path, name="ft-early", premature_success=True,
                                  start_delay=1.0)
    cleanup.append((deployment, operator))

    wait_for(lambda: (deployment.read_dgd() or {}).get("status", {}).get("state") == "successful")
    assert not deployment.evaluate().ready
    deployment.wait_ready(10)

    assert all(p.ready for p in deployment.pods()) and len(deployment.pods()) == 2


def test_a_killed_engine_shows_on_the_timeline_though_the_dgd_never_reports_unready_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, operator = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-hidden", hide_faults=True)
    pod = deployment.pods("decode")[0]
    engine = next(p for p in deployment.processes(pod.name) if "dynamo.mocker" in p.command)
    assert engine.is_main and engine.pid != 1

    deployment.signal_process(pod.name, engine.pid, "SIGKILL")
    wait_for(lambda: deployment.pods("decode")[0].restart_count == 1)

    kill = fake_api.server.exec_calls[-1]
    assert kill == {"pod": pod.name, "argv": ["kill", "-s", "KILL", str(engine.pid)], "container": "main"}
    assert fake_api.server.exec_calls[-2]["argv"] == ["ps", "-eo", "pid,stat,args"]
    entries = [(e.kind, e.detail) for e in deployment.timeline.since(0) if e.pod == pod.name]
    assert ("container_died", "exit code 137 (Error)") in entries
    assert ("container_restarted", "restart 1") in entries
    assert deployment.read_dgd()["status"]["state"] == "successful"  # the operator never said otherwise


def test_a_pod_stuck_terminating_keeps_the_deployment_not_ready_and_the_wait_names_it_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, operator = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-stuck",
                                            stuck_terminating=True)
    operator.stuck_terminating = False  # only the first pods carry the finalizer that never goes
    victim = deployment.pods("decode")[0].name

    deployment.delete_pod(victim, force=False)

    with pytest.raises(PlatformError, match=f"decode: terminating: {victim}"):
        deployment.wait_ready(1.5)
    assert "gracePeriodSeconds" not in fake_api.requests("DELETE", f"/pods/{victim}$")[-1].params
    assert any(p.name != victim for p in deployment.pods("decode"))  # the replacement is there meanwhile
    for pod in fake_api.objects(PODS):  # let the finalizers go, so teardown can finish
        if pod["metadata"].get("finalizers"):
            fake_api_client_patch(api_client, pod["metadata"]["name"])


def fake_api_client_patch(api_client, name):
    from kubernetes import client as k8s

    k8s.CoreV1Api(api_client).patch_namespaced_pod(name, NAMESPACE, {"metadata": {"finalizers": None}})


def test_signalling_a_process_that_is_not_running_is_a_target_error_and_sends_no_kill_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, _ = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-nopid")
    pod = deployment.pods("decode")[0].name
    before = len(fake_api.server.exec_calls)

    with pytest.raises(TargetError, match="process 4242 is not running in pod"):
        deployment.signal_process(pod, 4242, "SIGKILL")

    assert [c["argv"][0] for c in fake_api.server.exec_calls[before:]] == ["ps"]


def test_without_ps_in_the_image_processes_are_read_from_proc_through_python_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, _ = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-nops", ps=False)
    pod = deployment.pods("decode")[0].name
    before = len(fake_api.server.exec_calls)

    processes = deployment.processes(pod)

    argvs = [c["argv"] for c in fake_api.server.exec_calls[before:]]
    assert argvs[0] == ["ps", "-eo", "pid,stat,args"] and argvs[1][:2] == ["python3", "-c"]
    assert [p.command for p in processes if p.is_main] == ["python3 -m dynamo.mocker --model-path Qwen/Qwen3-0.6B"]
    assert processes[0].command == "/pause" and not processes[0].is_main


def test_a_kill_the_kernel_ignores_for_pid_1_leaves_the_process_and_the_fault_check_names_the_pid_1_rule_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    from ftlib.events.faults import TerminateProcess
    from ftlib.errors import FaultNotEffective
    from ftlib.scenario import ScenarioContext

    deployment, _ = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-pid1", engine_pid1=True)
    ctx = ScenarioContext(deployment.spec, object(), tmp_path, "pid1")
    ctx.deployment = deployment
    event = TerminateProcess(["decode"], "dynamo.mocker", "SIGKILL", verify_timeout=0.5)

    with pytest.raises(FaultNotEffective, match="still running; it is PID 1 of its PID namespace"):
        event.execute(ctx)
    kills = [c["argv"] for c in fake_api.server.exec_calls if c["argv"][0] == "kill" and c["pod"].startswith("ft-pid1")]
    assert kills == [["kill", "-s", "KILL", "1"]]  # sent as asked, never swapped for another signal


def test_a_watch_answered_410_gone_lists_again_and_misses_no_deletion_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, operator = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-gone")
    victim = deployment.pods("decode")[0].name
    relists = deployment.watch.relists

    fake_api.server.expire_before = fake_api.server.rv + 10_000  # every version the watch holds is too old now
    operator.core.delete_namespaced_pod(victim, NAMESPACE, grace_period_seconds=0)
    wait_for(lambda: deployment.watch.relists > relists)
    fake_api.server.expire_before = 0
    wait_for(lambda: any(e.kind == "pod_deleted" and e.pod == victim for e in deployment.timeline.since(0)))

    watches = [r for r in fake_api.requests("GET", f"/api/v1/namespaces/{NAMESPACE}/pods$") if r.params.get("watch")]
    assert watches[-1].params["resourceVersion"].isdigit()
    assert watches[-1].params["labelSelector"] == "nvidia.com/dynamo-graph-deployment-name=ft-gone"


def test_throttled_requests_are_retried_and_a_403_is_explained_with_the_role_to_apply_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path):
    spec = get_deployment_spec("mocker", "agg")
    spec.name = "ft-denied"
    deployment = KubernetesDeployment(spec, tmp_path, api_client, ClusterOptions(namespace=NAMESPACE, image=IMAGE),
                                      run_id="run-1")
    fake_api.fail("GET", DGD_PATH + "/ft-denied$", 429, times=2, reason="TooManyRequests",
                  headers={"Retry-After": "0"})
    fake_api.fail("POST", DGD_PATH + "$", 403, reason="Forbidden",
                  message='dynamographdeployments.nvidia.com is forbidden: User "ci" cannot create resource')
    gets_before = len(fake_api.requests("GET", DGD_PATH + "/ft-denied$"))

    with pytest.raises(PlatformError) as error:
        deployment.apply()

    assert len(fake_api.requests("GET", DGD_PATH + "/ft-denied$")) - gets_before == 3  # 429, 429, then 404
    assert "not allowed to create DynamoGraphDeployment ft-denied in namespace 'ft'" in str(error.value)
    assert "deploy/rbac.yaml" in str(error.value) and "cannot create resource" in str(error.value)
    assert len(fake_api.requests("POST", DGD_PATH + "$")) >= 1


def test_an_earlier_dgd_of_the_same_name_that_is_not_ours_is_never_touched_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path):
    from kubernetes import client as k8s

    k8s.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "nvidia.com", "v1alpha1", NAMESPACE, "dynamographdeployments",
        {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
         "metadata": {"name": "someone-else", "namespace": NAMESPACE}, "spec": {"services": {}}})
    spec = get_deployment_spec("mocker", "agg")
    spec.name = "someone-else"
    deployment = KubernetesDeployment(spec, tmp_path, api_client, ClusterOptions(namespace=NAMESPACE, image=IMAGE),
                                      run_id="run-1")

    with pytest.raises(PlatformError, match="was not created by dynamo-ft"):
        deployment.apply()
    deployment.teardown()

    assert not fake_api.requests("DELETE", DGD_PATH + "/someone-else$")
    assert [r.data["metadata"]["name"] for r in fake_api.requests("POST", DGD_PATH + "$")].count("someone-else") == 1


def test_a_rolling_upgrade_merge_patches_a_v1alpha1_dgd_and_completes_when_the_old_pods_are_gone_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, _ = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-roll")
    old = {p.name for p in deployment.pods("decode")}

    deployment.update_service("decode", {"TEST_ROLLING_UPDATE_TRIGGER": "abc123"})
    wait_for(lambda: any(e.kind == "rollout_complete" for e in deployment.timeline.since(0)), timeout=10)
    deployment.wait_ready(10)

    patch = [r for r in fake_api.requests("PATCH", DGD_PATH + "/ft-roll$") if "spec" in r.data][-1]
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    pod_name = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}  # the log tee's
    assert patch.data == {"spec": {"services": {"decode": {"envs": [pod_name, {"name": "TEST_ROLLING_UPDATE_TRIGGER",
                                                                                "value": "abc123"}]}}}}
    assert not old & {p.name for p in deployment.pods("decode")}
    kinds = [e.kind for e in deployment.timeline.since(0)]
    assert kinds.index("rollout_started") < kinds.index("rollout_complete")


def test_a_rolling_upgrade_of_a_v1beta1_dgd_is_a_json_patch_of_one_component_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    spec = DeploymentSpec.from_yaml("tests/data/dynamo_examples/mocker-agg.v1beta1.yaml")
    deployment, _ = ready_deployment(fake_api, api_client, tmp_path, cleanup, spec=spec, name="ft-beta")

    deployment.update_service("decode", {"TEST_ROLLING_UPDATE_TRIGGER": "1"})
    wait_for(lambda: any(e.kind == "rollout_complete" for e in deployment.timeline.since(0)), timeout=10)

    path = f"/apis/nvidia.com/v1beta1/namespaces/{NAMESPACE}/dynamographdeployments/ft-beta"
    patch = [r for r in fake_api.requests("PATCH", path + "$") if isinstance(r.data, list)][-1]
    assert patch.headers["Content-Type"] == "application/json-patch+json"
    assert patch.data[0] == {"op": "test", "path": "/spec/components/1/name", "value": "decode"}
    assert patch.data[1]["path"].startswith("/spec/components/1/podTemplate/spec/containers/0/env")


def test_logs_metrics_descriptions_and_evidence_use_the_pod_subresources_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup, monkeypatch, caplog):
    from ftlib.platform.kubernetes import pvc_logs

    monkeypatch.setattr(pvc_logs, "START_TIMEOUT", 0.1)  # no Job controller here: the PVC reader never starts
    deployment, operator = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-evidence")
    worker = deployment.pods("decode")[0].name
    frontend = deployment.pods("Frontend")[0].name
    fake_api.server.metrics[f"{worker}:9090"] = "dynamo_component_requests_total 3\n"
    fake_api.server.logs[(worker, True)] = "the container before\n"

    assert deployment.metrics(worker) == "dynamo_component_requests_total 3\n"
    assert deployment.metrics(frontend) is None  # nothing answers on :8000 here
    assert deployment.logs(worker, previous=True) == "the container before\n"
    assert deployment.logs(frontend, previous=True) == ""  # 400: no previous container
    deployment.collect_evidence(tmp_path / "evidence")

    assert fake_api.requests("GET", f"/pods/{worker}:9090/proxy/metrics$")
    assert fake_api.requests("GET", f"/pods/{frontend}:8000/proxy/metrics$")
    logs = fake_api.requests("GET", f"/pods/{worker}/log$")
    assert {(r.params["container"], r.params["previous"]) for r in logs} >= {("main", "True"), ("main", "False")}
    events = fake_api.requests("GET", f"/api/v1/namespaces/{NAMESPACE}/events$")
    assert events[-1].params["fieldSelector"].startswith("involvedObject.name=")
    files = {p.relative_to(tmp_path / "evidence").as_posix() for p in (tmp_path / "evidence").rglob("*") if p.is_file()}
    assert {"dgd.yaml", "dgd_status.yaml"} <= files
    assert any(f.startswith(f"decode/{worker}_") and f.endswith(".previous.log") for f in files)
    assert any(f.startswith(f"decode/{worker}_") and f.endswith(".metrics.log") for f in files)
    assert any(f.startswith(f"Frontend/{frontend}_") and f.endswith(".yaml") for f in files)
    assert "evidence problem: the service logs on the log PVC were not copied back" in caplog.text


def test_resource_figures_come_from_the_metrics_api_or_are_plainly_absent_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, _ = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-res")
    worker = deployment.pods("decode")[0].name
    fake_api.server.pod_metrics = None

    assert deployment.sample_resources() is None
    fake_api.server.pod_metrics = {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": [
        {"metadata": {"name": worker, "namespace": NAMESPACE}, "timestamp": "2026-11-27T05:40:00Z", "window": "15s",
         "containers": [{"name": "main", "usage": {"cpu": "250000000n", "memory": "1048576Ki"}}]}]}
    samples = deployment.sample_resources()
    fake_api.server.pod_metrics = None

    assert [(s.pod, s.service, s.cpu_percent, s.rss_bytes) for s in samples] == [(worker, "decode", 25.0, 2**30)]
    listing = fake_api.requests("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/pods$")[-1]
    assert listing.params["labelSelector"] == "nvidia.com/dynamo-graph-deployment-name=ft-res"


def test_teardown_deletes_only_the_dgd_carrying_this_runs_labels_and_waits_for_its_pods_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path):
    deployment, operator = deploy(fake_api, api_client, tmp_path, name="ft-down")
    earlier = len(fake_api.requests("DELETE", "/dynamographdeployments/"))
    try:
        deployment.wait_ready(10)
        deployment.teardown(timeout=10)
    finally:
        operator.__exit__(None, None, None)

    deletes = [r.url.path for r in fake_api.requests("DELETE", "/dynamographdeployments/")[earlier:]]
    assert deletes == [DGD_PATH + "/ft-down"]
    job_lists = fake_api.requests("GET", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs$")
    assert job_lists[-1].params["labelSelector"] == "app.kubernetes.io/managed-by=dynamo-ft,dynamo-ft/run-id=run-1"
    assert not [p for p in fake_api.objects(PODS) if p["metadata"]["labels"].get(
        "nvidia.com/dynamo-graph-deployment-name") == "ft-down"]
    assert deployment.read_dgd() is None


def test_a_kill_that_exits_non_zero_is_a_target_error_with_what_kill_said_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, operator = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-exit")
    pod = deployment.pods("decode")[0].name
    engine = next(p for p in deployment.processes(pod) if p.is_main)
    operator._kill = lambda fake, signal_name, pid: ("", f"kill: ({pid}) - No such process\n", 1)  # gone meanwhile

    with pytest.raises(TargetError, match=rf"kill -s TERM {engine.pid} failed in pod '{pod}': "
                                          rf"kill: \({engine.pid}\) - No such process"):
        deployment.signal_process(pod, engine.pid, "SIGTERM")


def test_a_container_that_is_not_running_has_no_processes_rather_than_an_error_faking_the_api_at_the_http_boundary(
        fake_api, api_client, tmp_path, cleanup):
    deployment, _ = ready_deployment(fake_api, api_client, tmp_path, cleanup, name="ft-down-container")
    pod = deployment.pods("decode")[0].name
    fake_api.fail("GET", f"/pods/{pod}/exec$", 400, reason="BadRequest",
                  message='container main is not valid for pod ' + pod)

    assert deployment.processes(pod) == []
    assert len(fake_api.requests("GET", f"/pods/{pod}/exec$")) >= 1
