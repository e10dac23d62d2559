"""The service logs kept on the run's log PVC: DGD bodies mount it and wrap each command (both
versions), the fixed wrapper script is run for real with /bin/sh here, and the copy back runs
against a fake Kubernetes API at the HTTP boundary (tests/kube_ops_fake.py) and writes only
inside the evidence folder."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from ftlib import evidence
from ftlib.errors import SpecError
from ftlib.platform.kubernetes import dgd, plan_manifests, pvc_logs
from ftlib.platform.kubernetes.config import ClusterOptions
from ftlib.platform.kubernetes.log_tee import ARGV0, MOUNT_PATH, TEE_SCRIPT, wrap_command
from ftlib.platform.kubernetes.procs import parse_ps
from ftlib.platform.kubernetes.pvc import log_pvc_name
from ftlib.spec import DeploymentSpec, get_deployment_spec
from kube_ops_fake import running_fake

DATA = Path(__file__).parent / "data"
IMAGE = "registry.example/dynamo:1.6.1"
POD_NAME = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
STEP_TEXT = ["$(touch PWNED)", "a; touch PWNED2", "`touch PWNED3`", "it's \"quoted\" | cat"]


# -- the DGD bodies -----------------------------------------------------------------------------
def test_a_v1alpha1_body_references_the_runs_pvc_mounts_it_in_every_service_and_wraps_declared_commands():
    spec = get_deployment_spec("vllm", "disagg")
    body = dgd.dgd_body(spec, "r1", "ft", IMAGE)

    assert body["spec"]["pvcs"] == [{"name": log_pvc_name("r1"), "create": False}]
    for name, service in body["spec"]["services"].items():
        assert {"name": log_pvc_name("r1"), "mountPoint": MOUNT_PATH} in service["volumeMounts"]
        assert POD_NAME in service["envs"]
        container = service["extraPodSpec"]["mainContainer"]
        declared = spec.services[name].raw.get("extraPodSpec", {}).get("mainContainer", {})
        if declared.get("command"):
            assert container["command"] == ["/bin/sh", "-c", TEE_SCRIPT, ARGV0, *declared["command"]]
            assert container.get("args") == declared.get("args")  # arguments untouched, still separate
        else:
            assert "command" not in container  # the operator's default command: not ours to wrap


def test_a_v1beta1_body_has_a_pod_volume_of_the_pvc_and_the_mount_and_pod_name_in_every_main_container():
    spec = DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "mocker-disagg.v1beta1.yaml")
    body = dgd.dgd_body(spec, "r1", "ft", IMAGE)

    assert "pvcs" not in body["spec"]  # v1beta1 has no spec.pvcs: a plain pod volume
    for component in body["spec"]["components"]:
        pod = component["podTemplate"]["spec"]
        assert {"name": "ft-logs", "persistentVolumeClaim": {"claimName": log_pvc_name("r1")}} in pod["volumes"]
        main = next(c for c in pod["containers"] if c["name"] == "main")
        assert {"name": "ft-logs", "mountPath": MOUNT_PATH} in main["volumeMounts"]
        assert POD_NAME in main["env"]
        if component["type"] != "frontend":
            assert main["command"][:4] == ["/bin/sh", "-c", TEE_SCRIPT, ARGV0]
            assert main["command"][4:] == ["python3", "-m", "dynamo.mocker"]


def test_kube_log_tee_false_leaves_the_bodies_without_mount_or_wrapper_and_the_dry_run_shows_both_otherwise():
    spec = get_deployment_spec("mocker", "agg")
    on = plan_manifests(spec, ClusterOptions(namespace="ft", image=IMAGE))[0]
    off = plan_manifests(spec, ClusterOptions(namespace="ft", image=IMAGE, kube_log_tee=False))[0]
    assert ClusterOptions.from_options({"kube_log_tee": "false"}).kube_log_tee is False

    assert on["spec"]["pvcs"] == [{"name": log_pvc_name("dry-run"), "create": False}]
    assert on["spec"]["services"]["decode"]["extraPodSpec"]["mainContainer"]["command"][3] == ARGV0
    assert "pvcs" not in off["spec"]
    assert all("volumeMounts" not in s for s in off["spec"]["services"].values())
    assert off["spec"]["services"]["decode"]["extraPodSpec"]["mainContainer"]["command"] == \
        spec.services["decode"].command


def test_wrapping_is_not_repeated_when_a_body_is_built_from_an_applied_one():
    body = dgd.dgd_body(get_deployment_spec("mocker", "agg"), "r1", "ft", IMAGE)
    again = dgd.dgd_body(DeploymentSpec(body), "r1", "ft", IMAGE)

    command = again["spec"]["services"]["decode"]["extraPodSpec"]["mainContainer"]["command"]
    assert command.count(TEE_SCRIPT) == 1


# -- the wrapper, run for real -------------------------------------------------------------------
def run_wrapped(command: list[str], tmp_path: Path, pod: str = "ft-agg-decode-7f9c4-x2x9z", **kwargs):
    env = {**os.environ, "POD_NAME": pod, "FT_LOG_ROOT": str(tmp_path / "logs")}
    return subprocess.Popen(wrap_command(command), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def log_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "logs").rglob("*.log"))


def test_the_wrapper_copies_output_to_stdout_and_the_pod_folder_and_keeps_the_exit_code(tmp_path):
    engine = [sys.executable, "-c", "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(7)"]
    proc = run_wrapped(engine, tmp_path)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 7
    assert "to stdout" in out and "to stderr" in out and err == ""  # one stream, as documented
    [file] = log_files(tmp_path)
    assert file.parent.name == "ft-agg-decode-7f9c4-x2x9z" and pvc_logs._STAMP.fullmatch(file.stem)
    for _ in range(50):  # tee may still be writing its last line when the engine has exited
        if "to stderr" in file.read_text():
            break
        time.sleep(0.05)
    assert file.read_text().splitlines() == ["to stdout", "to stderr"]


def test_step_text_in_the_arguments_stays_literal_and_each_argument_stays_one_argument(tmp_path):
    proc = run_wrapped(["printf", "[%s]\\n", *STEP_TEXT], tmp_path)
    out, _ = proc.communicate(timeout=30)

    assert proc.returncode == 0
    assert out.splitlines() == [f"[{word}]" for word in STEP_TEXT]
    assert not list(tmp_path.glob("PWNED*"))


def test_the_engine_replaces_the_wrapper_keeps_its_pid_and_command_line_and_gets_signals_directly(tmp_path):
    engine = [sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)", "dynamo.mocker"]
    proc = run_wrapped(engine, tmp_path)
    try:
        pid = int(proc.stdout.readline())
        assert pid == proc.pid  # exec'd: the shell's PID is the engine's
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        assert [a.decode() for a in cmdline] == engine
        for _ in range(100):  # the tee's subshell execs tee a moment after the FIFO opened
            tee_lines = _children(pid)
            if tee_lines and all(line.startswith("tee -a ") for line in tee_lines):
                break
            time.sleep(0.02)
        assert tee_lines and all(line.startswith("tee -a ") for line in tee_lines)
        assert not any("dynamo.mocker" in line or "ft-agg" in line for line in tee_lines)  # a fault never hits tee
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM


def test_a_fault_matching_by_command_line_finds_only_the_engine_which_is_the_main_process(tmp_path):
    engine = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)", "dynamo.mocker", "--x"]
    proc = run_wrapped(engine, tmp_path)
    try:
        assert proc.stdout.readline() == "up\n"
        for _ in range(100):
            listing = subprocess.run(["ps", "-ww", "-o", "pid,stat,args", "-p", str(proc.pid), "--ppid", str(proc.pid)],
                                     capture_output=True, text=True, check=True).stdout
            processes = parse_ps(listing)
            if len(processes) == 2 and all("ft-log-tee" not in p.command for p in processes):
                break
            time.sleep(0.02)
        matched = [p for p in processes if "dynamo.mocker" in p.command]  # as the fault steps match
        assert [(p.pid, p.is_main) for p in matched] == [(proc.pid, True)]
        assert [p.command.split()[:2] for p in processes if p.pid != proc.pid] == [["tee", "-a"]]
    finally:
        proc.kill()
        proc.wait()


def _children(pid: int) -> list[str]:
    found = []
    for proc_dir in Path("/proc").iterdir():
        if proc_dir.name.isdigit() and _parent(proc_dir) == pid:
            try:
                found.append((proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return found


def _parent(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


@pytest.mark.parametrize("pod", ["", "..", "a/b"])
def test_an_unusable_pod_name_runs_the_command_unwrapped_and_says_so(tmp_path, pod):
    proc = run_wrapped([sys.executable, "-c", "print('served'); raise SystemExit(3)"], tmp_path, pod=pod)
    out, err = proc.communicate(timeout=30)

    assert (proc.returncode, out) == (3, "served\n")
    assert "no usable POD_NAME" in err and not log_files(tmp_path)


# -- the copy back, against the fake API -------------------------------------------------------
@pytest.fixture
def fake(monkeypatch):
    yield from running_fake(monkeypatch)


@pytest.fixture
def evidence_dir(tmp_path):
    root = evidence.allow(tmp_path / "evidence")
    yield root
    evidence.forget(root)


class ReaderPod:
    """The reader Job's pod: exec runs the suite's in-pod scripts here, /ft-logs mapped to ``pvc``."""

    def __init__(self, fake, pvc: Path, tmp_path: Path):
        self.pvc, self.tmp = pvc, tmp_path
        job = pvc_logs.reader_job_manifest("x", "ft", "run-1", IMAGE)["metadata"]["name"]
        self.name = f"{job}-q8w2m"
        fake.put("v1/pods", "ft", {"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": self.name, "namespace": "ft", "labels": {"job-name": job}},
                                   "status": {"phase": "Running"}})
        fake.exec_reply = self.exec

    def exec(self, pod: str, argv: list[str]) -> tuple[str, str, int]:
        if pod != self.name or argv[:2] != ["python3", "-c"]:
            return "", f"{argv[0]}: not found", 127
        places = {MOUNT_PATH: str(self.pvc), pvc_logs.PACKED: str(self.tmp / "packed.tar.gz")}
        local = [places.get(a, a) for a in argv[3:]]
        done = subprocess.run([sys.executable, "-c", argv[2], *local], capture_output=True, text=True, timeout=30)
        return done.stdout, done.stderr, done.returncode


def test_the_pvc_logs_come_back_into_their_service_folders_and_nothing_else_is_written(fake, tmp_path, evidence_dir):
    pvc = tmp_path / "pvc"
    for pod, stamp, text in (("ft-agg-decode-abc12", "20261127T070000", "first container\n"),
                             ("ft-agg-decode-abc12", "20261127T070510", "after the kill\n"),
                             ("ft-agg-decode-gone1", "20261127T065900", "a deleted pod\n")):
        (pvc / pod).mkdir(parents=True, exist_ok=True)
        (pvc / pod / f"{stamp}.log").write_text(text)
    (pvc / ".dynamo-ft-bound").write_text("")
    (pvc / "ft-agg-decode-abc12" / "notes.txt").write_text("not a log")
    (pvc / "ft-agg-decode-abc12" / "20261127T071000.log.tmp").write_text("not a log")
    (tmp_path / "secret.txt").write_text("outside")
    (pvc / "evil").mkdir()
    (pvc / "evil" / "20261127T070000.log").symlink_to(tmp_path / "secret.txt")
    ReaderPod(fake, pvc, tmp_path)

    written = pvc_logs.copy_pvc_logs(fake.api_client(), "ft", "run-1", "ft-logs-run-1", IMAGE, evidence_dir,
                                     {"ft-agg-decode-abc12": "decode"})

    files = sorted(p.relative_to(evidence_dir).as_posix() for p in evidence_dir.rglob("*") if p.is_file())
    assert files == ["decode/ft-agg-decode-abc12_20261127T070000.pvc.log",
                     "decode/ft-agg-decode-abc12_20261127T070510.pvc.log",
                     "unknown/ft-agg-decode-gone1_20261127T065900.pvc.log"]
    assert sorted(written) == sorted(evidence_dir / f for f in files)
    assert (evidence_dir / files[1]).read_text() == "after the kill\n"
    created = fake.requests("POST", "/jobs")[0].data
    volume = created["spec"]["template"]["spec"]["volumes"][0]
    assert volume["persistentVolumeClaim"] == {"claimName": "ft-logs-run-1", "readOnly": True}
    assert [s.path for s in fake.requests("DELETE")] == [f"/apis/batch/v1/namespaces/ft/jobs/{created['metadata']['name']}"]


@pytest.mark.parametrize("member", ["../x/20261127T070000.log", "./a/../../20261127T070000.log", "/etc/20261127T070000.log",
                                    "a/b/20261127T070000.log", "A_B/20261127T070000.log", "a/20261127T070000.previous.log"])
def test_a_pvc_file_name_that_could_leave_its_folder_or_is_not_a_stamped_log_is_skipped(member, tmp_path):
    assert pvc_logs.pvc_log_target(member, tmp_path, {}) is None


def test_a_tar_member_aimed_outside_the_evidence_folder_writes_nothing_there(tmp_path, evidence_dir):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name in ("../../outside/20261127T070000.log", "pod-a/20261127T070000.log"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"hi\n"))

    written = pvc_logs.write_pvc_logs(data.getvalue(), evidence_dir, {"pod-a": "decode"})

    assert written == [evidence_dir / "decode" / "pod-a_20261127T070000.pvc.log"]
    assert not (tmp_path / "outside").exists()
    with pytest.raises(SpecError, match="service name"):
        pvc_logs.write_pvc_logs(data.getvalue(), evidence_dir, {"pod-a": "../up"})
