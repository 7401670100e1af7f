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


CREDENTIALED_KINDS = frozenset({"mimic"})  # data-use agreements: never to a teacher not approved for it


def looks_like_mimic(path: Path) -> bool:
    """MIMIC-IV-ECG by its index, its name, or its `files/pNNNN/pNNNNNNNN/sNNNNNNNN/` layout (no index needed)."""
    if (path / "record_list.csv").exists() or "mimic" in path.name.lower():
        return True
    return next(iter(path.glob("files/p[0-9]*/p[0-9]*/s[0-9]*/*.hea")), None) is not None


def is_credentialed(kind: str, cfg: SourceConfig) -> bool:
    """The config's `credentialed` when given, else whether the source kind is credentialed data."""
    return cfg.credentialed if cfg.credentialed is not None else kind in CREDENTIALED_KINDS


def detect_kind(path: Path) -> str:
    """`ptbxl`, `mimic`, `code15` or the generic `wfdb`, from the files a layout always has."""
    if (path / "ptbxl_database.csv").exists():
        return "ptbxl"
    if looks_like_mimic(path):
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
    credentialed = is_credentialed(kind, cfg)
    if kind in ("wfdb", "demo") or (kind == "mimic" and not (path / "record_list.csv").exists()):
        from tasks.ingest.wfdb_dir import WfdbDirReader  # a MIMIC tree without its index: plain WFDB, still credentialed
        return WfdbDirReader(path, name, settings, credentialed=credentialed, kind=kind)
    if kind == "ptbxl":
        from tasks.ingest.ptbxl import PtbxlReader
        return PtbxlReader(path, name, settings, credentialed=credentialed)
    if kind == "mimic":
        from tasks.ingest.mimic import MimicReader
        return MimicReader(path, name, settings, credentialed=credentialed)
    if kind == "code15":
        from tasks.ingest.code15 import Code15Reader
        return Code15Reader(path, name, settings, credentialed=credentialed)
    raise ValueError(f"unknown source kind {kind!r} for {cfg.path}")
