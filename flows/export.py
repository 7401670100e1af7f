"""Export flow: a versioned LLaVA dataset of the validated pairs, split by patient, with its card."""
from __future__ import annotations

from prefect import flow

from flows.common import refresh, settings, summarize
from flows.progress import StageProgress
from storage.ledger import Ledger
from tasks.export.llava import ExportResult, export_dataset


@flow(name="export", flow_run_name="export/{data}")
def export_flow(data: str, teacher: str | None = None, prompt_version: str | None = None,
                config_path: str | None = None) -> ExportResult:
    cfg, root = settings(data, config_path)
    progress = StageProgress("export", 1, "exports")
    with root.writer_lock("export"), Ledger(root.ledger_path) as ledger:
        spent = ledger.spent_usd()
        result = export_dataset(root, cfg, teacher, prompt_version, spent_usd=spent)
        refresh(root)  # the catalog's pairs.split is the split of the LATEST export just written
    progress.advance()
    return summarize("export", result)
