"""ftlib.model_card: the tiny model card made on this machine (nothing is downloaded)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from ftlib.model_card import (CARD_FILES, HUB_REVISION, VOCAB_SIZE, default_cache_dir, default_hub_cache_dir,
                              ensure_hub_cache, ensure_model_card, hub_snapshot, is_model_card)


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return ensure_model_card(tmp_path_factory.mktemp("cache") / "nested" / "card")


def test_the_card_has_its_three_files_and_nothing_else(card):
    assert sorted(p.name for p in card.iterdir()) == sorted(CARD_FILES)
    assert [p.name for p in card.parent.iterdir()] == ["card"]  # no staging directory left behind


def test_the_tokenizer_decodes_the_ids_the_mocker_emits_to_words(card):
    tokenizer = Tokenizer.from_file(str(card / "tokenizer.json"))

    text = tokenizer.decode(list(range(1000, 2001)))

    words = text.split(" ")
    assert len(words) == 1001
    assert all(re.fullmatch(r"w\d+", word) for word in words)
    assert words[0] == "w1000" and words[-1] == "w2000"


def test_the_tokenizer_round_trips_its_words(card):
    tokenizer = Tokenizer.from_file(str(card / "tokenizer.json"))

    assert tokenizer.encode("w1000 w31999 w3").ids == [1000, 31999, 3]
    assert tokenizer.get_vocab_size() == VOCAB_SIZE


def test_the_config_is_llama_like_and_sized_to_the_vocabulary(card):
    config = json.loads((card / "config.json").read_text())

    assert config["model_type"] == "llama"
    assert config["vocab_size"] == VOCAB_SIZE
    assert (config["bos_token_id"], config["eos_token_id"]) == (1, 2)


def test_the_tokenizer_config_has_a_chat_template(card):
    tokenizer_config = json.loads((card / "tokenizer_config.json").read_text())

    assert "{% for m in messages %}" in tokenizer_config["chat_template"]
    assert tokenizer_config["eos_token"] == "</s>"


def test_an_existing_card_is_kept_as_it_is(card):
    before = {name: (card / name).stat().st_mtime_ns for name in CARD_FILES}

    assert ensure_model_card(card) == card
    assert {name: (card / name).stat().st_mtime_ns for name in CARD_FILES} == before


def test_an_existing_empty_directory_receives_the_card(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()

    ensure_model_card(empty)

    assert sorted(p.name for p in empty.iterdir()) == sorted(CARD_FILES)


def test_a_directory_holding_part_of_a_card_ends_up_with_the_whole_card(tmp_path):
    partial = tmp_path / "card"
    partial.mkdir()
    (partial / "config.json").write_text("{}")

    ensure_model_card(partial)

    assert all((partial / name).is_file() for name in CARD_FILES)


def test_the_default_cache_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    assert default_cache_dir().parent == tmp_path / "dynamo-ft"


# -- the hub cache aiperf reads the card from ------------------------------------------------------------

def test_the_hub_cache_holds_the_cards_files_as_one_snapshot_that_refs_main_names(card, tmp_path):
    hub = ensure_hub_cache(card, tmp_path / "hub")
    repo = hub / "models--dynamo-ft--tiny-card"

    snapshot = hub_snapshot(hub)
    assert snapshot.parent == repo / "snapshots"
    assert (repo / "refs" / HUB_REVISION).read_text() == snapshot.name
    assert {name: (snapshot / name).read_bytes() for name in CARD_FILES} == \
        {name: (card / name).read_bytes() for name in CARD_FILES}
    assert [p.name for p in hub.parent.iterdir()] == ["hub"]  # no staging folder left behind


def test_an_existing_hub_cache_is_kept_as_it_is(card, tmp_path):
    hub = ensure_hub_cache(card, tmp_path / "hub")
    before = sorted((p, p.stat().st_mtime_ns) for p in hub.rglob("*"))

    assert ensure_hub_cache(card, hub) == hub
    assert sorted((p, p.stat().st_mtime_ns) for p in hub.rglob("*")) == before


def test_the_default_hub_cache_is_named_from_the_cards_content(card, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    other = tmp_path / "other"
    shutil.copytree(card, other)
    (other / "config.json").write_text("{}")

    assert ensure_hub_cache(card).parent == tmp_path / "cache" / "dynamo-ft"
    assert default_hub_cache_dir(card) == default_hub_cache_dir(Path(shutil.copytree(card, tmp_path / "copy")))
    assert default_hub_cache_dir(other) != default_hub_cache_dir(card)


def test_a_folder_is_a_model_card_only_with_all_its_files(card, tmp_path):
    assert is_model_card(card) and not is_model_card(tmp_path) and not is_model_card("Qwen/Qwen3-0.6B")
