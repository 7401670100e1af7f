"""Export validated pairs as a versioned LLaVA-format dataset (JSON per split + Parquet + dataset card)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import ExportSettings, GemflowConfig
from schemas.pairs import EXPORT_PAIRS_SCHEMA, PAIRS_SCHEMA, SPLIT_FIELD
from storage import atomic
from storage.layout import DataRoot
from storage.parquet import TableStore, write_atomic
from tasks.export.card import dataset_card
from tasks.export.splits import split_of

SPLITS = ("train", "val", "test")


@dataclass
class ExportResult:
    """What the export stage (and flow) returns: the version, its folder, pairs per split, and whether it is new."""

    version: str
    path: Path
    counts: dict[str, int]
    created: bool

    @property
    def pairs(self) -> int:
        """Pairs in the export, all splits together."""
        return sum(int(self.counts.get(s, 0)) for s in SPLITS)

    def summary(self) -> dict:
        return {"version": self.version, "path": str(self.path), "created": self.created, **self.counts}


def llava_item(row: dict) -> dict:
    """One LLaVA training item; `image` and `ecg` are relative to the dataset root."""
    return {
        "id": row["pair_id"],
        "image": row["image_path"],
        "ecg": row["ecg_path"],
        "conversations": [
            {"from": "human", "value": row["instruction"]},
            {"from": "gpt", "value": row["answer"]},
        ],
        "provenance": {k: row[k] for k in ("record_id", "patient_id", "source", "teacher", "model",
                                           "prompt_version", "request_id", "feature_version", "round")},
    }


def select_pairs(store: TableStore, teacher: str | None = None, prompt_version: str | None = None) -> pa.Table:
    """The pairs to export, one per record (the latest round wins), in a stable order."""
    table = store.read("pairs", PAIRS_SCHEMA)
    if teacher:
        table = table.filter(pc.equal(table["teacher"], teacher))
    if prompt_version:
        table = table.filter(pc.equal(table["prompt_version"], prompt_version))
    rows = sorted(table.to_pylist(), key=lambda r: (r["record_id"], r["teacher"], r["prompt_version"], -(r["round"] or 0)))
    best: dict[tuple, dict] = {}
    for r in rows:
        best.setdefault((r["record_id"], r["teacher"], r["prompt_version"]), r)
    chosen = sorted(best.values(), key=lambda r: r["pair_id"])
    return pa.Table.from_pylist(chosen, schema=PAIRS_SCHEMA)


def with_current_splits(table: pa.Table, settings: ExportSettings) -> pa.Table:
    """The pairs with `split` computed now, from these settings and each patient id.

    The split is policy, so it is decided here and nowhere else: with the seed or fractions changed
    between runs, every pair of a patient still lands in that patient's one split."""
    splits = pa.array([split_of(p, settings) for p in table["patient_id"].to_pylist()], pa.string())
    return table.add_column(EXPORT_PAIRS_SCHEMA.get_field_index("split"), SPLIT_FIELD, splits)


def content_version(table: pa.Table) -> str:
    """The export's version: a hash of its content, so the same pairs give the same version."""
    h = hashlib.sha256()
    for r in table.select(["pair_id", "split", "instruction", "answer", "image_path", "ecg_path"]).to_pylist():
        h.update(json.dumps(r, sort_keys=True).encode())
    return h.hexdigest()[:12]


def _write_json(path: Path, items: list[dict]) -> None:
    atomic.write_text(path, json.dumps(items, ensure_ascii=False, indent=1))


def export_dataset(root: DataRoot, cfg: GemflowConfig, teacher: str | None = None,
                   prompt_version: str | None = None, spent_usd: float = 0.0) -> ExportResult:
    """Write exports/<version>/ unless that exact version exists; never overwrite an earlier export."""
    table = with_current_splits(select_pairs(TableStore(root), teacher, prompt_version), cfg.export)
    version = content_version(table)
    final = root.exports / version
    counts = {s: int(pc.sum(pc.equal(table["split"], s)).as_py() or 0) for s in SPLITS}
    if final.exists():
        return ExportResult(version, final, counts, created=False)
    staging = root.exports / f".staging-{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows = table.to_pylist()
    for split in SPLITS:
        _write_json(staging / f"{split}.json", [llava_item(r) for r in rows if r["split"] == split])
    write_atomic(table, staging / "pairs.parquet")
    atomic.write_text(staging / "README.md", dataset_card(root, cfg, table, version, counts, spent_usd))
    atomic.publish_dir(staging, final)
    atomic.write_text(root.exports / "LATEST", version + "\n")
    return ExportResult(version, final, counts, created=True)
