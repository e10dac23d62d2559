"""aiperf as the load client: a subprocess in its own session, with a hard timeout.

Stopping early sends SIGINT once profiling has started (aiperf then writes its results with
``was_cancelled``); a SIGINT during aiperf's own start-up can hang it, so before profiling starts
a stop kills its process group instead. Whatever happens, the process group is gone afterwards.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ftlib import evidence
from ftlib.errors import LoadError
from ftlib.load.config import LoadConfig
from ftlib.load.results import RECORDS_FILE, LoadResults
from ftlib.load.runner import WaitWithTimeout
from ftlib.model_card import HUB_REPO_ID, ensure_hub_cache, is_model_card
from ftlib.process import ProcessGroup, spawn

log = logging.getLogger(__name__)
STARTED_MARKERS = ("AIPerf System is PROFILING", "Phase profiling (profiling) started")
START_TIMEOUT = 90.0
STOP_GRACE = 30.0


def aiperf_argv(config: LoadConfig, url: str, model: str, tokenizer: str, output_dir: Path) -> list[str]:
    """The aiperf command line for ``config`` (an argv list, never a shell string)."""
    osl = config.output_tokens_mean
    argv = [str(Path(sys.executable).with_name("aiperf")), "profile",
            "--model", model, "--tokenizer", tokenizer, "--url", url,
            "--endpoint-type", "chat", "--ui-type", "none",
            "--isl", str(config.input_tokens_mean), "--isl-stddev", "0",
            "--osl", str(osl), "--osl-stddev", "0",
            "--prompt-corpus", "random", "--random-seed", str(config.random_seed),
            "--concurrency", str(config.concurrency),
            "--request-timeout-seconds", f"{config.request_timeout_seconds:g}",
            "--no-server-metrics", "--no-gpu-telemetry",
            "--export-level", "records", "--output-artifact-dir", str(output_dir),
            "--extra-inputs", f"max_tokens:{osl}", "--extra-inputs", f"min_tokens:{osl}",
            "--extra-inputs", f"temperature:{config.temperature:g}"]
    if config.ignore_eos:
        argv += ["--extra-inputs", "ignore_eos:true"]
    for key, value in config.extra_inputs.items():
        argv += ["--extra-inputs", f"{key}:{value}"]
    if config.streaming:
        argv += ["--streaming", "--use-server-token-count"]
    if config.duration is not None:
        argv += ["--benchmark-duration", f"{config.duration:g}", "--benchmark-grace-period", "5"]
    else:
        argv += ["--request-count", str(config.request_count)]
    if config.effective_request_rate is not None:
        argv += ["--request-rate", f"{config.effective_request_rate:g}"]
    if config.warmup_requests:
        argv += ["--warmup-request-count", str(config.warmup_requests)]
    return argv


def tokenizer_source(tokenizer: str, use_hub_cache: bool = True) -> tuple[str, Path | None]:
    """What aiperf is given as its tokenizer, and the hub cache it reads it from: for a model card
    directory (`ftlib.model_card.is_model_card`), `HUB_REPO_ID` in the card's hub cache (made
    once if missing); anything else (a name, another folder, or ``use_hub_cache=False``) as it is."""
    if use_hub_cache and is_model_card(tokenizer):
        return HUB_REPO_ID, ensure_hub_cache(Path(tokenizer))
    return tokenizer, None


def aiperf_env(temp_dir: Path, hub_cache: Path | None) -> dict[str, str]:
    """aiperf's environment: this process's, with its temporary files in ``temp_dir`` and, when
    its tokenizer is a model card, the card's hub cache (`ftlib.model_card.ensure_hub_cache`) in
    HF offline mode: aiperf then loads the tokenizer once, not a second time first to "warm the
    cache" (~1.5 s of every start), and never looks for the network. Any other tokenizer runs
    without offline mode: aiperf 0.13 offline looks even a local path up in the hub cache, and fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONUNBUFFERED="1", HF_HUB_DISABLE_TELEMETRY="1", TMPDIR=str(temp_dir))
    if hub_cache is not None:
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_CACHE=str(hub_cache))
    return env


