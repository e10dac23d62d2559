"""Shared fixtures of the unit suite: where the recorded data and the upstream examples live.

Nothing here starts a process except the two control-plane fixtures at the end, which tests ask
for by name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftlib.load.results import RECORDS_FILE, SUMMARY_FILE

DATA = Path(__file__).resolve().parent / "data"
RECORDS = DATA / "aiperf_records_worker_killed.jsonl"
SUMMARY = DATA / "aiperf_summary_cancelled.json"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Dynamo's own example deployments (upstream naming), vendored in ``tests/data/dynamo_examples``."""
    return DATA / "dynamo_examples"


@pytest.fixture(autouse=True)
def tmp_path_is_an_evidence_folder(request):
    """A test's ``tmp_path`` (when it uses one) is a folder the suite may write in, as a scenario's
    evidence folder is (`ftlib.evidence.inside` refuses every other path)."""
    from ftlib import evidence

    if "tmp_path" not in request.fixturenames:
        yield
        return
    root = evidence.allow(request.getfixturevalue("tmp_path"))
    yield
    evidence.forget(root)


@pytest.fixture
def recorded_lines() -> list[str]:
    """The 45 per-request records of a real aiperf 0.13 run in which one of two mocker workers
    was SIGKILLed (lines 20 and 23 are cut streams, line 28 is a 503)."""
    return RECORDS.read_text().splitlines()


@pytest.fixture
def recorded_run(tmp_path: Path) -> Path:
    """An aiperf artifact directory holding the recorded records and the run's (cancelled) summary."""
    run = tmp_path / "load" / "default"
    run.mkdir(parents=True)
    shutil.copy(RECORDS, run / RECORDS_FILE)
    shutil.copy(SUMMARY, run / SUMMARY_FILE)
    return run


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: starts real Dynamo processes on this machine (slow); "
                                       "deselect with -m 'not e2e'")


@pytest.fixture(scope="session")
def control_plane():
    """A real control plane (kube-apiserver, etcd, kube-controller-manager, kube-scheduler) on
    127.0.0.1 with the node agent, the provisioner and the operator stand-in, shared by the
    session's tests (`ftlib.controlplane.cluster`). The binaries are built once per machine."""
    from ftlib.controlplane.cluster import ControlPlane

    with ControlPlane(progress=lambda line: print(line, flush=True)) as plane:
        yield plane


@pytest.fixture(scope="session")
def bare_control_plane():
    """A real control plane without stand-ins: only what the Kubernetes binaries do."""
    from ftlib.controlplane.cluster import ControlPlane

    with ControlPlane(stand_ins=False, progress=lambda line: print(line, flush=True)) as plane:
        yield plane
