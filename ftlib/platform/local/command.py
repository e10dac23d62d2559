"""How a service's declared container becomes a local process.

The frontend runs as itself. Every worker runs Dynamo's mocker engine: ``dynamo.mocker`` with
``--engine-type <backend>`` for vllm/sglang/trtllm services, keeping the service's
disaggregation mode, serving the deployment's model name from the project's tiny model card.
Only arguments the mocker understands and that mean the same there are carried over; the others
(GPU, tensor-parallel and engine-file options) are listed in ``dropped`` so a plan can show them.
Every listener is bound to loopback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ftlib.spec import DeploymentSpec, ServiceSpec

RUNTIME_ARGS = ["--discovery-backend", "file", "--request-plane", "tcp", "--event-plane", "zmq"]
# Flags the local platform sets itself; a declared value is replaced.
_OWNED_FLAGS = {"--http-host", "--http-port", "--discovery-backend", "--request-plane", "--event-plane",
                "--model-path", "--model-name", "--model", "--served-model-name", "--engine-type",
                "--disaggregation-mode", "--endpoint"}
# Mocker flags that mean the same thing on a real engine or only tune the simulation.
MOCKER_FLAGS_WITH_VALUE = {"--speedup-ratio", "--decode-speedup-ratio", "--startup-time", "--max-num-seqs",
                           "--max-num-batched-tokens", "--max-model-len", "--num-gpu-blocks-override",
                           "--block-size", "--data-parallel-size", "--num-workers", "--stagger-delay",
                           "--kv-transfer-bandwidth", "--preemption-mode", "--router-mode"}
MOCKER_BARE_FLAGS = {"--enable-prefix-caching", "--no-enable-prefix-caching", "--enable-chunked-prefill",
                     "--no-enable-chunked-prefill"}
ENGINES = ("vllm", "sglang", "trtllm")


@dataclass
class LocalCommand:
    """The argv a local pod runs, and what of the declared command was left out."""

    argv: list[str]
    dropped: list[str] = field(default_factory=list)


def _split_flags(args: list[str]) -> list[tuple[str, str | None]]:
    """Pair each ``--flag`` with its value (None for a bare flag); positional words stand alone."""
    pairs: list[tuple[str, str | None]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            flag, value = arg.split("=", 1)
            pairs.append((flag, value))
        elif arg.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            pairs.append((arg, args[i + 1]))
            i += 1
        else:
            pairs.append((arg, None))
        i += 1
    return pairs


def frontend_command(service: ServiceSpec, http_port: int) -> LocalCommand:
    kept: list[str] = []
    dropped: list[str] = []
    for flag, value in _split_flags(service.args):
        words = [flag] + ([value] if value is not None else [])
        if flag not in _OWNED_FLAGS:  # flags the platform sets itself are replaced, not dropped
            kept.extend(words)
    argv = [sys.executable, "-m", "dynamo.frontend", *kept,
            "--http-host", "127.0.0.1", "--http-port", str(http_port), *RUNTIME_ARGS]
    return LocalCommand(argv, dropped)


def disaggregation_mode(spec: DeploymentSpec, service: ServiceSpec) -> str:
    declared = service.arg_value("--disaggregation-mode")
    if declared in ("agg", "prefill", "decode"):
        return declared
    if spec.topology == "disagg" and service.role in ("prefill", "decode"):
        return service.role
    return "agg"


def worker_command(spec: DeploymentSpec, service: ServiceSpec, model_card: Path) -> LocalCommand:
    kept: list[str] = []
    dropped: list[str] = []
    for flag, value in _split_flags(service.args):
        words = [flag] + ([value] if value is not None else [])
        known = (flag in MOCKER_FLAGS_WITH_VALUE and value is not None) or (flag in MOCKER_BARE_FLAGS and value is None)
        if flag in _OWNED_FLAGS:
            continue  # replaced by the platform's own value
        (kept if known else dropped).extend(words)
    argv = [sys.executable, "-m", "dynamo.mocker", "--model-path", str(model_card), "--model-name", spec.model_name]
    if service.engine in ENGINES:
        argv += ["--engine-type", service.engine]
    mode = disaggregation_mode(spec, service)
    if mode != "agg":
        argv += ["--disaggregation-mode", mode]
    return LocalCommand(argv + kept + RUNTIME_ARGS, dropped)
