"""./run preflight against a Kubernetes API faked at the HTTP boundary (kmock on 127.0.0.1), and
deploy/rbac.yaml kept equal to the one table of permissions the suite uses."""

from pathlib import Path

import pytest
import yaml

from ftlib.platform.kubernetes import preflight as pf
from kube_ops_fake import SSAR, running_fake, serve_access_reviews, serve_dgd_crd, status_body, write_kubeconfig

RBAC_YAML = Path(__file__).resolve().parents[1] / "deploy" / "rbac.yaml"


@pytest.fixture
def fake(monkeypatch, tmp_path):
    for server in running_fake(monkeypatch):
        monkeypatch.setenv("KUBECONFIG", write_kubeconfig(server, tmp_path / "kubeconfig"))
        yield server


def healthy_cluster(fake, denied=(), crd_versions=("v1alpha1", "v1beta1")):
    serve_dgd_crd(fake, crd_versions)
    fake.routes[("GET", "/api/v1/namespaces/ft")] = (200, {"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": "ft"}, "status": {"phase": "Active"}})
    serve_access_reviews(fake, denied)
    fake.routes[("GET", "/apis/storage.k8s.io/v1/storageclasses/nfs-rwx")] = (
        200, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "nfs-rwx"},
              "provisioner": "nfs.csi.k8s.io", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})


ARGS = ["-D", "platform=kubernetes", "-D", "namespace=ft", "-D", "storage_class=nfs-rwx"]


def test_preflight_against_a_fake_api_with_everything_is_all_green(fake, capsys):
    healthy_cluster(fake)
    assert pf.main(ARGS) == 0
    out = capsys.readouterr().out
    assert "everything the suite needs is there" in out
    assert "served versions: v1alpha1, v1beta1" in out
    assert "nfs-rwx (nfs.csi.k8s.io) provisions ReadWriteMany" in out
    asked = {(s.data["spec"]["resourceAttributes"]["verb"], s.data["spec"]["resourceAttributes"]["resource"],
              s.data["spec"]["resourceAttributes"].get("subresource", ""), s.data["spec"]["resourceAttributes"]["group"],
              s.data["spec"]["resourceAttributes"]["namespace"]) for s in fake.requests(*SSAR)}
    wanted = {(verb, *(rule.resource.split("/") + [""])[:2], rule.group, "ft") for rule in pf.SUITE_RBAC
              for verb in rule.verbs}
    assert asked == wanted
    assert all(s.data["kind"] == "SelfSubjectAccessReview" for s in fake.requests(*SSAR))


def test_preflight_with_a_403_on_one_verb_names_it_and_points_at_rbac_yaml(fake, capsys):
    healthy_cluster(fake, denied={("create", "pods/exec")})
    assert pf.main(ARGS) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("rbac: create pods/exec"))
    assert "MISSING" in line and "deploy/rbac.yaml" in line
    assert "1 missing" in out
    assert sum("MISSING" in line for line in out.splitlines()) == 1


def test_preflight_against_a_fake_api_without_the_crd_fails(fake, capsys):
    healthy_cluster(fake, crd_versions=())
    assert pf.main(ARGS) == 1
    out = capsys.readouterr().out
    assert "CRD dynamographdeployments.nvidia.com" in out and "not installed" in out


def test_preflight_refuses_a_read_write_once_storage_class(fake, capsys):
    healthy_cluster(fake)
    fake.routes[("GET", "/apis/storage.k8s.io/v1/storageclasses/gp3")] = (
        200, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"},
              "provisioner": "ebs.csi.aws.com"})
    assert pf.main(ARGS[:-1] + ["storage_class=gp3"]) == 1
    assert "provisions ReadWriteOnce only" in capsys.readouterr().out


def test_preflight_when_access_reviews_are_refused_says_it_could_not_ask(fake):
    healthy_cluster(fake)
    fake.routes[SSAR] = (403, status_body(403, "Forbidden", "selfsubjectaccessreviews is forbidden"))
    rows = pf.access_rows(fake.api_client(), pf.ClusterOptions(namespace="ft"))
    assert {row.ok for row in rows} == {None} and "cannot ask" in rows[0].detail


def test_preflight_without_a_kubeconfig_exits_non_zero(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert pf.main(["-D", "namespace=ft"]) == 1
    assert "no kubeconfig" in capsys.readouterr().err


def test_preflight_takes_the_behave_style_defines():
    assert pf.parse_defines(["-D", "a=1", "-Db=2", "--define", "c=3", "--define=d=4"]) == \
        {"a": "1", "b": "2", "c": "3", "d": "4"}
    with pytest.raises(SystemExit):
        pf.parse_defines(["--tags", "@x"])


def test_rbac_yaml_holds_exactly_the_permissions_of_the_suite_table():
    assert RBAC_YAML.read_text() == pf.rbac_yaml()
    role, binding = list(yaml.safe_load_all(RBAC_YAML.read_text()))
    assert role["kind"] == "Role" and binding["roleRef"]["name"] == role["metadata"]["name"]
    in_yaml = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    in_table = {(rule.group, rule.resource, verb) for rule in pf.SUITE_RBAC for verb in rule.verbs}
    assert in_yaml == in_table


def test_a_denied_verb_this_run_does_not_need_is_shown_but_not_missing(fake, capsys):
    healthy_cluster(fake, denied={("list", "pods"), ("patch", "statefulsets/scale")})
    rows = {r.check: r for r in pf.access_rows(fake.api_client(), pf.ClusterOptions(namespace="ft"))}
    assert rows["rbac: patch statefulsets/scale.apps"].ok is None
    assert "only with skip_service_restart=false" in rows["rbac: patch statefulsets/scale.apps"].detail
    assert rows["rbac: list pods"].ok is False
    restart = {r.check: r for r in pf.access_rows(fake.api_client(),
                                                   pf.ClusterOptions(namespace="ft", skip_service_restart=False))}
    assert restart["rbac: patch statefulsets/scale.apps"].ok is False


def test_probe_pvc_creates_the_claim_proves_it_binds_and_deletes_both_on_the_fake_api(fake, capsys, monkeypatch):
    healthy_cluster(fake)
    monkeypatch.setattr(pf.secrets, "token_hex", lambda n: "abc123")
    probe = "ft-pvc-probe-preflight-abc123"
    fake.routes[("GET", f"/apis/batch/v1/namespaces/ft/jobs/{probe}")] = (
        200, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": probe, "namespace": "ft"},
              "status": {"succeeded": 1}})
    assert pf.main(ARGS + ["-D", "probe_pvc=true"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("PVC binds"))
    assert "ok" in line and "ft-logs-preflight-abc123 bound ReadWriteMany" in line
    assert [(s.path, s.data["kind"]) for s in fake.requests("POST") if s.data["kind"] != "SelfSubjectAccessReview"] == [
        ("/api/v1/namespaces/ft/persistentvolumeclaims", "PersistentVolumeClaim"),
        ("/apis/batch/v1/namespaces/ft/jobs", "Job")]
    assert sorted(s.path for s in fake.requests("DELETE")) == [
        "/api/v1/namespaces/ft/persistentvolumeclaims/ft-logs-preflight-abc123",
        f"/apis/batch/v1/namespaces/ft/jobs/{probe}"]
