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
    """(model, tokenizer) from a checkpoint written by `save_checkpoint`; model in eval mode.

    The model is built on the meta device (no random 7B in memory first) and the weights are
    assigned in place; only non-persistent buffers (rotary frequencies, CLIP's position ids)
    are then recomputed on the CPU."""
    from model.gem import build_gem_model

    directory = Path(directory)
    config = GemConfig.load(directory)
    with torch.device("meta"):
        model = build_gem_model(config, vocab_size=0, pretrained=False)
    load_weights(model, directory / WEIGHTS_FILE, assign=True)
    materialise_buffers(model)
    model.to(device).eval()
    tokenizer = None
    if with_tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(directory))
    return model, tokenizer


def load_weights(model, path: str | Path, assign: bool = False) -> None:
    """Load a weights file strictly (tied weights may appear once or twice). Under ZeRO-3 each
    parameter is gathered, written by rank 0 and re-partitioned (`load_state_dict` cannot fill
    partitioned parameters)."""
    if _zero3_partitioned(model):
        _load_weights_zero3(model, path)
        return
    state = load_file(str(path))
    result = model.load_state_dict(state, strict=False, assign=assign)
    _check_keys(model, result.missing_keys, result.unexpected_keys, path)
    tie = getattr(model.llm, "tie_weights", None)
    if tie is not None:
        tie()


def materialise_buffers(model) -> None:
    """Recompute buffers left on the meta device (non-persistent ones are not in a checkpoint):
    rebuild their module from its `config` on the CPU and copy its buffers."""
    for name, module in model.named_modules():
        meta = [b for b, buf in module.named_buffers(recurse=False) if buf.is_meta]
        if not meta:
            continue
        config = getattr(module, "config", None)
        if config is None:
            raise ValueError(f"{name}: buffers {meta} are still on the meta device and the module has no config")
        with torch.device("cpu"):
            fresh = type(module)(config)
        for buffer in meta:
            setattr(module, buffer, getattr(fresh, buffer))
        for attr in ("attention_scaling",):
            if hasattr(fresh, attr):
                setattr(module, attr, getattr(fresh, attr))


def _check_keys(model, missing: list[str], unexpected: list[str], path) -> None:
    tied = _tied_keys(model)
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise ValueError(f"{path}: missing {missing[:8]}, unexpected {unexpected[:8]}")


def _zero3_partitioned(model) -> bool:
    return any(hasattr(p, "ds_id") for p in model.parameters())


def _load_weights_zero3(model, path: str | Path) -> None:
    import deepspeed
    import torch.distributed as dist
    from safetensors import safe_open

    rank = dist.get_rank() if dist.is_initialized() else 0
    with safe_open(str(path), framework="pt") as handle:
        names = set(handle.keys())
        own = set(model.state_dict().keys())
        _check_keys(model, sorted(own - names), sorted(names - own), path)
        for name, param in model.named_parameters():
            with deepspeed.zero.GatheredParameters([param], modifier_rank=0):
                if rank == 0 or not hasattr(param, "ds_id"):
                    param.data.copy_(handle.get_tensor(name).to(param.dtype))
        for name, buffer in model.named_buffers():
            if name in names:
                buffer.data.copy_(handle.get_tensor(name).to(buffer.dtype))


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
