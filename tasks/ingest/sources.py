"""Recognise a source folder's layout and open the matching reader; every reader has one interface."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, Protocol

from schemas.config import IngestSettings, SourceConfig
from schemas.records import RawSignal, RecordMeta


class SourceReader(Protocol):
    """Discovery is cheap and never fails on a bad record; `load` raises RecordError with a reason."""

    kind: str
    source: str

    def discover(self) -> Iterator[RecordMeta]: ...

    def load(self, meta: RecordMeta) -> tuple[RecordMeta, RawSignal]: ...


def detect_kind(path: Path) -> str:
    """`ptbxl`, `mimic`, `code15` or the generic `wfdb`, from the files a layout always has."""
    if (path / "ptbxl_database.csv").exists():
        return "ptbxl"
    if (path / "record_list.csv").exists():
        return "mimic"
    if (path / "exams.csv").exists() and any(path.glob("*.hdf5")):
        return "code15"
    return "wfdb"


def source_name(cfg: SourceConfig) -> str:
    name = cfg.name or Path(cfg.path).expanduser().resolve().name
    return re.sub(r"[^A-Za-z0-9_]+", "_", name) or "source"


def open_reader(cfg: SourceConfig, settings: IngestSettings) -> SourceReader:
    """The reader for one configured source; `kind: auto` looks at the folder."""
    path = Path(cfg.path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"source {cfg.path} does not exist")
    kind = detect_kind(path) if cfg.kind == "auto" else cfg.kind
    name = source_name(cfg)
    if kind in ("wfdb", "demo"):
        from tasks.ingest.wfdb_dir import WfdbDirReader
        return WfdbDirReader(path, name, settings, credentialed=bool(cfg.credentialed), kind=kind)
    if kind == "ptbxl":
        from tasks.ingest.ptbxl import PtbxlReader
        return PtbxlReader(path, name, settings, credentialed=bool(cfg.credentialed))
    if kind == "mimic":
        from tasks.ingest.mimic import MimicReader
        return MimicReader(path, name, settings, credentialed=cfg.credentialed is not False)
    if kind == "code15":
        from tasks.ingest.code15 import Code15Reader
        return Code15Reader(path, name, settings, credentialed=bool(cfg.credentialed))
    raise ValueError(f"unknown source kind {kind!r} for {cfg.path}")
