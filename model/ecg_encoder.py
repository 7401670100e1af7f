"""The ECG tower: a 1-D ViT over 12 x 5000 signals (GEM's ECG-CoCa signal transformer).

A strided Conv1d cuts the signal into patches (50 samples -> 100 patches), a CLS token and
learned positions are added, and pre-norm transformer blocks produce the tokens. As in GEM
(ECG-CoCa's forward with `output_last_transformer_layer=True`), the tokens are the last
block's output: `ln_post` and the pooling heads belong to CoCa's contrastive/caption losses and
are not applied (a checkpoint's `ln_post.*` is reported as ignored).

Parameter names follow open_clip's vision transformer, the layout ECG-CoCa checkpoints use:

    conv1.weight                          [width, 12, patch]       (no bias)
    class_embedding                       [width]
    positional_embedding                  [seq/patch + 1, width]
    ln_pre.{weight,bias}
    transformer.resblocks.<i>.ln_1.{weight,bias}
    transformer.resblocks.<i>.attn.in_proj_{weight,bias}     [3*width, width], [3*width]
    transformer.resblocks.<i>.attn.out_proj.{weight,bias}
    transformer.resblocks.<i>.ln_2.{weight,bias}
    transformer.resblocks.<i>.mlp.c_fc.{weight,bias}         [4*width, width]
    transformer.resblocks.<i>.mlp.c_proj.{weight,bias}
    ln_post.{weight,bias}                 (in the checkpoint; unused, as in GEM)

`load_ecg_checkpoint` strips wrappers (`state_dict`/`model`/`module` nesting, `module.`) and a
tower prefix (`ecg.`, `visual.`, `ecg_encoder.`, ...), drops CoCa's text and pooling parts,
and reports what was missing or unexpected.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

N_LEADS = 12

# Parts of a CoCa checkpoint that the tower does not use (text tower, decoder, pooling heads).
IGNORED_PREFIXES = ("text", "logit_scale", "logit_bias", "attn_pool", "proj", "lead_embedding", "ln_post")


@dataclass(frozen=True)
class EcgEncoderSpec:
    """Sizes of the ECG tower."""

    width: int = 768
    layers: int = 12
    heads: int = 12
    patch_size: int = 50
    seq_length: int = 5000
    mlp_ratio: float = 4.0

    @property
    def n_patches(self) -> int:
        return self.seq_length // self.patch_size


SPECS = {
    "coca-base": EcgEncoderSpec(),
    "tiny": EcgEncoderSpec(width=32, layers=2, heads=2),
}


class ResidualBlock(nn.Module):
    """Pre-norm attention + MLP block (open_clip naming)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, hidden))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, spec: EcgEncoderSpec):
        super().__init__()
        self.resblocks = nn.ModuleList(
            ResidualBlock(spec.width, spec.heads, spec.mlp_ratio) for _ in range(spec.layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x


class EcgEncoder(nn.Module):
    """[B, 12, seq_length] signals (mV) -> [B, n_patches + 1, width] tokens (CLS first)."""

    def __init__(self, spec: EcgEncoderSpec):
        super().__init__()
        if spec.seq_length % spec.patch_size:
            raise ValueError(f"seq_length {spec.seq_length} is not a multiple of patch {spec.patch_size}")
        self.spec = spec
        scale = spec.width ** -0.5
        self.conv1 = nn.Conv1d(N_LEADS, spec.width, spec.patch_size, stride=spec.patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(spec.width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(spec.n_patches + 1, spec.width))
        self.ln_pre = nn.LayerNorm(spec.width)
        self.transformer = Transformer(spec)

    @property
    def hidden_size(self) -> int:
        return self.spec.width

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        expected = (N_LEADS, self.spec.seq_length)
        if signals.dim() != 3 or tuple(signals.shape[1:]) != expected:
            raise ValueError(f"ECG encoder expects [B, {expected[0]}, {expected[1]}], got {list(signals.shape)}")
        x = self.conv1(signals.to(self.conv1.weight.dtype)).transpose(1, 2)  # [B, P, W]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.transformer(self.ln_pre(x))  # GEM: the last block's output, no ln_post


def build_ecg_encoder(name: str, checkpoint: str | None = None, arch: dict[str, Any] | None = None) -> EcgEncoder | None:
    """The ECG tower named `name` ("coca-base", "tiny", "none"); `arch` overrides its sizes."""
    if name == "none":
        return None
    if name not in SPECS:
        raise ValueError(f"unknown ecg_encoder {name!r}; known: {', '.join(sorted(SPECS))}, none")
    spec = EcgEncoderSpec(**arch) if arch else SPECS[name]
    encoder = EcgEncoder(spec)
    if checkpoint:
        load_ecg_checkpoint(encoder, checkpoint)
    return encoder


def spec_dict(encoder: EcgEncoder) -> dict[str, Any]:
    return asdict(encoder.spec)


@dataclass
class LoadReport:
    """What a checkpoint load matched, left missing, or did not recognise."""

    loaded: list[str]
    missing: list[str]
    unexpected: list[str]
    ignored: list[str]


def load_ecg_checkpoint(encoder: EcgEncoder, path: str | Path, strict: bool = False) -> LoadReport:
    """Load ECG-CoCa-style weights into `encoder`; shapes must match, names are mapped."""
    raw = torch.load(str(path), map_location="cpu", weights_only=True)
    state = map_ecg_keys(_unwrap(raw))
    own = encoder.state_dict()
    ignored = sorted(k for k in state if k.startswith(IGNORED_PREFIXES))
    candidates = {k: v for k, v in state.items() if k not in ignored}
    for key, tensor in candidates.items():
        if key in own and own[key].shape != tensor.shape:
            raise ValueError(f"{path}: {key} has shape {list(tensor.shape)}, the encoder expects "
                             f"{list(own[key].shape)}: check the ecg_encoder size")
    result = encoder.load_state_dict(candidates, strict=False)
    report = LoadReport(sorted(set(candidates) & set(own)), sorted(result.missing_keys),
                        sorted(result.unexpected_keys), ignored)
    log.info("ECG checkpoint %s: %d loaded, %d missing, %d unexpected, %d ignored",
             path, len(report.loaded), len(report.missing), len(report.unexpected), len(report.ignored))
    if report.missing:
        log.warning("ECG checkpoint %s lacks %s", path, ", ".join(report.missing))
    if strict and (report.missing or report.unexpected):
        raise ValueError(f"{path}: missing {report.missing}, unexpected {report.unexpected}")
    if not report.loaded:
        raise ValueError(f"{path}: no key matched the ECG encoder; first keys: {list(state)[:5]}")
    return report


def _unwrap(raw: Any) -> dict[str, torch.Tensor]:
    """Find the tensor dict inside common checkpoint wrappers."""
    for key in ("state_dict", "model", "module"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            return _unwrap(raw[key])
    if not isinstance(raw, dict):
        raise ValueError(f"checkpoint holds a {type(raw).__name__}, expected a state dict")
    return {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}


def map_ecg_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip `module.` and the ECG tower's prefix; keep other towers' keys untouched."""
    out = {}
    tower = _tower_prefix(state)
    for key, value in state.items():
        key = key.removeprefix("module.")
        if tower and key.startswith(tower):
            key = key[len(tower):]
        elif tower:
            key = "text." + key  # another tower: reported as ignored, never loaded
        out[key] = value
    return out


def _tower_prefix(state: dict[str, torch.Tensor]) -> str:
    """The prefix before `conv1.weight`, e.g. 'ecg.' or 'module.visual.' ('' when none)."""
    for key in state:
        bare = key.removeprefix("module.")
        if bare.endswith("conv1.weight") and state[key].dim() == 3:
            return bare[: -len("conv1.weight")]
    return ""
