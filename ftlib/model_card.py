"""A tiny model card made on this machine, so nothing is ever downloaded.

The frontend, the mocker workers and aiperf all load the same card: a word-level tokenizer
whose 32 000 entries decode the token ids the mocker emits (about 1000-2000) to real text, a
llama-like ``config.json`` and a ``tokenizer_config.json`` with a chat template.

The frontend and the workers read its directory (`ensure_model_card`). aiperf reads the same
files from a Hugging Face hub cache (`ensure_hub_cache`: ``models--dynamo-ft--tiny-card`` with
one snapshot), under the repository id `HUB_REPO_ID` and in HF offline mode: given a directory
instead, aiperf 0.13 first loads the tokenizer in a subprocess to "warm the HF cache" and then
loads it again, about 1.5 s of its start-up on every run. The hub cache is shared by every run
and read-only to them: it is written once, into a staging folder renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

VOCAB_SIZE = 32_000
CARD_VERSION = "1"
CARD_FILES = ("tokenizer.json", "config.json", "tokenizer_config.json")
HUB_REPO_ID = "dynamo-ft/tiny-card"  # the name aiperf is given as its tokenizer (`ensure_hub_cache`)
HUB_REVISION = "main"

_CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 8192,
    "bos_token_id": 1,
    "eos_token_id": 2,
}

_TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "model_max_length": 8192,
    "chat_template": "{% for m in messages %}{{ m['content'] }} {% endfor %}",
}


def default_cache_dir() -> Path:
    return _cache_root() / f"model-card-v{CARD_VERSION}"


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dynamo-ft"


def default_hub_cache_dir(card: Path) -> Path:
    """Where `ensure_hub_cache` keeps ``card``'s hub cache: named from the card's content, so
    two cards never share one and a changed card gets a new one."""
    digest = hashlib.sha256()
    for name in CARD_FILES:
        digest.update(name.encode() + b"\0" + (Path(card) / name).read_bytes())
    return _cache_root() / f"hf-hub-{digest.hexdigest()[:12]}"


def is_model_card(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding a model card's files (`CARD_FILES`)."""
    return all((Path(path) / name).is_file() for name in CARD_FILES)


def ensure_model_card(directory: Path | None = None) -> Path:
    """Return a directory holding the tiny model card, writing it first if it is missing.

    The card is written into a sibling temporary directory and renamed into place, so a run that
    is interrupted never leaves a half-written card behind.
    """
    target = Path(directory) if directory else default_cache_dir()
    if all((target / name).is_file() for name in CARD_FILES):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model-card-", dir=target.parent))
    try:
        _write_card(staging)
        if target.is_dir():  # a partial card (interrupted, or files removed): complete it
            for name in CARD_FILES:
                os.replace(staging / name, target / name)
        else:
            try:
                staging.rename(target)
            except OSError:  # another process won the race
                if not all((target / name).is_file() for name in CARD_FILES):
                    raise
    finally:
        if staging.exists():
            for child in staging.iterdir():
                child.unlink()
            staging.rmdir()
    return target


def _write_card(directory: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"w{i}": i for i in range(3, VOCAB_SIZE)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "config.json").write_text(json.dumps(_CONFIG, indent=2))
    (directory / "tokenizer_config.json").write_text(json.dumps(_TOKENIZER_CONFIG, indent=2))


def hub_snapshot(hub_cache: Path) -> Path:
    """The snapshot folder of `HUB_REPO_ID` in ``hub_cache`` (Hugging Face's layout)."""
    return Path(hub_cache) / f"models--{HUB_REPO_ID.replace('/', '--')}" / "snapshots" / _snapshot_name()


def _snapshot_name() -> str:
    return f"card-v{CARD_VERSION}"


def ensure_hub_cache(card: Path, hub_cache: Path | None = None) -> Path:
    """A Hugging Face hub cache holding the card's files as repository `HUB_REPO_ID` (its
    ``refs/main`` names one snapshot with copies of ``card``'s files), written first if missing;
    returns the cache folder (``HF_HUB_CACHE``). Written as the card is: into a sibling staging
    folder renamed into place, so a reader never sees half of it; a run only reads it."""
    root = Path(hub_cache) if hub_cache else default_hub_cache_dir(card)
    if all((hub_snapshot(root) / name).is_file() for name in CARD_FILES):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".hf-hub-", dir=root.parent))
    try:
        _write_hub_cache(Path(card), staging)
        try:
            staging.rename(root)
        except OSError:  # another process won the race, or an incomplete cache is in the way
            if not all((hub_snapshot(root) / name).is_file() for name in CARD_FILES):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return root


def _write_hub_cache(card: Path, root: Path) -> None:
    snapshot = hub_snapshot(root)
    snapshot.mkdir(parents=True)
    for name in CARD_FILES:
        shutil.copyfile(card / name, snapshot / name)
    refs = snapshot.parent.parent / "refs"
    refs.mkdir()
    (refs / HUB_REVISION).write_text(_snapshot_name())
