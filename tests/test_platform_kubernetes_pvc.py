"""The log PVC and its bind probe, the NATS/etcd restart and the teardown of a run's objects, against
a Kubernetes API faked at the HTTP boundary (kmock on 127.0.0.1; nothing runs the Jobs, so each
test plays the controller by storing the Job status and pods a cluster would show)."""


import pytest

from ftlib.errors import PlatformError
from ftlib.platform.kubernetes import jobs, pvc, service_restart
from kube_ops_fake import running_fake, status_body

RUN = "r1a2b3"
SELECTOR = f"app.kubernetes.io/managed-by=dynamo-ft,dynamo-ft/run-id={RUN}"


@pytest.fixture
def fake(monkeypatch):
    yield from running_fake(monkeypatch)


def apis(fake):
    from kubernetes import client

    api = fake.api_client()
    return client.CoreV1Api(api), client.BatchV1Api(api)


def test_the_pvc_manifest_asks_for_read_write_many_in_the_named_class():
    manifest = pvc.pvc_manifest("ft-logs-r1", "ft", RUN, "nfs-rwx", "2Gi")
    assert manifest["spec"] == {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "2Gi"}},
                                "storageClassName": "nfs-rwx"}
    assert manifest["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "dynamo-ft", "dynamo-ft/run-id": RUN,
                                              "dynamo-ft/part": "log-pvc"}
    assert "storageClassName" not in pvc.pvc_manifest("x", "ft", RUN)["spec"]


