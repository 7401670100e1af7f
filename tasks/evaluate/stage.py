"""The evaluate stage's shard work: interpret pending items, score them, judge them, and aggregate the run.

Same four steps as every stage (docs/ARCHITECTURE.md): pending items (no committed output yet),
shards, work, and one atomic commit per shard (a new part, never a rewrite). A restart therefore
skips finished items and loses at most the shard in flight; the ledgers keep finished teacher and
judge calls from being sent again even for that shard.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from schemas.config import GemflowConfig, ValidationSettings
from schemas.teacher import RecordContext
from storage.ledger import Ledger
from storage.parquet import TableStore
from tasks.evaluate import remote
from tasks.evaluate.grounding import ground_item, grounding_summary
from tasks.evaluate.interpreters import Interpretation, interpret_with_checkpoint, interpret_with_teacher
from tasks.evaluate.judge import judge_items
from tasks.evaluate.labels import label_metrics, predicted_codes
from tasks.evaluate.rubric import KEYS, aggregate
from tasks.evaluate.spec import EvalItem, EvalRun
from tasks.evaluate.store import JUDGE_SCHEMA, OUTPUTS_SCHEMA, append_part, read_latest, write_text_atomic
from tasks.shards import Counts
from tasks.teachers.context import build_contexts

NO_CONTEXT = "no context: the record has no features in this dataset root"


@dataclass
class EvalCounts(Counts):
    interpreted: int = 0
    failed: int = 0
    not_sent: int = 0
    judged: int = 0
    judge_failed: int = 0


def pending_items(run: EvalRun, items: list[EvalItem], retry_failed: bool = False) -> list[EvalItem]:
    """Items with no committed output (and, with `retry_failed`, those whose latest output failed)."""
    done = read_latest(run.outputs_dir, OUTPUTS_SCHEMA)
    return [i for i in items if i.item_id not in done or (retry_failed and done[i.item_id]["status"] != "ok")]


def output_row(run: EvalRun, item: EvalItem, ctx: RecordContext | None, ans: Interpretation,
               settings: ValidationSettings) -> dict:
    """One committed output: the answer, the labels it states, and the validators' grounding verdict."""
    row = {"item_id": item.item_id, "record_id": item.record_id, "interpreter": run.interpreter,
           "status": ans.status, "error": ans.error, "text": ans.text, "request_id": ans.request_id,
           "latency_s": ans.latency_s, "scores_json": json.dumps(ans.scores) if ans.scores else None,
           "true_labels": list(item.labels)}
    if ans.status == "ok" and ctx is not None:
        row["pred_labels"] = predicted_codes(ans.text)
        row.update(ground_item(ans.text, ctx, settings).row())
    return row


def _contexts(run: EvalRun, items: list[EvalItem]) -> dict[str, RecordContext]:
    ids = sorted({i.record_id for i in items})
    return {c.record_id: c for c in build_contexts(TableStore(run.root), ids)}


def interpret_shard(run: EvalRun, items: list[EvalItem], cfg: GemflowConfig, teacher: str | None = None,
                    model: str | None = None, sighted: bool = False, device: str = "auto", batch_size: int = 8,
                    **llm_options) -> EvalCounts:
    """Interpret one shard with a teacher or a checkpoint, score each answer, commit one part."""
    run.ensure()
    contexts = _contexts(run, items)
    ready = [i for i in items if i.record_id in contexts]
    if teacher is not None:
        answers = interpret_with_teacher([(i, contexts[i.record_id]) for i in ready], run, cfg, teacher, sighted,
                                         **llm_options)
    else:
        answers = interpret_with_checkpoint(ready, run, model, device, batch_size)
    answers.update({i.item_id: Interpretation(status="failed", error=NO_CONTEXT)
                    for i in items if i.record_id not in contexts})
    rows = [output_row(run, i, contexts.get(i.record_id), answers[i.item_id], cfg.validation)
            for i in items if i.item_id in answers]
    remote.publish(run, append_part(run.outputs_dir, rows, OUTPUTS_SCHEMA), run.ledger_path)
    failed = sum(r["status"] != "ok" for r in rows)
    return EvalCounts(interpreted=len(rows) - failed, failed=failed, not_sent=len(items) - len(rows))


