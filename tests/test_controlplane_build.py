"""The control plane's wrapper modules (pure): the staging list comes from the release's own
go.mod, the committed wrappers match what `regenerate` derives, and the version stamps reach both
version packages."""

from __future__ import annotations

from ftlib.controlplane import build

RELEASE_GOMOD = """module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tk8s.io/api v0.0.0
\tgo.etcd.io/etcd/client/v3 v3.7.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/cri-streaming => ./staging/src/k8s.io/cri-streaming
)
"""


def test_the_staging_modules_are_every_module_the_release_maps_to_its_staging_folder():
    assert build.staging_modules(RELEASE_GOMOD) == ["k8s.io/api", "k8s.io/client-go", "k8s.io/cri-streaming"]


def test_the_wrapper_replaces_each_staging_module_by_its_published_v0_release_and_keeps_the_go_and_godebug_lines():
    text = build.kubernetes_wrapper_gomod("v1.37.2", RELEASE_GOMOD)

    assert "require k8s.io/kubernetes v1.37.2" in text
    assert "\tk8s.io/api => k8s.io/api v0.37.2" in text and "\tk8s.io/cri-streaming => k8s.io/cri-streaming v0.37.2" in text
    assert "go 1.26.0" in text and "godebug default=go1.26" in text


def test_the_committed_wrapper_replaces_the_same_staging_modules_as_the_release_it_requires():
    version = build.required_version(build.KUBERNETES_MODULE, "k8s.io/kubernetes")
    gomod = (build.KUBERNETES_MODULE / "go.mod").read_text()
    replaced = sorted(line.split()[0] for line in gomod.splitlines() if "=> k8s.io/" in line)

    assert version == "v1.37.2"
    assert len(replaced) == 33 and "k8s.io/streaming" in replaced and "k8s.io/cri-streaming" in replaced
    assert all(f"{m} => {m} v0.37.2" in gomod for m in replaced)


def test_etcd_is_pinned_at_a_3_6_release_in_a_wrapper_of_its_own():
    assert build.required_version(build.ETCD_MODULE, build.ETCD_PACKAGE).startswith("v3.6.")
    assert "k8s.io/kubernetes" not in (build.ETCD_MODULE / "go.mod").read_text()


def test_the_version_stamps_go_to_component_base_and_client_go_so_slash_version_reports_the_release():
    flags = build.version_ldflags("v1.37.2")

    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X '{package}.gitVersion=v1.37.2'" in flags
        assert f"-X '{package}.gitMajor=1'" in flags and f"-X '{package}.gitMinor=37'" in flags
    assert flags.startswith("-s -w ")


def test_the_binaries_are_keyed_by_both_wrappers_go_sum(tmp_path, monkeypatch):
    before = build.stamp()
    copy = tmp_path / "kubernetes"
    copy.mkdir()
    for name in ("go.mod", "go.sum"):
        (copy / name).write_text((build.KUBERNETES_MODULE / name).read_text())
    monkeypatch.setattr(build, "KUBERNETES_MODULE", copy)
    assert build.stamp() == before
    (copy / "go.sum").write_text((copy / "go.sum").read_text() + "example.com/x v1.0.0 h1:abc=\n")
    assert build.stamp() != before
