"""Label metrics: the diagnoses a free text states, scored against the reference labels per class and overall.

Predictions come from the negation-, hedge- and synonym-aware matcher (`extract_labels`), never a
substring search. The classes are those that occur in the reference or in the predictions of the
items scored, so a hallucinated diagnosis counts against F1 and Hamming loss. AUC needs scores:
it is computed only from an interpreter's per-class scores, never from binary predictions, and is
reported N/A with its reason otherwise (no scores, binary scores, one outcome only, missing scores).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from schemas.vocab import Vocabulary
from tasks.validate.diagnoses import extract_labels


def predicted_codes(text: str, vocab: Vocabulary | None = None) -> list[str]:
    """Canonical codes of the diagnoses the text states (negated mentions excluded, hedged ones kept)."""
    return [label.code for label in extract_labels(text or "", vocab)]


@dataclass
class ClassMetrics:
    code: str
    name: str
    support: int  # items whose reference has the class
    predicted: int  # items whose text states it
    tp: int
    fp: int
    fn: int
    precision: float | None  # None: never predicted
    recall: float | None  # None: no support
    f1: float
    auc: float | None = None
    auc_note: str = ""


@dataclass
class LabelMetrics:
    n_items: int
    classes: list[ClassMetrics] = field(default_factory=list)
    macro_f1: float | None = None
    micro_f1: float | None = None
    hamming_loss: float | None = None
    macro_auc: float | None = None
    auc_note: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half; needs both outcomes."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs at least one positive and one negative item")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _class_auc(y: np.ndarray, code: str, scores: list[dict[str, float] | None] | None) -> tuple[float | None, str]:
    if not scores or all(s is None for s in scores):
        return None, "n/a: the interpreter gives no scores"
    column = [None if s is None else s.get(code) for s in scores]
    if any(v is None for v in column):
        return None, "n/a: scores missing for some items"
    values = np.array(column, dtype=float)
    if set(np.unique(values)) <= {0.0, 1.0}:
        return None, "n/a: scores are binary predictions"
    if y.all() or not y.any():
        return None, "n/a: one outcome only"
    return auc(y, values), ""


def _class_metrics(code: str, name: str, y: np.ndarray, p: np.ndarray) -> ClassMetrics:
    tp, fp, fn = int((y & p).sum()), int((~y & p).sum()), int((y & ~p).sum())
    return ClassMetrics(code=code, name=name, support=int(y.sum()), predicted=int(p.sum()), tp=tp, fp=fp, fn=fn,
                        precision=tp / (tp + fp) if tp + fp else None, recall=tp / (tp + fn) if tp + fn else None,
                        f1=2 * tp / (2 * tp + fp + fn))


def label_metrics(truth: list[list[str]], preds: list[list[str]],
                  scores: list[dict[str, float] | None] | None = None,
                  names: dict[str, str] | None = None) -> LabelMetrics:
    """Per-class precision/recall/F1/support/AUC, macro and micro F1, Hamming loss, macro AUC."""
    if len(truth) != len(preds) or (scores is not None and len(scores) != len(truth)):
        raise ValueError("truth, predictions and scores must have one entry per item")
    codes = sorted({c for row in truth for c in row} | {c for row in preds for c in row})
    out = LabelMetrics(n_items=len(truth))
    if not truth or not codes:
        out.note = "n/a: no items scored" if not truth else "n/a: no labels in the reference or the predictions"
        out.auc_note = out.note
        return out
    names = names or _names(codes)
    y = np.array([[c in set(row) for c in codes] for row in truth], dtype=bool)
    p = np.array([[c in set(row) for c in codes] for row in preds], dtype=bool)
    for j, code in enumerate(codes):
        cm = _class_metrics(code, names.get(code, code), y[:, j], p[:, j])
        cm.auc, cm.auc_note = _class_auc(y[:, j], code, scores)
        out.classes.append(cm)
    out.macro_f1 = float(np.mean([c.f1 for c in out.classes]))
    tp, fp, fn = (sum(getattr(c, k) for c in out.classes) for k in ("tp", "fp", "fn"))
    out.micro_f1 = 2 * tp / (2 * tp + fp + fn)
    out.hamming_loss = float((y != p).mean())
    aucs = [c.auc for c in out.classes if c.auc is not None]
    out.macro_auc = float(np.mean(aucs)) if aucs else None
    notes = sorted({c.auc_note for c in out.classes if c.auc_note})
    out.auc_note = (f"mean over {len(aucs)} of {len(codes)} classes" + (f"; others {'; '.join(notes)}" if notes else "")
                    if aucs else "; ".join(notes))
    return out


def _names(codes: list[str]) -> dict[str, str]:
    vocab = Vocabulary.load()
    out = {}
    for code in codes:
        label = vocab.get(code, default=None)
        out[code] = label.name if label is not None else code
    return out
