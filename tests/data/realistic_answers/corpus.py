"""The realistic answer corpus: frozen record contexts, labelled answers, and how to score a validator on them.

Each file in `contexts/` is a snapshot of what the teacher was shown for one real record (the `records`
row, the `record_features` row and every `beats` row), taken once with `build_corpus.py --snapshot`.
The answers in `answers.jsonl` were written against these snapshots, so they stay true when the
measurement code changes. `load_context` rebuilds the validator's `RecordContext` from a snapshot with
the project's own context builder (`tasks.teachers.context.make_context`); a column the snapshot lacks
(a table that gained one since) is read as null.
"""
from __future__ import annotations

import json
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent
CONTEXTS_DIR = HERE / "contexts"
ANSWERS = HERE / "answers.jsonl"

ERROR_KINDS = (
    "wrong_rate", "wrong_pr", "wrong_qrs", "wrong_qt_qtc", "wrong_axis", "wrong_amplitude", "wrong_st",
    "wrong_rr_beat", "absent_or_unusable_lead", "invented_finding", "contradicted_diagnosis",
    "missing_labelled_diagnosis",
)


@dataclass(frozen=True)
class Answer:
    id: str
    record_id: str
    style: str
    truth: str  # "true" or one of ERROR_KINDS
    seeded_error: dict | None
    text: str


def load_answers(path: Path = ANSWERS) -> list[Answer]:
    """Every labelled answer of the corpus, in file order."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(Answer(d["id"], d["record_id"], d["style"], d["truth"], d.get("seeded_error"), d["text"]))
    return out


def snapshot_ids() -> list[str]:
    return sorted(p.stem for p in CONTEXTS_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def load_snapshot(record_id: str) -> dict:
    """One frozen snapshot: {"records": row, "record_features": row, "beats": [rows]}."""
    raw = json.loads((CONTEXTS_DIR / f"{record_id}.json").read_text(encoding="utf-8"))
    cols = raw["beats"]["columns"]
    beats = [dict(zip(cols, row)) for row in raw["beats"]["rows"]]
    return {"records": raw["records"], "record_features": raw["record_features"], "beats": beats}


def _default(f: pa.Field):
    """The value a column missing from a snapshot reads as: null, or empty for a non-null list."""
    if pa.types.is_list(f.type) and not f.nullable:
        return []
    return None


def _conform(row: dict, schema: pa.Schema) -> dict:
    """The row with exactly the schema's columns (missing ones null, unknown ones dropped)."""
    return {f.name: row.get(f.name, _default(f)) for f in schema}


def load_context(record_id: str):
    """The validator's RecordContext for one snapshot, built by the project's own context builder."""
    from schemas.features import BEATS_SCHEMA, RECORD_FEATURES_SCHEMA
    from schemas.records import RECORDS_SCHEMA
    from tasks.teachers.context import make_context

    snap = load_snapshot(record_id)
    rec = _conform(snap["records"], RECORDS_SCHEMA)
    feat = _conform(snap["record_features"], RECORD_FEATURES_SCHEMA)
    beats = [_conform(b, BEATS_SCHEMA) for b in snap["beats"]]
    return make_context(rec, feat, beats, None)


# ---------------------------------------------------------------- scoring


@dataclass
class Outcome:
    answer: Answer
    accepted: bool
    reasons: list[str] = field(default_factory=list)
    crashed: str | None = None  # the traceback when validation raised


