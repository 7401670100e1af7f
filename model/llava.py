"""GEM's starting points: LLaVA-1.5/1.6, PULSE-7B and Vicuna checkpoints as a `LlamaForCausalLM` plus projector.

transformers 5 refuses `model_type: llava_llama` (the original LLaVA code's layout, which
PULSE-7B and LLaVA-1.5/1.6 use) and `llava` (LlavaForConditionalGeneration is not a causal LM).
Both hold a Llama: its config is rebuilt from the checkpoint's, its weights are loaded by name
(`model.layers...`, `lm_head`; HF llava's `language_model.` prefixes are renamed), the
projector (`model.mm_projector.0/2.*` or `multi_modal_projector.linear_1/2.*`) is read out for
gemflow's `mm_projector`, and the vision-tower keys are skipped (gemflow builds its own CLIP).
A plain Llama/Vicuna checkpoint loads the same way, with no projector.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

# Keys of a LLaVA config that describe the multimodal parts, not the Llama.
_MM_KEYS = ("mm_", "image_aspect_ratio", "image_grid_pinpoints", "tune_mm", "freeze_mm", "unfreeze_mm",
            "use_mm_proj", "mm_vision_tower", "tokenizer_model_max_length", "tokenizer_padding_side")
# HF llava's projector names -> LLaVA's Sequential indices (mlp2x_gelu: Linear, GELU, Linear).
_HF_PROJECTOR = {"linear_1": "0", "linear_2": "2"}
# Renames from HF llava's layouts (before and after transformers 4.52) to LlamaForCausalLM's.
HF_LLAVA_KEY_MAPPING = {r"^language_model\.model\.": "model.", r"^language_model\.lm_head\.": "lm_head.",
                        r"^model\.language_model\.": "model."}


@dataclass
class LlavaStart:
    """What a LLaVA-family checkpoint gives gemflow: the LM, and the projector if it has one."""

    llm: torch.nn.Module
    layout: str  # "llava_llama" | "llava" | "llama"
    projector_state: dict[str, torch.Tensor] = field(default_factory=dict)  # keys like "0.weight"
    projector_type: str | None = None
    mm_hidden_size: int | None = None
    vision_select_layer: int | None = None
    vision_select_feature: str | None = None
    skipped: list[str] = field(default_factory=list)


def resolve_dir(name: str) -> Path:
    """A local checkpoint folder, or a hub id fetched into the HF cache (at run time, not in tests)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(name, allow_patterns=["*.json", "*.safetensors", "*.model", "*.bin", "*.txt"]))


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a model folder (no config.json)")
    return json.loads(path.read_text())


def layout_of(raw: dict[str, Any]) -> str:
    kind = raw.get("model_type")
    if kind in ("llava_llama", "llava", "llama"):
        return kind
    raise ValueError(f"model_type {kind!r}: the llava LLM kind reads llava_llama, llava or llama checkpoints "
                     "(use llm: hf for other causal LMs)")


def llama_config(raw: dict[str, Any]):
    """The Llama config inside a LLaVA-family config (its top level, or HF llava's `text_config`)."""
    from transformers import LlamaConfig

    layout = layout_of(raw)
    if layout == "llava":
        text = dict(raw.get("text_config") or {})
        text.setdefault("vocab_size", raw.get("vocab_size", text.get("vocab_size", 32000)))
    else:
        text = {k: v for k, v in raw.items() if not k.startswith(_MM_KEYS)}
    for key in ("model_type", "architectures", "transformers_version", "_name_or_path", "torch_dtype", "dtype"):
        text.pop(key, None)
    return LlamaConfig(**text)


def mm_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """Projector type, its input width and the vision layer, in gemflow's terms."""
    if layout_of(raw) == "llava":
        act = raw.get("projector_hidden_act", "gelu")
        return {"projector_type": "mlp2x_gelu" if act == "gelu" else f"mlp2x_{act}",
                "mm_hidden_size": (raw.get("vision_config") or {}).get("hidden_size"),
                "vision_select_layer": raw.get("vision_feature_layer"),
                "vision_select_feature": {"default": "patch", "full": "cls_patch"}.get(
                    raw.get("vision_feature_select_strategy", "default"), raw.get("vision_feature_select_strategy"))}
    return {"projector_type": raw.get("mm_projector_type"), "mm_hidden_size": raw.get("mm_hidden_size"),
            "vision_select_layer": raw.get("mm_vision_select_layer"),
            "vision_select_feature": raw.get("mm_vision_select_feature")}


