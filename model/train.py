"""Training entry point: `python -m model.train --config FILE --data DIR` under a distributed launcher.

HF `TrainingArguments` (GEM's defaults, then the config's `training:` values) plus a DeepSpeed
JSON whose `"auto"` values the HF arguments fill: one source of truth. Run it under
`deepspeed --num_gpus N` or `torchrun --nproc_per_node N` (see `model.launch`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from model.config import ConfigError, TrainConfig

log = logging.getLogger("model.train")

MODEL_DIR = Path(__file__).resolve().parent
METRIC_PREFIX = "GEMFLOW_METRIC "
METRICS_FILE = "metrics.jsonl"
SHIPPED_DEEPSPEED = ("zero2", "zero3", "zero2_offload")
# LLaVA's stage 1 (projector alignment): lr 1e-3, same schedule; `training:` still overrides.
ALIGN_DEFAULTS: dict[str, Any] = dict(learning_rate=1e-3)

# GEM's recipe (a global batch of 256: `train.global_batch_size`, micro-batch 4 per GPU, the
# accumulation computed for the world size); a config's `training:` overrides.
GEM_TRAINING_DEFAULTS: dict[str, Any] = dict(
    bf16=True, learning_rate=2e-5, lr_scheduler_type="cosine", warmup_steps=0.03,
    num_train_epochs=1, weight_decay=0.0, gradient_checkpointing=True,
    per_device_train_batch_size=4,
    logging_steps=1, save_strategy="steps", save_steps=1000, save_total_limit=2,
    eval_strategy="steps", eval_steps=1000, per_device_eval_batch_size=4,  # when the export has val.json
    remove_unused_columns=False, report_to="none", dataloader_num_workers=4, disable_tqdm=True,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML/JSON: a gemflow.yaml or its train: section")
    parser.add_argument("--data", required=True, help="dataset root (holds exports/)")
    parser.add_argument("--output", help="checkpoint dir (default DATA/checkpoints/gem)")
    parser.add_argument("--resume", help="a checkpoint dir, or 'latest' in the output dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. training.max_steps=10 (repeatable)")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=-1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read and validate a config file; `overrides` are dotted `KEY=VALUE` (YAML values)."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw = dict(raw.get("train", raw))
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE")
        _set_dotted(raw, key.strip(), yaml.safe_load(value))
    return TrainConfig.from_dict(raw)


def deepspeed_config_path(name: str | None) -> str | None:
    """"zero2"/"zero3"/"zero2_offload" -> the JSON shipped beside this module; a path is checked;
    None: no DeepSpeed."""
    if name is None:
        return None
    path = MODEL_DIR / f"{name}.json" if name in SHIPPED_DEEPSPEED else Path(name)
    if not path.is_file():
        raise ConfigError(f"train.deepspeed: {name!r} is neither one of {', '.join(SHIPPED_DEEPSPEED)} "
                          "nor an existing JSON file")
    return str(path)


def training_arguments_dict(cfg: TrainConfig, output_dir: str | Path, world_size: int = 1) -> dict[str, Any]:
    """GEM defaults | stage defaults | config `training:` | output dir, DeepSpeed JSON and the
    accumulation that makes `global_batch_size` on `world_size` ranks; unknown keys raise."""
    from transformers import TrainingArguments

    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    for key in cfg.training:
        if key not in known:
            raise ConfigError(f"train.training.{key}: not a transformers TrainingArguments field")
    stage = ALIGN_DEFAULTS if cfg.stage == "align" else {}
    values = {**GEM_TRAINING_DEFAULTS, **stage, **cfg.training, "output_dir": str(output_dir),
              "deepspeed": deepspeed_config_path(cfg.deepspeed)}
    if "gradient_accumulation_steps" not in cfg.training:
        values["gradient_accumulation_steps"] = accumulation_steps(
            cfg.global_batch_size, world_size, int(values["per_device_train_batch_size"]))
    if "activation_checkpointing" in known and "gradient_checkpointing" in values:
        # transformers 5.2x renamed it; GEM's (and older releases') name stays the config's
        values.setdefault("activation_checkpointing", values.pop("gradient_checkpointing"))
    return values


def accumulation_steps(global_batch: int, world_size: int, micro_batch: int) -> int:
    """global / (world x micro); refuses a global batch the ranks cannot make exactly."""
    per_step = world_size * micro_batch
    if global_batch % per_step:
        raise ConfigError(f"train.global_batch_size {global_batch} is not a multiple of {world_size} ranks x "
                          f"micro-batch {micro_batch}: change training.per_device_train_batch_size or the global batch")
    return global_batch // per_step


def effective_batch_line(world_size: int, micro: int, accumulation: int) -> str:
    return (f"effective batch: {world_size * micro * accumulation} = {world_size} ranks x micro-batch {micro} x "
            f"{accumulation} accumulation steps")


def main(argv: list[str] | None = None) -> int:
    """CLI entry: parse, validate, train; returns 0 (errors raise)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # must precede the first deepspeed import
    cfg = load_train_config(args.config, args.overrides)
    if not torch.cuda.is_available():
        cfg.training.setdefault("use_cpu", True)
    from storage.staging import local_folder  # an s3:// root's checkpoints go to this machine's work folder for it

    output = Path(args.output) if args.output else local_folder(args.data) / "checkpoints" / "gem"
    from model.trainer import run_training

    run_training(cfg, args.data, output, args.resume)
    return 0


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key}: {part} is not a section")
    node[parts[-1]] = value


def format_metric(step: int, logs: dict[str, Any]) -> str:
    """One metrics line as printed to the log stream (parsed back by `model.launch`)."""
    return METRIC_PREFIX + json.dumps({"step": step, **logs}, sort_keys=True)


if __name__ == "__main__":
    raise SystemExit(main())
