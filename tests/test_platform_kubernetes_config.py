"""Cluster options, credentials and the checks before anything is created; the API is faked at the
HTTP boundary (kmock on 127.0.0.1, see tests/kube_ops_fake.py)."""

import socket

import pytest

from ftlib.errors import PlatformError, SpecError
from ftlib.platform.kubernetes import retry
from ftlib.platform.kubernetes.config import (ClusterOptions, check_cluster, check_namespace_allowed,
                                              kubeconfig_source, load_api_client)
from kube_ops_fake import running_fake, serve_access_reviews, serve_dgd_crd, status_body, write_kubeconfig


@pytest.fixture
def fake(monkeypatch):
    yield from running_fake(monkeypatch)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(retry, "FIRST_WAIT_SECONDS", 0.001)
    monkeypatch.setattr(retry, "MAX_WAIT_SECONDS", 0.01)


def namespace_object(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": "Active"}}


def test_options_come_from_userdata_and_leave_other_keys_alone():
    options = ClusterOptions.from_options({"namespace": "ft", "keep_resources": "yes", "skip_service_restart": "false",
                                           "kube_context": "lab", "platform": "kubernetes", "output_dir": "x"})
    assert (options.namespace, options.keep_resources, options.skip_service_restart, options.kube_context) == \
        ("ft", True, False, "lab")


def test_an_option_that_takes_true_or_false_says_so():
    with pytest.raises(SpecError, match="keep_resources takes true or false"):
        ClusterOptions.from_options({"keep_resources": "maybe"})


@pytest.mark.parametrize("namespace", ["default", "kube-system"])
def test_default_and_kube_system_are_refused_unless_allow_namespace_names_them(namespace):
    with pytest.raises(SpecError, match=f"-D allow_namespace={namespace}"):
        check_namespace_allowed(namespace, None)
    with pytest.raises(SpecError):
        check_namespace_allowed(namespace, "ft")
    check_namespace_allowed(namespace, namespace)
    check_namespace_allowed("ft", None)


def test_credentials_are_looked_for_as_kubectl_does():
    assert kubeconfig_source({"KUBECONFIG": "/k/a"}) == "kubeconfig:/k/a"
    assert kubeconfig_source({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}) == "in-cluster"
    assert kubeconfig_source({}).endswith(".kube/config")


def test_a_missing_kubeconfig_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(PlatformError, match=r"no kubeconfig: .*nope does not exist.*KUBECONFIG"):
        load_api_client(ClusterOptions())


def test_an_unknown_context_names_the_command_that_lists_contexts(monkeypatch, tmp_path, fake):
    monkeypatch.setenv("KUBECONFIG", write_kubeconfig(fake, tmp_path / "kubeconfig"))
    with pytest.raises(PlatformError, match="kubectl config get-contexts"):
        load_api_client({"kube_context": "elsewhere"})


def test_the_kubeconfig_client_sends_its_token_to_the_fake_api_over_http(monkeypatch, tmp_path, fake):
    monkeypatch.setenv("KUBECONFIG", write_kubeconfig(fake, tmp_path / "kubeconfig", context="lab"))
    serve_dgd_crd(fake)
    serve_access_reviews(fake)
    fake.routes[("GET", "/api/v1/namespaces/ft")] = (200, namespace_object("ft"))
    api = load_api_client({"kube_context": "lab", "namespace": "ft"})
    notes = check_cluster(api, ClusterOptions(namespace="ft"), dgd_version="v1beta1")
    assert notes == [f"Kubernetes v1.31.4 at {fake.url}", "dynamographdeployments.nvidia.com serves v1alpha1, v1beta1"]
    assert [s.path for s in fake.seen[:5]] == ["/version/", "/apis/", "/apis/nvidia.com/v1alpha1",
                                               "/apis/nvidia.com/v1beta1", "/api/v1/namespaces/ft"]
    asked = [s.data["spec"]["resourceAttributes"] for s in fake.seen[5:]]
    reviewed = {(a["verb"], a["group"], a["resource"], a.get("subresource", "")) for a in asked}
    assert ("create", "nvidia.com", "dynamographdeployments", "") in reviewed
    assert ("create", "", "pods", "exec") in reviewed and ("create", "", "pods", "") not in reviewed
    assert ("patch", "apps", "statefulsets", "scale") not in reviewed  # no service restart asked for
    assert ("list", "metrics.k8s.io", "pods", "") not in reviewed  # optional
    assert {a["namespace"] for a in asked} == {"ft"}
    assert all(s.headers_authorization == "Bearer dummy" for s in fake.seen)


def test_a_403_on_one_verb_stops_the_run_before_anything_is_created_naming_it_and_rbac_yaml(fake):
    serve_dgd_crd(fake)
    serve_access_reviews(fake, denied={("create", "pods/exec")})
    fake.routes[("GET", "/api/v1/namespaces/ft")] = (200, namespace_object("ft"))
    with pytest.raises(PlatformError, match=r"not allowed in namespace 'ft' to: create pods/exec\. .*deploy/rbac.yaml"):
        check_cluster(fake.api_client(), ClusterOptions(namespace="ft"))
    assert {s.method for s in fake.seen} == {"GET", "POST"}
    assert {s.path for s in fake.seen if s.method == "POST"} == {"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"}


def test_the_checks_against_a_fake_api_without_the_crd_name_the_crd(fake):
    serve_dgd_crd(fake, versions=())
    with pytest.raises(PlatformError, match=r"CRD dynamographdeployments.nvidia.com is not installed"):
        check_cluster(fake.api_client(), ClusterOptions(namespace="ft"))


def test_a_spec_version_the_fake_api_does_not_serve_lists_the_served_ones(fake):
    serve_dgd_crd(fake, versions=("v1alpha1",))
    with pytest.raises(PlatformError, match="serves v1alpha1 but the spec is nvidia.com/v1beta1"):
        check_cluster(fake.api_client(), ClusterOptions(namespace="ft"), dgd_version="v1beta1")


def test_a_namespace_missing_on_the_fake_api_says_how_to_create_it(fake):
    serve_dgd_crd(fake)
    fake.routes[("GET", "/api/v1/namespaces/ft")] = (404, status_body(404, "NotFound", 'namespaces "ft" not found'))
    with pytest.raises(PlatformError, match="namespace 'ft' does not exist: kubectl create namespace ft"):
        check_cluster(fake.api_client(), ClusterOptions(namespace="ft"))


def test_a_namespaced_role_that_may_not_read_namespaces_is_noted_not_refused(fake):
    serve_dgd_crd(fake)
    serve_access_reviews(fake)
    fake.routes[("GET", "/api/v1/namespaces/ft")] = (403, status_body(403, "Forbidden", 'namespaces "ft" is forbidden'))
    notes = check_cluster(fake.api_client(), ClusterOptions(namespace="ft"))
    assert "not allowed to read namespaces" in notes[-1]


def test_a_protected_namespace_is_refused_before_any_request(fake):
    with pytest.raises(SpecError, match="namespace 'default' is refused"):
        check_cluster(fake.api_client(), ClusterOptions(namespace="default"))
    assert fake.seen == []


def unreachable_api():
    """An API client aimed at a loopback port nothing listens on, and that port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from kubernetes import client

    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    configuration.retries = 0
    return client.ApiClient(configuration), port


def test_an_unreachable_api_names_the_address():
    api, port = unreachable_api()
    with pytest.raises(PlatformError, match=rf"API at http://127.0.0.1:{port} is unreachable.*cluster-info"):
        check_cluster(api, ClusterOptions(namespace="ft"))


def test_an_unreachable_api_says_why_in_a_few_words_without_urllib3s_wrapping():
    from ftlib.platform.kubernetes import KubernetesPlatform

    api, port = unreachable_api()
    platform = KubernetesPlatform(ClusterOptions(namespace="ft"), api=api)
    with pytest.raises(PlatformError) as error:
        platform.preflight()

    assert str(error.value) == (f"the Kubernetes API at http://127.0.0.1:{port} is unreachable (Failed to establish a "
                                "new connection: [Errno 111] Connection refused); check the cluster is up and your "
                                "kubeconfig/context (kubectl cluster-info)")
