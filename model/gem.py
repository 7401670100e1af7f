"""The GEM model: ECG and vision towers, their projectors, and a causal LM that reads both.

ECG tokens -> ecg projector -> shared mm projector; page patches -> mm projector; both are
spliced into the prompt at `<ecg>` / `<image>` (ECG first), and the LM is trained on the
assistant turns only.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from model.config import GemConfig
from model.conversation import ECG_TOKEN_INDEX, IMAGE_TOKEN_INDEX
from model.ecg_encoder import build_ecg_encoder, spec_dict
from model.llava import check_against, load_llava
from model.llm import build_llm, dtype_of, llm_arch, resolve_attention
from model.projectors import build_projector
from model.splice import splice_embeddings
from model.vision import build_vision_tower, vision_arch


class GemModel(nn.Module):
    """The whole model; `forward` returns the LM output with a loss when labels are given."""

    main_input_name = "input_ids"
    accepts_loss_kwargs = True  # HF Trainer then passes num_items_in_batch (token-weighted accumulation)

    def __init__(self, config: GemConfig, llm: nn.Module, ecg_encoder: nn.Module | None,
                 vision: nn.Module | None):
        super().__init__()
        self.gem_config = config
        self.llm = llm
        self.ecg_encoder = ecg_encoder
        self.vision_tower = vision
        hidden = llm.get_input_embeddings().embedding_dim
        mm_in = vision.hidden_size if vision is not None else ecg_encoder.hidden_size
        self.mm_projector = build_projector(config.mm_projector, mm_in, hidden)
        self.ecg_projector = (build_projector(config.ecg_projector, ecg_encoder.hidden_size, mm_in)
                              if ecg_encoder is not None else None)
        self.apply_freezing()

    def apply_freezing(self) -> None:
        """Freeze the parts the config freezes; projectors always train."""
        for module, frozen in ((self.ecg_encoder, self.gem_config.freeze_ecg_encoder),
                               (self.vision_tower, self.gem_config.freeze_vision_tower),
                               (self.llm, self.gem_config.freeze_llm)):
            if module is not None:
                module.requires_grad_(not frozen)

    @property
    def n_ecg_tokens(self) -> int:
        if self.ecg_encoder is None:
            return 0
        return self.ecg_encoder.spec.n_patches + (self.gem_config.ecg_select == "all")

    def encode_ecg(self, ecgs: torch.Tensor) -> torch.Tensor:
        """[B, 12, 5000] -> [B, N_ecg, hidden]."""
        with _maybe_no_grad(self.gem_config.freeze_ecg_encoder):
            tokens = self.ecg_encoder(ecgs)
        if self.gem_config.ecg_select == "patch":
            tokens = tokens[:, 1:]
        tokens = self.ecg_projector(tokens.to(_dtype(self.ecg_projector)))
        return self.mm_projector(tokens)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] -> [B, N_img, hidden]."""
        with _maybe_no_grad(self.gem_config.freeze_vision_tower):
            feats = self.vision_tower(images)
        return self.mm_projector(feats.to(_dtype(self.mm_projector)))

    def prepare_inputs(self, input_ids, attention_mask=None, labels=None, ecgs=None, images=None,
                       padding_side: str = "right"):
        """(inputs_embeds, attention_mask, labels) with the encoder features spliced in."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        features = {}
        if ecgs is not None and self.ecg_encoder is not None:
            features[ECG_TOKEN_INDEX] = self.encode_ecg(ecgs)
        if images is not None and self.vision_tower is not None:
            features[IMAGE_TOKEN_INDEX] = self.encode_images(images)
        return splice_embeddings(input_ids, attention_mask, labels, self.llm.get_input_embeddings(),
                                 features, self.gem_config.max_length, padding_side)

    def forward(self, input_ids, attention_mask=None, labels=None, ecgs=None, images=None,
                num_items_in_batch=None, **kwargs):
        """LM output; with `num_items_in_batch` (the learned tokens of the whole accumulated batch)
        the loss is the token sum over that count, so every token weighs the same across micro-batches."""
        embeds, mask, labels = self.prepare_inputs(input_ids, attention_mask, labels, ecgs, images)
        extra = {"num_items_in_batch": num_items_in_batch} if num_items_in_batch is not None else {}
        return self.llm(inputs_embeds=embeds, attention_mask=mask, labels=labels, use_cache=False, **extra)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask=None, ecgs=None, images=None, **gen_kwargs):
        """New token ids only (the prompt is passed as embeddings)."""
        embeds, mask, _ = self.prepare_inputs(input_ids, attention_mask, None, ecgs, images, "left")
        return self.llm.generate(inputs_embeds=embeds, attention_mask=mask, **gen_kwargs)

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None,
                                        every_n_layers: int = 1, offload: bool = False) -> None:
        """Checkpoint the LM's layers (HF Trainer calls this when activation checkpointing is on)."""
        kwargs = activation_checkpointing_kwargs or {"use_reentrant": False}
        if hasattr(self.llm, "activation_checkpointing_enable"):  # transformers >= 5.2x
            self.llm.activation_checkpointing_enable(kwargs, every_n_layers=every_n_layers, offload=offload)
        else:
            self.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None) -> None:
        """The older transformers name of `activation_checkpointing_enable`."""
        self.activation_checkpointing_enable(gradient_checkpointing_kwargs)