def weight_keys(folder: Path) -> dict[str, Path]:
    """Every tensor name in the checkpoint and the file holding it (safetensors or .bin, sharded or not)."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            return {k: folder / f for k, f in json.loads(index.read_text())["weight_map"].items()}
    for single in ("model.safetensors", "pytorch_model.bin"):
        path = folder / single
        if path.is_file():
            return {k: path for k in _names_in(path)}
    raise FileNotFoundError(f"{folder}: no model.safetensors or pytorch_model.bin (sharded or not)")


def read_tensors(files: dict[str, Path], names: list[str]) -> dict[str, torch.Tensor]:
    """The named tensors only (safetensors are read key by key; a .bin shard is memory-mapped)."""
    out: dict[str, torch.Tensor] = {}
    for path in sorted({files[n] for n in names}):
        wanted = [n for n in names if files[n] == path]
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                out.update({n: handle.get_tensor(n) for n in wanted})
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            out.update({n: state[n].clone() for n in wanted})
    return out


def projector_key(name: str) -> str | None:
    """The gemflow `mm_projector` key for a checkpoint's projector tensor, else None."""
    for prefix in ("model.mm_projector.", "mm_projector."):
        if name.startswith(prefix):
            return name[len(prefix):]
    for prefix in ("multi_modal_projector.", "model.multi_modal_projector."):
        if name.startswith(prefix):
            layer, _, rest = name[len(prefix):].partition(".")
            return f"{_HF_PROJECTOR.get(layer, layer)}.{rest}"
    return None


def is_vision_key(name: str) -> bool:
    return any(part in name for part in ("vision_tower.", "image_newline"))


def load_llava(name: str, dtype: torch.dtype | None = None, attn_implementation: str | None = None) -> LlavaStart:
    """Load a LLaVA-family (or plain Llama) checkpoint folder or hub id for gemflow."""
    from transformers import LlamaForCausalLM

    folder = resolve_dir(name)
    raw = read_config(folder)
    layout = layout_of(raw)
    files = weight_keys(folder)
    proj_names = [k for k in files if projector_key(k) is not None]
    skipped = sorted(k for k in files if is_vision_key(k))
    kwargs: dict[str, Any] = {"config": llama_config(raw)}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    if layout == "llava":
        kwargs["key_mapping"] = HF_LLAVA_KEY_MAPPING
    llm = LlamaForCausalLM.from_pretrained(str(folder), **kwargs)
    settings = mm_settings(raw)
    state = {projector_key(k): v for k, v in read_tensors(files, proj_names).items()} if proj_names else {}
    log.info("%s (%s): LLM loaded; %d projector tensors; %d vision-tower keys skipped",
             name, layout, len(state), len(skipped))
    return LlavaStart(llm=llm, layout=layout, projector_state=state, skipped=skipped, **settings)


def check_against(start: LlavaStart, mm_projector: str, vision_select_layer: int, where: str) -> None:
    """Refuse a projector that was trained for another type or another CLIP layer than the config's."""
    if not start.projector_state:
        log.warning("%s: the checkpoint has no projector; gemflow's mm_projector starts random", where)
        return
    if start.projector_type and start.projector_type != mm_projector:
        raise ValueError(f"{where}: the checkpoint's projector is {start.projector_type!r}, "
                         f"the config's mm_projector is {mm_projector!r}")
    if start.vision_select_layer is not None and start.vision_select_layer != vision_select_layer:
        raise ValueError(f"{where}: the projector was trained on CLIP layer {start.vision_select_layer}, "
                         f"the config's vision_select_layer is {vision_select_layer}")
    if start.vision_select_feature not in (None, "patch"):
        raise ValueError(f"{where}: mm_vision_select_feature {start.vision_select_feature!r}; gemflow drops CLS (patch)")


def _names_in(path: Path) -> list[str]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return list(handle.keys())
    return list(torch.load(str(path), map_location="cpu", weights_only=True, mmap=True))
