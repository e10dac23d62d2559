"""Load from inside the cluster: aiperf (or the built-in ``legacy`` client) as a Job aimed at the
frontend Service, with the same interface as `ftlib.load.aiperf.AiperfLoad`.

The Job's container runs a small wrapper (`WRAPPER`, Python, argv only) that starts the client,
copies its output to the pod log and to ``load.out``, forwards SIGINT/SIGTERM to it, prints
``dynamo-ft: load exited <code>`` when it ends, and then keeps the pod alive so the artifact folder
can be copied back. `LoadJobRunner.stop` sends SIGINT to the wrapper (PID 1, which installs a
handler for it) through exec; the client then writes its results marked as cancelled.

Results are copied back before the Job is deleted: the artifact folder is packed into a tar.gz in
the pod, read in base64 chunks through exec, checked against the size and SHA-256 the pod
reported, and unpacked into ``<evidence>/load/<name>/``. Counting then reads
``profile_export.jsonl`` exactly as for a local load (`LoadResults.from_aiperf_dir`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import secrets
import logging
import signal
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ftlib import evidence
from ftlib.errors import LoadError, PlatformError
from ftlib.load.aiperf import STARTED_MARKERS, aiperf_argv
from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults
from ftlib.load.runner import WaitWithTimeout
from ftlib.platform.kubernetes.config import ClusterOptions
from ftlib.platform.kubernetes.jobs import (CHUNK, PACK, copy_folder_back, create_job, delete_job, dns_name,  # noqa: F401
                                            exec_in_pod, job_pod, stuck_reason, suite_labels,
                                            wait_for_job_pod_running)
from ftlib.platform.kubernetes.retry import call_api, explain

log = logging.getLogger("ftlib.platform.kubernetes")

AIPERF_VERSION = "0.13.0"
PIP_INSTALL = "pip-install"  # -D load_image=pip-install: python:3.12-slim + pip install aiperf==0.13.0
PIP_BASE_IMAGE = "python:3.12-slim"
CONTAINER = "load"
RESULTS_DIR = PurePosixPath("/results")
ARTIFACT_DIR = RESULTS_DIR / "aiperf"
PACKED = RESULTS_DIR / "artifacts.tar.gz"
FRONTEND_PORT = 8000
DONE_MARKER = "dynamo-ft: load exited"
LEGACY_STARTED = "dynamo-ft: legacy load sending requests"
START_TIMEOUT = 300.0  # image pull and aiperf start-up inside the cluster
STOP_GRACE = 30.0  # for SIGINT: the client writes its results
KILL_GRACE = 10.0  # for SIGTERM after that
COPY_HOLD_SECONDS = 1800  # how long a finished pod waits to be copied back before the Job's deadline
CHUNK_BYTES = 4 * 1024 * 1024
MAX_ARTIFACT_BYTES = 2 * 1024 ** 3

# Runs as PID 1 of the load container: python -c WRAPPER <out_dir> <argv...>
WRAPPER = r"""
import importlib.metadata, os, signal, subprocess, sys, time
out_dir, argv = sys.argv[1], sys.argv[2:]
os.makedirs(out_dir, exist_ok=True)
need = os.environ.get("DYNAMO_FT_REQUIRE", "")
if need:
    package, _, version = need.partition("==")
    try:
        found = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        found = "not installed"
    if found != version:
        print(f"dynamo-ft: this image has {package} {found}; the suite needs {need}", flush=True)
        print("dynamo-ft: load exited 97", flush=True)
        argv = []
child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) if argv else None
done = False
def forward(signum, frame):
    if done:
        sys.exit(0)
    if child is not None and child.poll() is None:
        child.send_signal(signum)
signal.signal(signal.SIGINT, forward)
signal.signal(signal.SIGTERM, forward)
if child is not None:
    with open(os.path.join(out_dir, "load.out"), "ab") as out:
        for line in iter(child.stdout.readline, b""):
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            out.write(line)
            out.flush()
    print(f"dynamo-ft: load exited {child.wait()}", flush=True)
done = True
while True:
    time.sleep(3600)
