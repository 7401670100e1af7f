"""The ECG tower gives GEM's tokens: ECG-CoCa's signal transformer up to its last block, no ln_post.

The checkpoint is a CoCa-style training checkpoint (`state_dict` with `module.ecg.*`, the text
tower, the decoder, the pooling heads and `ln_post`); the reference is ECG-CoCa's forward with
`output_last_transformer_layer=True`, restated here with functional ops on the raw tensors.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.ecg_encoder import EcgEncoderSpec, EcgEncoder, load_ecg_checkpoint

WIDTH, LAYERS, HEADS, PATCH = 32, 2, 4, 50


def coca_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.2):
        return torch.randn(*shape, generator=g) * scale

    s = {"ecg.conv1.weight": r(WIDTH, 12, PATCH, scale=0.05), "ecg.class_embedding": r(WIDTH),
         "ecg.positional_embedding": r(5000 // PATCH + 1, WIDTH),
         "ecg.ln_pre.weight": 1 + r(WIDTH), "ecg.ln_pre.bias": r(WIDTH),
         "ecg.ln_post.weight": 1 + r(WIDTH), "ecg.ln_post.bias": r(WIDTH, scale=3.0), "ecg.proj": r(WIDTH, 16),
         "ecg.attn_pool.query": r(8, 16), "text.token_embedding.weight": r(40, 16), "logit_scale": torch.ones(()),
         "text_decoder.resblocks.0.ln_1.weight": torch.ones(16)}
    for i in range(LAYERS):
        b = f"ecg.transformer.resblocks.{i}."
        s |= {b + "ln_1.weight": 1 + r(WIDTH), b + "ln_1.bias": r(WIDTH),
              b + "attn.in_proj_weight": r(3 * WIDTH, WIDTH), b + "attn.in_proj_bias": r(3 * WIDTH),
              b + "attn.out_proj.weight": r(WIDTH, WIDTH), b + "attn.out_proj.bias": r(WIDTH),
              b + "ln_2.weight": 1 + r(WIDTH), b + "ln_2.bias": r(WIDTH),
              b + "mlp.c_fc.weight": r(4 * WIDTH, WIDTH), b + "mlp.c_fc.bias": r(4 * WIDTH),
              b + "mlp.c_proj.weight": r(WIDTH, 4 * WIDTH), b + "mlp.c_proj.bias": r(WIDTH)}
    return s


def reference_tokens(s: dict[str, torch.Tensor], signal: torch.Tensor) -> torch.Tensor:
    """ECG-CoCa EcgTransformer.forward(x, output_last_transformer_layer=True)."""
    x = F.conv1d(signal, s["ecg.conv1.weight"], stride=PATCH).permute(0, 2, 1)
    cls = s["ecg.class_embedding"].view(1, 1, -1).expand(x.shape[0], -1, -1)
    x = torch.cat([cls, x], dim=1) + s["ecg.positional_embedding"]
    x = F.layer_norm(x, (WIDTH,), s["ecg.ln_pre.weight"], s["ecg.ln_pre.bias"])
    x = x.transpose(0, 1)  # NLD -> LND, as open_clip's Transformer does
    for i in range(LAYERS):
        b = f"ecg.transformer.resblocks.{i}."
        h = F.layer_norm(x, (WIDTH,), s[b + "ln_1.weight"], s[b + "ln_1.bias"])
        attn, _ = F.multi_head_attention_forward(
            h, h, h, WIDTH, HEADS, s[b + "attn.in_proj_weight"], s[b + "attn.in_proj_bias"], None, None, False, 0.0,
            s[b + "attn.out_proj.weight"], s[b + "attn.out_proj.bias"], training=False, need_weights=False)
        x = x + attn
        h = F.layer_norm(x, (WIDTH,), s[b + "ln_2.weight"], s[b + "ln_2.bias"])
        x = x + F.linear(F.gelu(F.linear(h, s[b + "mlp.c_fc.weight"], s[b + "mlp.c_fc.bias"])),
                         s[b + "mlp.c_proj.weight"], s[b + "mlp.c_proj.bias"])
    return x.transpose(0, 1)


@pytest.fixture
def loaded(tmp_path):
    state = coca_state()
    torch.save({"epoch": 10, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "epoch_10.pt")
    encoder = EcgEncoder(EcgEncoderSpec(width=WIDTH, layers=LAYERS, heads=HEADS, patch_size=PATCH)).eval()
    report = load_ecg_checkpoint(encoder, tmp_path / "epoch_10.pt", strict=True)
    return encoder, state, report


def test_tokens_equal_ecg_cocas_last_transformer_layer(loaded):
    encoder, state, _ = loaded
    signal = torch.randn(2, 12, 5000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tokens = encoder(signal)
    expected = reference_tokens(state, signal)
    assert tokens.shape == (2, 101, WIDTH)
    assert torch.allclose(tokens, expected, atol=1e-5)
    normed = F.layer_norm(expected, (WIDTH,), state["ecg.ln_post.weight"], state["ecg.ln_post.bias"])
    assert not torch.allclose(tokens, normed, atol=1e-2)  # the old output (with ln_post) would differ


def test_every_tower_weight_loads_and_coca_only_parts_are_reported_ignored(loaded):
    encoder, _, report = loaded
    assert not report.missing and not report.unexpected
    assert len(report.loaded) == len(encoder.state_dict())
    assert {"ln_post.weight", "ln_post.bias", "proj", "attn_pool.query"} <= set(report.ignored)
    assert not any(k.startswith("ln_post") for k in encoder.state_dict())
