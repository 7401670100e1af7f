"""The training run itself: build model and data from a `TrainConfig`, then run HF `Trainer`.

Every checkpoint (intermediate `checkpoint-N/` and the final output dir) carries
`gem_config.json`; a resume first checks it against the current config. A LoRA run saves its
adapters folded into the weights, so every checkpoint loads the same way.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from model.checkpoint import check_resume, load_weights, save_checkpoint, WEIGHTS_FILE
from model.config import ConfigError, GemConfig, TrainConfig, check_compatible
from model.conversation import get_template
from model.data import GemCollator, GemDataset, build_sources, export_dir, training_root
from model.gem import GemModel, build_gem_model
from model.llm import build_tokenizer
from model.signal import LEADS, TARGET_SAMPLES
from model.stages import (apply_stage, is_lora, load_projector_from, merged_state_dict, parameter_groups,
                          upcast_trainable)
from model.train import METRICS_FILE, effective_batch_line, format_metric, training_arguments_dict
from model.train_eval import EVAL_SAMPLES_FILE, GenerateSamplesCallback
from model.vision import build_preprocessor

log = logging.getLogger("model.train")


class GemTrainer(Trainer):
    """HF Trainer whose saves write a self-describing gemflow checkpoint."""

    mm_projector_lr: float | None = None

    def create_optimizer(self, model=None):
        """HF's optimizer, with the projectors in their own group when `mm_projector_lr` is set."""
        if self.optimizer is not None or self.mm_projector_lr is None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        groups = parameter_groups(opt_model, self.args.learning_rate, self.args.weight_decay, self.mm_projector_lr)
        self.optimizer = optimizer_cls(groups, **kwargs)
        return self.optimizer

    def _get_train_sampler(self, train_dataset=None):
        """group_by_length from the index's precomputed lengths (HF would load every sample to measure it)."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        grouped = (getattr(self.args, "train_sampling_strategy", None) == "group_by_length"
                   or getattr(self.args, "group_by_length", False))  # the name before transformers 5.x
        if grouped and hasattr(dataset, "lengths"):
            from transformers.trainer_pt_utils import LengthGroupedSampler

            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        dataset=dataset, lengths=dataset.lengths)
        return super()._get_train_sampler(train_dataset)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        if not self.args.should_save:  # HF calls this on every rank
            return
        output_dir = output_dir or self.args.output_dir
        model = self.accelerator.unwrap_model(self.model)
        if is_lora(model):
            state_dict = merged_state_dict(model)
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
    """Tokenizer, model (with `init_from` / `projector_from` weights, the stage's freezing and LoRA),
    the mixture dataset and its collator."""
    tokenizer = build_tokenizer(cfg.model.llm, cfg.model.llm_name, cfg.model.cache_dir)
    model = build_gem_model(cfg.model, vocab_size=len(tokenizer))
    if cfg.init_from:
        check_compatible(GemConfig.load(cfg.init_from), cfg.model, cfg.init_from)
        load_weights(model, Path(cfg.init_from) / WEIGHTS_FILE)
    if cfg.projector_from:
        load_projector_from(model, cfg.projector_from)
    apply_stage(model, cfg)
    dataset = build_dataset(cfg, data_root, tokenizer, model, "train")
    vision = model.vision_tower
    collator = GemCollator(tokenizer.pad_token_id,
                           (len(LEADS), TARGET_SAMPLES) if model.ecg_encoder is not None else None,
                           vision.image_size if vision is not None else None)
    return model, tokenizer, dataset, collator


def build_dataset(cfg: TrainConfig, data_root: str | Path, tokenizer, model: GemModel, split: str) -> GemDataset:
    vision = model.vision_tower
    preprocess = build_preprocessor(cfg.model, vision.image_size) if vision is not None else None
    return GemDataset(build_sources(cfg.data, data_root, split, cfg.model.cache_dir), tokenizer, get_template(cfg.model.conv_template),
                      cfg.model.max_length, preprocess, model.ecg_encoder is not None,
                      cfg.data.samples_per_epoch if split == "train" else None, cfg.data.seed)


def resolve_resume(resume: str | None, output_dir: Path) -> str | None:
    if resume != "latest":
        return resume
    last = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    if last is None:
        raise ConfigError(f"--resume latest: no checkpoint-* dir in {output_dir}")
    return last


def run_training(cfg: TrainConfig, data_root: str | Path, output_dir: str | Path,
                 resume: str | None = None) -> dict[str, Any]:
    """Train, save the final checkpoint into `output_dir`, return the final train metrics.

    An s3:// `data_root` is staged into this machine's work folder first (model/data.py `training_root`);
    checkpoints stay in `output_dir`, a local folder."""
    data_root = training_root(cfg.data, data_root)
    output_dir = Path(output_dir)
    resume = resolve_resume(resume, output_dir)
    if resume:
        check_resume(resume, cfg.model)  # names first: fail before any weights load
    world = int(os.environ.get("WORLD_SIZE", "1"))
    values = training_arguments_dict(cfg, output_dir, world)
    has_val = _has_val_split(cfg, data_root)
    if not has_val:
        values["eval_strategy"] = "no"
    args = TrainingArguments(**values)
    _announce(effective_batch_line(args.world_size, args.per_device_train_batch_size,
                                   args.gradient_accumulation_steps), args)
    _init_deepspeed_comm(args)
    model, tokenizer, dataset, collator = build_model_and_data(cfg, data_root)
    if resume:
        check_resume(resume, cfg.model)  # now with the resolved architectures
    if args.deepspeed is None and upcast_trainable(model):
        log.info("no DeepSpeed: trainable parameters held in fp32 (the master weights)")
    _announce(dataset.summary(), args)
    _log_parameters(model)
    output_dir.mkdir(parents=True, exist_ok=True)
    if not resume and args.process_index == 0:
        (output_dir / METRICS_FILE).unlink(missing_ok=True)  # a fresh run starts a fresh log
    callbacks = [MetricsCallback(output_dir / METRICS_FILE)]
    eval_dataset = None
    if has_val and args.eval_strategy != "no":
        eval_dataset = build_dataset(cfg, data_root, tokenizer, model, "val")
        if not resume and args.process_index == 0:
            (output_dir / EVAL_SAMPLES_FILE).unlink(missing_ok=True)
        callbacks.append(GenerateSamplesCallback(eval_dataset, tokenizer, output_dir / EVAL_SAMPLES_FILE,
                                                 cfg.eval_generate))
    trainer = GemTrainer(model=model, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                         data_collator=collator, processing_class=tokenizer, callbacks=callbacks)
    trainer.mm_projector_lr = cfg.mm_projector_lr
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(output_dir))
    trainer.save_state()
    if dataset.skipped:
        log.warning("%d unreadable samples were skipped on rank %d", dataset.skipped, args.process_index)
    return dict(result.metrics)


def _init_deepspeed_comm(args: TrainingArguments) -> None:
    """Under ZeRO-3 the model is built inside `zero.Init`, which reads the world size from
    deepspeed.comm: initialise it on the process group HF already made (else it sees 1 rank)."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    if args.deepspeed and is_deepspeed_zero3_enabled():
        import deepspeed

        deepspeed.init_distributed(dist_backend="gloo" if args.use_cpu else "nccl")


def _has_val_split(cfg: TrainConfig, data_root: str | Path) -> bool:
    if cfg.data.export is None:
        return False
    return (export_dir(data_root, cfg.data.export) / "val.json").is_file()


def _announce(line: str, args: TrainingArguments) -> None:
    """Log on every rank; print once (rank 0) so the launcher's output shows it."""
    log.info(line)
    if args.process_index == 0:
        print(line, flush=True)


def _log_parameters(model: GemModel) -> None:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("parameters: %.2fM total, %.2fM trainable", total / 1e6, trainable / 1e6)
