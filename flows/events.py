"""The training trigger: emit `gemflow.dataset.validated` once validated pairs reach the target."""
from __future__ import annotations

from prefect.events import emit_event

from schemas.config import GemflowConfig
from storage.layout import DataRoot

EVENT = "gemflow.dataset.validated"


def maybe_emit_validated(root: DataRoot, cfg: GemflowConfig, export: dict) -> dict:
    """Emit the event with the dataset URI, version and count when the export holds `target_pairs` pairs."""
    count = sum(int(export.get(s, 0)) for s in ("train", "val", "test"))
    if count < cfg.target_pairs:
        return {"emitted": False, "count": count, "target": cfg.target_pairs}
    version = export["version"]
    event = emit_event(
        event=EVENT,
        resource={"prefect.resource.id": f"gemflow.dataset.{version}", "gemflow.dataset.uri": root.uri},
        payload={"dataset_uri": root.uri, "version": version, "count": count,
                 "export_path": export.get("path")},
    )
    return {"emitted": event is not None, "count": count, "target": cfg.target_pairs, "version": version}
