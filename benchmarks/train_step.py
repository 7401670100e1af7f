"""Benchmark one GEM training step (tokens/s, MFU) against a plain HF causal-LM step, same run.

The baseline is the same LLM stepping on text-only input of the same total length (prompt +
ECG + image tokens), so the ratio is the price of the towers, projectors and splicing.
MFU = model FLOPs (6 x matmul params per trained token + attention, 2 x params per frozen
encoder token) / the datasheet dense peak of the GPU in that dtype (`DATASHEET_TFLOPS`, or
`--peak-tflops`). The measured matmul rate of the same run is printed beside it as a sanity
check, never used as the denominator (it would flatter the MFU). A CPU has no datasheet peak:
there only the share of the measured matmul rate is shown, labelled as such.

    python benchmarks/train_step.py                     # tiny config, CPU here
    python benchmarks/train_step.py --device cuda --dtype bf16 --llm hf --llm-name lmsys/vicuna-7b-v1.5 \
        --ecg-encoder coca-base --vision clip --batch 4 --text-tokens 512
"""
from __future__ import annotations

import argparse
import time

import torch

from model.config import GemConfig
from model.conversation import ECG_TOKEN_INDEX, IMAGE_TOKEN_INDEX
from model.gem import build_gem_model

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Dense (no sparsity) datasheet peaks, TFLOP/s, by a substring of torch.cuda.get_device_name().
DATASHEET_TFLOPS = {
    "bf16": {"H200": 989.0, "H100 SXM": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0,
             "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0},
    "fp32": {"H200": 67.0, "H100": 67.0, "A100": 19.5, "L40S": 91.6},
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=DTYPES, default="bf16" if torch.cuda.is_available() else "fp32")
    p.add_argument("--llm", default="llama-tiny")
    p.add_argument("--llm-name", default="lmsys/vicuna-7b-v1.5")
    p.add_argument("--ecg-encoder", default="tiny")
    p.add_argument("--vision", default="clip-tiny")
    p.add_argument("--vision-name", default="openai/clip-vit-large-patch14-336")
    p.add_argument("--vocab", type=int, default=49152, help="vocab of a random tiny LLM")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--text-tokens", type=int, default=256)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--peak-tflops", type=float, help="the MFU denominator (default: the GPU's datasheet peak)")
    p.add_argument("--lora", type=int, default=0, help="LoRA rank on the LLM (0: full fine-tuning)")
    return p.parse_args()


def datasheet_peak(device: str, dtype_name: str, override: float | None) -> tuple[float | None, str]:
    """(FLOP/s, where it came from): --peak-tflops, else the datasheet entry for this GPU, else None."""
    if override:
        return override * 1e12, "--peak-tflops"
    if not device.startswith("cuda"):
        return None, "no datasheet peak for a CPU"
    name = torch.cuda.get_device_name(torch.device(device))
    for key, tflops in DATASHEET_TFLOPS.get(dtype_name, {}).items():
        if key in name:
            return tflops * 1e12, f"datasheet {key} {dtype_name} dense"
    return None, f"no datasheet entry for {name!r}: pass --peak-tflops"


