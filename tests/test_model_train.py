"""End-to-end: a tiny GEM trains under DeepSpeed ZeRO-2 on 2 gloo ranks, reloads, interprets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
ANSWERS = {
    "slow": "Sinus bradycardia at {hr} bpm. The QRS complexes are narrow in every lead.",
    "fast": "Sinus tachycardia at {hr} bpm. Regular rhythm with upright P waves in lead II.",
}


def synthetic_ecg(hr: float, rng: np.random.Generator, fs: int = 500, seconds: int = 10) -> np.ndarray:
    """[samples, 12] mV: Gaussian P, QRS and T waves at `hr`, per-lead gains, a little noise."""
    t = np.arange(fs * seconds) / fs
    beat = np.zeros_like(t)
    for onset in np.arange(0.2, seconds, 60.0 / hr):
        for offset, width, amp in ((0.0, 0.025, 0.15), (0.16, 0.012, 1.1), (0.40, 0.05, 0.3)):
            beat += amp * np.exp(-0.5 * ((t - onset - offset) / width) ** 2)
    gains = np.linspace(-0.6, 1.2, 12)
    return np.outer(beat, gains) + rng.normal(0, 0.02, (t.size, 12))


def draw_page(signal: np.ndarray, path: Path, fs: int = 500) -> None:
    """A 2200 x 1700 paper-like page: red grid, 12 black traces at 25 mm/s, 10 mm/mV (200 dpi)."""
    page = Image.new("RGB", (2200, 1700), "white")
    draw = ImageDraw.Draw(page)
    for x in range(0, 2200, 39):
        draw.line([(x, 0), (x, 1699)], fill=(230, 120, 120))
    for y in range(0, 1700, 39):
        draw.line([(0, y), (2199, y)], fill=(230, 120, 120))
    px_per_s, px_per_mv = 25 * 200 / 25.4, 10 * 200 / 25.4
    xs = 100 + np.arange(signal.shape[0])[::4] / fs * px_per_s
    for lead in range(12):
        base = 110 + lead * 125
        ys = base - signal[::4, lead] * px_per_mv
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill="black", width=2)
    page.save(path)


def make_export(root: Path, n: int = 8, seed: int = 0, version: str = "v-test") -> Path:
    """A gemflow export of the data contract's shape under `root` (the data root); returns the export dir."""
    import wfdb

    rng = np.random.default_rng(seed)
    export = root / "exports" / version
    for sub in ("signals", "images", export):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "exports" / "LATEST").write_text(version + "\n")  # as the export stage writes it
    items = []
    for i in range(n):
        rid = f"demo-{i:06d}"
        kind = "slow" if i % 2 == 0 else "fast"
        hr = int(rng.integers(45, 55) if kind == "slow" else rng.integers(110, 130))
        signal = synthetic_ecg(hr, rng)
        wfdb.wrsamp(rid, fs=500, units=["mV"] * 12, sig_name=LEADS, p_signal=signal,
                    fmt=["16"] * 12, write_dir=str(root / "signals"))
        draw_page(signal, root / "images" / f"{rid}.png")
        items.append({"id": rid, "image": f"images/{rid}.png", "ecg": f"signals/{rid}",
                      "conversations": [
                          {"from": "human", "value": "<image>\nPlease interpret this ECG and provide a diagnosis."},
                          {"from": "gpt", "value": ANSWERS[kind].format(hr=hr)}]})
    cut = max(1, n // 4)
    for split, part in (("train", items[cut:]), ("val", items[:cut]), ("test", items[:cut])):
        (export / f"{split}.json").write_text(json.dumps(part, indent=1))
    (export / "README.md").write_text("synthetic test export\n")
    return export


TINY_TRAIN = {
    "model": {"ecg_encoder": "tiny", "vision_tower": "clip-tiny", "llm": "llama-tiny", "max_length": 512,
              "dtype": "float32"},
    "data": {"export": "latest", "samples_per_epoch": 160},
    "deepspeed": "zero2",
    "training": {
        "bf16": False, "use_cpu": True, "ddp_backend": "gloo", "optim": "adamw_torch",
        "learning_rate": 3.0e-3, "lr_scheduler_type": "constant", "warmup_steps": 0,
        "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
        "max_steps": 40, "save_steps": 40, "logging_steps": 1, "dataloader_num_workers": 0,
        "gradient_checkpointing": True,
    },
}


def write_config(path: Path, cache_dir: Path, **training) -> Path:
    cfg = json.loads(json.dumps(TINY_TRAIN))
    cfg["model"]["cache_dir"] = str(cache_dir)
    cfg["training"].update(training)
    path.write_text(json.dumps({"train": cfg}))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gemflow-data")
    make_export(root, n=8)
    return root


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory, prefect_harness) -> dict:
    """Run the Prefect `train` flow: 2 gloo ranks under torchrun, DeepSpeed ZeRO-2, tiny GEM."""
    from flows.train import train

    work = tmp_path_factory.mktemp("train")
    config = write_config(work / "train.yaml", work / "cache")
    output = work / "out"
    result = train(str(config), str(data_root), output=str(output), gpus=2, launcher="torchrun")
    return {"result": result, "output": output, "config": config}


