"""ftlib.load.aiperf: the aiperf command line (no aiperf process is started here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ftlib.load.aiperf import AiperfLoad, aiperf_argv, aiperf_env, tokenizer_source
from ftlib.load.config import LoadConfig

URL = "http://127.0.0.1:8000"


def argv_of(**config) -> list[str]:
    return aiperf_argv(LoadConfig(**config), URL, "Qwen/Qwen3-0.6B", "/cards/tiny", Path("/out/load/default"))


def value_after(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, f"{flag} appears {argv.count(flag)} times in {argv}"
    return argv[argv.index(flag) + 1]


def extra_inputs(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, word in enumerate(argv) if word == "--extra-inputs"]
    return dict(pair.split(":", 1) for pair in pairs)


def test_the_command_is_an_argv_list_running_the_aiperf_beside_this_python():
    argv = argv_of(request_count=10)

    assert isinstance(argv, list) and all(isinstance(word, str) for word in argv)
    assert argv[0] == str(Path(sys.executable).with_name("aiperf"))
    assert argv[1] == "profile"


def test_the_command_aims_at_the_frontend_with_the_model_tokenizer_and_output_dir():
    argv = argv_of(request_count=10)

    assert value_after(argv, "--url") == URL
    assert value_after(argv, "--model") == "Qwen/Qwen3-0.6B"
    assert value_after(argv, "--tokenizer") == "/cards/tiny"
    assert value_after(argv, "--output-artifact-dir") == "/out/load/default"
    assert value_after(argv, "--export-level") == "records"  # the per-request records the results read


def test_a_count_load_sends_its_request_count_and_no_rate():
    argv = argv_of(request_count=50, concurrency=4)

    assert value_after(argv, "--request-count") == "50"
    assert value_after(argv, "--concurrency") == "4"
    assert "--request-rate" not in argv
    assert "--benchmark-duration" not in argv


def test_a_duration_load_runs_for_its_duration_at_the_default_rate():
    argv = argv_of(duration_seconds=90, concurrency=3)

    assert value_after(argv, "--benchmark-duration") == "90"
    assert value_after(argv, "--request-rate") == "6"
    assert "--request-count" not in argv


def test_a_duration_in_minutes_is_given_to_aiperf_in_seconds():
    assert value_after(argv_of(duration_minutes=0.5), "--benchmark-duration") == "30"


def test_an_explicit_rate_is_passed_on_for_a_count_load():
    assert value_after(argv_of(request_count=10, request_rate=2.5), "--request-rate") == "2.5"


def test_streaming_asks_for_server_token_counts():
    streaming = argv_of(request_count=10, streaming=True)
    plain = argv_of(request_count=10, streaming=False)

    assert "--streaming" in streaming and "--use-server-token-count" in streaming
    assert "--streaming" not in plain and "--use-server-token-count" not in plain


@pytest.mark.parametrize("osl", [1, 64, 200])
def test_output_length_is_pinned_by_min_and_max_tokens(osl):
    argv = argv_of(request_count=10, output_tokens_mean=osl)

    assert extra_inputs(argv)["min_tokens"] == extra_inputs(argv)["max_tokens"] == str(osl)
    assert value_after(argv, "--osl") == str(osl)
    assert value_after(argv, "--osl-stddev") == "0"


def test_ignore_eos_and_extra_inputs_are_sent_as_extra_inputs():
    argv = argv_of(request_count=10, extra_inputs={"top_p": 0.9})

    assert extra_inputs(argv) == {"max_tokens": "64", "min_tokens": "64", "temperature": "0",
                                  "ignore_eos": "true", "top_p": "0.9"}
    assert "ignore_eos" not in extra_inputs(argv_of(request_count=10, ignore_eos=False))


def test_input_length_seed_and_timeout_come_from_the_config():
    argv = argv_of(request_count=10, input_tokens_mean=256, random_seed=7, request_timeout_seconds=12.5)

    assert value_after(argv, "--isl") == "256"
    assert value_after(argv, "--random-seed") == "7"
    assert value_after(argv, "--request-timeout-seconds") == "12.5"


def test_warmup_requests_are_passed_only_when_asked_for():
    assert value_after(argv_of(request_count=10, warmup_requests=3), "--warmup-request-count") == "3"
    assert "--warmup-request-count" not in argv_of(request_count=10)


def test_a_load_runner_is_not_running_before_it_starts(tmp_path):
    load = AiperfLoad("default", LoadConfig(request_count=10), URL, "m", "t", tmp_path)

    assert not load.running
    assert load.log_path == tmp_path / "aiperf.out"
    assert load.hard_timeout > LoadConfig(request_count=10).expected_seconds


# -- the tokenizer: a model card is read from its hub cache, offline ------------------------------------

@pytest.fixture
def card(tmp_path, monkeypatch):
    from ftlib.model_card import ensure_model_card

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the shared caches go here, not in ~/.cache
    return ensure_model_card(tmp_path / "card")


def test_a_model_card_is_given_to_aiperf_by_its_repository_id_in_its_hub_cache(card, tmp_path):
    from ftlib.model_card import CARD_FILES, HUB_REPO_ID, hub_snapshot

    tokenizer, hub = tokenizer_source(str(card))

    assert tokenizer == HUB_REPO_ID
    assert hub.parent == tmp_path / "cache" / "dynamo-ft"
    assert all((hub_snapshot(hub) / name).read_bytes() == (card / name).read_bytes() for name in CARD_FILES)


@pytest.mark.parametrize("tokenizer", ["Qwen/Qwen3-0.6B", "/no/such/folder"])
def test_any_other_tokenizer_is_given_as_it_is(tokenizer):
    assert tokenizer_source(tokenizer) == (tokenizer, None)


def test_without_the_hub_cache_a_card_is_given_as_its_path(card):
    assert tokenizer_source(str(card), use_hub_cache=False) == (str(card), None)


def test_aiperf_reads_a_hub_cache_offline_and_anything_else_online(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what a caller's environment may hold

    offline = aiperf_env(tmp_path / "t", tmp_path / "hub")
    online = aiperf_env(tmp_path / "t", None)

    assert (offline["HF_HUB_OFFLINE"], offline["TRANSFORMERS_OFFLINE"], offline["HF_HUB_CACHE"]) == \
        ("1", "1", str(tmp_path / "hub"))
    assert "HF_HUB_OFFLINE" not in online and "TRANSFORMERS_OFFLINE" not in online
    assert offline["TMPDIR"] == online["TMPDIR"] == str(tmp_path / "t")


def test_aiperfs_own_tokenizer_loads_from_the_hub_cache_offline_and_writes_nothing_there(card, monkeypatch):
    from aiperf.common.tokenizer import Tokenizer

    from ftlib.model_card import HUB_REPO_ID

    _, hub = tokenizer_source(str(card))
    before = sorted((p, p.stat().st_mtime_ns) for p in hub.rglob("*"))
    for key, value in aiperf_env(card, hub).items():
        if key.startswith(("HF_", "TRANSFORMERS_")):
            monkeypatch.setenv(key, value)

    tokenizer = Tokenizer.from_pretrained(HUB_REPO_ID)

    assert tokenizer.encode("w1000 w31999") == [1000, 31999]
    assert sorted((p, p.stat().st_mtime_ns) for p in hub.rglob("*")) == before
