"""Save and load a gemflow checkpoint: `gem_config.json`, `model.safetensors`, the tokenizer.

A checkpoint rebuilds its model offline from the config's resolved architecture, then loads
its weights; `check_resume` refuses a resume whose architecture differs from the config.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from model.config import GemConfig, check_compatible

WEIGHTS_FILE = "model.safetensors"


def save_checkpoint(model, directory: str | Path, tokenizer=None,
                    state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """Write config, weights (all parts, frozen ones too) and tokenizer into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = state_dict if state_dict is not None else model.state_dict()
    save_file(_unshare(state), str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    model.gem_config.save(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(directory))
    return directory


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu",
                    with_tokenizer: bool = True):
    """(model, tokenizer) from a checkpoint written by `save_checkpoint`; model in eval mode."""
    from model.gem import build_gem_model

    directory = Path(directory)
    config = GemConfig.load(directory)
    model = build_gem_model(config, vocab_size=0, pretrained=False)
    load_weights(model, directory / WEIGHTS_FILE)
    model.to(device).eval()
    tokenizer = None
    if with_tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(directory))
    return model, tokenizer


def load_weights(model, path: str | Path) -> None:
    """Load a weights file strictly (tied weights may appear once or twice)."""
    state = load_file(str(path))
    result = model.load_state_dict(state, strict=False)
    tied = _tied_keys(model)
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        raise ValueError(f"{path}: missing {missing[:8]}, unexpected {result.unexpected_keys[:8]}")
    tie = getattr(model.llm, "tie_weights", None)
    if tie is not None:
        tie()


def check_resume(checkpoint: str | Path, current: GemConfig) -> GemConfig:
    """The checkpoint's config, after checking it matches `current` (ConfigMismatchError if not)."""
    saved = GemConfig.load(checkpoint)
    check_compatible(saved, current, checkpoint)
    return saved


def _unshare(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory (tied embeddings): copy the repeats."""
    seen, out = set(), {}
    for key, tensor in state.items():
        tensor = tensor.detach().cpu().contiguous()
        ptr = tensor.untyped_storage().data_ptr()
        out[key] = tensor.clone() if ptr in seen else tensor
        seen.add(ptr)
    return out


def _tied_keys(model) -> set[str]:
    keys = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    unique = {name for name, _ in model.named_parameters()}
    return keys - unique
