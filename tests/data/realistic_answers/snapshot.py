"""Freeze what the teacher sees for real records: run ingest + features into a data root, dump its rows.

    python tests/data/realistic_answers/snapshot.py [--data DIR] [--source DIR ...]

Writes contexts/<record_id>.json (the `records`, `record_features` and `beats` rows, floats rounded to
4 decimals). The record files themselves are never copied; paths are kept relative.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))
DEFAULT_SOURCES = [REPO.parent / "shared/data/ecg/cinc2021", REPO.parent / "shared/data/ecg/wfdb_samples"]


def _round(v):
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    if isinstance(v, list):
        return [_round(x) for x in v]
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return v


def build_root(data: Path, sources: list[Path]) -> None:
    """Ingest and measure the sources with the project's own shard functions (no Prefect server)."""
    from schemas.config import SourceConfig, load_config
    from storage.layout import DataRoot
    from storage.parquet import TableStore
    from tasks.features.stage import features_shard, pending_features
    from tasks.ingest.stage import ingest_shard, pending_records

    cfg = load_config(None)
    root = DataRoot.open(data)
    store = TableStore(root)
    for path in sources:
        src = SourceConfig(path=str(path))
        print(path, ingest_shard(src, cfg.ingest, str(root.root), pending_records(src, cfg.ingest, store, None)))
    print("features", features_shard(str(root.root), pending_features(root), cfg.features))


def dump(data: Path, out_dir: Path) -> list[str]:
    """One JSON snapshot per measured record."""
    from schemas.features import BEATS_SCHEMA, RECORD_FEATURES_SCHEMA
    from schemas.records import RECORDS_SCHEMA
    from storage.layout import DataRoot
    from storage.parquet import TableStore

    store = TableStore(DataRoot.open(data))
    recs = {r["record_id"]: r for r in store.read("records", RECORDS_SCHEMA).to_pylist()}
    feats = {r["record_id"]: r for r in store.read("record_features", RECORD_FEATURES_SCHEMA).to_pylist()}
    beats: dict[str, list[dict]] = {}
    for b in store.read("beats", BEATS_SCHEMA).to_pylist():
        beats.setdefault(b["record_id"], []).append(b)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    cols = [c for c in BEATS_SCHEMA.names if c != "record_id"]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for rid in sorted(feats):
        rec = dict(recs[rid])
        rec["path"] = Path(rec["path"]).name  # never an absolute path of this machine
        rows = sorted(beats.get(rid, []), key=lambda b: (b["lead"], b["beat"]))
        snap = {
            "record_id": rid,
            "made_with": {"commit": commit, "feature_version": feats[rid]["feature_version"],
                          "ingest_version": rec.get("ingest_version")},
            "records": _round(rec), "record_features": _round(feats[rid]),
            "beats": {"columns": cols, "rows": [[_round(b[c]) for c in cols] for b in rows]},
        }
        (out_dir / f"{rid}.json").write_text(json.dumps(snap, separators=(",", ":")) + "\n", encoding="utf-8")
        written.append(rid)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="an existing data root with records/record_features/beats (else a temp one)")
    ap.add_argument("--source", action="append", type=Path, help="record folders (default: the shared data)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "root"
        if not args.data:
            build_root(data, args.source or DEFAULT_SOURCES)
        print("wrote", len(dump(data, HERE / "contexts")), "snapshots")


if __name__ == "__main__":
    main()
