"""A tiny model card made on this machine, so nothing is ever downloaded.

The frontend, the mocker workers and aiperf all load the same directory: a word-level
tokenizer whose 32 000 entries decode the token ids the mocker emits (about 1000-2000) to real
text, a llama-like ``config.json`` and a ``tokenizer_config.json`` with a chat template.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

VOCAB_SIZE = 32_000
CARD_VERSION = "1"
CARD_FILES = ("tokenizer.json", "config.json", "tokenizer_config.json")

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
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dynamo-ft" / f"model-card-v{CARD_VERSION}"


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
