"""Interpreters under evaluation: any teacher from gemflow.yaml, or a trained checkpoint (model/infer.py).

A teacher sees what it sees in the generate stage (measurements, per-lead and per-beat evidence, the
page when `vision`), but by default *blind*: without the record's labels and machine report, which
are what it is scored against. `sighted=True` keeps them (an upper bound, not an evaluation).
Teacher requests go through the generate stage's own machinery (`run_requests`: ledger, budget,
pacing and the one retry layer) with a ledger of the evaluation run's own, so a restart never sends
a finished request again and evaluation requests never mix with the dataset's.
"""
from __future__ import annotations

import inspect
import time
from pathlib import Path

from pydantic import BaseModel

from schemas.config import GemflowConfig
from schemas.teacher import RecordContext
from schemas.vocab import Vocabulary
from storage.ledger import Ledger
from tasks.evaluate.spec import EvalItem, EvalRun
from tasks.teachers.base import GovernanceError, check_governance, plan_request
from tasks.teachers.stage import run_requests

# What a checkpoint's inference may raise for one bad record; anything else is a bug and propagates.
_CKPT_ERRORS = (RuntimeError, OSError, ValueError)


class Interpretation(BaseModel):
    """One interpreter's answer about one item (scores: per-class probabilities, when it gives them)."""

    status: str  # "ok" or "failed"
    text: str = ""
    error: str | None = None
    request_id: str | None = None
    latency_s: float | None = None
    scores: dict[str, float] | None = None


def blind(ctx: RecordContext) -> RecordContext:
    """The context without the answer key: no labels, no machine report."""
    return ctx.model_copy(update={"labels": [], "report": ""})


def interpret_with_teacher(work: list[tuple[EvalItem, RecordContext]], run: EvalRun, cfg: GemflowConfig,
                           teacher: str, sighted: bool = False, **llm_options) -> dict[str, Interpretation]:
    """Answers by item id; an item whose request was not sent (budget stop) is absent, so it stays pending."""
    tcfg = cfg.teacher_config(teacher)
    vocab = Vocabulary.load()
    out: dict[str, Interpretation] = {}
    planned = []
    for item, ctx in work:
        try:
            check_governance(ctx, teacher, tcfg)
        except GovernanceError as exc:
            out[item.item_id] = Interpretation(status="failed", error=f"governance: {exc}")
            continue
        shown = ctx if sighted else blind(ctx)
        planned.append((item, plan_request(shown, teacher, tcfg, cfg.prompt_version, vocab), shown))
    if not planned:
        return out
    with Ledger(run.ledger_path) as ledger:
        run_requests([(req, shown) for _, req, shown in planned], ledger, cfg, teacher,
                     data_root=run.data_root, **llm_options)
        finished = {row["request_id"]: row for row in ledger.finished(teacher)}
    for item, req, _ in planned:
        row = finished.get(req.request_id)
        if row is not None:
            out[item.item_id] = Interpretation(status="ok" if row["state"] == "done" else "failed",
                                               text=row["text"] or "", error=row["error"], request_id=req.request_id)
    return out


def _checkpoint_call(item: EvalItem, root: Path, ckpt: str):
    from model.infer import interpret  # heavy (torch); only for checkpoint runs
    kwargs = {"image_path": str(root / item.image) if item.image else None}
    if "question" in inspect.signature(interpret).parameters and item.instruction:
        kwargs["question"] = item.instruction.replace("<image>\n", "")
    return interpret(str(root / item.ecg), ckpt, **kwargs)


def interpret_with_checkpoint(items: list[EvalItem], run: EvalRun, ckpt: str) -> dict[str, Interpretation]:
    """A trained checkpoint's answer per item; it may return a str, or an object with .text and .scores."""
    if not Path(ckpt).expanduser().exists():
        raise FileNotFoundError(f"checkpoint {ckpt} does not exist")
    root = Path(run.data_root)
    out: dict[str, Interpretation] = {}
    for item in items:
        start = time.perf_counter()
        try:
            result = _checkpoint_call(item, root, str(Path(ckpt).expanduser()))
        except _CKPT_ERRORS as exc:
            out[item.item_id] = Interpretation(status="failed", error=f"{type(exc).__name__}: {exc}"[:500],
                                               latency_s=time.perf_counter() - start)
            continue
        text = result if isinstance(result, str) else result.text
        scores = None if isinstance(result, str) else getattr(result, "scores", None)
        out[item.item_id] = Interpretation(status="ok", text=text, scores=scores,
                                           latency_s=time.perf_counter() - start)
    return out
