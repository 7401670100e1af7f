"""Regenerate-rejected flow: ask the teacher again for each rejected answer, with the failed rules fed back."""
from __future__ import annotations

from prefect import flow

from flows.common import refresh, settings, summarize
from flows.generate import llm_options
from storage.ledger import Ledger
from storage.parquet import TableStore
from tasks.results import StageResult
from tasks.teachers.stage import GenerateCounts, fetch_pages, run_requests
from tasks.validate.regenerate import pending_regenerations, plan_regenerations


@flow(name="regenerate-rejected", flow_run_name="regenerate-rejected/{teacher}/{prompt_version}")
def regenerate_rejected_flow(data: str, teacher: str | None = None, prompt_version: str | None = None,
                             config_path: str | None = None) -> StageResult[GenerateCounts]:
    """One more round for every rejection below `validation.max_regenerations`; each attempt is journaled."""
    cfg, root = settings(data, config_path, teacher=teacher, prompt_version=prompt_version)
    teacher, version = cfg.teacher, cfg.prompt_version
    tcfg = cfg.teacher_config(teacher)
    store = TableStore(root)
    with root.writer_lock("regenerate"):
        pending = pending_regenerations(root, teacher, version, cfg.validation.max_regenerations)
        planned = plan_regenerations(store, pending, cfg, teacher, version)
        options = llm_options(teacher, tcfg) if tcfg.kind == "litellm" else {}
        if root.is_remote and tcfg.vision:  # the teacher reads pages from disk: this machine's work folder
            fetch_pages(root, [ctx for _, ctx in planned])
        with Ledger(root.ledger_path) as ledger:
            counts = run_requests(planned, ledger, cfg, teacher, **options) if planned else GenerateCounts()
            store.replace("responses", ledger.snapshot())
        refresh(root)
    return summarize("regenerate", StageResult(counts))
