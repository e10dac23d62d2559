"""The load Job: its manifest and argv, the in-pod wrapper (run here for real), and the runner against
a Kubernetes API faked at the HTTP boundary (kmock on 127.0.0.1). The fake's exec runs the suite's
in-pod scripts (pack, chunk) on this machine with ``/results`` mapped to a temporary folder, so the
copy-back of a recorded aiperf artifact folder is real bytes through the exec websocket."""

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ftlib.errors import LoadError, PlatformError
from ftlib.load.config import LoadConfig
from ftlib.platform.kubernetes import jobs, load_job
from ftlib.platform.kubernetes.config import ClusterOptions
from ftlib.platform.kubernetes.load_job import (ARTIFACT_DIR, DONE_MARKER, INTERRUPT, LoadJobImage, LoadJobRunner,
                                                frontend_service_url, load_argv, load_job_manifest)
from kube_ops_fake import KubeOpsFake, running_fake

RUN = "r1a2b3"
URL = frontend_service_url("vllm-agg", "Frontend", "ft")
CONFIG = LoadConfig(concurrency=2, request_count=45, output_tokens_mean=64)


def test_the_frontend_is_reached_through_the_operator_service_name():
    assert URL == "http://vllm-agg-frontend.ft.svc.cluster.local:8000"


def test_the_aiperf_argv_in_the_job_is_the_local_one_with_the_image_aiperf_and_in_pod_artifacts():
    argv = load_argv("aiperf", "default", CONFIG, URL, "Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B")
    assert argv[:2] == ["aiperf", "profile"]
    assert argv[argv.index("--url") + 1] == URL
    assert argv[argv.index("--output-artifact-dir") + 1] == "/results/aiperf"
    assert argv[argv.index("--request-count") + 1] == "45"
    assert argv[argv.index("--export-level") + 1] == "records"


def test_the_legacy_argv_runs_the_built_in_client_module_with_the_config_as_json():
    argv = load_argv("legacy", "default", CONFIG, URL, "m", "t")
    assert argv[:4] == ["python", "-m", "ftlib.platform.kubernetes.load_job", "legacy"]
    assert LoadConfig(**json.loads(argv[argv.index("--config") + 1])) == CONFIG
    assert argv[argv.index("--output-dir") + 1] == str(ARTIFACT_DIR)


def test_the_load_job_runs_the_wrapper_around_the_argv_once_with_the_suite_labels():
    argv = load_argv("aiperf", "default", CONFIG, URL, "m", "t")
    job = load_job_manifest("ft-load-default-r1a2b3", "ft", RUN, LoadJobImage("reg/aiperf:0.13.0"), argv)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python", "-c", load_job.WRAPPER, "/results", *argv]
    assert container["image"] == "reg/aiperf:0.13.0"
    assert {"name": "DYNAMO_FT_REQUIRE", "value": "aiperf==0.13.0"} in container["env"]
    assert job["spec"]["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    assert job["metadata"]["labels"] == job["spec"]["template"]["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "dynamo-ft", "dynamo-ft/run-id": RUN, "dynamo-ft/part": "load"}
    assert pod["volumes"] == [{"name": "results", "emptyDir": {}}]


