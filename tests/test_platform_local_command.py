"""ftlib.platform.local.command: how a declared service becomes a local process's argv.

Nothing is started: the argv lists are compared, and parsed by the installed mocker's own
argument parser.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ftlib.platform.local.command import RUNTIME_ARGS, frontend_command, worker_command
from ftlib.spec import BACKENDS, TOPOLOGIES, DeploymentSpec, get_deployment_spec

CARD = Path("/cache/dynamo-ft/model-card-v1")
MOCKER = [sys.executable, "-m", "dynamo.mocker", "--model-path", str(CARD)]


def value_after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def worker(backend: str, topology: str, service: str):
    spec = get_deployment_spec(backend, topology)
    return worker_command(spec, spec.resolve_service(service), CARD)


def test_a_vllm_disagg_decode_worker_runs_as_a_vllm_mocker_in_decode_mode():
    command = worker("vllm", "disagg", "decode worker")

    assert command.argv == MOCKER + [
        "--model-name", "Qwen/Qwen3-0.6B", "--engine-type", "vllm", "--disaggregation-mode", "decode",
        "--discovery-backend", "file", "--request-plane", "tcp", "--event-plane", "zmq"]


def test_a_vllm_disagg_prefill_worker_reports_its_kv_transfer_config_as_dropped():
    command = worker("vllm", "disagg", "prefill worker")

    assert value_after(command.argv, "--disaggregation-mode") == "prefill"
    assert "--kv-transfer-config" not in command.argv
    index = command.dropped.index("--kv-transfer-config")
    assert command.dropped[index + 1] == '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'


def test_the_mocker_agg_decode_service_runs_without_a_disaggregation_mode():
    spec = get_deployment_spec("mocker", "agg")
    service = spec.get_service("decode")
    assert service.sub_component_type == "decode" and spec.topology == "agg"

    command = worker_command(spec, service, CARD)

    assert "--disaggregation-mode" not in command.argv
    assert "--engine-type" not in command.argv  # the mocker is already the engine
    assert command.argv == MOCKER + ["--model-name", "Qwen/Qwen3-0.6B", "--speedup-ratio", "1.0", *RUNTIME_ARGS]


@pytest.mark.parametrize("service", ["decode", "prefill"])
def test_the_mocker_disagg_workers_keep_their_modes(service):
    argv = worker("mocker", "disagg", service).argv

    assert argv.count("--disaggregation-mode") == 1
    assert value_after(argv, "--disaggregation-mode") == service


def test_unsupported_sglang_args_are_reported_in_dropped():
    command = worker("sglang", "agg", "worker")

    assert command.argv[5:9] == ["--model-name", "Qwen/Qwen3-0.6B", "--engine-type", "sglang"]
    for word in ("--page-size", "16", "--tp", "1", "--trust-remote-code", "--skip-tokenizer-init"):
        assert word in command.dropped and word not in command.argv[9:]


def test_trtllm_engine_files_are_dropped():
    command = worker("trtllm", "agg", "worker")

    assert "--engine-type" in command.argv and "trtllm" in command.argv
    assert command.dropped[-2:] == ["--extra-engine-args", "./examples/backends/trtllm/engine_configs/qwen3/agg.yaml"]


def test_flags_the_platform_owns_are_never_doubled():
    command = worker("sglang", "disagg", "decode worker")

    for flag in ("--model-path", "--model-name", "--disaggregation-mode", "--discovery-backend"):
        assert command.argv.count(flag) == 1, flag
    assert "--served-model-name" not in command.dropped, "a flag the platform sets is replaced, not dropped"


def test_mocker_tuning_flags_added_to_a_service_are_kept_in_either_spelling():
    spec = get_deployment_spec("vllm", "agg")
    service = spec.resolve_service("worker")
    service.add_args(["--max-num-seqs=8", "--enable-prefix-caching", "--speedup-ratio", "10",
                      "--gpu-memory-utilization", "0.9"])

    command = worker_command(spec, service, CARD)

    kept = command.argv[len(command.argv) - len(RUNTIME_ARGS) - 5:-len(RUNTIME_ARGS)]
    assert kept == ["--max-num-seqs", "8", "--enable-prefix-caching", "--speedup-ratio", "10"]
    assert command.dropped[-2:] == ["--gpu-memory-utilization", "0.9"]


def test_a_mocker_flag_missing_its_value_is_dropped_not_passed_on():
    spec = get_deployment_spec("mocker", "agg")
    service = spec.get_service("decode")
    service.add_args(["--max-num-seqs"])

    command = worker_command(spec, service, CARD)

    assert "--max-num-seqs" not in command.argv and command.dropped[-1] == "--max-num-seqs"


def test_the_frontend_binds_loopback_and_keeps_its_migration_limit():
    spec = get_deployment_spec("vllm", "disagg")
    spec.frontend.set_arg("--migration-limit", "3")

    command = frontend_command(spec.frontend, 18000)

    assert command.argv == [sys.executable, "-m", "dynamo.frontend", "--migration-limit", "3",
                            "--http-host", "127.0.0.1", "--http-port", "18000", *RUNTIME_ARGS]
    assert command.dropped == []


def test_a_declared_frontend_host_and_port_are_replaced():
    spec = get_deployment_spec("mocker", "agg")
    spec.frontend.add_args(["--http-host", "0.0.0.0", "--http-port=8000", "--router-mode", "kv"])

    command = frontend_command(spec.frontend, 18001)

    assert command.argv.count("--http-host") == 1 and command.argv.count("--http-port") == 1
    assert value_after(command.argv, "--http-port") == "18001"
    assert command.argv[3:5] == ["--router-mode", "kv"]
    assert command.dropped == [], "the platform's own --http-host/--http-port replace the declared ones"


# -- Dynamo's own examples --------------------------------------------------------------------------

def test_the_upstream_vllm_agg_worker_named_decode_runs_aggregated(reference_dir):
    spec = DeploymentSpec.from_yaml(reference_dir / "vllm-agg.yaml")

    command = worker_command(spec, spec.get_service("VllmDecodeWorker"), CARD)

    assert "--disaggregation-mode" not in command.argv
    assert command.argv[5:9] == ["--model-name", "Qwen/Qwen3-0.6B", "--engine-type", "vllm"]


@pytest.mark.parametrize("schema", ["", ".v1beta1"])
def test_the_upstream_mocker_example_drops_its_planner_profile_data(reference_dir, schema):
    spec = DeploymentSpec.from_yaml(reference_dir / f"mocker-disagg{schema}.yaml")

    command = worker_command(spec, spec.resolve_service("prefill worker"), CARD)

    assert command.argv[5:7] == ["--model-name", "nvidia/Llama-3.1-8B-Instruct-FP8"]
    assert "--planner-profile-data" in command.dropped
    assert value_after(command.argv, "--disaggregation-mode") == "prefill"


# -- the installed mocker accepts what we build --------------------------------------------------------

SHIPPED_WORKERS = [(b, t, s) for b in BACKENDS for t in TOPOLOGIES for s in get_deployment_spec(b, t).services
                   if s != "Frontend"]


@pytest.mark.parametrize("backend, topology, service", SHIPPED_WORKERS,
                         ids=[f"{b}-{t}-{s}" for b, t, s in SHIPPED_WORKERS])
def test_the_installed_mocker_parses_every_shipped_worker_command(backend, topology, service):
    from dynamo.mocker import args as mocker_args  # installed by ./run setup: a missing mocker fails, never skips
    spec = get_deployment_spec(backend, topology)
    command = worker_command(spec, spec.get_service(service), CARD)

    parsed = mocker_args.parse_args(command.argv[3:])

    assert parsed.model_name == "Qwen/Qwen3-0.6B"
    assert parsed.engine_type == ("vllm" if backend == "mocker" else backend)
    role = spec.get_service(service).role
    assert (parsed.disaggregation_mode or "agg") == (role if topology == "disagg" else "agg")
    assert (parsed.discovery_backend, parsed.request_plane, parsed.event_plane) == ("file", "tcp", "zmq")
