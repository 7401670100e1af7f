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
from storage.parquet import TableStore, table_bytes
from tasks.export.card import dataset_card
from tasks.export.splits import split_of

SPLITS = ("train", "val", "test")


@dataclass
class ExportResult:
    """What the export stage (and flow) returns: the version, its folder, pairs per split, and whether it is new."""

    version: str
    path: Path | str  # a local folder, or an s3://… prefix
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


def _export_files(root: DataRoot, cfg: GemflowConfig, table: pa.Table, version: str, counts: dict[str, int],
                  spent_usd: float) -> list[tuple[str, bytes]]:
    """The export's files and their bytes, `pairs.parquet` last (on object storage its PUT commits the export)."""
    rows = table.to_pylist()
    files = [(f"{split}.json", json.dumps([llava_item(r) for r in rows if r["split"] == split],
                                          ensure_ascii=False, indent=1).encode()) for split in SPLITS]
    files.append(("README.md", dataset_card(root, cfg, table, version, counts, spent_usd).encode()))
    files.append(("pairs.parquet", table_bytes(table)))
    return files


def export_dataset(root: DataRoot, cfg: GemflowConfig, teacher: str | None = None,
                   prompt_version: str | None = None, spent_usd: float = 0.0) -> ExportResult:
    """Write exports/<version>/ unless that exact version exists; never overwrite an earlier export."""
    table = with_current_splits(select_pairs(TableStore(root), teacher, prompt_version), cfg.export)
    version = content_version(table)
    counts = {s: int(pc.sum(pc.equal(table["split"], s)).as_py() or 0) for s in SPLITS}
    if root.is_remote:
        return _export_remote(root, cfg, table, version, counts, spent_usd)
    final = root.exports / version
    if final.exists():
        return ExportResult(version, final, counts, created=False)
    staging = root.exports / f".staging-{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, data in _export_files(root, cfg, table, version, counts, spent_usd):
        atomic.write_bytes(staging / name, data)
    atomic.publish_dir(staging, final)
    atomic.write_text(root.exports / "LATEST", version + "\n")
    return ExportResult(version, final, counts, created=True)


def _export_remote(root: DataRoot, cfg: GemflowConfig, table: pa.Table, version: str, counts: dict[str, int],
                   spent_usd: float) -> ExportResult:
    """On object storage: one PUT per file under exports/<version>/, `pairs.parquet` last, then LATEST.

    There is no folder rename on a store: an export is there once its `pairs.parquet` is (what
    `resolve_export` asks for). A crash before that leaves files a rerun overwrites with the same
    bytes (the version is a hash of the content)."""
    folder = f"exports/{version}"
    if root.exists(f"{folder}/pairs.parquet"):
        return ExportResult(version, root.path(folder), counts, created=False)
    for name, data in _export_files(root, cfg, table, version, counts, spent_usd):
        if name == "pairs.parquet":  # the commit point (written last): a run whose lock was lost publishes nothing
            root.fence()
        root.write_bytes(f"{folder}/{name}", data)
    root.fence()
    root.write_text("exports/LATEST", version + "\n")
    return ExportResult(version, root.path(folder), counts, created=True)
