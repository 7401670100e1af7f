"""The training trigger: emit `gemflow.dataset.validated` once validated pairs reach the target."""
from __future__ import annotations

from prefect.events import emit_event

from schemas.config import GemflowConfig
from storage.layout import DataRoot
from tasks.export.llava import ExportResult
from tasks.results import EventResult

EVENT = "gemflow.dataset.validated"


def maybe_emit_validated(root: DataRoot, cfg: GemflowConfig, export: ExportResult) -> EventResult:
    """Emit the event with the dataset URI, version and count when the export holds `target_pairs` pairs."""
    count = export.pairs
    if count < cfg.target_pairs:
        return EventResult(emitted=False, count=count, target=cfg.target_pairs)
    version = export.version
    event = emit_event(
        event=EVENT,
        resource={"prefect.resource.id": f"gemflow.dataset.{version}", "gemflow.dataset.uri": root.uri},
        payload={"dataset_uri": root.uri, "version": version, "count": count,
                 "export_path": str(export.path)},
    )
    return EventResult(emitted=event is not None, count=count, target=cfg.target_pairs, version=version)