"""

INTERRUPT = ["python", "-c", "import os, signal; os.kill(1, signal.SIGINT)"]
TERMINATE = ["python", "-c", "import os, signal; os.kill(1, signal.SIGTERM)"]


def frontend_service_url(dgd: str, frontend_service: str, namespace: str, port: int = FRONTEND_PORT) -> str:
    """The in-cluster URL of a DGD's frontend: the operator's Service ``<dgd>-<service lower case>``."""
    return f"http://{dgd}-{frontend_service.lower()}.{namespace}.svc.cluster.local:{port}"


def load_argv(client_type: str, name: str, config: LoadConfig, url: str, model: str, tokenizer: str) -> list[str]:
    """The load client's argv inside the Job (its artifacts go to `ARTIFACT_DIR`)."""
    if client_type == "legacy":
        return ["python", "-m", "ftlib.platform.kubernetes.load_job", "legacy", "--name", name,
                "--config", json.dumps(asdict(config)), "--url", url, "--model", model,
                "--output-dir", str(ARTIFACT_DIR)]
    argv = aiperf_argv(config, url, model, tokenizer, Path(str(ARTIFACT_DIR)))
    return ["aiperf"] + argv[1:]  # the aiperf on the image's PATH, not this machine's


def job_name(load_name: str) -> str:
    """``ft-load-<load name, cut to 16>-<8 hex>``: a DNS label, new for every start of a load (a
    load started again under the same name never meets its predecessor's pods)."""
    slug = dns_name(load_name)
    if len(slug) > 16:
        slug = slug[:9].rstrip("-") + "-" + hashlib.sha256(load_name.encode()).hexdigest()[:6]
    return dns_name("ft-load", slug, secrets.token_hex(4))


@dataclass(frozen=True)
class LoadJobImage:
    """The image of the load Job and how its client gets there."""

    image: str
    pip_install: bool = False

    @classmethod
    def choose(cls, options: ClusterOptions) -> "LoadJobImage":
        """``-D load_image`` (``pip-install`` names the pip fallback), else the services' ``-D image``."""
        if options.load_image == PIP_INSTALL:
            return cls(PIP_BASE_IMAGE, pip_install=True)
        image = options.load_image or options.image
        if not image:
            raise PlatformError(f"the load Job needs an image with aiperf {AIPERF_VERSION}: set -D load_image=<image> "
                                f"(or -D image=, or -D load_image={PIP_INSTALL} to pip install it in "
                                f"{PIP_BASE_IMAGE}, which needs egress to PyPI)")
        return cls(image)


def load_job_manifest(name: str, namespace: str, run_id: str, image: LoadJobImage, argv: list[str],
                      client_type: str = "aiperf", deadline_seconds: int = 3600) -> dict:
    """The load Job: one pod, never retried, running `WRAPPER` around ``argv`` (a list; nothing is
    built into a shell string). The pod is deleted by the suite; ``ttlSecondsAfterFinished`` and
    ``activeDeadlineSeconds`` bound what a killed run can leave behind."""
    labels = suite_labels(run_id, "load")
    env = [{"name": "PYTHONUNBUFFERED", "value": "1"}, {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"}]
    if client_type != "legacy":
        env.append({"name": "DYNAMO_FT_REQUIRE", "value": f"aiperf=={AIPERF_VERSION}"})
    wrapped = [str(RESULTS_DIR), *argv]
    if image.pip_install:
        command = ["sh", "-c", f'pip install --quiet --no-cache-dir "aiperf=={AIPERF_VERSION}" && exec python -c "$0" "$@"',
                   WRAPPER, *wrapped]
    else:
        command = ["python", "-c", WRAPPER, *wrapped]
    container = {"name": CONTAINER, "image": image.image, "command": command, "env": env,
                 "volumeMounts": [{"name": "results", "mountPath": str(RESULTS_DIR)}],
                 "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 3600, "activeDeadlineSeconds": deadline_seconds,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 5,
                                           "containers": [container],
                                           "volumes": [{"name": "results", "emptyDir": {}}]}}}}


def exit_code_in(log_text: str) -> int | None:
    """The load client's exit code the wrapper printed, or None while it runs."""
    for line in reversed(log_text.splitlines()):
        if line.startswith(DONE_MARKER):
            try:
                return int(line[len(DONE_MARKER):].strip())
            except ValueError:
                return None
    return None