def build_gem_model(config: GemConfig, vocab_size: int, pretrained: bool = True) -> GemModel:
    """Build every part from `config`; fills its resolved `*_arch` fields.

    With `pretrained=False` the parts are rebuilt from the saved `*_arch` (random weights, no
    download): a checkpoint then loads its own weights. A `llava` LM brings its trained projector."""
    if not pretrained and config.llm_arch is None:
        raise ValueError("pretrained=False needs a config with resolved *_arch fields (a checkpoint's)")
    ecg = build_ecg_encoder(config.ecg_encoder, config.ecg_checkpoint if pretrained else None,
                            None if pretrained else config.ecg_arch)
    vision = build_vision_tower(config.vision_tower, config.vision_name, config.vision_select_layer,
                                None if pretrained else config.vision_arch)
    if vision is not None:
        vision.clip.to(dtype_of(config.dtype))
    start = None
    if pretrained and config.llm == "llava":
        start = load_llava(config.llm_name, dtype_of(config.dtype), resolve_attention(config.attn_implementation,
                                                                                      config.dtype))
        check_against(start, config.mm_projector, config.vision_select_layer, f"llm_name {config.llm_name}")
        llm = start.llm
    else:
        llm = build_llm(config.llm, config.llm_name, vocab_size, config.cache_dir,
                        None if pretrained else config.llm_arch, config.dtype, config.attn_implementation)
    config.ecg_arch = spec_dict(ecg) if ecg is not None else None
    config.vision_arch = vision_arch(vision) if vision is not None else None
    config.llm_arch = llm_arch(llm)
    model = GemModel(config, llm, ecg, vision)
    if start is not None and start.projector_state:
        load_projector(model, start.projector_state, config.llm_name)
    return model


def load_projector(model: GemModel, state: dict[str, torch.Tensor], where: str) -> None:
    """Load trained `mm_projector` weights (keys like "0.weight"); every key and shape must match."""
    own = model.mm_projector.state_dict()
    if set(state) != set(own):
        raise ValueError(f"{where}: projector keys {sorted(state)} do not match gemflow's {sorted(own)}")
    for key, tensor in state.items():
        if tensor.shape != own[key].shape:
            raise ValueError(f"{where}: projector {key} has shape {list(tensor.shape)}, gemflow's is "
                             f"{list(own[key].shape)} (mm_hidden_size or the LLM width differ)")
    model.mm_projector.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def _dtype(module: nn.Module) -> torch.dtype:
    param = next(module.parameters(), None)
    return param.dtype if param is not None else torch.get_default_dtype()


def _maybe_no_grad(frozen: bool):
    return torch.no_grad() if frozen else contextlib.nullcontext()
