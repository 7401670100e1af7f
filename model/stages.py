"""What trains in a run: the two-stage recipe, an aligned projector to start from, LoRA, and the optimizer groups.

- `align` (LLaVA's stage 1): the LLM is frozen and only the projectors learn (lr 1e-3).
- `finetune` (stage 2): the LLM and the projectors learn; `projector_from` starts the projector
  from an aligned one (a gemflow checkpoint, LLaVA's `mm_projector.bin`, or a LLaVA folder).
- `lora`: peft adapters on the LLM instead of its full weights (one GPU); projectors train fully.
- `mm_projector_lr`: the projectors get their own learning rate, as in LLaVA's trainer.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from model.config import ConfigError, TrainConfig

log = logging.getLogger("model.train")
PROJECTORS = ("mm_projector", "ecg_projector")


def apply_stage(model, cfg: TrainConfig) -> None:
    """Freeze what the stage freezes (the LLM under `align`), then wrap LoRA if configured."""
    if cfg.stage == "align":
        model.gem_config.freeze_llm = True
    model.apply_freezing()
    if cfg.lora is not None:
        apply_lora(model, cfg)


def apply_lora(model, cfg: TrainConfig) -> None:
    from peft import LoraConfig, get_peft_model

    if cfg.deepspeed == "zero3":
        raise ConfigError("train.lora: LoRA is the single-GPU option; use deepspeed zero2 (or none) with it")
    lora = cfg.lora
    peft_cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                          target_modules=list(lora.target_modules), bias="none", task_type="CAUSAL_LM")
    model.llm = get_peft_model(model.llm, peft_cfg)
    for name, param in model.llm.named_parameters():
        if "lora_" in name:
            param.data = param.data.float()  # adapters learn in fp32, the frozen base stays in its dtype


def is_lora(model) -> bool:
    return hasattr(model.llm, "peft_config")


def merged_state_dict(model) -> dict[str, torch.Tensor]:
    """The whole model's weights with every LoRA delta folded in, under the plain (non-peft) names,
    so a LoRA run saves an ordinary gemflow checkpoint. The live model is not changed."""
    from peft.tuners.lora import LoraLayer

    deltas = {}
    for name, module in model.llm.named_modules():
        if isinstance(module, LoraLayer) and hasattr(module, "base_layer"):
            adapter = module.active_adapters[0]
            deltas[_plain(f"llm.{name}") + ".weight"] = module.get_delta_weight(adapter)
    out = {}
    for key, value in model.state_dict().items():
        if "lora_" in key:
            continue
        plain = _plain(key)
        out[plain] = (value + deltas[plain].to(value.dtype)) if plain in deltas else value
    return out


def _plain(key: str) -> str:
    return key.replace("llm.base_model.model.", "llm.", 1).replace(".base_layer.", ".")


def load_projector_from(model, source: str) -> list[str]:
    """Start `mm_projector` (and `ecg_projector` when the source has it) from an aligned one;
    returns the projector names loaded. Shapes must match exactly."""
    state = _read_projector_state(Path(source))
    loaded = []
    for name in PROJECTORS:
        part = {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}
        module = getattr(model, name, None)
        if not part or module is None:
            continue
        own = module.state_dict()
        if set(part) != set(own) or any(part[k].shape != own[k].shape for k in own):
            raise ValueError(f"{source}: {name} does not match this model's "
                             f"({sorted((k, list(v.shape)) for k, v in part.items())})")
        module.load_state_dict({k: v.to(own[k].dtype) for k, v in part.items()})
        loaded.append(name)
    if "mm_projector" not in loaded:
        raise ValueError(f"{source}: no mm_projector weights found")
    log.info("projector_from %s: loaded %s", source, ", ".join(loaded))
    return loaded


def _read_projector_state(path: Path) -> dict[str, torch.Tensor]:
    """`mm_projector.*`/`ecg_projector.*` tensors from a gemflow checkpoint, a LLaVA folder or file."""
    from model.checkpoint import WEIGHTS_FILE
    from model.llava import projector_key, read_tensors, weight_keys

    if path.is_dir() and (path / WEIGHTS_FILE).is_file() and (path / "gem_config.json").is_file():
        from safetensors import safe_open

        with safe_open(str(path / WEIGHTS_FILE), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys() if k.startswith(PROJECTORS)}
    if path.is_dir():
        files = weight_keys(path)
        names = [k for k in files if projector_key(k) is not None]
        return {"mm_projector." + projector_key(k): v for k, v in read_tensors(files, names).items()}
    if path.is_file():  # LLaVA's stage-1 output: mm_projector.bin with model.mm_projector.* keys
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
        return {"mm_projector." + projector_key(k): v for k, v in raw.items() if projector_key(k) is not None}
    raise FileNotFoundError(f"train.projector_from: {path} does not exist")


def parameter_groups(model, learning_rate: float, weight_decay: float,
                     mm_projector_lr: float | None) -> list[dict]:
    """Optimizer groups: projectors at `mm_projector_lr` (when set), the rest at the base rate;
    no weight decay on biases and norms, as HF's default."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        projector = name.startswith(PROJECTORS)
        decay = param.ndim >= 2
        groups.setdefault((projector, decay), []).append(param)
    out = []
    for (projector, decay), params in sorted(groups.items()):
        lr = mm_projector_lr if projector and mm_projector_lr is not None else learning_rate
        out.append({"params": params, "lr": lr, "weight_decay": weight_decay if decay else 0.0})
    return out


def upcast_trainable(model) -> int:
    """Without DeepSpeed nothing keeps fp32 master weights: hold trainable parameters in fp32
    (the bf16 autocast still computes in 16 bits). Returns how many were cast."""
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
            cast += 1
    return cast