def unpack(data: bytes, directory: Path) -> None:
    """Unpack a copied-back artifact archive into ``directory`` (no path may leave it)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(directory, filter="data")


@dataclass
class LoadJobRunner(WaitWithTimeout):
    """A load run as a Kubernetes Job in the deployment's namespace.

    It has the interface of `ftlib.load.aiperf.AiperfLoad`: `start` returns once requests are being
    sent, `stop` sends SIGINT (through exec) and waits for the client to write its results, `wait`
    waits with a timeout, `results` copies the artifact folder back into ``output_dir`` (before
    the Job is deleted) and counts the requests honestly from ``profile_export.jsonl``. A load with
    no records, or whose artifacts could not be copied back, is an error, never an empty success.
    """

    name: str
    config: LoadConfig
    url: str
    model: str
    tokenizer: str
    output_dir: Path
    api: client.ApiClient
    namespace: str
    run_id: str
    image: LoadJobImage
    client_type: str = "aiperf"
    profiling_started_ns: int | None = field(default=None, init=False)
    stopped_early: bool = field(default=False, init=False)
    job: str = field(default="", init=False)
    pod: str | None = field(default=None, init=False)
    return_code: int | None = field(default=None, init=False)
    _results: LoadResults | None = field(default=None, init=False, repr=False)
    _started_at: float = field(default=0.0, init=False, repr=False)
    _deleted: bool = field(default=False, init=False, repr=False)
    _gave_up: bool = field(default=False, init=False, repr=False)  # the client ignored SIGINT and SIGTERM

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.core, self.batch = client.CoreV1Api(self.api), client.BatchV1Api(self.api)
        self.job = job_name(self.name)

    @property
    def hard_timeout(self) -> float:
        return self.config.hard_timeout(START_TIMEOUT)

    def argv(self) -> list[str]:
        return load_argv(self.client_type, self.name, self.config, self.url, self.model, self.tokenizer)

    def manifest(self) -> dict:
        argv = self.argv()
        deadline = int(self.hard_timeout) + COPY_HOLD_SECONDS
        return load_job_manifest(self.job, self.namespace, self.run_id, self.image, argv, self.client_type, deadline)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Create the Job and return once the client is sending requests."""
        # never read an earlier run's records as this run's; checked to lie inside the evidence
        evidence.remove_tree(self.output_dir)
        evidence.make_dir(self.output_dir)
        manifest = self.manifest()
        evidence.write_text(self.output_dir / "load_job.yaml", yaml.safe_dump(manifest, sort_keys=False))
        evidence.write_text(self.output_dir / "aiperf.argv", "\n".join(self.argv()) + "\n")
        self._started_at = time.monotonic()
        create_job(self.batch, self.namespace, manifest)
        try:
            self.pod = wait_for_job_pod_running(self.core, self.namespace, self.job, START_TIMEOUT,
                                                f"load {self.name!r}").metadata.name
            self._wait_started(time.monotonic() + START_TIMEOUT)
        except BaseException:
            self._delete()
            raise
        self.profiling_started_ns = time.time_ns()

    def _wait_started(self, deadline: float) -> None:
        markers = STARTED_MARKERS + (LEGACY_STARTED,)
        while True:
            text = self._log()
            if any(marker in text for marker in markers):
                return
            code = exit_code_in(text)
            if code is not None or self._pod_phase() in ("Failed", "Succeeded"):
                raise LoadError(f"load {self.name!r} (Job {self.job}) exited with code {code} before sending "
                                f"requests; last output:\n{self._tail(text)}")
            if time.monotonic() > deadline:
                raise LoadError(f"load {self.name!r} (Job {self.job}) did not start sending requests within "
                                f"{START_TIMEOUT:g} s; last output:\n{self._tail(text)}")
            time.sleep(1.0)

    @property
    def running(self) -> bool:
        if self.pod is None or self._deleted or self.return_code is not None:
            return False
        self.return_code = exit_code_in(self._log(tail_lines=20))
        return self.return_code is None and self._pod_phase() == "Running"

    def _join(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.running:
            if time.monotonic() > deadline:
                return False
            time.sleep(1.0)
        return True

    def stop(self) -> LoadResults:
        """Stop early: SIGINT to the client (through exec), wait for it to write its results."""
        if self.running:
            self.stopped_early = True
            self._signal(INTERRUPT)
            if not self._join(STOP_GRACE):
                log.warning("load %r ignored SIGINT for %.0f s: sending SIGTERM", self.name, STOP_GRACE)
                self._signal(TERMINATE)
                self._gave_up = not self._join(KILL_GRACE)
                if self._gave_up:
                    log.error("load %r ignored SIGTERM too: copying back what it wrote so far", self.name)
        return self.results()

    def _signal(self, argv: list[str]) -> None:
        result = exec_in_pod(self.core, self.namespace, self.pod, argv, CONTAINER, timeout=30)
        if result.returncode not in (0, None):
            log.warning("signalling load %r in pod %s: exit %s %s", self.name, self.pod, result.returncode,
                        result.stderr.strip())

    def results(self) -> LoadResults:
        """Copy the artifacts back (once), delete the Job, count the requests."""
        if self._results is None:
            try:
                if not self._deleted and self.pod is not None:
                    if self.running and not self._gave_up:
                        raise LoadError(f"load {self.name!r} is still running; wait for it or stop it first")
                    self._copy_back()
            finally:
                self._delete()
            results = LoadResults.from_aiperf_dir(self.name, self.output_dir, self.config.output_tokens_mean,
                                                  self.config.streaming, self.stopped_early, self.return_code)
            if self.client_type == "legacy":
                results.notes = [n for n in results.notes if not n.startswith("aiperf wrote no summary")]
            self._results = results
        return self._results

    # -- the copy back --------------------------------------------------------------------
    def _copy_back(self) -> None:
        evidence.write_text(self.output_dir / "aiperf.out", self._log())
        data = copy_folder_back(self.core, self.namespace, self.pod, CONTAINER, str(ARTIFACT_DIR), str(PACKED),
                                f"the artifacts of load {self.name!r}", LoadError, chunk_bytes=CHUNK_BYTES,
                                max_bytes=MAX_ARTIFACT_BYTES)
        size = len(data)
        unpack(data, self.output_dir)
        log.info("load %r: copied %d bytes of artifacts back from pod %s", self.name, size, self.pod)

    # -- helpers --------------------------------------------------------------------------
    def _log(self, tail_lines: int | None = None) -> str:
        kwargs = {"container": CONTAINER}
        if tail_lines:
            kwargs["tail_lines"] = tail_lines
        try:
            return call_api(self.core.read_namespaced_pod_log, self.pod, self.namespace, **kwargs) or ""
        except ApiException as error:
            if error.status in (400, 404):  # not started yet, or gone
                return ""
            raise PlatformError(explain(error, "read the log of", f"pod {self.pod}", self.namespace)) from error

    def _pod_phase(self) -> str | None:
        pod = job_pod(self.core, self.namespace, self.job)
        if pod is None:
            return None
        reason = stuck_reason(pod)
        if reason is not None:
            raise LoadError(f"load {self.name!r}: {reason}")
        return pod.status.phase if pod.status else None

    def _delete(self) -> None:
        if not self._deleted:
            delete_job(self.batch, self.namespace, self.job)
            self._deleted = True

    @staticmethod
    def _tail(text: str, lines: int = 15) -> str:
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def load_runner(options: ClusterOptions, api: client.ApiClient, run_id: str, name: str, config: LoadConfig,
                client_type: str, url: str, model: str, tokenizer: str, output_dir: Path) -> LoadJobRunner:
    """The runner `Deployment.load_runner` hands the scenario on the kubernetes platform."""
    return LoadJobRunner(name, config, url, model, tokenizer, output_dir, api, options.namespace, run_id,
                         LoadJobImage.choose(options), client_type)


# -- inside the Job: the legacy client ----------------------------------------------------
def legacy_main(argv: list[str]) -> int:
    """Run `ftlib.load.legacy.LegacyLoad` in the Job until it ends or SIGINT stops it."""
    from ftlib.load.legacy import LegacyLoad

    parser = argparse.ArgumentParser(prog="load_job legacy")
    for option in ("--name", "--config", "--url", "--model", "--output-dir"):
        parser.add_argument(option, required=True)
    args = parser.parse_args(argv)
    evidence.allow(Path(args.output_dir).parent)  # the Job's own results folder (an emptyDir)
    config = LoadConfig(**json.loads(args.config))
    runner = LegacyLoad(args.name, config, args.url, args.model, "", Path(args.output_dir))
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    runner.start()
    print(LEGACY_STARTED, flush=True)
    while not stop and runner.running:
        time.sleep(0.5)
    results = runner.stop() if stop else runner.wait()
    print(results.describe(), flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["legacy"]:
        sys.exit("usage: python -m ftlib.platform.kubernetes.load_job legacy --name N --config JSON --url U "
                 "--model M --output-dir D")
    sys.exit(legacy_main(sys.argv[2:]))
