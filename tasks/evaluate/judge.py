"""The LLM judge: GEM's eight metrics scored by a configurable teacher, answered as JSON and parsed strictly.

Calls go through the teacher façade (`tasks.teachers.client.ask`) with a ledger in the judge's folder:
transport errors (429, 5xx, timeouts, empty or cut answers) are retried there and only there. A 200
answer that does not parse against `rubric.json_schema()` is a different failure: the judge is asked
again, with its answer and the parse error as the next turns, up to `max_rounds` answers in all; then
the item is recorded as a judge failure with the raw answer, never dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from schemas.config import GemflowConfig, TeacherConfig
from schemas.teacher import FinishedCall, RecordContext, TeacherRequest, legacy_request_key, teacher_key
from storage.ledger import Ledger
from tasks.evaluate.rubric import METRICS, JudgeParseError, parse_scores, response_format, schema_text
from tasks.evaluate.spec import EvalItem, EvalRun
from tasks.teachers.base import generation_params
from tasks.teachers.client import AskOptions, ask
from tasks.teachers.prompts import measurements_block

JUDGE_VERSION = "judge-v1"
SYSTEM = ("You are a board-certified cardiologist who grades ECG interpretations written by students and models."
          " You compare a candidate interpretation with a reference interpretation of the same 12-lead ECG and"
          " its measured features, strictly and consistently, and answer only with the JSON object requested.")


def judge_messages(item: EvalItem, candidate: str, ctx: RecordContext | None) -> list[dict]:
    """The judge's chat messages for one candidate interpretation."""
    rubric = "\n".join(f"- {m.key}: {m.ask}" for m in METRICS)
    measured = measurements_block(ctx) if ctx is not None else "not available"
    user = (
        f"Reference diagnoses: {', '.join(item.label_names) or 'none given'}\n\n"
        f"Measured features (from the signal):\n{measured}\n\n"
        f"Reference interpretation:\n<<<\n{item.reference.strip()}\n>>>\n\n"
        f"Candidate interpretation:\n<<<\n{candidate.strip()}\n>>>\n\n"
        f"Score the candidate on each metric:\n{rubric}\n\n"
        "Answer with one JSON object and nothing else. It must validate against this JSON schema"
        f" (exactly these keys):\n{schema_text()}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def correction(error: str) -> str:
    return (f"Your answer could not be used: {error}. Answer again with only the JSON object, with exactly the"
            " keys of the schema and values in their allowed ranges.")


def judge_request(item: EvalItem, candidate: str, ctx: RecordContext | None, judge: str, jcfg: TeacherConfig,
                  previous: str | None = None, error: str | None = None, round_: int = 0,
                  parent: str | None = None) -> TeacherRequest:
    """The judge request for one item; a re-ask carries the unusable answer and the parse error."""
    messages = judge_messages(item, candidate, ctx)
    if previous is not None:
        messages += [{"role": "assistant", "content": previous}, {"role": "user", "content": correction(error or "")}]
    params = {**generation_params(jcfg), "response_format": response_format()}
    model = jcfg.model or judge
    legacy = legacy_request_key(item.item_id, messages, model, params)
    return TeacherRequest(request_id=teacher_key(judge, legacy), legacy_request_id=legacy, record_id=item.item_id,
                          teacher=judge, model=model, prompt_version=JUDGE_VERSION, instruction="",
                          messages=messages, params=params, round=round_, parent_request_id=parent)


@dataclass
class JudgeOutcome:
    item_id: str
    status: str  # "ok" or "failed"
    rounds: int
    scores: dict[str, int] = field(default_factory=dict)
    rationale: str | None = None
    error: str | None = None
    raw_text: str | None = None
    request_id: str | None = None

    def row(self, judge: str) -> dict:
        return {"item_id": self.item_id, "judge": judge, "status": self.status, "rounds": self.rounds,
                "error": self.error, "raw_text": self.raw_text, "request_id": self.request_id,
                "rationale": self.rationale, **{m.key: self.scores.get(m.key) for m in METRICS}}


Work = tuple[EvalItem, str, RecordContext | None]


def _settle(call: FinishedCall, work: Work, req: TeacherRequest, round_: int, max_rounds: int, judge: str,
            jcfg: TeacherConfig) -> JudgeOutcome | TeacherRequest:
    """The outcome of one finished judge request, or the re-ask that follows an unparsable answer."""
    item, candidate, ctx = work
    text = call.response.text
    if not call.done:
        return JudgeOutcome(item.item_id, "failed", round_ + 1, error=f"judge call failed: {call.response.error}",
                            request_id=req.request_id)
    try:
        scores, rationale = parse_scores(text)
    except JudgeParseError as exc:
        if round_ + 1 < max_rounds:
            return judge_request(item, candidate, ctx, judge, jcfg, previous=text, error=str(exc),
                                 round_=round_ + 1, parent=req.request_id)
        return JudgeOutcome(item.item_id, "failed", round_ + 1, error=f"unparsable after {max_rounds} answers: {exc}",
                            raw_text=text, request_id=req.request_id)
    return JudgeOutcome(item.item_id, "ok", round_ + 1, scores=scores, rationale=rationale, raw_text=text,
                        request_id=req.request_id)


def judge_items(work: list[Work], run: EvalRun, cfg: GemflowConfig, judge: str, max_rounds: int = 3,
                **llm_options) -> list[JudgeOutcome]:
    """Judge each (item, candidate text, context); items whose request was not sent (budget) get no outcome."""
    jcfg = cfg.teacher_config(judge)
    if jcfg.kind != "litellm":
        raise ValueError(f"judge {judge!r} must be an LLM teacher (kind: litellm), not kind {jcfg.kind!r}")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
    outcomes: list[JudgeOutcome] = []
    current: dict[str, tuple[Work, TeacherRequest]] = {}
    for item, candidate, ctx in work:
        current[item.item_id] = ((item, candidate, ctx), judge_request(item, candidate, ctx, judge, jcfg))
    folder = run.judge_dir(judge)
    folder.mkdir(parents=True, exist_ok=True)
    with Ledger(folder / "ledger.sqlite") as ledger:
        for round_ in range(max_rounds):
            if not current:
                break
            asked = ask([(req, w[2]) for w, req in current.values()], ledger, judge, jcfg,
                        AskOptions(budget_usd=cfg.budget_usd, data_root=run.local, **llm_options))
            refused = {ctx.record_id: why for ctx, why in asked.refused}
            following: dict[str, tuple[Work, TeacherRequest]] = {}
            for item_id, (w, req) in current.items():
                if w[2] is not None and w[2].record_id in refused:
                    outcomes.append(JudgeOutcome(item_id, "failed", 0, error=f"governance: {refused[w[2].record_id]}"))
                    continue
                call = asked.calls.get(req.request_id)
                if call is None:
                    continue  # not sent (budget stop): the item stays pending for the next run
                result = _settle(call, w, req, round_, max_rounds, judge, jcfg)
                if isinstance(result, TeacherRequest):
                    following[item_id] = (w, result)
                else:
                    outcomes.append(result)
            current = following
    return outcomes