def matmul_peak(device: str, dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """Measured dense matmul FLOP/s on this device and dtype (the MFU denominator)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - start)


def model_flops_per_step(model, batch: int, seq: int) -> float:
    """6 N per trained LM token (+ causal attention), 2 N per frozen-encoder token (forward only)."""
    llm = model.llm
    cfg = llm.config
    embed = llm.get_input_embeddings().weight.numel()
    matmul_params = sum(p.numel() for p in llm.parameters()) - embed + cfg.vocab_size * cfg.hidden_size
    proj = sum(p.numel() for m in (model.ecg_projector, model.mm_projector) if m is not None for p in m.parameters())
    attn = 6 * cfg.num_hidden_layers * cfg.hidden_size * seq  # QK^T and AV, causal half, fwd + bwd
    flops = batch * seq * (6 * matmul_params + attn)
    if model.ecg_encoder is not None:
        flops += 2 * sum(p.numel() for p in model.ecg_encoder.parameters()) * batch * model.n_ecg_tokens
        flops += 6 * proj * batch * model.n_ecg_tokens
    if model.vision_tower is not None:
        flops += 2 * sum(p.numel() for p in model.vision_tower.parameters()) * batch * model.vision_tower.n_tokens
    return float(flops)


def time_steps(step, steps: int, warmup: int, device: str) -> float:
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def make_step(module, optimizer, inputs: dict):
    def step():
        loss = module(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def build_inputs(model, batch: int, text_tokens: int, device: str, dtype: torch.dtype):
    """(GEM batch, plain-LM batch of the same spliced length, that length)."""
    vocab = model.llm.config.vocab_size
    text = torch.randint(10, vocab, (batch, text_tokens), device=device)
    text[:, 1], text[:, 2] = ECG_TOKEN_INDEX, IMAGE_TOKEN_INDEX
    n_img = model.vision_tower.n_tokens if model.vision_tower is not None else 0
    seq = text_tokens - 2 + model.n_ecg_tokens + n_img
    gem = {"input_ids": text, "labels": text.clamp(min=0),
           "ecgs": torch.randn(batch, 12, 5000, device=device, dtype=dtype)}
    if n_img:
        size = model.vision_tower.image_size
        gem["images"] = torch.randn(batch, 3, size, size, device=device, dtype=dtype)
    plain_ids = torch.randint(10, vocab, (batch, seq), device=device)
    return gem, {"input_ids": plain_ids, "labels": plain_ids}, seq


def main() -> None:
    args = parse_args()
    dtype, device = DTYPES[args.dtype], args.device
    torch.manual_seed(0)
    cfg = GemConfig(ecg_encoder=args.ecg_encoder, vision_tower=args.vision, vision_name=args.vision_name,
                    llm=args.llm, llm_name=args.llm_name, max_length=8192,
                    dtype="bfloat16" if args.dtype == "bf16" else "float32")
    model = build_gem_model(cfg, vocab_size=args.vocab).to(device=device, dtype=dtype)
    if args.lora:
        from model.config import TrainConfig
        from model.stages import apply_stage

        apply_stage(model, TrainConfig.from_dict({"lora": {"r": args.lora, "alpha": 2 * args.lora}}))
        model.to(device)
    model.train()
    gem_inputs, plain_inputs, seq = build_inputs(model, args.batch, args.text_tokens, device, dtype)
    # one optimizer: the baseline steps the very same LM weights (no second copy in memory)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    gem_step, base_step = make_step(model, optimizer, gem_inputs), make_step(model.llm, optimizer, plain_inputs)
    gem_times, base_times, peaks = [], [], []
    for _ in range(args.rounds):  # interleaved, best of rounds: a shared machine's noise hits all three
        gem_times.append(time_steps(gem_step, args.steps, args.warmup, device))
        base_times.append(time_steps(base_step, args.steps, args.warmup, device))
        peaks.append(matmul_peak(device, dtype))
    gem_s, base_s, measured = min(gem_times), min(base_times), max(peaks)
    flops, base_flops = model_flops_per_step(model, args.batch, seq), model_flops_per_step(_LlmOnly(model.llm), args.batch, seq)
    tokens = args.batch * seq
    n_img = seq - (args.text_tokens - 2) - model.n_ecg_tokens
    peak, source = datasheet_peak(device, args.dtype, args.peak_tflops)
    print(f"device={device} dtype={args.dtype} llm={args.llm} lora={args.lora} batch={args.batch} seq={seq} "
          f"(text {args.text_tokens - 2} + ecg {model.n_ecg_tokens} + image {n_img}), best of {args.rounds} rounds")
    print(f"MFU denominator: {f'{peak / 1e12:.1f} TFLOP/s' if peak else 'none'} ({source}); "
          f"measured matmul here: {measured / 1e12:.3f} TFLOP/s")
    label = "MFU" if peak else "of matmul"
    denom = peak or measured
    print(f"{'step':<22}{'s/step':>10}{'tokens/s':>12}{label:>10}")
    print(f"{'GEM (towers+LM)':<22}{gem_s:>10.3f}{tokens / gem_s:>12.0f}{flops / gem_s / denom:>10.1%}")
    print(f"{'plain HF causal LM':<22}{base_s:>10.3f}{tokens / base_s:>12.0f}{base_flops / base_s / denom:>10.1%}")
    print(f"ratio GEM / plain tokens/s: {base_s / gem_s:.2f}")
    if device.startswith("cuda"):
        print(f"peak GPU memory allocated: {torch.cuda.max_memory_allocated() / 1e9:.1f} GB")


class _LlmOnly:
    """The LM alone, shaped like GemModel for `model_flops_per_step`."""

    def __init__(self, llm):
        self.llm, self.ecg_encoder, self.vision_tower = llm, None, None
        self.ecg_projector = self.mm_projector = None


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