def test_dry_run_validates_and_starts_nothing(data_root, tmp_path, prefect_harness):
    from flows.train import train

    config = write_config(tmp_path / "train.yaml", tmp_path / "cache")
    out = train(str(config), str(data_root), gpus=8, dry_run=True)
    assert out.dry_run is True
    assert out.sources == [str(data_root / "exports" / "v-test" / "train.json")]
    assert out.command[2:5] == ["deepspeed.launcher.runner", "--num_gpus", "8"]
    assert not (data_root / "checkpoints").exists()


def test_dry_run_rejects_a_bad_config_by_field(data_root, tmp_path, prefect_harness):
    from flows.train import train
    from model.config import ConfigError

    config = write_config(tmp_path / "train.yaml", tmp_path / "cache")
    with pytest.raises(ConfigError, match="train.model.llm_nme"):
        train(str(config), str(data_root), overrides=["model.llm_nme=x"], dry_run=True)
    with pytest.raises(FileNotFoundError, match="no export"):
        train(str(config), str(tmp_path), dry_run=True)


@pytest.mark.slow
def test_failed_training_fails_the_flow_run(data_root, tmp_path, prefect_harness):
    from flows.train import train

    config = write_config(tmp_path / "train.yaml", tmp_path / "cache", lr_scheduler_type="no-such-schedule")
    with pytest.raises(RuntimeError, match="training exited with"):
        train(str(config), str(data_root), output=str(tmp_path / "out"), gpus=1, launcher="torchrun")


@pytest.mark.slow
def test_loss_falls_under_zero2_on_two_ranks(trained):
    metrics = [json.loads(line) for line in (trained["output"] / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert len(losses) == 40
    assert np.mean(losses[-3:]) < 0.25 * losses[0], losses
    assert trained["result"].final_loss == pytest.approx(losses[-1])
    epoch_at_end = [m["epoch"] for m in metrics if "loss" in m][-1]
    assert epoch_at_end == pytest.approx(40 * 2 * 2 / 160)  # two ranks each took 2 samples a step


@pytest.mark.slow
def test_checkpoint_reloads_with_identical_outputs(trained):
    import torch

    from model.checkpoint import load_checkpoint

    output = trained["output"]
    saved = json.loads((output / "gem_config.json").read_text())
    assert saved["llm"] == "llama-tiny" and saved["llm_arch"]["hidden_size"] == 128
    reloaded, tokenizer = load_checkpoint(output)
    # DeepSpeed's own copy of the trained weights, written by the engine at the last step
    engine_state = torch.load(output / "checkpoint-40" / "global_step40" / "mp_rank_00_model_states.pt",
                              map_location="cpu", weights_only=False)["module"]
    reference, _ = load_checkpoint(output / "checkpoint-40", with_tokenizer=False)
    reference.load_state_dict(engine_state)
    ids = torch.tensor([tokenizer("USER: hello").input_ids[:3] + [-300, -200] + [42, 43]])
    inputs = {"ecgs": torch.randn(1, 12, 5000), "images": torch.randn(1, 3, 32, 32)}
    with torch.no_grad():
        got, want = reloaded(ids, **inputs).logits, reference(ids, **inputs).logits
    assert got.shape == (1, 7 - 2 + 101 + 16, len(tokenizer))
    assert torch.equal(got, want)


@pytest.mark.slow
def test_interpret_generates_text_from_a_record(trained, data_root):
    from model.infer import interpret

    text = interpret(str(data_root / "signals" / "demo-000001"), str(trained["output"]), max_new_tokens=24)
    # every training answer starts with "Sinus": a model that learned anything says it first
    assert text.startswith("Sinus"), text
