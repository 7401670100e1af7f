"""Evaluate flow: one interpreter (a teacher or a checkpoint) on one split of an export, optionally judged.

Writes under `DATA/evaluation/<export>/<split>/<interpreter>/` (see tasks/evaluate/spec.py), resumably;
on an s3:// root it works in this machine's work folder and mirrors it (tasks/evaluate/remote.py):
a rerun skips finished items and judgements and appends only new parts. Publishes the split's
report (all interpreters evaluated on it) as a markdown artifact and `report.md`.
"""
from __future__ import annotations

import re

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from flows.common import settings, summarize
from flows.stages import run_shards
from schemas.config import GemflowConfig
from storage.exports import resolve_export
from tasks.evaluate import remote
from tasks.evaluate.interpreters import check_checkpoint
from tasks.evaluate.report import write_split_report
from tasks.evaluate.spec import EvalItem, EvalRun, interpreter_key, load_items
from tasks.evaluate.stage import (EvalCounts, interpret_shard, judge_shard, pending_items, pending_judgement,
                                  summarize_run)
from tasks.evaluate.store import run_lock
from tasks.results import EvaluateResult


def _is_llm(name: str | None, cfg: GemflowConfig) -> bool:
    return name is not None and cfg.teacher_config(name).kind == "litellm"


def _llm_options(name: str | None, cfg: GemflowConfig) -> dict:
    """The runner's key, Prefect cap and process limiter for an LLM teacher or judge (nothing for the template)."""
    if not _is_llm(name, cfg):
        return {}
    from flows.generate import llm_options
    return llm_options(name, cfg.teacher_config(name))


def _ensure_limits(cfg: GemflowConfig, *names: str | None) -> None:
    """Create the Prefect limits of every LLM teacher or judge of the run before the first (strict) use."""
    from flows.limits import ensure_teacher_limits
    for name in {n for n in names if _is_llm(n, cfg)}:
        ensure_teacher_limits(name, cfg.teacher_config(name))


@task(name="evaluate-shard")  # no retries, no timeout: a retry could resend a paid call (flows/stages.py)
def interpret_shard_task(run: EvalRun, items: list[EvalItem], cfg: GemflowConfig, teacher: str | None,
                         model: str | None, sighted: bool, device: str = "auto", batch_size: int = 8) -> EvalCounts:
    return interpret_shard(run, items, cfg, teacher, model, sighted, device, batch_size,
                           **_llm_options(teacher, cfg))


@task(name="judge-shard")  # the same: judge calls are paid
def judge_shard_task(run: EvalRun, items: list[EvalItem], cfg: GemflowConfig, judge: str,
                     max_rounds: int) -> EvalCounts:
    return judge_shard(run, items, cfg, judge, max_rounds, **_llm_options(judge, cfg))


def _publish(report_path, where: str) -> None:
    if report_path is None or FlowRunContext.get() is None:
        return
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", report_path.read_text())  # PNGs live beside report.md
    create_markdown_artifact(key="evaluation-report", markdown=text + f"\n\nReport and plots: `{where}`\n",
                             description="gemflow evaluation: interpreters compared on one split")


def _headline(metrics: dict) -> dict:
    out = {"interpreter": metrics["interpreter"], "split": metrics["split"], "export": metrics["export"],
           "macro_f1": metrics["labels"]["macro_f1"], "hamming_loss": metrics["labels"]["hamming_loss"],
           "grounding_score": metrics["grounding"]["grounding_score"]}
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


@flow(name="evaluate", flow_run_name="evaluate/{split}")
def evaluate_flow(data: str, split: str = "test", teacher: str | None = None, model: str | None = None,
                  judge: str | None = None, export_version: str | None = None, sighted: bool = False,
                  limit: int | None = None, retry_failed: bool = False, judge_rounds: int = 3,
                  shard_size: int = 50, config_path: str | None = None,
                  device: str = "auto", batch_size: int = 8) -> EvaluateResult:
    """Interpret, score and (with `judge`) judge a split; `teacher` defaults to the template baseline.

    `device` places a checkpoint (`model`): `auto` takes the GPU when torch sees one; `batch_size` items
    share one generate call."""
    cfg, root = settings(data, config_path)
    if teacher is None and model is None:
        teacher = "template"
    if model is not None:
        model = check_checkpoint(model)  # before any work: a wrong path fails now, not in every shard
    _ensure_limits(cfg, teacher, judge)  # an unknown teacher or judge fails here, naming the known ones
    version = resolve_export(root, export_version)
    items = load_items(root, version, split)
    run = EvalRun(root.location if root.is_remote else str(root.root), version, split,
                  interpreter_key(teacher, model, sighted))
    by_id = {i.item_id: i for i in items}
    with run_lock(run.dir, "evaluate"), remote.store_lock(run, "evaluate"):
        remote.pull(run)  # an s3:// root: what earlier runs (any machine) committed, so this one resumes
        remote.push(run, [run.dir])  # and what a killed run here committed but did not publish
        total = run_shards("evaluate", run, pending_items(run, items, retry_failed)[:limit], interpret_shard_task,
                           cfg, teacher, model, sighted, device, batch_size, shard_size=shard_size,
                           zero=EvalCounts(), sequential=True)
        if judge is not None:
            ids = pending_judgement(run, judge, retry_failed)[:limit]
            total = total + run_shards("judge", run, [by_id[i] for i in ids if i in by_id], judge_shard_task, cfg,
                                       judge, judge_rounds, shard_size=shard_size, zero=EvalCounts(), sequential=True)
        metrics = summarize_run(run, len(items))
        report = write_split_report(run.split_dir)
        remote.push_summaries(run)  # parts and ledgers, then metrics.json, the split report and the index last
    where = root.path(run.rel(report)) if report is not None and root.is_remote else str(report)
    _publish(report, where)
    return summarize("evaluate", EvaluateResult(total, **_headline(metrics), report=where))
