"""Interpreters under evaluation: any teacher from gemflow.yaml, or a trained checkpoint (model/infer.py).

A teacher sees what it sees in the generate stage (measurements, per-lead and per-beat evidence, the
page when `vision`), but by default *blind*: without the record's labels and machine report, which
are what it is scored against. `sighted=True` keeps them (an upper bound, not an evaluation).
Teacher requests go through the one teacher façade (`tasks.teachers.client.ask`: governance, ledger, budget,
pacing and the one retry layer) with a ledger of the evaluation run's own, so a restart never sends
a finished request again and evaluation requests never mix with the dataset's.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from PIL import Image
from pydantic import BaseModel

from schemas.config import GemflowConfig
from schemas.teacher import RecordContext
from schemas.vocab import Vocabulary
from storage.ledger import Ledger
from storage.staging import stage_files, stage_records
from tasks.evaluate.spec import EvalItem, EvalRun
from tasks.shards import chunk
from tasks.teachers.base import plan_request
from tasks.teachers.client import AskOptions, ask

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
        shown = ctx if sighted else blind(ctx)
        planned.append((item, plan_request(shown, teacher, tcfg, cfg.prompt_version, vocab), shown))
    if not planned:
        return out
    if tcfg.vision and run.is_remote:  # the teacher is sent the page: staged from the store (storage/staging.py)
        stage_files(run.root, [shown.image_path for _, _, shown in planned])
    with Ledger(run.ledger_path) as ledger:
        asked = ask([(req, shown) for _, req, shown in planned], ledger, teacher, tcfg,
                    AskOptions(budget_usd=cfg.budget_usd, data_root=run.local, **llm_options))
    refused = {ctx.record_id: why for ctx, why in asked.refused}
    for item, req, shown in planned:
        call = asked.calls.get(req.request_id)
        if shown.record_id in refused:
            out[item.item_id] = Interpretation(status="failed", error=f"governance: {refused[shown.record_id]}")
        elif call is not None:
            out[item.item_id] = Interpretation(status="ok" if call.done else "failed", text=call.response.text,
                                               error=call.response.error, request_id=req.request_id)
    return out


def check_checkpoint(ckpt: str) -> str:
    """The checkpoint folder, resolved; a missing folder, or one that is not a gemflow checkpoint, is refused."""
    from model.config import GEM_CONFIG_FILE  # light: no torch
    path = Path(ckpt).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {ckpt} does not exist")
    if not (path / GEM_CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a gemflow checkpoint: it has no {GEM_CONFIG_FILE}"
                                " (gemflow train writes one into every checkpoint folder)")
    return str(path)


_LOADED: dict[tuple[str, str], object] = {}  # (checkpoint, device) -> GemInterpreter: loaded once per process, not per item
_LOAD_LOCK = threading.Lock()


def resolve_device(device: str = "auto") -> str:
    """`auto`: the first CUDA device when torch sees one, else the CPU; anything else is passed to torch."""
    if device != "auto":
        return device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def loaded_checkpoint(ckpt: str, device: str = "cpu"):
    """The checkpoint's `GemInterpreter`, loaded on first use and kept (one at a time) for later shards."""
    from model.infer import GemInterpreter  # heavy (torch); only for checkpoint runs
    with _LOAD_LOCK:
        if (ckpt, device) not in _LOADED:
            _LOADED.clear()
            _LOADED[(ckpt, device)] = GemInterpreter(ckpt, device)
        return _LOADED[(ckpt, device)]


def _question(item: EvalItem) -> str | None:
    """The item's exported instruction without placeholders (the interpreter places its own)."""
    question = item.instruction or ""
    for tag in ("<ecg>", "<image>"):
        question = question.replace(tag + "\n", "").replace(tag, "")
    return question.strip() or None


def _ask(interpreter, items: list[EvalItem], root: Path) -> list:
    """The answers for a batch: the exported signals and pages, each asked its own question."""
    pages = []
    for item in items:
        page = None
        if item.image:
            with Image.open(root / item.image) as image:
                page = image.convert("RGB")
        pages.append(page)
    with _LOAD_LOCK:  # one generation at a time: a batch already uses every core (or the GPU)
        return interpreter.interpret_batch([str(root / i.ecg) for i in items], [_question(i) for i in items],
                                           pages=pages)


def _answer(result, latency_s: float) -> Interpretation:
    text = result if isinstance(result, str) else result.text
    scores = None if isinstance(result, str) else getattr(result, "scores", None)
    return Interpretation(status="ok", text=text, scores=scores, latency_s=latency_s)


def interpret_with_checkpoint(items: list[EvalItem], run: EvalRun, ckpt: str, device: str = "auto",
                              batch_size: int = 8) -> dict[str, Interpretation]:
    """A trained checkpoint's answer per item, `batch_size` items per `generate` call. An answer may be
    a str, or an object with .text and .scores.

    A checkpoint that does not load fails the run (every item would fail the same way). A record that
    cannot be read or answered fails that item alone, with its reason: a batch that fails is asked
    again one item at a time."""
    interpreter = loaded_checkpoint(check_checkpoint(ckpt), resolve_device(device))
    root = run.local
    if run.is_remote:  # pages and WFDB records are read from disk: staged from the store once, then reused
        stage_files(run.root, [i.image for i in items])
        stage_records(run.root, [i.ecg for i in items])
    out: dict[str, Interpretation] = {}
    for batch in chunk(items, max(1, batch_size)):
        start = time.perf_counter()
        try:
            results = _ask(interpreter, batch, root)
        except _CKPT_ERRORS:
            results = None
        if results is not None:
            each = (time.perf_counter() - start) / len(batch)
            out.update({item.item_id: _answer(r, each) for item, r in zip(batch, results, strict=True)})
            continue
        for item in batch:
            start = time.perf_counter()
            try:
                [result] = _ask(interpreter, [item], root)
            except _CKPT_ERRORS as exc:
                out[item.item_id] = Interpretation(status="failed", error=f"{type(exc).__name__}: {exc}"[:500],
                                                   latency_s=time.perf_counter() - start)
                continue
            out[item.item_id] = _answer(result, time.perf_counter() - start)
    return out