def run_validator(answers: list[Answer]) -> list[Outcome]:
    """The validate stage's path on every answer (its default settings); a raise is recorded, not hidden.

    As in tasks/validate/stage.py, the raw text is parsed first (`<think>` reasoning moved apart, wrappers
    stripped, prose paragraphs joined unless `paragraphs: reject`): what is checked is the answer the dataset
    would keep, read with its reasoning when it is too short or cites no lead alone (tasks/validate/reasoning.py).
    """
    from schemas.config import ValidationSettings
    from tasks.validate.parse import parse_response
    from tasks.validate.rules import validate
    try:
        from tasks.validate.layout import stored_layout
    except ImportError:  # a baseline checkout (--code) from before the layout step
        stored_layout = lambda text, s: text  # noqa: E731
    try:
        from tasks.validate.reasoning import validate_answer
    except ImportError:  # a baseline checkout (--code) that checks the answer alone
        validate_answer = lambda text, reasoning, ctx, s, fin: (validate(text, ctx, s, fin), None)  # noqa: E731

    settings = ValidationSettings()
    contexts = {rid: load_context(rid) for rid in sorted({a.record_id for a in answers})}
    out = []
    for a in answers:
        try:
            parsed = parse_response(a.text, None, "stop")
            if parsed.problems:
                out.append(Outcome(a, False, [f"{rule}: {detail}" for rule, detail in parsed.problems]))
                continue
            verdict, _ = validate_answer(stored_layout(parsed.answer, settings), parsed.reasoning, contexts[a.record_id],
                                         settings, "stop")
        except Exception:  # noqa: BLE001 - the corpus reports a crash as a finding
            out.append(Outcome(a, False, ["raised"], traceback.format_exc(limit=3)))
            continue
        reasons = [f"{v.rule}: {v.detail}" + (f" [{v.span}]" if getattr(v, "span", "") else "")
                   for v in verdict.violations]
        out.append(Outcome(a, bool(verdict.ok), reasons))
    return out


@dataclass
class Figures:
    true_n: int
    true_accepted: int
    kinds: dict[str, tuple[int, int]]  # kind -> (n, rejected)
    crashes: list[Outcome]
    false_rejections: list[Outcome]
    missed: dict[str, list[Outcome]]  # kind -> wrong answers that were accepted

    @property
    def acceptance(self) -> float:
        return self.true_accepted / self.true_n if self.true_n else 0.0

    def rejection(self, kind: str) -> float:
        n, r = self.kinds.get(kind, (0, 0))
        return r / n if n else 0.0


def figures(outcomes: list[Outcome]) -> Figures:
    """Acceptance of the true answers and rejection per error kind."""
    kinds: dict[str, list[int]] = {k: [0, 0] for k in ERROR_KINDS}
    missed: dict[str, list[Outcome]] = defaultdict(list)
    true_n = true_ok = 0
    false_rej = []
    for o in outcomes:
        if o.answer.truth == "true":
            true_n += 1
            true_ok += o.accepted
            if not o.accepted:
                false_rej.append(o)
        else:
            k = kinds.setdefault(o.answer.truth, [0, 0])
            k[0] += 1
            k[1] += not o.accepted
            if o.accepted:
                missed[o.answer.truth].append(o)
    return Figures(true_n, true_ok, {k: (v[0], v[1]) for k, v in kinds.items()},
                   [o for o in outcomes if o.crashed], false_rej, dict(missed))


def table(fig: Figures, examples: int = 10) -> str:
    """A plain-text report: the figures, then example false rejections, misses and crashes."""
    lines = [f"{'answers':<28}{'n':>5}  share", "-" * 44,
             f"{'true: accepted':<28}{fig.true_n:>5}  {fig.acceptance:6.1%}"]
    for kind in sorted(fig.kinds):
        n, _ = fig.kinds[kind]
        lines.append(f"{kind + ': rejected':<28}{n:>5}  {fig.rejection(kind):6.1%}")
    lines.append(f"{'raised':<28}{len(fig.crashes):>5}")
    if fig.false_rejections:
        lines.append(f"\nfalse rejections of true answers (up to {examples}):")
        for o in fig.false_rejections[:examples]:
            lines.append(f"  {o.answer.id} ({o.answer.record_id}, {o.answer.style}): " + "; ".join(o.reasons)[:400])
    for kind, items in sorted(fig.missed.items()):
        lines.append(f"\naccepted although {kind} (up to 3):")
        for o in items[:3]:
            err = o.answer.seeded_error or {}
            lines.append(f"  {o.answer.id}: {err.get('detail', '')} | span: {err.get('span', '')[:160]}")
    for o in fig.crashes[:examples]:
        lines.append(f"\nraised on {o.answer.id}:\n{o.crashed}")
    return "\n".join(lines)
