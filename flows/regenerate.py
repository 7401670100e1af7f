"""Regenerate-with-teacher flow: generate, validate and export again for a chosen teacher and prompt version.

The records, features and images already in the dataset root are reused as they are; only the
teacher stages run. The ledger keys each request by record, rendered prompt, model and parameters,
so a new teacher or prompt version asks for everything once, and a rerun of the same pair asks for
nothing twice (it resumes where a failed or budget-stopped run left off). Deployed as
`regenerate-with-teacher` (prefect.yaml); `gemflow` runs the same stages one by one.
"""
from __future__ import annotations

from prefect import flow

from flows.common import publish_run_report, resolved_teacher, settings
from flows.events import maybe_emit_validated
from flows.export import export_flow
from flows.generate import generate_flow
from flows.progress import StageProgress
from flows.validate import validate_flow
from tasks.results import BuildResult


def _flow_run_name() -> str:
    from prefect.runtime import flow_run
    p = flow_run.parameters
    teacher, version = resolved_teacher(p.get("teacher"), p.get("prompt_version"), p.get("config_path"))
    return f"regenerate-with-teacher/{teacher}/{version}"


@flow(name="regenerate-with-teacher", flow_run_name=_flow_run_name)
def regenerate_flow(data: str, teacher: str | None = None, prompt_version: str | None = None,
                    limit: int | None = None, target_pairs: int | None = None,
                    config_path: str | None = None) -> BuildResult:
    """generate -> validate -> export for `teacher` and `prompt_version`; the training event if the target is met."""
    cfg, root = settings(data, config_path, teacher=teacher, prompt_version=prompt_version,
                         target_pairs=target_pairs)
    teacher, version, where = cfg.teacher, cfg.prompt_version, root.location
    progress = StageProgress("regenerate", 3, "stages")
    generated = generate_flow(where, teacher, version, config_path, limit)
    progress.advance()
    validated = validate_flow(where, teacher, version, config_path)
    progress.advance()
    exported = export_flow(where, teacher, version, config_path)
    progress.advance()
    out = BuildResult(generated, validated, exported, maybe_emit_validated(root, cfg, exported))
    publish_run_report(root, out, teacher, version)
    return out
