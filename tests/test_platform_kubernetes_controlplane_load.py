"""The load Job against a real control plane: the platform's own load-job code creates the Job,
the real Job controller makes its pod, kube-scheduler binds it, the node agent runs the suite's
wrapper (load_job.WRAPPER) around its simulated aiperf 0.13, and the artifacts come back through
exec (jobs.PACK, jobs.CHUNK) on the real API server. Nothing can reach a frontend here (no engine
answers HTTP in a pod, no cluster DNS): aiperf fails every request as aiperf 0.13 does when the
frontend's name does not resolve (ClientConnectorDNSError records, exit 1)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from kubernetes import client

from ftlib.controlplane.cluster import TESTER
from ftlib.errors import LoadError
from ftlib.load.config import LoadConfig
from ftlib.platform.kubernetes import load_job
from ftlib.platform.kubernetes.jobs import MANAGED_BY, MANAGED_BY_LABEL, PART_LABEL, copy_folder_back, exec_in_pod
from ftlib.platform.kubernetes.load_job import (ARTIFACT_DIR, CONTAINER, DONE_MARKER, PACKED, LoadJobImage,
                                                LoadJobRunner, frontend_service_url)
from tests.test_platform_kubernetes_controlplane import IMAGE, run_behave, wait_for

LOAD = """\
Feature: a load Job on a real control plane

  Scenario: a load that cannot reach its frontend runs as a Job and is counted from its copied-back records
    Given a mocker agg deployment
    And the deployment is ready
    When a load of 10 requests at concurrency 2 is started
    And the load completes within 60 seconds
    Then at least 10 requests fail
"""
URL = frontend_service_url("mocker-agg", "Frontend", "fault-tolerance-test")
LOAD_PARTS = f"{MANAGED_BY_LABEL}={MANAGED_BY},{PART_LABEL}=load"


@pytest.fixture(scope="module")
def cluster(control_plane):
    control_plane.grant_suite_role()
    return control_plane


def load_objects(core, batch, namespace: str) -> list[str]:
    return ([f"job/{j.metadata.name}" for j in batch.list_namespaced_job(namespace, label_selector=LOAD_PARTS).items]
            + [f"pod/{p.metadata.name}" for p in core.list_namespaced_pod(namespace, label_selector=LOAD_PARTS).items])


def runner(cluster, tmp_path, name: str = "direct", config: LoadConfig | None = None, **kwargs) -> LoadJobRunner:
    return LoadJobRunner(name, config or LoadConfig(concurrency=2, request_count=6), URL, "Qwen/Qwen3-0.6B",
                         "Qwen/Qwen3-0.6B", tmp_path / "load" / name, cluster.api_client(TESTER), cluster.namespace,
                         "r0load", LoadJobImage(IMAGE), **kwargs)


def test_a_load_job_is_run_by_the_node_agent_copied_back_through_exec_and_its_failed_requests_counted(cluster, tmp_path):
    admin = cluster.api_client()
    core, batch = client.CoreV1Api(admin), client.BatchV1Api(admin)

    result = run_behave(tmp_path, LOAD, cluster.tester_kubeconfig, cluster.namespace)
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-6000:]
    assert "1 scenario passed" in output
    copied = next((tmp_path / "out").glob("*/load/default"))
    files = {p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()}
    assert {"aiperf.out", "aiperf.argv", "load_job.yaml", "profile_export.jsonl", "inputs.json", "logs/aiperf.log"} <= files
    assert "profile_export_aiperf.json" not in files  # aiperf 0.13 writes no summary when every request failed
    log = (copied / "aiperf.out").read_text()
    assert "AIPerf System is PROFILING" in log and f"{DONE_MARKER} 1" in log
    assert "All 10 inference request(s) failed; no successful responses were collected." in log
    records = [json.loads(line) for line in (copied / "profile_export.jsonl").read_text().splitlines()]
    assert len(records) == 10 and {r["error"]["type"] for r in records} == {"ClientConnectorDNSError"}
    assert all("mocker-agg-frontend" in r["error"]["message"] for r in records)
    scenario = copied.parent.parent
    assert "10 of 10 failed (ClientConnectorDNSError ×10)" in (scenario / "verdicts.json").read_text()
    assert "bytes of artifacts back from pod ft-load-default-" in (scenario / "scenario.log").read_text()
    wait_for(lambda: not load_objects(core, batch, cluster.namespace), timeout=60)  # the Job and its pod are gone


def test_the_real_job_controller_tracks_the_pod_the_wrapper_holds_for_the_copy_back_and_records_its_completion(
        cluster, tmp_path):
    admin = cluster.api_client()
    core, batch = client.CoreV1Api(admin), client.BatchV1Api(admin)
    load = runner(cluster, tmp_path)
    load.start()  # returns once the pod log shows aiperf profiling
    try:
        wait_for(lambda: not load.running, timeout=30)
        job = wait_for(lambda: (j := batch.read_namespaced_job(load.job, cluster.namespace)).status.ready == 1 and j)
        assert job.status.active == 1 and not job.status.conditions  # held for the copy-back, not finished
        data = copy_folder_back(core, cluster.namespace, load.pod, CONTAINER, str(ARTIFACT_DIR), str(PACKED),
                                "the artifacts", LoadError, chunk_bytes=1024)  # many CHUNK execs
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            names = {m.name for m in tar.getmembers() if m.isfile()}
        assert {"./profile_export.jsonl", "./inputs.json", "./logs/aiperf.log"} <= names

        signalled = exec_in_pod(core, cluster.namespace, load.pod, load_job.INTERRUPT, CONTAINER)
        assert signalled.returncode == 0, signalled
        done = wait_for(lambda: (j := batch.read_namespaced_job(load.job, cluster.namespace)).status.succeeded and j,
                        timeout=60)
        assert any(c.type == "Complete" and c.status == "True" for c in done.status.conditions)
        pod = core.read_namespaced_pod(load.pod, cluster.namespace)
        assert pod.status.phase == "Succeeded" and pod.status.container_statuses[0].state.terminated.exit_code == 0
    finally:
        load._delete()
    wait_for(lambda: not load_objects(core, batch, cluster.namespace), timeout=60)


def test_a_load_client_missing_from_the_image_fails_the_job_as_recorded_by_the_real_job_controller(cluster, tmp_path):
    admin = cluster.api_client()
    core, batch = client.CoreV1Api(admin), client.BatchV1Api(admin)
    load = runner(cluster, tmp_path, "missing")
    load.argv = lambda: ["no-such-client", "--url", URL]  # Popen raises in the wrapper, before its handlers exist
    batch.create_namespaced_job(cluster.namespace, load.manifest())
    try:
        job = wait_for(lambda: (j := batch.read_namespaced_job(load.job, cluster.namespace)).status.failed and j,
                       timeout=60)
        assert any(c.type == "Failed" and c.reason == "BackoffLimitExceeded" for c in job.status.conditions or [])
        pod = core.list_namespaced_pod(cluster.namespace, label_selector=f"job-name={load.job}").items[0]
        assert pod.status.container_statuses[0].state.terminated.exit_code == 1
        log = core.read_namespaced_pod_log(pod.metadata.name, cluster.namespace, container=CONTAINER)
        assert "FileNotFoundError: [Errno 2] No such file or directory: 'no-such-client'" in log
        assert DONE_MARKER not in log
    finally:
        load._delete()
    wait_for(lambda: not load_objects(core, batch, cluster.namespace), timeout=60)