def pending_judgement(run: EvalRun, judge: str, retry_failed: bool = False) -> list[str]:
    """Item ids with a successful output and no committed judgement (or a failed one, with `retry_failed`)."""
    outputs = read_latest(run.outputs_dir, OUTPUTS_SCHEMA)
    judged = read_latest(run.judge_dir(judge), JUDGE_SCHEMA)
    return sorted(iid for iid, row in outputs.items() if row["status"] == "ok" and (
        iid not in judged or (retry_failed and judged[iid]["status"] != "ok")))


def judge_shard(run: EvalRun, items: list[EvalItem], cfg: GemflowConfig, judge: str, max_rounds: int = 3,
                **llm_options) -> EvalCounts:
    """Judge one shard of interpreted items and commit the scores and failures as one part."""
    outputs = read_latest(run.outputs_dir, OUTPUTS_SCHEMA)
    contexts = _contexts(run, items)
    work = [(i, outputs[i.item_id]["text"] or "", contexts.get(i.record_id)) for i in items]
    outcomes = judge_items(work, run, cfg, judge, max_rounds, **llm_options)
    part = append_part(run.judge_dir(judge), [o.row(judge) for o in outcomes], JUDGE_SCHEMA)
    remote.publish(run, part, run.judge_dir(judge) / "ledger.sqlite")
    failed = sum(o.status != "ok" for o in outcomes)
    return EvalCounts(judged=len(outcomes) - failed, judge_failed=failed, not_sent=len(items) - len(outcomes))


def _spent(path) -> float:
    if not path.exists():
        return 0.0
    with Ledger(path) as ledger:
        return ledger.spent_usd()


def _failure_kinds(rows: list[dict]) -> dict[str, int]:
    return dict(Counter((r["error"] or "unknown").split(":")[0] for r in rows).most_common())


def judge_summary(run: EvalRun, outputs_ok: set[str]) -> dict[str, dict]:
    """Per judge: judged and failed counts, failure kinds, the eight aggregated metrics and the cost."""
    out = {}
    for folder in sorted(run.dir.glob("judge-*")):
        rows = [r for r in read_latest(folder, JUDGE_SCHEMA).values() if r["item_id"] in outputs_ok]
        if not rows:
            continue
        ok = [r for r in rows if r["status"] == "ok"]
        bad = [r for r in rows if r["status"] != "ok"]
        out[rows[0]["judge"]] = {
            "n_judged": len(ok), "n_failed": len(bad), "n_not_judged": len(outputs_ok) - len(rows),
            "failures": _failure_kinds(bad), "metrics": aggregate([{k: r[k] for k in KEYS} for r in ok]),
            "spent_usd": _spent(folder / "ledger.sqlite")}
    return out


def summarize_run(run: EvalRun, n_items: int) -> dict:
    """Aggregate a run's committed outputs and judgements; writes metrics.json and returns it."""
    latest = read_latest(run.outputs_dir, OUTPUTS_SCHEMA)
    ok = [r for r in latest.values() if r["status"] == "ok" and r["pred_labels"] is not None]
    ok_ids = {r["item_id"] for r in ok}
    bad = [r for r in latest.values() if r["item_id"] not in ok_ids]
    scores = [json.loads(r["scores_json"]) if r["scores_json"] else None for r in ok]
    labels = label_metrics([r["true_labels"] or [] for r in ok], [r["pred_labels"] or [] for r in ok], scores)
    metrics = {
        "export": run.version, "split": run.split, "interpreter": run.interpreter, "n_items": n_items,
        "n_interpreted": len(ok), "n_failed": len(bad), "n_pending": n_items - len(latest),
        "failures": _failure_kinds(bad), "spent_usd": _spent(run.ledger_path),
        "labels": labels.as_dict(), "grounding": grounding_summary(ok),
        "judges": judge_summary(run, ok_ids),
    }
    write_text_atomic(run.metrics_path, json.dumps(metrics, indent=1, default=str))
    return metrics
