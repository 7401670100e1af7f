"""Interpret one WFDB record end to end in memory: canonicalize, measure, render, and ask an interpreter."""
from __future__ import annotations

import hashlib
from pathlib import Path

from schemas.config import load_config
from schemas.records import CANONICAL_FS, LEADS_12, RecordMeta, record_row
from schemas.vocab import Vocabulary
from tasks.features import extract_features
from tasks.ingest.canonical import canonicalize
from tasks.ingest.labels import normalize_labels
from tasks.ingest.wfdb_dir import fill_meta_from_comments, parse_comments, read_header, read_signal
from tasks.render import Renderer
from tasks.teachers.base import build_teacher, plan_request
from tasks.teachers.context import make_context

_SHOWN = ("hr_bpm", "rhythm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg", "quality", "usable_leads")


def interpret_record(record: str, teacher: str | None = None, model: str | None = None, out_dir: str = ".",
                     config_path: str | None = None) -> dict:
    """Measurements, the rendered page's path and the interpretation of one record."""
    cfg = load_config(config_path, teacher=teacher)
    base = str(Path(record).with_suffix("")) if Path(record).suffix in (".hea", ".dat", ".mat") else record
    rid = Path(base).name
    meta = RecordMeta(record_id=rid, source="cli", source_kind="wfdb", path=base, patient_id=rid)
    header = read_header(base, rid)
    fill_meta_from_comments(meta, parse_comments(header.comments or []))
    canon = canonicalize(meta, read_signal(base, header, rid, cfg.ingest), cfg.ingest)
    labels, _ = normalize_labels(meta, Vocabulary.load())
    canon.labels, canon.label_names = [x.code for x in labels], [x.name for x in labels]
    feats = extract_features(canon.signal, CANONICAL_FS, LEADS_12, rid)
    page = Renderer(cfg.render).render(canon.signal, CANONICAL_FS, LEADS_12)
    image = Path(out_dir).expanduser().resolve() / f"{rid}.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(page.png)
    feat_row = feats.record.to_row()
    ctx = make_context(record_row(canon, base), feat_row, feats.beats.to_pylist(), str(image),
                       hashlib.sha256(page.png).hexdigest())
    if model:
        from model.infer import interpret as model_interpret
        text, who = model_interpret(base, model, image_path=str(image)), f"model {model}"
    else:
        impl = build_teacher(cfg.teacher, cfg.teacher_config())
        resp = impl.complete(plan_request(ctx, cfg.teacher, cfg.teacher_config(), cfg.prompt_version,
                                          Vocabulary.load()), ctx)
        text, who = resp.text, f"teacher {cfg.teacher}"
    return {"record_id": rid, "measurements": {k: feat_row.get(k) for k in _SHOWN},
            "labels": canon.label_names, "image_path": str(image), "interpreter": who, "text": text}
