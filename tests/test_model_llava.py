"""GEM's starting points load: LLaVA-1.5/1.6 and PULSE (`llava_llama`), HF `llava`, and Vicuna folders.

Each checkpoint is tiny but written in the publishers' exact layout: LLaVA's config keys
(`mm_projector_type`, `mm_vision_select_layer`, `mm_hidden_size`, ...), its tensor names
(`model.layers...`, `model.mm_projector.0/2.*`, `model.vision_tower.vision_tower.vision_model.*`),
fp16 shards with an index, and a SentencePiece tokenizer.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from model.config import GemConfig
from model.gem import build_gem_model
from model.llm import build_tokenizer
from tests.model_support import train_llama_sentencepiece

LLAMA = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=4, vocab_size=500, max_position_embeddings=4096, rms_norm_eps=1e-5,
             hidden_act="silu", initializer_range=0.02, tie_word_embeddings=False, rope_theta=10000.0,
             bos_token_id=1, eos_token_id=2, pad_token_id=0)
MM_HIDDEN = 32  # clip-tiny's width, the projector's input
LLAVA_CONFIG = {  # liuhaotian/llava-v1.5-7b's config.json, shrunk
    "_name_or_path": "./checkpoints/vicuna-7b-v1.5", "architectures": ["LlavaLlamaForCausalLM"],
    "model_type": "llava_llama", "freeze_mm_mlp_adapter": False, "image_aspect_ratio": "pad",
    "mm_hidden_size": MM_HIDDEN, "mm_projector_type": "mlp2x_gelu", "mm_use_im_patch_token": False,
    "mm_use_im_start_end": False, "mm_vision_select_feature": "patch", "mm_vision_select_layer": -2,
    "mm_vision_tower": "openai/clip-vit-large-patch14-336", "pretraining_tp": 1, "rope_scaling": None,
    "tokenizer_model_max_length": 2048, "tokenizer_padding_side": "right", "torch_dtype": "float16",
    "transformers_version": "4.31.0", "tune_mm_mlp_adapter": False, "use_cache": True, "use_mm_proj": True,
    **LLAMA,
}


def llama_weights(seed: int) -> dict[str, torch.Tensor]:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return {k: v.half() for k, v in LlamaForCausalLM(LlamaConfig(**LLAMA)).state_dict().items()}


def projector_weights(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    h = LLAMA["hidden_size"]
    return {"0.weight": torch.randn(h, MM_HIDDEN, generator=g).half(), "0.bias": torch.randn(h, generator=g).half(),
            "2.weight": torch.randn(h, h, generator=g).half(), "2.bias": torch.randn(h, generator=g).half()}


def vision_keys(prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}vision_model.embeddings.patch_embedding.weight": torch.zeros(8, 3, 4, 4).half(),
            f"{prefix}vision_model.encoder.layers.0.self_attn.q_proj.weight": torch.zeros(8, 8).half()}


def write_shards(folder: Path, state: dict[str, torch.Tensor], fmt: str) -> None:
    """Two shards and an index, as `save_pretrained(max_shard_size=...)` writes them."""
    names = sorted(state)
    halves = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, part in enumerate(halves, 1):
        if fmt == "safetensors":
            fname = f"model-0000{i}-of-00002.safetensors"
            save_file({k: state[k].contiguous() for k in part}, str(folder / fname), metadata={"format": "pt"})
        else:
            fname = f"pytorch_model-0000{i}-of-00002.bin"
            torch.save({k: state[k] for k in part}, folder / fname)
        weight_map.update({k: fname for k in part})
    index = "model.safetensors.index.json" if fmt == "safetensors" else "pytorch_model.bin.index.json"
    (folder / index).write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))


def llava_llama_checkpoint(folder: Path, fmt: str, config: dict | None = None) -> tuple[dict, dict]:
    train_llama_sentencepiece(folder)
    (folder / "config.json").write_text(json.dumps(config or LLAVA_CONFIG))
    llm, proj = llama_weights(1), projector_weights(2)
    state = {**llm, **{f"model.mm_projector.{k}": v for k, v in proj.items()},
             **vision_keys("model.vision_tower.vision_tower.")}
    write_shards(folder, state, fmt)
    return llm, proj


def hf_llava_checkpoint(folder: Path, new_layout: bool) -> tuple[dict, dict]:
    """llava-hf/llava-1.5-7b-hf's layout: before transformers 4.52 (`language_model.model.*`) or after."""
    train_llama_sentencepiece(folder)
    config = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "image_token_index": 32000,
              "projector_hidden_act": "gelu", "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
              "text_config": {"model_type": "llama", **LLAMA},
              "vision_config": {"model_type": "clip_vision_model", "hidden_size": MM_HIDDEN, "image_size": 32,
                                "patch_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2}}
    (folder / "config.json").write_text(json.dumps(config))
    llm, proj = llama_weights(3), projector_weights(4)
    names = {"0": "linear_1", "2": "linear_2"}
    if new_layout:
        state = {("lm_head.weight" if k == "lm_head.weight" else "model.language_model." + k.removeprefix("model.")): v
                 for k, v in llm.items()}
        mm, vis = "model.multi_modal_projector.", "model.vision_tower."
    else:
        state = {"language_model." + k: v for k, v in llm.items()}
        mm, vis = "multi_modal_projector.", "vision_tower."
    state.update({f"{mm}{names[k[0]]}{k[1:]}": v for k, v in proj.items()})
    state.update(vision_keys(vis))
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return llm, proj


def gem_config(folder: Path, **overrides) -> GemConfig:
    values = dict(llm="llava", llm_name=str(folder), ecg_encoder="tiny", vision_tower="clip-tiny", dtype="float32",
                  max_length=256)
    return GemConfig(**{**values, **overrides})


def assert_loaded(model, llm: dict, proj: dict) -> None:
    own = model.llm.state_dict()
    for key in ("model.embed_tokens.weight", "model.layers.1.self_attn.q_proj.weight",
                "model.layers.0.mlp.down_proj.weight", "model.norm.weight", "lm_head.weight"):
        assert torch.equal(own[key], llm[key].float()), key
    for key, value in proj.items():
        assert torch.equal(model.mm_projector.state_dict()[key], value.float()), key


@pytest.mark.parametrize("fmt", ["bin", "safetensors"], ids=["llava-1.5-bin-shards", "llava-1.6-safetensors"])
def test_llava_llama_checkpoint_loads_as_llama_with_its_projector(tmp_path, fmt):
    from transformers import LlamaForCausalLM

    llm, proj = llava_llama_checkpoint(tmp_path / "llava", fmt)
    model = build_gem_model(gem_config(tmp_path / "llava"), vocab_size=500)
    assert type(model.llm) is LlamaForCausalLM
    assert_loaded(model, llm, proj)
    assert not any("vision_tower" in k for k in model.llm.state_dict())
    ids = torch.tensor([[1, 5, 9, 42]])
    reference = LlamaForCausalLM(model.llm.config)
    reference.load_state_dict({k: v.float() for k, v in llm.items()})
    assert torch.allclose(model.llm(ids).logits, reference(ids).logits, atol=1e-5)
    tok = build_tokenizer("llava", str(tmp_path / "llava"))
    assert len(tok) == 500 and tok("hi").input_ids[0] == 1


@pytest.mark.parametrize("new_layout", [False, True], ids=["language_model.*", "model.language_model.*"])
def test_hf_llava_layout_loads_language_model_and_multi_modal_projector(tmp_path, new_layout):
    llm, proj = hf_llava_checkpoint(tmp_path / "hf", new_layout)
    model = build_gem_model(gem_config(tmp_path / "hf"), vocab_size=500)
    assert_loaded(model, llm, proj)


def test_vicuna_folder_loads_with_a_fresh_projector(tmp_path):
    folder = tmp_path / "vicuna"
    train_llama_sentencepiece(folder)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                    **LLAMA}))
    llm = llama_weights(5)
    save_file({k: v.contiguous() for k, v in llm.items()}, str(folder / "model.safetensors"))
    model = build_gem_model(gem_config(folder), vocab_size=500)
    assert torch.equal(model.llm.state_dict()["model.layers.0.self_attn.k_proj.weight"],
                       llm["model.layers.0.self_attn.k_proj.weight"].float())


