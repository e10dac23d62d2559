"""events.txt and timeline.json are written as the scenario goes, with times from the load's start;
the scenario's temporary folder lives from deploy to finish. On a fake deployment (no process)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fake_deployment import FakeDeployment

from ftlib.events.load import StartLoad
from ftlib.load.config import LoadConfig
from ftlib.platform.base import Platform
from ftlib.scenario import ScenarioContext


class FakePlatform(Platform):
    name = "fake"

    def __init__(self):
        self.deployment = FakeDeployment()

    def deploy(self, spec, output_dir):
        return self.deployment


def deployed(tmp_path: Path) -> ScenarioContext:
    platform = FakePlatform()
    ctx = ScenarioContext(platform.deployment.spec, platform, tmp_path, monitors=[])
    ctx.deploy()
    return ctx


def test_timeline_json_grows_with_each_platform_entry_before_any_load(tmp_path):
    ctx = deployed(tmp_path)
    ctx.deployment.timeline.add("pod_deleted", "decode-1", "decode", "force")
    entries = json.loads((tmp_path / "timeline.json").read_text())
    assert entries[-1]["kind"] == "pod_deleted" and entries[-1]["pod"] == "decode-1"
    assert entries[-1]["t"] is None, "no load started yet: no relative time"
    assert set(entries[-1]) == {"ns", "kind", "pod", "service", "detail", "t", "time"}
    ctx.finish()


def test_times_are_seconds_from_the_loads_start_in_both_files(tmp_path):
    ctx = deployed(tmp_path)
    load = StartLoad(LoadConfig(request_count=5))
    load.started_ns, load.ended_ns = time.time_ns() - 8_000_000_000, time.time_ns() - 2_000_000_000
    ctx.events.append(load)
    ctx.deployment.timeline.add("container_died", "decode-1", "decode", "exit code -9")
    died = json.loads((tmp_path / "timeline.json").read_text())[-1]
    assert died["t"] == round((died["ns"] - load.ended_ns) / 1e9, 3) and 1.9 < died["t"] < 3
    line = (tmp_path / "events.txt").read_text().splitlines()[0]
    assert line.split()[:4] == [str(load.started_ns), str(load.ended_ns), "-6.000", "+0.000"]
    assert line.endswith("StartLoad: " + load.description)
    ctx.finish()


def test_the_scenarios_temporary_folder_lives_from_deploy_to_finish_and_the_files_stop_growing(tmp_path):
    ctx = deployed(tmp_path)
    runtime = ctx.runtime_dir
    assert runtime.is_dir()
    ctx.finish()
    assert not runtime.exists()
    before = (tmp_path / "timeline.json").read_text()
    ctx.deployment.timeline.add("pod_created", "late", "decode")
    assert (tmp_path / "timeline.json").read_text() == before, "after finish the files are final"
    assert not list(tmp_path.glob("*.partial")), "each file is replaced whole"
