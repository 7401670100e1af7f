"""Interpret one WFDB record end to end in memory: canonicalize, measure, render, and ask an interpreter."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from schemas.config import GemflowConfig, TeacherConfig, load_config
from schemas.records import CANONICAL_FS, LEADS_12, RecordMeta, record_row
from schemas.vocab import Vocabulary
from tasks.features import extract_features
from tasks.ingest.canonical import canonicalize
from tasks.ingest.labels import normalize_labels
from tasks.ingest.wfdb_dir import fill_meta_from_comments, parse_comments, read_header, read_signal
from tasks.render import Renderer
from tasks.ingest.sources import detect_kind, is_credentialed, source_name
from tasks.teachers.base import check_governance, plan_request
from tasks.teachers.context import make_context

_MIMIC_PATH = re.compile(r"(^|/)files/p\d+/p\d+/s\d+/[^/]+$")


def record_source(base: str, cfg: GemflowConfig) -> tuple[str, bool]:
    """(source name, credentialed) of a record file: its configured source's, else MIMIC by its path.

    A record under a configured source folder takes that source's name and its credentialed flag
    (the config's, else the kind's); a record outside every source is credentialed when its path
    has MIMIC-IV-ECG's layout or any folder on it is named like MIMIC.
    """
    path = Path(base).expanduser().resolve()
    for src in cfg.sources:
        root = Path(src.path).expanduser().resolve()
        if root in path.parents:
            kind = detect_kind(root) if src.kind == "auto" else src.kind
            return source_name(src), is_credentialed(kind, src)
    if _MIMIC_PATH.search(path.as_posix()) or any("mimic" in p.name.lower() for p in path.parents):
        return "mimic_iv_ecg", True
    return "cli", False


_SHOWN = ("hr_bpm", "rhythm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg", "quality", "usable_leads")


class TeacherFailed(RuntimeError):
    """The teacher answered nothing usable after its retries."""


def teacher_key_of(tcfg: TeacherConfig) -> str | None:
    """The key from the teacher's Prefect Secret block if it names one (else $api_key_env is read)."""
    if not tcfg.api_key_secret_block:
        return None
    from prefect.blocks.system import Secret  # only then: interpret needs no Prefect otherwise
    return Secret.load(tcfg.api_key_secret_block).get()


def interpret_record(record: str, teacher: str | None = None, model: str | None = None, out_dir: str = ".",
                     config_path: str | None = None) -> dict:
    """Measurements, the rendered page's path and the interpretation of one record."""
    cfg = load_config(config_path, teacher=teacher)
    base = str(Path(record).with_suffix("")) if Path(record).suffix in (".hea", ".dat", ".mat") else record
    rid = Path(base).name
    source, credentialed = record_source(base, cfg)
    meta = RecordMeta(record_id=rid, source=source, source_kind="wfdb", path=base, patient_id=rid,
                      credentialed=credentialed)
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
        tcfg = cfg.teacher_config()
        check_governance(ctx, cfg.teacher, tcfg)  # before the record is even planned (ask_one checks again)
        request = plan_request(ctx, cfg.teacher, tcfg, cfg.prompt_version, Vocabulary.load())
        from tasks.teachers.client import ask_one
        resp = ask_one(request, ctx, cfg.teacher, tcfg, api_key=teacher_key_of(tcfg))
        if resp.status != "ok":
            raise TeacherFailed(f"teacher {cfg.teacher!r} gave no answer for {rid}: {resp.error}")
        text, who = resp.text, f"teacher {cfg.teacher}"
    return {"record_id": rid, "measurements": {k: feat_row.get(k) for k in _SHOWN},
            "labels": canon.label_names, "image_path": str(image), "interpreter": who, "text": text}
