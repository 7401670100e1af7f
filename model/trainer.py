"""The training run itself: build model and data from a `TrainConfig`, then run HF `Trainer`.

Every checkpoint (intermediate `checkpoint-N/` and the final output dir) carries
`gem_config.json`; a resume first checks it against the current config.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from model.checkpoint import check_resume, load_weights, save_checkpoint, WEIGHTS_FILE
from model.config import ConfigError, GemConfig, TrainConfig, check_compatible
from model.conversation import get_template
from model.data import GemCollator, GemDataset, build_sources
from model.gem import GemModel, build_gem_model
from model.llm import build_tokenizer
from model.signal import LEADS, TARGET_SAMPLES
from model.train import METRICS_FILE, format_metric, training_arguments_dict
from model.vision import PagePreprocessor

log = logging.getLogger("model.train")


class GemTrainer(Trainer):
    """HF Trainer whose saves write a self-describing gemflow checkpoint."""

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        if not self.args.should_save:  # HF calls this on every rank
            return
        output_dir = output_dir or self.args.output_dir
        model = self.accelerator.unwrap_model(self.model)
        if state_dict is not None and not state_dict:
            # ZeRO-3 without stage3_gather_16bit_weights_on_model_save: HF then writes a
            # DeepSpeed checkpoint; recover weights with its zero_to_fp32.py
            log.warning("no gathered weights to save in %s; only config and tokenizer written", output_dir)
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            model.gem_config.save(output_dir)
            return
        save_checkpoint(model, output_dir, self.processing_class, state_dict)
        log.info("saved gemflow checkpoint to %s", output_dir)


class MetricsCallback(TrainerCallback):
    """On the main process: append each log to metrics.jsonl and print it for the launcher."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, **logs}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
        print(format_metric(state.global_step, logs), flush=True)


def build_model_and_data(cfg: TrainConfig, data_root: str | Path) -> tuple[GemModel, Any, GemDataset, GemCollator]:
    """Tokenizer, model (with `init_from` weights if set), the mixture dataset and its collator."""
    tokenizer = build_tokenizer(cfg.model.llm, cfg.model.llm_name, cfg.model.cache_dir)
    model = build_gem_model(cfg.model, vocab_size=len(tokenizer))
    if cfg.init_from:
        check_compatible(GemConfig.load(cfg.init_from), cfg.model, cfg.init_from)
        load_weights(model, Path(cfg.init_from) / WEIGHTS_FILE)
    vision = model.vision_tower
    preprocess = PagePreprocessor(vision.image_size, cfg.model.image_pad_fill) if vision is not None else None
    dataset = GemDataset(build_sources(cfg.data, data_root), tokenizer, get_template(cfg.model.conv_template),
                         cfg.model.max_length, preprocess, model.ecg_encoder is not None,
                         cfg.data.samples_per_epoch, cfg.data.seed)
    collator = GemCollator(tokenizer.pad_token_id,
                           (len(LEADS), TARGET_SAMPLES) if model.ecg_encoder is not None else None,
                           vision.image_size if vision is not None else None)
    return model, tokenizer, dataset, collator


def resolve_resume(resume: str | None, output_dir: Path) -> str | None:
    if resume != "latest":
        return resume
    last = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    if last is None:
        raise ConfigError(f"--resume latest: no checkpoint-* dir in {output_dir}")
    return last


def run_training(cfg: TrainConfig, data_root: str | Path, output_dir: str | Path,
                 resume: str | None = None) -> dict[str, Any]:
    """Train, save the final checkpoint into `output_dir`, return the final train metrics."""
    output_dir = Path(output_dir)
    resume = resolve_resume(resume, output_dir)
    if resume:
        check_resume(resume, cfg.model)  # names first: fail before any weights load
    args = TrainingArguments(**training_arguments_dict(cfg, output_dir))
    model, tokenizer, dataset, collator = build_model_and_data(cfg, data_root)
    if resume:
        check_resume(resume, cfg.model)  # now with the resolved architectures
    _log_parameters(model)
    output_dir.mkdir(parents=True, exist_ok=True)
    if not resume and args.process_index == 0:
        (output_dir / METRICS_FILE).unlink(missing_ok=True)  # a fresh run starts a fresh log
    trainer = GemTrainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                         processing_class=tokenizer,
                         callbacks=[MetricsCallback(output_dir / METRICS_FILE)])
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(output_dir))
    trainer.save_state()
    return dict(result.metrics)


def _log_parameters(model: GemModel) -> None:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("parameters: %.2fM total, %.2fM trainable", total / 1e6, trainable / 1e6)
