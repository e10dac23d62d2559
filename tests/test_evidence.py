"""ftlib.evidence: names that become paths, the inside-the-evidence check, the stamp and the lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftlib import evidence
from ftlib.errors import SpecError
from ftlib.evidence import EvidenceBusy, EvidenceFolder, OutsideEvidence
from ftlib.events.load import StartLoad
from ftlib.load.config import LoadConfig
from ftlib.spec import get_deployment_spec

BAD_NAMES = ["/some/abs/dir", "../../../../dir", "..", ".", ".hidden", "a/b", "a b", "", "x\0y", "naïve", "a" * 201]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_load_name_that_is_no_plain_file_name_is_refused_when_the_load_is_made(name):
    with pytest.raises(SpecError) as raised:
        StartLoad(LoadConfig(request_count=5), name=name)
    assert f"load name {name!r} cannot be used" in str(raised.value)
    assert evidence.NAME_RULE in str(raised.value)


@pytest.mark.parametrize("name", ["default", "second-load", "load_2", "v1.2", "A-Z_09"])
def test_plain_names_are_accepted(name):
    assert StartLoad(LoadConfig(request_count=5), name=name).name == name


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", ".x", "a/b"])
def test_a_service_name_that_is_no_plain_file_name_is_refused_with_the_deployment(name):
    spec = get_deployment_spec("mocker", "agg", 1)
    document = spec.document
    components = document["spec"].get("components") or document["spec"].get("services")
    if isinstance(components, list):
        components[-1]["name"] = name
    else:
        components[name] = components.pop(next(iter(k for k in components if k != "Frontend")))
    with pytest.raises(SpecError, match=rf"service name {name!r} cannot be used: it becomes a folder or file name"):
        type(spec)(document, "edited.yaml")


def test_a_path_inside_the_evidence_folder_is_allowed(tmp_path):
    assert evidence.inside(tmp_path / "load" / "default" / "x.log", tmp_path) == tmp_path.resolve() / "load/default/x.log"


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside", "load/../../outside", "."])
def test_a_path_outside_the_evidence_folder_is_refused(tmp_path, path):
    root = tmp_path / "evidence"
    root.mkdir()
    with pytest.raises(OutsideEvidence, match="not inside this run's evidence or temporary folders"):
        evidence.inside(root / path, root)


def test_a_symlink_leading_out_of_the_evidence_folder_is_refused(tmp_path):
    root, outside = tmp_path / "evidence", tmp_path / "precious"
    root.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (root / "load").symlink_to(outside)
    with pytest.raises(OutsideEvidence):
        evidence.remove_tree(root / "load", root)
    with pytest.raises(OutsideEvidence):
        evidence.write_text(root / "load" / "keep.txt", "overwritten", root)
    assert (outside / "keep.txt").read_text() == "keep"


def test_without_a_root_only_registered_folders_may_be_touched(tmp_path):
    other = tmp_path.parent / (tmp_path.name + "-not-registered")
    with pytest.raises(OutsideEvidence, match="refusing to remove"):
        evidence.remove_tree(other / "x")
    evidence.write_text(tmp_path / "a" / "b.txt", "ok")  # tmp_path is registered by conftest
    assert (tmp_path / "a" / "b.txt").read_text() == "ok"


def test_the_aiperf_client_never_removes_a_folder_outside_the_evidence(tmp_path):
    from ftlib.load.aiperf import AiperfLoad

    victim = tmp_path.parent / (tmp_path.name + "-victim")
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    load = AiperfLoad("x", LoadConfig(request_count=5), "http://127.0.0.1:1", "m", "t", victim)
    with pytest.raises(OutsideEvidence):
        load.start()
    assert (victim / "data.txt").read_text() == "precious"


def test_a_folder_with_the_stamp_is_replaced_and_stamped_again(tmp_path):
    first = EvidenceFolder.claim(tmp_path / "s", "scenario one", "run-1")
    (first.path / "events.txt").write_text("old")
    first.release()
    second = EvidenceFolder.claim(tmp_path / "s", "scenario one", "run-2")
    assert sorted(p.name for p in second.path.iterdir()) == [evidence.STAMP_FILE]
    stamp = evidence.EvidenceStamp.read(second.path)
    assert (stamp.tool, stamp.run, stamp.scenario, stamp.pid) == ("dynamo-ft", "run-2", "scenario one", os.getpid())
    second.release()


@pytest.mark.parametrize("marker", ["events.txt", "scenario.log", "timeline.json", "deployment_spec.yaml"])
def test_a_folder_holding_only_an_evidence_like_file_but_no_stamp_is_refused_not_deleted(tmp_path, marker):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / marker).write_text("someone else's")
    with pytest.raises(SpecError, match="has no dynamo-ft-evidence.json"):
        EvidenceFolder.claim(folder, "scenario")
    assert (folder / marker).read_text() == "someone else's"


def test_a_stamp_of_another_tool_does_not_count(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / evidence.STAMP_FILE).write_text('{"tool": "other", "run": "", "scenario": "", "pid": 1, "started": ""}')
    with pytest.raises(SpecError, match="refusing to delete it"):
        EvidenceFolder.claim(folder, "scenario")
    assert (folder / evidence.STAMP_FILE).exists()


def test_a_file_in_place_of_the_evidence_folder_is_refused(tmp_path):
    (tmp_path / "s").write_text("a file")
    with pytest.raises(SpecError, match="is not a folder"):
        EvidenceFolder.claim(tmp_path / "s", "scenario")
    assert (tmp_path / "s").read_text() == "a file"


def test_a_second_run_of_the_same_scenario_into_the_same_folder_refuses(tmp_path):
    held = EvidenceFolder.claim(tmp_path / "s", "scenario", "run-1")
    (held.path / "events.txt").write_text("the first run's")
    code = ("import sys; from ftlib.evidence import EvidenceFolder, EvidenceBusy\n"
            "try:\n    EvidenceFolder.claim(sys.argv[1], 'scenario', 'run-2')\n"
            "except EvidenceBusy as error:\n    print(error); sys.exit(3)\n")
    second = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")], capture_output=True, text=True, timeout=60)
    assert second.returncode == 3, second.stderr
    assert "another run (pid" in second.stdout and "run run-1" in second.stdout and "-D output_dir" in second.stdout
    assert (held.path / "events.txt").read_text() == "the first run's"
    held.release()
    again = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_lock_refuses_a_second_claim_in_the_same_process_too(tmp_path):
    held = EvidenceFolder.claim(tmp_path / "s", "scenario")
    with pytest.raises(EvidenceBusy):
        EvidenceFolder.claim(tmp_path / "s", "scenario")
    held.release()


def test_pod_file_names_have_one_definition():
    ns = 1_769_508_900_000_000_000  # 2026-01-27 10:15:00 UTC
    assert evidence.pod_file("d", "p-1", ns, "log").name == "p-1_20260127T101500.log"
    assert evidence.pod_file("d", "p-1", ns, "previous").name == "p-1_20260127T101500.previous.log"
    assert evidence.pod_file("d", "p-1", ns, "metrics").name == "p-1_20260127T101500.metrics.log"
    assert evidence.pod_file("d", "p-1", ns, "description", ".before_delete").name == "p-1_20260127T101500.before_delete.yaml"
    assert evidence.parse_pod_log("p-1_20260127T101500.log") == ("p-1", False)
    assert evidence.parse_pod_log("p-1_20260127T101500.previous.log") == ("p-1", True)
    assert evidence.parse_pod_log("p-1_20260127T101500.metrics.log") is None


def test_the_legacy_client_never_writes_into_a_folder_outside_the_evidence(tmp_path):
    from ftlib.load.legacy import LegacyLoad

    victim = tmp_path.parent / (tmp_path.name + "-victim-legacy")
    load = LegacyLoad("x", LoadConfig(request_count=5), "http://127.0.0.1:1", "m", "t", victim)
    with pytest.raises(OutsideEvidence):
        load.start()
    assert not victim.exists()


@pytest.mark.parametrize("name", ["..", ".", "../../etc", ".hidden", "a/../../b", "/abs/dir", "x" * 300, "✓"])
def test_every_scenario_name_becomes_a_folder_name_the_path_rule_accepts(name):
    from ftlib.scenario import slug

    folder = slug(name)
    assert evidence.path_name(folder, "scenario folder") == folder
    assert folder not in (".", "..")
