"""DeepSpeed on CPU ranks (gloo): ZeRO-3 `init_from` loads into partitioned parameters, and the
optimizer-offload config runs a step with a torch optimizer (`zero_force_ds_cpu_optimizer: false`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.test_model_train import REPO, TINY_TRAIN, make_export

pytest.importorskip("deepspeed")


def run_ranks(tmp_path: Path, nproc: int, overrides: dict, data: Path) -> tuple[subprocess.CompletedProcess, Path]:
    from model.launch import build_command, launch_env

    cfg = json.loads(json.dumps(TINY_TRAIN))
    cfg["model"]["cache_dir"] = str(tmp_path / "cache")
    cfg["training"].update({"max_steps": 1, "save_steps": 1000, "dataloader_num_workers": 0,
                            "gradient_checkpointing": False, "eval_strategy": "no"})
    for key, value in overrides.items():
        if key == "training":
            cfg["training"].update(value)
        else:
            cfg[key] = value
    config = tmp_path / "train.json"
    config.write_text(json.dumps({"train": cfg}))
    out = tmp_path / "out"
    cmd = build_command(config, data, nproc, "torchrun", out)
    env = launch_env(cpu=True)
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=600)
    return proc, out


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("zero-data")
    make_export(root, n=8)
    return root


@pytest.mark.slow
def test_zero3_init_from_loads_every_weight_on_two_ranks(tmp_path, data_root):
    import torch

    from model.checkpoint import save_checkpoint
    from model.config import GemConfig
    from model.gem import build_gem_model
    from model.llm import build_tokenizer

    model_cfg = GemConfig.from_dict({**TINY_TRAIN["model"], "cache_dir": str(tmp_path / "cache")})
    tok = build_tokenizer(model_cfg.llm, model_cfg.llm_name, model_cfg.cache_dir)
    torch.manual_seed(11)
    start = build_gem_model(model_cfg, vocab_size=len(tok))
    save_checkpoint(start, tmp_path / "start", tok)
    proc, out = run_ranks(tmp_path, 2, {"deepspeed": "zero3", "init_from": str(tmp_path / "start"),
                                        "training": {"learning_rate": 0.0}}, data_root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "effective batch: 256 = 2 ranks x micro-batch 2 x 64 accumulation steps" not in proc.stdout  # explicit 1
    assert "effective batch: 4 = 2 ranks x micro-batch 2 x 1 accumulation steps" in proc.stdout
    saved, expected = load_file(str(out / "model.safetensors")), load_file(str(tmp_path / "start" / "model.safetensors"))
    trained = [k for k in expected if k.startswith(("llm.", "mm_projector", "ecg_projector"))]
    assert trained and all(torch.equal(saved[k], expected[k]) for k in trained)  # lr 0: the loaded weights


@pytest.mark.slow
def test_offloaded_optimizer_runs_a_step_with_a_torch_optimizer(tmp_path, data_root):
    proc, out = run_ranks(tmp_path, 1, {"deepspeed": "zero2_offload"}, data_root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert losses and all(loss == loss and loss > 0 for loss in losses)
    ds = json.loads((REPO / "model" / "zero2_offload.json").read_text())
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "cpu" and ds["zero_force_ds_cpu_optimizer"] is False
    assert os.path.isfile(out / "model.safetensors")
