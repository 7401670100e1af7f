"""Map a source's label codes (SNOMED-CT, SCP-ECG) or report text onto the project's one vocabulary."""
from __future__ import annotations

from schemas.records import RecordMeta
from schemas.vocab import Label, Vocabulary
from tasks.validate.diagnoses import extract_labels


def normalize_labels(meta: RecordMeta, vocab: Vocabulary) -> tuple[list[Label], list[str]]:
    """Canonical labels of a record, and the source codes that did not resolve (kept, never dropped)."""
    if meta.label_system in ("snomed", "scp"):
        labels, unknown = vocab.normalize(meta.source_codes, meta.label_system)
        unknown = [f"{meta.label_system}:{c}" for c in unknown]
    else:
        labels, unknown = [], []
    if meta.report:
        labels = labels + extract_labels(meta.report)
    seen: set[str] = set()
    unique = []
    for label in labels:
        if label.code not in seen:
            seen.add(label.code)
            unique.append(label)
    return unique, unknown