def test_the_bind_probe_job_mounts_the_claim_and_never_retries():
    job = pvc.bind_probe_job_manifest("ft-logs-r1", "ft", RUN)
    pod = job["spec"]["template"]["spec"]
    assert job["spec"]["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    assert pod["volumes"] == [{"name": "logs", "persistentVolumeClaim": {"claimName": "ft-logs-r1"}}]
    assert pod["containers"][0]["command"] == ["touch", "/logs/.dynamo-ft-bound"]
    assert job["spec"]["template"]["metadata"]["labels"]["dynamo-ft/run-id"] == RUN


def test_a_pvc_proved_bound_on_the_fake_api_went_over_the_wire_as_a_claim_then_a_probe(fake):
    core, batch = apis(fake)
    probe = pvc.bind_probe_job_manifest(pvc.log_pvc_name(RUN), "ft", RUN)["metadata"]["name"]
    fake.routes[("GET", f"/apis/batch/v1/namespaces/ft/jobs/{probe}")] = (
        200, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": probe, "namespace": "ft"},
              "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})
    name = pvc.create_log_pvc(core, batch, "ft", RUN, "nfs-rwx", timeout=5)
    assert name == "ft-logs-r1a2b3"
    posts = [(s.path, s.data["kind"]) for s in fake.requests("POST")]
    assert posts == [("/api/v1/namespaces/ft/persistentvolumeclaims", "PersistentVolumeClaim"),
                     ("/apis/batch/v1/namespaces/ft/jobs", "Job")]
    assert fake.requests("POST")[0].data["spec"]["storageClassName"] == "nfs-rwx"
    deleted = fake.requests("DELETE")
    assert [s.path for s in deleted] == [f"/apis/batch/v1/namespaces/ft/jobs/{probe}"]
    assert deleted[0].params["propagationPolicy"] == "Background"


def test_a_pvc_that_does_not_bind_on_the_fake_api_is_one_error_naming_class_mode_and_commands(fake):
    core, batch = apis(fake)
    probe = pvc.bind_probe_job_manifest(pvc.log_pvc_name(RUN), "ft", RUN)["metadata"]["name"]
    fake.put("v1/pods", "ft", {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": f"{probe}-x7k2q", "namespace": "ft", "labels": {"job-name": probe}},
                               "status": {"phase": "Pending", "conditions": [
                                   {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                    "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."}]}})
    with pytest.raises(PlatformError) as caught:
        pvc.create_log_pvc(core, batch, "ft", RUN, "gp3", timeout=0.3)
    message = str(caught.value)
    assert "storage class 'gp3'" in message and "ReadWriteMany" in message
    assert "kubectl -n ft describe pvc ft-logs-r1a2b3" in message and "kubectl get storageclass" in message
    assert "PVC phase None" in message or "PVC phase Pending" in message
    assert any(s.params.get("labelSelector") == f"job-name={probe}" for s in fake.requests("GET", "/pods"))
    assert [s.path for s in fake.requests("DELETE")] == [f"/apis/batch/v1/namespaces/ft/jobs/{probe}"]


def put_run_objects(fake):
    labels = {"app.kubernetes.io/managed-by": "dynamo-ft", "dynamo-ft/run-id": RUN}
    fake.put("batch/v1/jobs", "ft", {"apiVersion": "batch/v1", "kind": "Job",
                                     "metadata": {"name": "ft-load-default-r1a2b3", "namespace": "ft", "labels": labels}})
    fake.put("v1/persistentvolumeclaims", "ft", {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                 "metadata": {"name": "ft-logs-r1a2b3", "namespace": "ft",
                                                              "labels": labels}})


def test_keep_resources_deletes_nothing_and_prints_how_to_delete_later(fake):
    core, batch = apis(fake)
    put_run_objects(fake)
    message = jobs.teardown_run_objects(core, batch, "ft", RUN, keep=True)
    assert "kept Job ft-load-default-r1a2b3, PersistentVolumeClaim ft-logs-r1a2b3" in message
    assert f"kubectl -n ft delete job,pvc -l {SELECTOR}" in message
    assert fake.requests("DELETE") == []
    assert {s.params.get("labelSelector") for s in fake.requests("GET")} == {
        SELECTOR, f"{SELECTOR},dynamo-ft/part in (load,pvc-probe,log-reader)"}


def test_teardown_deletes_only_what_the_run_labels_select_and_waits_until_gone(fake):
    core, batch = apis(fake)
    put_run_objects(fake)
    assert jobs.teardown_run_objects(core, batch, "ft", RUN) == \
        "deleted Job ft-load-default-r1a2b3, PersistentVolumeClaim ft-logs-r1a2b3 of run r1a2b3"
    assert [s.path for s in fake.requests("DELETE")] == [
        "/apis/batch/v1/namespaces/ft/jobs/ft-load-default-r1a2b3",
        "/api/v1/namespaces/ft/persistentvolumeclaims/ft-logs-r1a2b3"]
    assert {s.params.get("labelSelector") for s in fake.requests("GET")} == {
        SELECTOR, f"{SELECTOR},dynamo-ft/part in (load,pvc-probe,log-reader)"}


def test_a_service_restart_without_nats_or_etcd_is_skipped_with_a_note(fake):
    for name in ("dynamo-platform-nats", "dynamo-platform-etcd"):
        fake.routes[("GET", f"/apis/apps/v1/namespaces/ft/statefulsets/{name}/scale")] = (
            404, status_body(404, "NotFound", f'statefulsets.apps "{name}" not found'))
    notes = service_restart.restart_platform_services(fake.api_client(), "ft")
    assert len(notes) == 2 and all("not restarted (Kubernetes discovery needs neither" in n for n in notes)
    assert fake.requests("PATCH") == [] and fake.requests("DELETE") == []


def test_a_service_restart_scales_to_zero_deletes_the_pvcs_and_scales_back(fake, monkeypatch):
    monkeypatch.setattr(service_restart.time, "sleep", lambda s: None)
    nats = service_restart.PlatformService("dynamo-platform-nats", "nats")
    scale = f"/apis/apps/v1/namespaces/ft/statefulsets/{nats.statefulset}/scale"
    fake.routes[("GET", scale)] = (200, {"apiVersion": "autoscaling/v1", "kind": "Scale",
                                         "metadata": {"name": nats.statefulset}, "spec": {"replicas": 1}})
    fake.routes[("PATCH", scale)] = lambda seen: (200, {"apiVersion": "autoscaling/v1", "kind": "Scale",
                                                        "metadata": {"name": nats.statefulset}, "spec": seen.data["spec"]})
    fake.put("v1/persistentvolumeclaims", "ft", {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                 "metadata": {"name": "data-dynamo-platform-nats-0", "namespace": "ft",
                                                              "labels": {"app.kubernetes.io/component": "nats"}}})
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dynamo-platform-nats-0", "namespace": "ft"},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    listings = iter([[], [pod]])  # gone after the scale to 0, Ready after the scale back
    fake.routes[("GET", "/api/v1/namespaces/ft/pods")] = lambda seen: (
        200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": next(listings)})
    notes = service_restart.restart_platform_services(fake.api_client(), "ft", services=(nats,))
    assert notes == ["restarted dynamo-platform-nats (1 replicas; deleted PVCs: data-dynamo-platform-nats-0)"]
    assert [s.data for s in fake.requests("PATCH")] == [{"spec": {"replicas": 0}}, {"spec": {"replicas": 1}}]
    assert [s.path for s in fake.requests("DELETE")] == ["/api/v1/namespaces/ft/persistentvolumeclaims/"
                                                         "data-dynamo-platform-nats-0"]
    assert {s.params["labelSelector"] for s in fake.requests("GET", "/pods")} == {"app.kubernetes.io/component=nats"}
