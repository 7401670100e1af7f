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
                       workers: int | None = None, dask_address: str | None = None) -> dict:
    """ingest -> features -> render -> generate -> validate -> export, then the event if the target is met.

    The shard stages run on the task runner `runner` (thread, process or dask) names, handed to each subflow."""
    cfg, root = settings(data, config_path, teacher=teacher, prompt_version=prompt_version,
                         target_pairs=target_pairs)
    sharded = {"task_runner": task_runner(runner, workers, dask_address)}
    validate = validate_flow.with_options(**sharded)
    progress = StageProgress("build", 6, "stages")
    out = {"ingest": ingest_flow.with_options(**sharded)(root.location, sources, limit, config_path)}
    progress.advance()
    out["features"] = features_flow.with_options(**sharded)(root.location, config_path)
    progress.advance()
    out["render"] = render_flow.with_options(**sharded)(root.location, config_path)
    progress.advance()
    out["generate"] = generate_flow(root.location, cfg.teacher, cfg.prompt_version, config_path)
    progress.advance()
    out["validate"] = validate(root.location, cfg.teacher, cfg.prompt_version, config_path, workers)
    progress.advance()
    for k in range(1, cfg.validation.max_regenerations + 1):
        regen = regenerate_rejected_flow(root.location, cfg.teacher, cfg.prompt_version, config_path)
        if not regen["planned"]:
            break
        out[f"regenerate-{k}"] = regen
        out[f"validate-{k}"] = validate(root.location, cfg.teacher, cfg.prompt_version, config_path, workers)
    out["export"] = export_flow(root.location, cfg.teacher, cfg.prompt_version, config_path)
    progress.advance()
    out["event"] = maybe_emit_validated(root, cfg, out["export"])
    publish_run_report(root, out, cfg.teacher, cfg.prompt_version)
    return out
