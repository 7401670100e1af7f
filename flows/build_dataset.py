"""The whole dataset build as one parent flow with one subflow per stage, and the training trigger."""
from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.common import publish_run_report, resolved_teacher, settings
from flows.events import maybe_emit_validated
from flows.export import export_flow
from flows.features import features_flow
from flows.generate import generate_flow
from flows.ingest import ingest_flow
from flows.progress import StageProgress
from flows.regenerate_rejected import regenerate_rejected_flow
from flows.render import render_flow
from flows.runners import task_runner
from flows.validate import validate_flow
from tasks.results import BuildResult, RegenRound


def run_name(sources: list[str] | None, teacher: str | None, prompt_version: str | None) -> str:
    names = "+".join(Path(s.partition(":")[2] or s).name for s in (sources or [])) or "configured"
    return f"build-dataset/{names}/{teacher or 'default'}/{prompt_version or 'default'}"


def _flow_run_name() -> str:
    from prefect.runtime import flow_run
    p = flow_run.parameters
    teacher, version = resolved_teacher(p.get("teacher"), p.get("prompt_version"), p.get("config_path"))
    return run_name(p.get("sources"), teacher, version)


@flow(name="build-dataset", flow_run_name=_flow_run_name)
def build_dataset_flow(data: str, sources: list[str] | None = None, teacher: str | None = None,
                       prompt_version: str | None = None, limit: int | None = None,
                       target_pairs: int | None = None, config_path: str | None = None, runner: str = "thread",
                       workers: int | None = None, dask_address: str | None = None) -> BuildResult:
    """ingest -> features -> render -> generate -> validate -> export, then the event if the target is met.

    The shard stages run on the task runner `runner` (thread, process or dask) names, handed to each subflow."""
    cfg, root = settings(data, config_path, teacher=teacher, prompt_version=prompt_version,
                         target_pairs=target_pairs)
    sharded = {"task_runner": task_runner(runner, workers, dask_address)}
    validate = validate_flow.with_options(**sharded)
    where, teacher, version = root.location, cfg.teacher, cfg.prompt_version
    progress = StageProgress("build", 6, "stages")
    ingested = ingest_flow.with_options(**sharded)(where, sources, limit, config_path)
    progress.advance()
    measured = features_flow.with_options(**sharded)(where, config_path)
    progress.advance()
    rendered = render_flow.with_options(**sharded)(where, config_path)
    progress.advance()
    generated = generate_flow(where, teacher, version, config_path)
    progress.advance()
    validated = validate(where, teacher, version, config_path, workers)
    progress.advance()
    rounds = []
    for _ in range(cfg.validation.max_regenerations):
        regen = regenerate_rejected_flow(where, teacher, version, config_path)
        if not regen.counts.planned:
            break
        rounds.append(RegenRound(regen, validate(where, teacher, version, config_path, workers)))
    exported = export_flow(where, teacher, version, config_path)
    progress.advance()
    out = BuildResult(generated, validated, exported, maybe_emit_validated(root, cfg, exported),
                      ingest=ingested, features=measured, render=rendered, rounds=rounds)
    publish_run_report(root, out, teacher, version)
    return out