@pytest.mark.parametrize("change,message", [
    ({"mm_projector_type": "linear"}, "projector is 'linear'"),
    ({"mm_vision_select_layer": -1}, "CLIP layer -1"),
    ({"mm_vision_select_feature": "cls_patch"}, "cls_patch"),
    ({"mm_hidden_size": 1024}, None),
])
def test_a_projector_trained_for_another_setup_is_refused(tmp_path, change, message):
    folder = tmp_path / "llava"
    config = {**LLAVA_CONFIG, **change}
    llava_llama_checkpoint(folder, "safetensors", config)
    if "mm_hidden_size" in change:  # the config says 1024 but the tensors say 32: caught on shapes
        proj = {k: torch.zeros(64, 1024) if k == "0.weight" else v for k, v in projector_weights(2).items()}
        save_file({f"model.mm_projector.{k}": v for k, v in proj.items()}, str(folder / "extra.safetensors"))
        index = json.loads((folder / "model.safetensors.index.json").read_text())
        index["weight_map"]["model.mm_projector.0.weight"] = "extra.safetensors"
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
        message = r"projector 0.weight has shape \[64, 1024\]"
    with pytest.raises(ValueError, match=message):
        build_gem_model(gem_config(folder), vocab_size=500)


def test_dtype_and_attention_are_set_explicitly(tmp_path):
    llava_llama_checkpoint(tmp_path / "llava", "safetensors")
    model = build_gem_model(gem_config(tmp_path / "llava", dtype="bfloat16"), vocab_size=500)
    assert model.llm.dtype == torch.bfloat16
    assert model.llm.config._attn_implementation == "sdpa"  # no flash_attn on this machine
    assert next(model.mm_projector.parameters()).dtype == torch.float32  # trained in fp32