@dataclass
class AiperfLoad(WaitWithTimeout):
    """One aiperf run against ``url``, writing into ``output_dir``.

    aiperf's own temporary files (an ``aiperf_mmap_*`` folder per run) go to ``temp_dir`` (its
    ``TMPDIR``; default: a new folder in the system's temporary folder), which is removed once
    aiperf has exited. A model card as ``tokenizer`` is read from its shared, read-only hub cache
    (`aiperf_env`)."""

    name: str
    config: LoadConfig
    url: str
    model: str
    tokenizer: str
    output_dir: Path
    temp_dir: Path | None = None
    use_hub_cache: bool = True  # a model card directory as tokenizer: read from its hub cache (False: as a path)
    process: ProcessGroup | None = field(default=None, init=False)
    _hub_cache: Path | None = field(default=None, init=False)
    profiling_started_ns: int | None = field(default=None, init=False)
    stopped_early: bool = field(default=False, init=False)
    _temp_root: Path | None = field(default=None, init=False)  # None: the folders registered in ftlib.evidence
    _results: LoadResults | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.output_dir / "aiperf.out"

    @property
    def hard_timeout(self) -> float:
        return self.config.hard_timeout(START_TIMEOUT)

    def start(self) -> None:
        """Launch aiperf and return once it is sending requests (profiling started)."""
        # never read an earlier run's records or markers as this run's; checked to lie inside the evidence
        evidence.remove_tree(self.output_dir)
        evidence.make_dir(self.output_dir)
        tokenizer, self._hub_cache = tokenizer_source(self.tokenizer, self.use_hub_cache)
        argv = aiperf_argv(self.config, self.url, self.model, tokenizer, self.output_dir)
        evidence.write_text(self.output_dir / "aiperf.argv", "\n".join(argv) + "\n")
        if self.temp_dir is None:
            self.temp_dir = Path(tempfile.mkdtemp(prefix=f"dynamo-ft-aiperf-{self.name}-"))
            self._temp_root = Path(tempfile.gettempdir())
        else:
            evidence.make_dir(self.temp_dir)
        self.process = spawn(argv, aiperf_env(self.temp_dir, self._hub_cache), self.log_path)
        self._started_at = time.monotonic()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._profiling_started():
            if self.process.poll() is not None:
                if (self.output_dir / RECORDS_FILE).exists():
                    break  # a short load may finish before we look
                raise LoadError(f"aiperf for load {self.name!r} exited with code {self.process.returncode} "
                                f"before sending requests; last output:\n{self._tail()}")
            if time.monotonic() > deadline:
                self._kill()
                raise LoadError(f"aiperf for load {self.name!r} did not start profiling within {START_TIMEOUT:g} s; "
                                f"last output:\n{self._tail()}")
            time.sleep(0.1)
        self.profiling_started_ns = time.time_ns()

    def _profiling_started(self) -> bool:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return False
        return any(marker in text for marker in STARTED_MARKERS)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _join(self, seconds: float) -> bool:
        try:
            self.process.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> LoadResults:
        """Stop early: SIGINT so aiperf writes its results, SIGKILL of its group if it lingers."""
        if self.running:
            self.stopped_early = True
            if self._profiling_started():
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    log.warning("aiperf for load %r ignored SIGINT for %.0f s: killing it", self.name, STOP_GRACE)
            self._kill()
        return self.results()

    def _kill(self) -> None:
        """SIGKILL aiperf's group (unless it was reaped already), then remove its temporary folder."""
        if self.process is not None:
            self.process.stop(grace_seconds=0)
        if self.temp_dir is not None and self.temp_dir.exists() and not self.running:
            try:
                evidence.remove_tree(self.temp_dir, root=self._temp_root)
            except OSError as error:
                log.warning("removing aiperf's temporary folder %s: %s", self.temp_dir, error)

    def results(self) -> LoadResults:
        self._kill()  # aiperf's helper processes are gone even after a clean exit
        if self._results is None:
            self._results = LoadResults.from_aiperf_dir(
                self.name, self.output_dir, self.config.output_tokens_mean, self.config.streaming,
                self.stopped_early, self.process.returncode if self.process else None)
        return self._results

    def _tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"
