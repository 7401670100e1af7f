"""Evaluation during training: a few answers generated from the val split at each evaluation.

HF's Trainer computes the val loss (`eval_loss`, logged through the metrics file); this callback
adds `eval_samples.jsonl` in the output dir: per evaluation, the question, the reference answer
and the model's greedy answer for the first `n` val items. Every rank generates (ZeRO-3 needs all
ranks in each forward); rank 0 writes.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from transformers import TrainerCallback

from model.conversation import get_template, place_modalities, tokenize_conversation

log = logging.getLogger("model.train")
EVAL_SAMPLES_FILE = "eval_samples.jsonl"


class GenerateSamplesCallback(TrainerCallback):
    """After each evaluation, generate answers for the first `n` val items and append them."""

    def __init__(self, dataset, tokenizer, path: Path, n: int = 4, max_new_tokens: int = 256):
        self.dataset, self.tokenizer, self.path = dataset, tokenizer, path
        self.n, self.max_new_tokens = n, max_new_tokens

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if model is None or self.n <= 0:
            return
        rows = []
        was_training = model.training
        model.eval()
        try:
            for k in range(min(self.n, len(self.dataset))):
                rows.append(self._answer(model, k, args.device, state.global_step))
        finally:
            model.train(was_training)
        if state.is_world_process_zero:
            with self.path.open("a") as handle:
                for row in rows:
                    handle.write(json.dumps(row) + "\n")

    def _answer(self, model, k: int, device, step: int) -> dict:
        ds = self.dataset
        source = ds.sources[ds.index[k][0]]
        item = source.items.item(ds.index[k][1])
        sample = ds[k]
        turns = item["conversations"]
        prompt_turns = place_modalities(turns[:1], sample["ecg"] is not None, sample["image"] is not None)
        ids, _ = tokenize_conversation(prompt_turns, self.tokenizer, get_template(model.gem_config.conv_template),
                                       model.gem_config.max_length, add_generation_prompt=True)
        inputs = {}
        if sample["ecg"] is not None:
            inputs["ecgs"] = sample["ecg"][None].to(device)
        if sample["image"] is not None:
            inputs["images"] = sample["image"][None].to(device)
        tok = self.tokenizer
        out = model.generate(torch.tensor([ids], device=device), max_new_tokens=self.max_new_tokens,
                             do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **inputs)
        return {"step": step, "id": item.get("id"), "question": turns[0]["value"],
                "reference": turns[1]["value"], "answer": tok.decode(out[0], skip_special_tokens=True).strip()}


def read_eval_samples(output_dir: str | Path) -> list[dict]:
    path = Path(output_dir) / EVAL_SAMPLES_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