def test_the_pip_fallback_is_used_only_when_named_and_keeps_the_argv_out_of_the_shell_string():
    assert LoadJobImage.choose(ClusterOptions(image="dynamo:1")) == LoadJobImage("dynamo:1")
    image = LoadJobImage.choose(ClusterOptions(load_image="pip-install"))
    assert image == LoadJobImage("python:3.12-slim", pip_install=True)
    argv = load_argv("aiperf", "default", CONFIG, URL, "model; rm -rf /", "t")
    command = load_job_manifest("j", "ft", RUN, image, argv)["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["sh", "-c"] and '"aiperf==0.13.0"' in command[2] and "rm -rf" not in command[2]
    assert command[3:] == [load_job.WRAPPER, "/results", *argv]


def test_job_names_are_dns_labels_new_for_every_start_whatever_the_load_is_called():
    assert load_job.job_name("default") != load_job.job_name("default")
    long = load_job.job_name("Background Load for the worker kill, 2nd")
    assert re.fullmatch(r"ft-load-backgroun-[0-9a-f]{6}-[0-9a-f]{8}", long) and len(long) <= 52


def test_a_load_job_without_any_image_is_refused_naming_the_options():
    with pytest.raises(PlatformError, match="-D load_image=<image>.*-D load_image=pip-install"):
        LoadJobImage.choose(ClusterOptions())


# -- the wrapper, run for real ----------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_line(path: Path, wanted: str, timeout: float = 30.0) -> str:
    """The output so far once a line equals ``wanted``; fails after ``timeout`` with the output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if wanted in text.splitlines():
            return text
        time.sleep(0.1)
    raise AssertionError(f"no line {wanted!r} within {timeout:g} s; output:\n{text}")


def start_wrapper(tmp_path: Path, argv: list[str], env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """The in-pod wrapper run here around ``argv``; its output goes to a file (read with a deadline)."""
    out = tmp_path / "pod.log"
    with open(out, "w") as log:
        wrapper = subprocess.Popen([sys.executable, "-c", load_job.WRAPPER, str(tmp_path / "results"), *argv],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    return wrapper, out


def test_the_wrapper_forwards_sigint_to_the_client_reports_its_exit_and_stays_for_the_copy(tmp_path):
    client = ("import signal, sys, time\n"
              "signal.signal(signal.SIGINT, lambda *a: (print('cancelled', flush=True), sys.exit(3)))\n"
              "print('AIPerf System is PROFILING', flush=True)\n"
              "time.sleep(30)\n")
    wrapper, out = start_wrapper(tmp_path, [sys.executable, "-c", client])
    try:
        wait_for_line(out, "AIPerf System is PROFILING")
        wrapper.send_signal(signal.SIGINT)
        text = wait_for_line(out, f"{DONE_MARKER} 3")
        assert text.splitlines() == ["AIPerf System is PROFILING", "cancelled", f"{DONE_MARKER} 3"]
        time.sleep(0.2)
        assert wrapper.poll() is None  # still there for the copy-back
        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(5) == 0
        assert (tmp_path / "results" / "load.out").read_text() == "AIPerf System is PROFILING\ncancelled\n"
    finally:
        wrapper.kill()
        wrapper.wait()


def test_the_wrapper_refuses_an_image_with_another_aiperf(tmp_path):
    wrapper, out = start_wrapper(tmp_path, ["true"], env={"DYNAMO_FT_REQUIRE": "surely-not-installed==1.0"})
    try:
        text = wait_for_line(out, f"{DONE_MARKER} 97")
        assert "has surely-not-installed not installed; the suite needs surely-not-installed==1.0" in text
    finally:
        wrapper.kill()
        wrapper.wait()


# -- the runner against the fake API ------------------------------------------------------------

class FakeLoadPod:
    """What the load Job's pod shows: its log and an exec that runs the suite's in-pod scripts
    here, with /results mapped to ``root`` (the pod's emptyDir)."""

    def __init__(self, fake: KubeOpsFake, job: str, root: Path, artifacts: Path | None):
        self.fake, self.root, self.pod = fake, root, f"{job}-x7k2q"
        self.log = "dynamo-ft: starting\nAIPerf System is PROFILING\n"
        self.interrupted = False
        if artifacts is not None:
            (root / "aiperf").mkdir(parents=True)
            for path in artifacts.iterdir():
                (root / "aiperf" / path.name).write_bytes(path.read_bytes())
        fake.put("v1/pods", "ft", {"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": self.pod, "namespace": "ft", "labels": {"job-name": job},
                                                "creationTimestamp": "2026-11-27T05:00:00Z"},
                                   "status": {"phase": "Running"}})
        fake.routes[("GET", f"/api/v1/namespaces/ft/pods/{self.pod}/log")] = lambda seen: (200, self.log)
        fake.exec_reply = self.exec

    def finish(self, code: int) -> None:
        self.log += f"{DONE_MARKER} {code}\n"

    def exec(self, pod: str, argv: list[str]) -> tuple[str, str, int]:
        if argv == INTERRUPT:
            self.interrupted = True
            self.finish(0)
            return "", "", 0
        if argv[:2] == ["python", "-c"]:
            local = [sys.executable, "-c", argv[2]] + [a.replace("/results", str(self.root)) for a in argv[3:]]
            done = subprocess.run(local, capture_output=True, text=True, timeout=30, check=False)
            return done.stdout, done.stderr, done.returncode
        return "", f"{argv[0]}: not found", 127


@pytest.fixture
def fake(monkeypatch):
    yield from running_fake(monkeypatch)


def runner(fake, tmp_path, client_type="aiperf") -> LoadJobRunner:
    return LoadJobRunner("default", CONFIG, URL, "Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B", tmp_path / "load" / "default",
                         fake.api_client(), "ft", RUN, LoadJobImage("reg/aiperf:0.13.0"), client_type)


def test_a_stopped_load_job_on_the_fake_api_is_interrupted_copied_back_in_chunks_and_counted_honestly(
        fake, tmp_path, recorded_run, monkeypatch):
    monkeypatch.setattr(load_job, "CHUNK_BYTES", 8000)
    load = runner(fake, tmp_path)
    pod = FakeLoadPod(fake, load.job, tmp_path / "pod", recorded_run)
    load.start()
    assert load.running and load.profiling_started_ns is not None
    results = load.stop()

    assert pod.interrupted and load.stopped_early and load.return_code == 0
    assert (results.total, results.succeeded, results.failed) == (45, 42, 3)
    assert results.failure_kinds() == Counter({"stream cut (no output)": 2, "503 Service Unavailable": 1})
    assert (load.output_dir / "profile_export.jsonl").read_bytes() == (recorded_run / "profile_export.jsonl").read_bytes()
    assert "AIPerf System is PROFILING" in (load.output_dir / "aiperf.out").read_text()
    assert (load.output_dir / "load_job.yaml").exists()

    created = fake.requests("POST", "/jobs")
    assert [s.path for s in created] == ["/apis/batch/v1/namespaces/ft/jobs"]
    assert created[0].data["metadata"]["name"] == load.job
    assert re.fullmatch(r"ft-load-default-[0-9a-f]{8}", load.job)
    assert {s.params["labelSelector"] for s in fake.requests("GET", "/pods") if "labelSelector" in s.params} == \
        {f"job-name={load.job}"}
    execs = [s for s in fake.seen if s.exec_argv]
    assert all(s.params["container"] == "load" for s in execs)
    assert execs[0].exec_argv == INTERRUPT
    assert execs[1].exec_argv[3:] == ["/results/aiperf", "/results/artifacts.tar.gz"]
    size = (tmp_path / "pod" / "artifacts.tar.gz").stat().st_size
    chunks = [s.exec_argv for s in execs[2:]]
    assert len(chunks) == -(-size // 8000) > 1
    assert [int(c[4]) for c in chunks] == list(range(0, size, 8000))
    deleted = fake.requests("DELETE")
    assert [s.path for s in deleted] == [f"/apis/batch/v1/namespaces/ft/jobs/{load.job}"]
    assert deleted[0].params["propagationPolicy"] == "Background"


def test_a_load_job_that_finishes_on_its_own_is_waited_for_and_not_interrupted(fake, tmp_path, recorded_run):
    load = runner(fake, tmp_path)
    pod = FakeLoadPod(fake, load.job, tmp_path / "pod", recorded_run)
    load.start()
    pod.finish(0)
    results = load.wait(timeout=5)
    assert not pod.interrupted and not load.stopped_early
    assert results.total == 45 and results.was_cancelled  # the recorded summary says so


def test_a_copy_that_does_not_match_its_checksum_is_an_error_and_the_job_is_still_deleted(fake, tmp_path, recorded_run):
    load = runner(fake, tmp_path)
    pod = FakeLoadPod(fake, load.job, tmp_path / "pod", recorded_run)
    honest = pod.exec

    def garbling(name, argv):
        out, err, code = honest(name, argv)
        if argv[2] == load_job.CHUNK:
            raw = bytearray(__import__("base64").b64decode(out))
            raw[10] ^= 0xFF
            out = __import__("base64").b64encode(bytes(raw)).decode()
        return out, err, code
    fake.exec_reply = garbling
    load.start()
    pod.finish(0)
    with pytest.raises(LoadError, match="do not match their SHA-256"):
        load.wait(timeout=5)
    assert [s.path for s in fake.requests("DELETE")] == [f"/apis/batch/v1/namespaces/ft/jobs/{load.job}"]


def test_a_load_job_whose_client_never_sent_a_request_is_an_error_not_an_empty_success(fake, tmp_path):
    load = runner(fake, tmp_path)
    pod = FakeLoadPod(fake, load.job, tmp_path / "pod", None)
    pod.log = "dynamo-ft: this image has aiperf 0.12.0; the suite needs aiperf==0.13.0\n"
    pod.finish(97)
    with pytest.raises(LoadError, match="(?s)exited with code 97 before sending requests.*aiperf 0.12.0"):
        load.start()
    assert [s.path for s in fake.requests("DELETE")] == [f"/apis/batch/v1/namespaces/ft/jobs/{load.job}"]


def test_a_load_job_whose_image_cannot_be_pulled_fails_at_once_with_the_reason(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    load = runner(fake, tmp_path)
    fake.put("v1/pods", "ft", {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": f"{load.job}-x7k2q", "namespace": "ft",
                                            "labels": {"job-name": load.job}},
                               "status": {"phase": "Pending", "containerStatuses": [
                                   {"name": "load", "ready": False, "restartCount": 0, "image": "reg/aiperf:0.13.0",
                                    "imageID": "", "state": {"waiting": {
                                        "reason": "ImagePullBackOff",
                                        "message": 'Back-off pulling image "reg/aiperf:0.13.0"'}}}]}})
    with pytest.raises(PlatformError, match=r"will not start: container load is ImagePullBackOff: Back-off pulling"):
        load.start()
    assert [s.path for s in fake.requests("DELETE")] == [f"/apis/batch/v1/namespaces/ft/jobs/{load.job}"]


def test_the_legacy_client_in_the_wrapper_sends_until_sigint_and_leaves_countable_records(tmp_path):
    config = LoadConfig(concurrency=2, duration_seconds=30, output_tokens_mean=8, input_tokens_mean=8)
    argv = load_argv("legacy", "default", config, f"http://127.0.0.1:{closed_port()}", "tiny", "unused")
    argv = [sys.executable] + argv[1:-1] + [str(tmp_path / "results" / "aiperf")]
    wrapper, out = start_wrapper(tmp_path, argv)
    try:
        wait_for_line(out, load_job.LEGACY_STARTED)
        time.sleep(0.5)
        wrapper.send_signal(signal.SIGINT)
        wait_for_line(out, f"{DONE_MARKER} 0")
    finally:
        wrapper.kill()
        wrapper.wait()
    results = load_job.LoadResults.from_aiperf_dir("default", tmp_path / "results" / "aiperf", 8, True,
                                                   stopped_early=True)
    assert results.total > 0 and results.failed == results.total and results.was_cancelled
    assert set(results.failure_kinds()) == {"ClientConnectorError"}


def test_a_client_that_ignores_sigint_and_sigterm_is_given_up_on_and_what_it_wrote_is_copied_back(
        fake, tmp_path, recorded_run, monkeypatch):
    monkeypatch.setattr(load_job, "STOP_GRACE", 0.1)
    monkeypatch.setattr(load_job, "KILL_GRACE", 0.1)
    load = runner(fake, tmp_path)
    pod = FakeLoadPod(fake, load.job, tmp_path / "pod", recorded_run)
    honest = pod.exec
    fake.exec_reply = lambda name, argv: ("", "", 0) if argv in (INTERRUPT, load_job.TERMINATE) else honest(name, argv)
    load.start()
    results = load.stop()
    assert [s.exec_argv for s in fake.seen if s.exec_argv][:2] == [INTERRUPT, load_job.TERMINATE]
    assert results.total == 45 and load.return_code is None and load.stopped_early


def test_a_client_that_wrote_no_records_is_an_error_after_the_copy_back(fake, tmp_path):
    load = runner(fake, tmp_path)
    pod = FakeLoadPod(fake, load.job, tmp_path / "pod", None)
    load.start()
    pod.finish(1)
    with pytest.raises(LoadError, match=r"produced no request records \(aiperf exit code 1\)"):
        load.wait(timeout=5)
    assert [s.path for s in fake.requests("DELETE")] == [f"/apis/batch/v1/namespaces/ft/jobs/{load.job}"]


def test_the_pip_fallback_command_installs_then_runs_the_wrapper_with_the_argv_untouched(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pip").write_text(f'#!/bin/sh\necho "pip $*" >> {tmp_path}/pip.log\n')
    (bin_dir / "pip").chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    client = "import sys; print('args:', sys.argv[1:], flush=True)"
    argv = ["python", "-c", client, "a b", "$HOME", "; rm -rf /"]
    command = load_job_manifest("j", "ft", RUN, LoadJobImage("python:3.12-slim", pip_install=True),
                                argv)["spec"]["template"]["spec"]["containers"][0]["command"]
    command = [a.replace("/results", str(tmp_path / "results")) for a in command]
    out = tmp_path / "pod.log"
    with open(out, "w") as log:
        pod = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    try:
        text = wait_for_line(out, f"{DONE_MARKER} 0")
    finally:
        pod.kill()
        pod.wait()
    assert (tmp_path / "pip.log").read_text() == "pip install --quiet --no-cache-dir aiperf==0.13.0\n"
    assert "args: ['a b', '$HOME', '; rm -rf /']" in text
