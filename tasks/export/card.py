"""The dataset card (README.md of an export): sources and licences, counts, versions, rules, cost."""
from __future__ import annotations

from collections import Counter

import pyarrow as pa

from schemas.config import GemflowConfig
from schemas.records import RECORDS_SCHEMA
from storage.layout import DataRoot
from storage.parquet import TableStore

LICENCES = {
    "wfdb": "as the source corpus states (PhysioNet records: ODC-By or CC BY 4.0)",
    "ptbxl": "CC BY 4.0 (PTB-XL, PhysioNet)",
    "mimic": "PhysioNet Credentialed Health Data License 1.5.0 (MIMIC-IV-ECG): do not redistribute",
    "code15": "CC BY 4.0 (CODE-15%, Zenodo)",
    "demo": "synthetic (deepfake-ecg generator, MIT)",
}


def _table(rows: list[tuple], header: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def dataset_card(root: DataRoot, cfg: GemflowConfig, pairs: pa.Table, version: str, counts: dict[str, int],
                 spent_usd: float) -> str:
    rows = pairs.to_pylist()
    recs = TableStore(root).read("records", RECORDS_SCHEMA, columns=["source", "source_kind"]).to_pylist()
    kinds = {r["source"]: r["source_kind"] for r in recs}
    sources = Counter(r["source"] for r in rows)
    teachers = Counter((r["teacher"], r["model"], r["prompt_version"]) for r in rows)
    features = sorted({r["feature_version"] or "?" for r in rows})
    v = cfg.validation
    rules = [
        ("length", f"{v.min_words}-{v.max_words} words, single paragraph: {v.single_paragraph}"),
        ("numeric claims", f"HR ±{v.tol_hr_bpm} bpm; intervals ±max({v.tol_interval_ms} ms, {v.tol_interval_rel:.0%});"
                           f" axis ±{v.tol_axis_deg}°; amplitudes ±max({v.tol_amplitude_mv} mV, {v.tol_amplitude_rel:.0%})"),
        ("leads", f"every named lead exists and is usable; minimum coverage {v.min_lead_coverage:.0%}"),
        ("diagnoses", f"labelled diagnoses stated: {v.require_labels_stated}; no contradiction with labels or measurements"),
        ("leakage", "no reference to the provided report or measurements"),
    ]
    return "\n\n".join([
        f"# gemflow dataset {version}",
        "Grounded ECG instruction pairs in LLaVA format. `image` and `ecg` paths are relative to the dataset"
        " root (the folder holding `exports/`); `ecg` is a WFDB record (12 leads, 500 Hz, 10 s, mV) without extension.",
        "## Splits (by patient: no patient is in two splits)\n\n" + _table([(s, n) for s, n in counts.items()], ("split", "pairs")),
        "## Sources and licences\n\n" + _table(
            [(s, kinds.get(s, "?"), n, LICENCES.get(kinds.get(s, ""), "see source")) for s, n in sorted(sources.items())],
            ("source", "kind", "pairs", "licence")),
        "## Teachers and prompts\n\n" + _table([(t, m, p, n) for (t, m, p), n in sorted(teachers.items())],
                                               ("teacher", "model", "prompt version", "pairs")),
        f"## Features\n\nfeature version(s): {', '.join(features)}",
        "## Validation rules\n\n" + _table(rules, ("rule", "threshold")),
        f"## Cost\n\nteacher spend recorded in the ledger: ${spent_usd:.4f}",
        "## Provenance\n\nEvery item carries `provenance`: record, patient, source, teacher, model, prompt version,"
        " request id (the ledger key), feature version and regeneration round. `pairs.parquet` holds the same rows"
        " with grounding scores.",
    ]) + "\n"
