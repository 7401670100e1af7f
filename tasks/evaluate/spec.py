"""What an evaluation run works on (an export's split and its items) and where its outputs live.

Layout under the dataset root::

    evaluation/report.md                                  index of every evaluated split
    evaluation/<export-version>/<split>/report.md         interpreters compared on that split (+ PNGs)
    evaluation/<export-version>/<split>/<interpreter>/    one interpreter's run:
        outputs/part-*.parquet    interpretations + per-item metrics (append-only, atomic parts)
        ledger.sqlite             its teacher requests (exactly once, as in the generate stage)
        judge-<judge>/            the judge's ledger and scores (part-*.parquet)
        metrics.json              the aggregated metrics
    evaluation/<export-version>/<split>/review/<sheet>/   human review sheets, keys and summaries
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from schemas.pairs import EXPORT_PAIRS_SCHEMA
from storage.layout import DataRoot
from storage.staging import local_folder

EVAL_DIR = "evaluation"
SPLITS = ("train", "val", "test")


class EvalItem(BaseModel):
    """One case of a split: the record, its page and signal, the reference answer and its labels."""

    item_id: str
    record_id: str
    patient_id: str
    source: str | None = None
    image: str | None = None  # relative to the dataset root
    ecg: str | None = None  # WFDB record path without extension, relative to the dataset root
    instruction: str = ""
    reference: str = ""
    labels: list[str] = Field(default_factory=list)  # canonical codes (schemas/vocab.py)
    label_names: list[str] = Field(default_factory=list)


def load_items(root: DataRoot, version: str, split: str) -> list[EvalItem]:
    """The split's items, in pair-id order, from the export's pairs.parquet (read through the root: local or s3://)."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    table = pq.read_table(pa.BufferReader(root.read_bytes(f"exports/{version}/pairs.parquet")),
                          schema=EXPORT_PAIRS_SCHEMA)
    rows = table.filter(pc.equal(table["split"], split)).to_pylist()
    return [EvalItem(item_id=r["pair_id"], record_id=r["record_id"], patient_id=r["patient_id"], source=r["source"],
                     image=r["image_path"], ecg=r["ecg_path"], instruction=r["instruction"], reference=r["answer"],
                     labels=list(r["labels"] or []), label_names=list(r["label_names"] or []))
            for r in sorted(rows, key=lambda r: r["pair_id"])]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "unnamed"


def interpreter_key(teacher: str | None = None, model: str | None = None, sighted: bool = False) -> str:
    """The folder name of an interpreter: `<teacher>`, `<teacher>-sighted`, or `ckpt-<folder>`."""
    if (teacher is None) == (model is None):
        raise ValueError("give exactly one interpreter: a teacher name or a checkpoint (--model)")
    if model is not None:
        return "ckpt-" + _safe(Path(model).expanduser().resolve().name)
    return _safe(teacher) + ("-sighted" if sighted else "")


@dataclass(frozen=True)
class EvalRun:
    """One interpreter on one split of one export: the paths of its outputs (plain strings, picklable).

    `data_root` is the dataset root as given: a local folder or s3://bucket/prefix. The outputs are
    written under `local` (the folder itself, or this machine's work folder for a remote root, whose
    evaluation/ tasks/evaluate/remote.py mirrors to the store)."""

    data_root: str
    version: str
    split: str
    interpreter: str

    @property
    def is_remote(self) -> bool:
        return self.data_root.startswith("s3://")

    @property
    def root(self) -> DataRoot:
        return DataRoot.open(self.data_root) if self.is_remote else DataRoot(Path(self.data_root))

    @property
    def local(self) -> Path:
        """Where the run's files, and the pages and signals a checkpoint reads, are on this machine."""
        return local_folder(self.data_root) if self.is_remote else Path(self.data_root)

    def rel(self, path: Path) -> str:
        """A local path of the run as a root-relative key (evaluation/<version>/…)."""
        return Path(path).relative_to(self.local).as_posix()

    @property
    def split_dir(self) -> Path:
        return self.local / EVAL_DIR / self.version / self.split

    @property
    def dir(self) -> Path:
        return self.split_dir / self.interpreter

    @property
    def outputs_dir(self) -> Path:
        return self.dir / "outputs"

    @property
    def ledger_path(self) -> Path:
        return self.dir / "ledger.sqlite"

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.json"

    def judge_dir(self, judge: str) -> Path:
        return self.dir / f"judge-{_safe(judge)}"

    def ensure(self) -> "EvalRun":
        self.outputs_dir.mkdir(parents=True, exist_ok=True)
        return self
